//! The crate's error type.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while training, scoring, saving or loading a model.
#[derive(Debug, Error)]
pub enum VaeError {
    /// A hyper-parameter lies outside its allowed range.
    #[error("invalid parameter `{name}` = {value}: must be {allowed}")]
    InvalidParam {
        /// The parameter's name, as in the params struct.
        name: &'static str,
        /// The value given.
        value: String,
        /// The allowed range, in words.
        allowed: String,
    },
    /// The training data cannot be used (an empty matrix, say).
    #[error("invalid training data: {0}")]
    InvalidData(String),
    /// A loss became NaN or infinite: training stopped.
    #[error("training diverged at epoch {epoch}: the {what} loss is {value}")]
    NonFiniteLoss {
        /// The epoch (1-based) in which it happened.
        epoch: usize,
        /// Which loss (for BiVAE: "item" or "user").
        what: &'static str,
        /// The loss value (NaN or ±inf).
        value: f64,
    },
    /// A model file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A model file is truncated, corrupt, of another model kind, or not a model file.
    #[error("{}: not a usable model file: {message}", path.display())]
    BadModelFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// An error from candle (the tensor library).
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// An error from the sparse matrix layer.
    #[error("sparse matrix: {0}")]
    Sparse(#[from] recs_sparse::SparseError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = VaeError> = std::result::Result<T, E>;

impl VaeError {
    pub(crate) fn invalid(
        name: &'static str,
        value: impl ToString,
        allowed: impl ToString,
    ) -> Self {
        VaeError::InvalidParam {
            name,
            value: value.to_string(),
            allowed: allowed.to_string(),
        }
    }
}
