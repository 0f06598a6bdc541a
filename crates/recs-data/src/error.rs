//! The one error type of recs-data.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong reading, splitting or installing data. Messages name the
/// file and line, or the parameter and its allowed range.
#[derive(Debug, Error)]
pub enum DataError {
    /// A file could not be opened or read. The message names the file; the OS error is the
    /// source (error messages never repeat their source: a front-end prints the chain).
    #[error("cannot read or write {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line of a file does not have the expected form.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was expected and what was found.
        message: String,
    },
    /// A row of a columnar file (Parquet) does not have the expected form.
    #[error("{path}: row {row}: {message}")]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based row number in the file.
        row: usize,
        /// What was expected and what was found.
        message: String,
    },
    /// A whole file does not have the expected form (not Parquet, a column missing).
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was expected and what was found.
        message: String,
    },
    /// Options or data that contradict each other (one column for two roles, a repeated
    /// pair under `Duplicates::Error`); the message names the columns, or the file and lines.
    #[error("{0}")]
    Input(String),
    /// A file holds no interaction at all.
    #[error("{path}: the file holds no interaction")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A parameter is outside its allowed range.
    #[error("parameter {name} = {value} is out of range: {allowed}")]
    Param {
        /// Parameter name.
        name: &'static str,
        /// The value given.
        value: String,
        /// The allowed range.
        allowed: &'static str,
    },
    /// A dataset name the registry does not know.
    #[error("unknown dataset '{name}'; known datasets: {known}")]
    UnknownDataset {
        /// The name asked for.
        name: String,
        /// Comma-separated known names.
        known: String,
    },
    /// The dataset is not installed and no mirror was given.
    #[error(
        "dataset '{name}' is not installed in {data_dir}; run `cargo xtask download {name}`, or point at a local copy with `cargo xtask download {name} --from DIR` or the RECS_DATA_MIRROR environment variable (DIR/{name}/ holds the files)"
    )]
    NotInstalled {
        /// Dataset name.
        name: String,
        /// The data directory searched.
        data_dir: PathBuf,
    },
    /// A file failed verification (checksum, size or counts); nothing was installed.
    #[error("{path}: {message}; nothing was installed")]
    Verify {
        /// The file.
        path: PathBuf,
        /// What did not match.
        message: String,
    },
    /// Building the sparse matrix failed.
    #[error(transparent)]
    Sparse(#[from] recs_sparse::SparseError),
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parse(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        DataError::Parse {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}
