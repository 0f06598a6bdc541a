//! The crate's error type.

use recs_core::ParamError;
use thiserror::Error;

/// Everything fitting, saving or loading a model can report.
#[derive(Debug, Error)]
pub enum FactorError {
    /// A hyper-parameter is outside its allowed range (the parameter, its value, the range).
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The training data is unusable (mismatched lengths, out-of-range index, non-finite value).
    #[error("invalid training data: {0}")]
    Data(String),
    /// The training loss became NaN or infinite.
    #[error(
        "training diverged at epoch {epoch}: loss is {loss} (lower the learning rate or raise the regularization)"
    )]
    Diverged {
        /// The 1-based epoch at which the loss stopped being finite.
        epoch: usize,
        /// The loss value.
        loss: f64,
    },
    /// A model file could not be read or written, or is corrupt, truncated, or not a model
    /// of the expected kind (the message names the file).
    #[error(transparent)]
    File(#[from] recs_core::ModelFileError),
}
