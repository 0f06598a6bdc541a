//! Where interactions come from: a registered dataset or a delimited file, and what a model
//! file records about them (id maps, the items each user saw, a fingerprint).

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use recs_data::{Column, DelimitedOptions, Interactions, load_delimited};
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
    /// A delimited file of interactions (.gz allowed)
    #[arg(long)]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub format: FormatArgs,
}

/// How to read a delimited file.
#[derive(Args, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FormatArgs {
    /// Field separator (`\t` for tab)
    #[arg(long, default_value = ",")]
    pub sep: String,
    /// The file has no header line (columns are then given by position, from 0)
    #[arg(long)]
    pub no_header: bool,
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
}

fn column(s: &str) -> Column {
    match s.parse::<usize>() {
        Ok(i) => i.into(),
        Err(_) => s.into(),
    }
}

impl FormatArgs {
    /// The loader options these arguments describe.
    pub fn options(&self) -> DelimitedOptions {
        let sep = match self.sep.as_str() {
            "\\t" | "tab" => "\t".to_string(),
            s => s.to_string(),
        };
        DelimitedOptions {
            delimiter: sep,
            has_header: !self.no_header,
            user: column(&self.user_col),
            item: column(&self.item_col),
            rating: (self.rating_col != "none").then(|| column(&self.rating_col)),
            timestamp: self.timestamp_col.as_deref().map(column),
            allow_extra_fields: true,
        }
    }
}

/// Where the training data came from, as recorded in a model file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A registered dataset.
    Dataset(String),
    /// A delimited file read with these options.
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
            Source::File { path, format } => {
                let opts = format.options();
                opts.validate()?;
                Ok(load_delimited(path, &opts)?)
            }
        }
    }

    /// The directory of an installed MovieLens dataset, for titles.
    pub fn movielens_dir(&self) -> Option<PathBuf> {
        match self {
            Source::Dataset(name) if name.starts_with("ml-") => {
                Some(recs_data::registry::data_dir().join(name))
            }
            _ => None,
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
