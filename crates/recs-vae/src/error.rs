//! The crate's error type.

use recs_core::ParamError;
use thiserror::Error;

/// Everything that can go wrong while training, scoring, saving or loading a model.
#[derive(Debug, Error)]
pub enum VaeError {
    /// A hyper-parameter lies outside its allowed range (the parameter, its value and the
    /// range).
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The training data cannot be used (an empty matrix, say).
    #[error("invalid training data: {0}")]
    InvalidData(String),
    /// A loss became NaN or infinite: training stopped.
    #[error("training diverged at epoch {epoch}: the {what} loss is {value}")]
    NonFiniteLoss {
        /// The epoch (1-based) in which it happened.
        epoch: usize,
        /// Which loss, by its name in the epoch's report (BiVAE: "item" or "user";
        /// AutoRec: "train_rmse"; Mult-VAE: "loss").
        what: &'static str,
        /// The loss value (NaN or ±inf).
        value: f64,
    },
    /// A model file could not be read or written, or is truncated, corrupt, of another
    /// model kind, or not a model file (the message names the file).
    #[error(transparent)]
    File(#[from] recs_core::ModelFileError),
    /// The device a model was asked to train on cannot be used: CUDA in a build without the
    /// `cuda` feature, or no such CUDA device (the message says which, and what to do).
    #[error("device `{device}` cannot be used: {reason}")]
    Device {
        /// The `device` value, as given.
        device: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// An error from candle (the tensor library).
    #[cfg(feature = "candle")]
    #[error("candle failed")]
    Candle(#[from] candle_core::Error),
    /// An error from the sparse matrix layer.
    #[error("sparse matrix operation failed")]
    Sparse(#[from] recs_sparse::SparseError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = VaeError> = std::result::Result<T, E>;
