//! Where interactions come from: a registered dataset, a delimited file or a Parquet file,
//! and what a model file records about them (id maps, the items each user saw, a
//! fingerprint). A file's repeated (user, item) pairs are resolved by `--duplicates` (the
//! count goes to standard error), and values far outside the data's range are warned about.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use recs_data::{Column, DelimitedOptions, Duplicates, FileFormat, Header, Interactions};
use recs_experiments::RunOptions;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Data source options shared by the commands.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// A registered dataset (`cargo xtask download --list`), e.g. ml-100k; installed from
    /// $RECS_DATA_MIRROR when missing
    #[arg(long, conflicts_with = "input")]
    pub dataset: Option<String>,
    /// A file of interactions: delimited text (.gz allowed) or Parquet (.parquet, .parq,
    /// .pq, or --input-format parquet)
    #[arg(long)]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub format: FormatArgs,
}

/// What to do with a (user, item) pair that appears on more than one row.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum DuplicatesArg {
    /// One row with the sum of the pair's values (event counts)
    Sum,
    /// The pair's last row wins (a later rating is a re-rating)
    #[default]
    Last,
    /// The pair's first row wins
    First,
    /// Refuse the file, naming both lines
    Error,
}

impl From<DuplicatesArg> for Duplicates {
    fn from(d: DuplicatesArg) -> Self {
        match d {
            DuplicatesArg::Sum => Duplicates::Sum,
            DuplicatesArg::Last => Duplicates::Last,
            DuplicatesArg::First => Duplicates::First,
            DuplicatesArg::Error => Duplicates::Error,
        }
    }
}

/// The kind of an `--input` file.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    /// Delimited text (CSV, TSV, `::`, …)
    Delimited,
    /// Apache Parquet
    Parquet,
}

/// How to read an interactions file.
#[derive(Args, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FormatArgs {
    /// Field separator (`\t` for tab); RFC 4180 quoting for a one-character separator
    #[arg(long, default_value = ",")]
    pub sep: String,
    /// The file has no header line: the first line is data (columns by position, from 0).
    /// Default: detected; a first line with a number in it is data, one without is a header
    #[arg(long, conflicts_with = "header")]
    pub no_header: bool,
    /// The first line is a header, even if it is all numbers
    #[arg(long)]
    #[serde(default)]
    pub header: bool,
    /// Lines starting with this character are comments (default: no comments)
    #[arg(long, value_name = "CHAR")]
    #[serde(default)]
    pub comment: Option<char>,
    /// A (user, item) pair on several rows: sum the values, keep the last or the first row,
    /// or refuse the file; the number of repeated pairs is reported on standard error
    #[arg(long, value_enum, default_value_t = DuplicatesArg::Last)]
    #[serde(default)]
    pub duplicates: DuplicatesArg,
    /// The file's kind (default: by its name, .parquet/.parq/.pq is Parquet)
    #[arg(long, value_enum)]
    #[serde(default)]
    pub input_format: Option<InputFormat>,
    /// User column: a header name or a 0-based position
    #[arg(long, default_value = "0")]
    pub user_col: String,
    /// Item column: a header name or a 0-based position
    #[arg(long, default_value = "1")]
    pub item_col: String,
    /// Rating column (name or position); `none` for implicit data (every row counts 1)
    #[arg(long, default_value = "2")]
    pub rating_col: String,
    /// Timestamp column (name or position), if any
    #[arg(long)]
    pub timestamp_col: Option<String>,
    /// The longest line (or quoted record over several lines) read, in bytes; a longer one
    /// is an error naming the file and line. In Parquet: the longest id, and 1/64 of the
    /// largest page
    #[arg(long, value_name = "BYTES", default_value_t = recs_data::delimited::MAX_RECORD_BYTES)]
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
}

fn default_max_record_bytes() -> usize {
    recs_data::delimited::MAX_RECORD_BYTES
}

fn column(s: &str) -> Column {
    match s.parse::<usize>() {
        Ok(i) => i.into(),
        Err(_) => s.into(),
    }
}

impl FormatArgs {
    /// The loader options these arguments describe (unchecked; see [`Self::load`]).
    pub fn options(&self) -> DelimitedOptions {
        let sep = match self.sep.as_str() {
            "\\t" | "tab" => "\t".to_string(),
            s => s.to_string(),
        };
        DelimitedOptions {
            delimiter: sep,
            header: match (self.header, self.no_header) {
                (true, _) => Header::Yes,
                (_, true) => Header::No,
                _ => Header::Auto,
            },
            user: column(&self.user_col),
            item: column(&self.item_col),
            rating: (self.rating_col != "none").then(|| column(&self.rating_col)),
            timestamp: self.timestamp_col.as_deref().map(column),
            allow_extra_fields: true,
            comment: self.comment.and_then(|c| u8::try_from(c).ok()),
            max_record_bytes: self.max_record_bytes,
        }
    }

    /// The options, checked in the flags' terms: a column given for two roles names both
    /// flags; a comment character must be ASCII.
    pub fn checked_options(&self) -> anyhow::Result<DelimitedOptions> {
        let flags = [
            ("--user-col", Some(self.user_col.as_str())),
            ("--item-col", Some(self.item_col.as_str())),
            (
                "--rating-col",
                Some(self.rating_col.as_str()).filter(|r| *r != "none"),
            ),
            ("--timestamp-col", self.timestamp_col.as_deref()),
        ];
        for (k, (fa, va)) in flags.iter().enumerate() {
            for (fb, vb) in &flags[k + 1..] {
                if let (Some(a), Some(b)) = (va, vb) {
                    if column(a) == column(b) {
                        bail!("{fb} {b} names the same column as {fa} {a}; give each column once");
                    }
                }
            }
        }
        if let Some(c) = self.comment {
            if !c.is_ascii() || matches!(c, '\n' | '\r' | '"') {
                bail!(
                    "--comment {c:?} is not allowed: one ASCII character, not a quote or a line break"
                );
            }
        }
        let opts = self.options();
        opts.validate()?;
        Ok(opts)
    }

    /// Loads `path` with these options: repeated pairs resolved by `--duplicates` (their
    /// count, and values far outside the data's range, reported on standard error).
    pub fn load(&self, path: &std::path::Path) -> anyhow::Result<Interactions> {
        let opts = self.checked_options()?;
        let format = self.input_format.map(|f| match f {
            InputFormat::Delimited => FileFormat::Delimited,
            InputFormat::Parquet => FileFormat::Parquet,
        });
        let (data, rep) = recs_data::load_file(path, format, &opts, self.duplicates.into())?;
        if let Some((again, first)) = &rep.duplicate_at {
            let rule = match self.duplicates {
                DuplicatesArg::Sum => "one row with the sum of their values",
                DuplicatesArg::Last => "the last row of each wins",
                DuplicatesArg::First => "the first row of each wins",
                DuplicatesArg::Error => "refused",
            };
            eprintln!(
                "note: {} (user, item) pairs appear on more than one row ({} extra rows; the first: {again} repeats {first}); --duplicates {}: {rule}",
                rep.duplicates.pairs,
                rep.duplicates.extra_rows,
                Duplicates::from(self.duplicates).name(),
            );
        }
        if let (Some(o), Some(at)) = (&rep.outliers, &rep.outlier_at) {
            eprintln!(
                "warning: {at}: rating {} is more than {:e} times the median absolute rating ({}); {} such rows are used as they are: check --rating-col, or remove them",
                o.first_value,
                recs_data::transform::OUTLIER_FACTOR,
                o.median_abs,
                o.count
            );
        }
        Ok(data)
    }
}

/// Where the training data came from, as recorded in a model file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A registered dataset.
    Dataset(String),
    /// A file read with these options.
    File {
        /// The file.
        path: PathBuf,
        /// How it was read.
        format: FormatArgs,
    },
}

impl DataArgs {
    /// The source these arguments name; an error when neither is given.
    pub fn source(&self) -> anyhow::Result<Source> {
        match (&self.dataset, &self.input) {
            (Some(d), None) => Ok(Source::Dataset(d.clone())),
            (None, Some(p)) => Ok(Source::File {
                path: p.clone(),
                format: self.format.clone(),
            }),
            _ => bail!("say where the data is: --dataset NAME or --input FILE"),
        }
    }
}

impl Source {
    /// Loads the interactions.
    pub fn load(&self) -> anyhow::Result<Interactions> {
        match self {
            Source::Dataset(name) => recs_experiments::protocol::load(&RunOptions::default(), name)
                .with_context(|| format!("loading dataset {name}")),
            Source::File { path, format } => format.load(path),
        }
    }

    /// The directory of an installed MovieLens dataset, for titles: only for a name the
    /// dataset registry knows (a name recorded in a model file is not a path to follow).
    pub fn movielens_dir(&self) -> Option<PathBuf> {
        match self {
            Source::Dataset(name)
                if name.starts_with("ml-") && recs_data::registry::dataset(name).is_ok() =>
            {
                Some(recs_data::registry::data_dir().join(name))
            }
            _ => None,
        }
    }

    /// The source a model file recorded, as `recs evaluate` may load it again, given what
    /// the user passed (`given`): a recorded dataset must be one the registry knows; a
    /// recorded file is opened only when the user passes its path again (with `--input`,
    /// then read with the recorded options) and only if it is a regular file (a pipe or a
    /// device named in a model is never read).
    pub fn recorded(
        &self,
        given: Option<&Source>,
        model: &std::path::Path,
    ) -> anyhow::Result<Source> {
        match (self, given) {
            (Source::File { path, format }, Some(Source::File { path: p, .. })) if p == path => {
                if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
                    bail!(
                        "{} (recorded in {}) is not a regular file; pass --train and --test files",
                        path.display(),
                        model.display()
                    );
                }
                Ok(Source::File {
                    path: path.clone(),
                    format: format.clone(),
                })
            }
            (_, Some(g)) => Ok(g.clone()),
            (Source::File { path, .. }, None) => bail!(
                "{} was trained on the file {}; a path recorded in a model file is not opened \
                 unless you pass it again: add --input {} (read with the recorded options), or \
                 pass --train and --test files",
                model.display(),
                path.display(),
                path.display()
            ),
            (Source::Dataset(name), None) => {
                recs_data::registry::dataset(name).map_err(|e| {
                    anyhow::anyhow!("{} records the dataset `{name}`: {e}", model.display())
                })?;
                Ok(self.clone())
            }
        }
    }
}

/// What the CLI stores in a model file's `extra` document (small: the id maps and each
/// user's training items are tensors of the file, see `recs_core::modelfile::Catalog`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    /// The `recs` version that trained it.
    pub recs_version: String,
    /// Where the data came from.
    pub source: Source,
    /// The split (`random:0.8`, …).
    pub split: String,
    /// The seed of the split and the model.
    pub seed: u64,
    /// SHA-256 of the training interactions (user, item, value), hex.
    pub fingerprint: String,
}

/// SHA-256 over the training rows (user index, item index, value bits), hex.
pub fn fingerprint(train: &Interactions) -> String {
    let mut h = Sha256::new();
    for ((u, i), v) in train.users().iter().zip(train.items()).zip(train.values()) {
        h.update(u.to_le_bytes());
        h.update(i.to_le_bytes());
        h.update(v.to_bits().to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
