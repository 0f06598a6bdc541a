//! One entry point for a user's interactions file, delimited or Parquet: the rows, their
//! repeated (user, item) pairs resolved by a [`Duplicates`] policy, and a report of what was
//! found (repeats, values far outside the data's range) for a front-end to print.

use std::ops::ControlFlow;
use std::path::Path;

#[cfg(feature = "parquet")]
use crate::columnar;
use crate::delimited::{self, DelimitedOptions};
use crate::transform::{self, DuplicateReport, Duplicates, Outliers};
use crate::{DataError, Interactions};

/// The kind of an interactions file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Delimited text (CSV, TSV, `::`, …), `.gz` allowed.
    Delimited,
    /// Apache Parquet.
    Parquet,
}

impl FileFormat {
    /// By the file name: `.parquet`, `.parq` or `.pq` is Parquet, anything else delimited.
    pub fn of_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if ["parquet", "parq", "pq"].contains(&e.to_ascii_lowercase().as_str()) => {
                FileFormat::Parquet
            }
            _ => FileFormat::Delimited,
        }
    }

    /// By the file name as [`FileFormat::of_path`], and a regular file without a Parquet
    /// extension by its bytes: one starting and ending with Parquet's magic `PAR1` is Parquet
    /// (only a regular file is looked into: a pipe's first bytes would be consumed).
    pub fn detect(path: &Path) -> Self {
        use std::io::Read as _;
        let by_name = Self::of_path(path);
        if by_name == FileFormat::Parquet || !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            return by_name;
        }
        use std::io::{Seek as _, SeekFrom};
        // Parquet's magic both opens and closes the file.
        let (mut head, mut tail) = ([0u8; 4], [0u8; 4]);
        let read = std::fs::File::open(path).and_then(|mut f| {
            f.read_exact(&mut head)?;
            f.seek(SeekFrom::End(-4))?;
            f.read_exact(&mut tail)
        });
        match read {
            Ok(()) if &head == b"PAR1" && &tail == b"PAR1" => FileFormat::Parquet,
            _ => by_name,
        }
    }
}

/// What [`load_file`] found besides the rows.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Rows read from the file (before repeated pairs were resolved).
    pub rows_read: usize,
    /// Repeated (user, item) pairs (resolved by the policy).
    pub duplicates: DuplicateReport,
    /// Where the first repeat is, e.g. `ratings.csv:12` (repeating `ratings.csv:3`).
    pub duplicate_at: Option<(String, String)>,
    /// Values more than [`transform::OUTLIER_FACTOR`] times the median absolute value; they
    /// are kept (trained on as they are).
    pub outliers: Option<Outliers>,
    /// Where the first such value is.
    pub outlier_at: Option<String>,
}

fn scan(
    path: &Path,
    format: FileFormat,
    opts: &DelimitedOptions,
    f: &mut dyn FnMut(delimited::Row<'_>) -> Result<ControlFlow<()>, DataError>,
) -> Result<(), DataError> {
    match format {
        FileFormat::Delimited => delimited::scan(path, opts, f),
        #[cfg(feature = "parquet")]
        FileFormat::Parquet => columnar::scan_parquet(path, opts, f),
        #[cfg(not(feature = "parquet"))]
        FileFormat::Parquet => {
            let _ = (opts, f);
            Err(no_parquet(path))
        }
    }
}

/// The error for a Parquet file in a build without the `parquet` feature.
#[cfg_attr(feature = "parquet", allow(dead_code))]
fn no_parquet(path: &Path) -> DataError {
    DataError::Input(format!(
        "{}: reading Parquet needs recs built with the `parquet` feature \
         (`--features recs-data/parquet`); the `recs` command and the Python package have it",
        path.display()
    ))
}

/// `path:line` of data row `row` (0-based) for a delimited file, `path: row N` for Parquet.
fn locate(path: &Path, format: FileFormat, opts: &DelimitedOptions, row: usize) -> String {
    match format {
        FileFormat::Delimited => match delimited::line_of_row(path, opts, row) {
            Some(l) => format!("{}:{l}", path.display()),
            None => format!("{}: row {}", path.display(), row + 1),
        },
        FileFormat::Parquet => format!("{}: row {}", path.display(), row + 1),
    }
}

/// Loads `path` (its format from `format`, else from its name, see
/// [`FileFormat::detect`]) and resolves repeated (user, item) pairs by `duplicates`:
/// [`Duplicates::Error`] refuses the file naming the two lines. Values far outside the
/// data's range are kept and reported.
pub fn load_file(
    path: &Path,
    format: Option<FileFormat>,
    opts: &DelimitedOptions,
    duplicates: Duplicates,
) -> Result<(Interactions, LoadReport), DataError> {
    opts.validate()?;
    let format = format.unwrap_or_else(|| FileFormat::detect(path));
    let mut b = Interactions::builder();
    scan(path, format, opts, &mut |r| {
        b.push(r.user, r.item, r.rating, r.timestamp);
        Ok(ControlFlow::Continue(()))
    })?;
    if b.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let data = b.build();
    let mut report = LoadReport {
        rows_read: data.len(),
        ..Default::default()
    };
    if duplicates == Duplicates::Error {
        let found = transform::find_duplicates(&data);
        if let Some((a, b)) = found.example {
            let (first, again) = (locate(path, format, opts, a), locate(path, format, opts, b));
            let user = data.user_map().external(data.users()[a]);
            let item = data.item_map().external(data.items()[a]);
            return Err(DataError::Input(format!(
                "{again}: user '{user}' and item '{item}' repeat {first} ({} repeated pairs in all); --duplicates error refuses them, choose sum, last or first",
                found.pairs
            )));
        }
    }
    // Outliers are looked for in the rows as read, so the first one's line is known.
    report.outliers = transform::find_outliers(&data);
    if let Some(o) = &report.outliers {
        report.outlier_at = Some(locate(path, format, opts, o.first_row));
    }
    let (data, dups) = transform::resolve_duplicates(data, duplicates)?;
    if let Some((a, b)) = dups.example {
        report.duplicate_at = Some((locate(path, format, opts, b), locate(path, format, opts, a)));
    }
    report.duplicates = dups;
    Ok((data, report))
}
