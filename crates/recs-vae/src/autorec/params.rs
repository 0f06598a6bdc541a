//! AutoRec's hyper-parameters.

use serde::{Deserialize, Serialize};

use crate::error::{Result, VaeError};
use crate::nn::Activation;

/// What a prediction falls back to when its user or item has no training rating.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unseen {
    /// A constant (the paper and the PyTorch reference use 3).
    Constant(f32),
    /// The mean of the training ratings.
    GlobalMean,
}

/// Hyper-parameters of [`AutoRec`]. The defaults are the paper's I-AutoRec (500 sigmoid
/// hidden units, identity output) with the PyTorch reference's optimiser settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoRecParams {
    /// Hidden units (default 500; 1..=65536).
    pub hidden: usize,
    /// I-AutoRec (`true`, default): rows are items, each a vector of user ratings;
    /// U-AutoRec (`false`): rows are users.
    pub item_based: bool,
    /// Hidden activation (default sigmoid).
    pub hidden_activation: Activation,
    /// Output activation; `None` (default) is the identity.
    pub output_activation: Option<Activation>,
    /// L2 weight λ of `λ/2 (‖W‖² + ‖V‖²)`, added to every batch's summed squared error as
    /// the reference does (default 100; ≥ 0, finite).
    pub lambda: f32,
    /// Passes over the rows (default 200; 1..=100000).
    pub n_epochs: usize,
    /// Rows per batch (default 256; ≥ 1).
    pub batch_size: usize,
    /// Adam's learning rate (default 0.001; > 0 and ≤ 1).
    pub learning_rate: f64,
    /// Fraction of the training ratings held out (seeded) to measure validation RMSE after
    /// every epoch; the weights of the best epoch are kept (default 0: no validation, the
    /// last epoch's weights; 0 ≤ f ≤ 0.5).
    pub validation_fraction: f64,
    /// With validation: stop after this many epochs without a better validation RMSE
    /// (default `None`: run every epoch, keep the best).
    pub patience: Option<usize>,
    /// Prediction for a user or item without training ratings (default `Constant(3.0)`).
    pub unseen: Unseen,
    /// Predictions are clipped to this range (default `None`: the training ratings' min and
    /// max).
    pub rating_range: Option<(f32, f32)>,
    /// Seed of the initialisation, the validation draw and the shuffles (default 42).
    pub seed: u64,
    /// Threads (default 0: rayon's pool size). Results do not depend on it.
    pub n_threads: usize,
}

impl Default for AutoRecParams {
    fn default() -> Self {
        Self {
            hidden: 500,
            item_based: true,
            hidden_activation: Activation::Sigmoid,
            output_activation: None,
            lambda: 100.0,
            n_epochs: 200,
            batch_size: 256,
            learning_rate: 1e-3,
            validation_fraction: 0.0,
            patience: None,
            unseen: Unseen::Constant(3.0),
            rating_range: None,
            seed: 42,
            n_threads: 0,
        }
    }
}

impl AutoRecParams {
    /// Checks every parameter against its documented range.
    pub fn validate(&self) -> Result<()> {
        if !(1..=65536).contains(&self.hidden) {
            return Err(VaeError::invalid("hidden", self.hidden, "in 1..=65536"));
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(VaeError::invalid("lambda", self.lambda, "finite and ≥ 0"));
        }
        if !(1..=100_000).contains(&self.n_epochs) {
            return Err(VaeError::invalid(
                "n_epochs",
                self.n_epochs,
                "in 1..=100000",
            ));
        }
        if self.batch_size == 0 {
            return Err(VaeError::invalid("batch_size", 0, "at least 1"));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return Err(VaeError::invalid(
                "learning_rate",
                self.learning_rate,
                "in (0, 1]",
            ));
        }
        if !(0.0..=0.5).contains(&self.validation_fraction) {
            return Err(VaeError::invalid(
                "validation_fraction",
                self.validation_fraction,
                "in [0, 0.5]",
            ));
        }
        if self.patience == Some(0) {
            return Err(VaeError::invalid("patience", 0, "at least 1 (or None)"));
        }
        if let Unseen::Constant(v) = self.unseen {
            if !v.is_finite() {
                return Err(VaeError::invalid("unseen", v, "a finite constant"));
            }
        }
        if let Some((lo, hi)) = self.rating_range {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(VaeError::invalid(
                    "rating_range",
                    format!("({lo}, {hi})"),
                    "finite, low ≤ high",
                ));
            }
        }
        if self.n_threads > 1024 {
            return Err(VaeError::invalid(
                "n_threads",
                self.n_threads,
                "in 0..=1024",
            ));
        }
        Ok(())
    }
}
