//! AutoRec's hyper-parameters and their schema.

use recs_core::schema::{ParamSpec, Scale};
use recs_core::{ModelParams, ParamError};
use serde::{Deserialize, Serialize};

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

/// Hyper-parameters of [`AutoRec`](super::AutoRec), in the project's shared vocabulary
/// (the paper's hidden units are `factors`, λ is `reg`). The defaults are the paper's
/// I-AutoRec (500 sigmoid hidden units, identity output) with the PyTorch reference's
/// optimiser settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoRecParams {
    /// Hidden units: the size of each row's code. Default 500; allowed 1..=65536.
    pub factors: usize,
    /// I-AutoRec (`true`, default): rows are items, each a vector of user ratings;
    /// U-AutoRec (`false`): rows are users.
    pub item_based: bool,
    /// Hidden activation. Default sigmoid.
    pub hidden_activation: Activation,
    /// Output activation; `None` (default) is the identity.
    pub output_activation: Option<Activation>,
    /// L2 weight λ of `λ/2 (‖W‖² + ‖V‖²)`, added to every batch's summed squared error as
    /// the reference does; used as an `f32`. Default 100; allowed finite and ≥ 0.
    pub reg: f64,
    /// Passes over the rows. Default 200; allowed 1..=100000.
    pub epochs: usize,
    /// Rows per batch. Default 256; allowed ≥ 1.
    pub batch_size: usize,
    /// Adam's learning rate. Default 0.001; allowed (0, 1].
    pub learning_rate: f64,
    /// Fraction of the training ratings held out (seeded) to measure validation RMSE after
    /// every epoch; the weights of the best epoch are kept. Default 0 (no validation, the
    /// last epoch's weights); allowed [0, 0.5].
    pub validation_fraction: f64,
    /// With validation: stop after this many epochs without a better validation RMSE.
    /// Default `None` (run every epoch, keep the best); allowed ≥ 1.
    pub patience: Option<usize>,
    /// Prediction for a user or item without training ratings. Default `Constant(3.0)`;
    /// a constant must be finite.
    pub unseen: Unseen,
    /// Predictions are clipped to this range. Default `None` (the training ratings' min and
    /// max); allowed finite, low ≤ high.
    pub rating_range: Option<(f32, f32)>,
    /// Seed of the initialisation, the validation draw and the shuffles. Default 42.
    pub seed: u64,
    /// Threads of the native engine. Default 0 (rayon's pool size); allowed 0..=1024.
    /// Results do not depend on it.
    pub threads: usize,
    /// Where [`AutoRec`](super::AutoRec)'s `fit` trains: `"native"` (default: the
    /// hand-written CPU kernels), `"cpu"` (candle on the CPU), `"cuda"` or `"cuda:N"`
    /// (candle on CUDA device 0 or `N`; needs a build with the `cuda` feature). Every engine
    /// draws the same initialisation, validation split and shuffles. Scoring always runs on
    /// the CPU.
    pub device: String,
}

impl Default for AutoRecParams {
    fn default() -> Self {
        Self {
            factors: 500,
            item_based: true,
            hidden_activation: Activation::Sigmoid,
            output_activation: None,
            reg: 100.0,
            epochs: 200,
            batch_size: 256,
            learning_rate: 1e-3,
            validation_fraction: 0.0,
            patience: None,
            unseen: Unseen::Constant(3.0),
            rating_range: None,
            seed: 42,
            threads: 0,
            device: crate::device::DEFAULT.into(),
        }
    }
}

impl ModelParams for AutoRecParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::int(
            "factors",
            1,
            65_536,
            "hidden units: the size of each row's code",
        )
        .tuned(50.0, 1000.0, Scale::LogInt),
        ParamSpec::bool(
            "item_based",
            "I-AutoRec (rows are items) rather than U-AutoRec",
        ),
        ParamSpec::choice(
            "hidden_activation",
            Activation::NAMES,
            "hidden layer activation",
        ),
        ParamSpec::choice(
            "output_activation",
            Activation::NAMES,
            "output activation (none: identity)",
        )
        .or_none(),
        ParamSpec::float("reg", 0.0, 1e30, "L2 weight λ on the weights").tuned(
            0.1,
            1000.0,
            Scale::Log,
        ),
        ParamSpec::int("epochs", 1, 100_000, "passes over the rows").tuned(
            20.0,
            500.0,
            Scale::LogInt,
        ),
        ParamSpec::int("batch_size", 1, u64::MAX, "rows per batch").tuned(
            32.0,
            1024.0,
            Scale::LogInt,
        ),
        ParamSpec::float_above("learning_rate", 0.0, 1.0, "Adam's learning rate").tuned(
            1e-4,
            1e-2,
            Scale::Log,
        ),
        ParamSpec::float(
            "validation_fraction",
            0.0,
            0.5,
            "training ratings held out to pick the best epoch",
        ),
        ParamSpec::optional_int(
            "patience",
            1,
            u64::MAX,
            "stop after this many epochs without improvement (none: run every epoch)",
        ),
        ParamSpec::other(
            "unseen",
            "global_mean or {\"constant\": a finite number}",
            "prediction for a user or item without training ratings",
        ),
        ParamSpec::optional_range(
            "rating_range",
            "clip predictions to [lo, hi] (none: no clipping)",
        ),
        ParamSpec::seed(),
        ParamSpec::threads(),
        ParamSpec::device(),
    ];

    fn relations(&self) -> Result<(), ParamError> {
        match self.unseen {
            Unseen::Constant(v) if !v.is_finite() => {
                Err(ParamError::new("unseen", v, "a finite constant"))
            }
            _ => Ok(()),
        }
    }
}
