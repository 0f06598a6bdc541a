//! [`MfParams`]: biased MF's hyper-parameters and their schema.

use recs_core::ModelParams;
use recs_core::schema::{ParamSpec, Scale};
use serde::{Deserialize, Serialize};

/// Hyper-parameters of `BiasedMf`; the defaults are Surprise's `SVD` defaults. Missing
/// fields take their defaults when deserialised; unknown fields are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MfParams {
    /// Latent factors per user and item (default 100; 1..=4096).
    pub factors: usize,
    /// Passes over the ratings (default 20; 1..=100000).
    pub epochs: usize,
    /// SGD learning rate of biases and factors (default 0.005; in (0, 1]). Training uses it
    /// as an `f32`.
    pub learning_rate: f64,
    /// L2 regularization of biases and factors (default 0.02; in [0, 100]). Training uses it
    /// as an `f32`.
    pub reg: f64,
    /// Mean of the normal the factors start from (default 0; finite).
    pub init_mean: f32,
    /// Standard deviation of the normal the factors start from (default 0.1; ≥ 0, finite).
    pub init_std: f32,
    /// Visit the ratings in a fresh seeded random order each epoch (default true); false
    /// visits them in the training matrix's order (user by user) every epoch.
    pub shuffle: bool,
    /// Seed of the initialization and the shuffles (default 42).
    pub seed: u64,
    /// Predictions are clipped to this range (default `None`: the training ratings' min and
    /// max, which is Surprise's rating scale on MovieLens).
    pub rating_range: Option<(f32, f32)>,
}

impl Default for MfParams {
    fn default() -> Self {
        Self {
            factors: 100,
            epochs: 20,
            learning_rate: 0.005,
            reg: 0.02,
            init_mean: 0.0,
            init_std: 0.1,
            shuffle: true,
            seed: 42,
            rating_range: None,
        }
    }
}

impl ModelParams for MfParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::int("factors", 1, 4096, "latent factors per user and item").tuned(
            8.0,
            256.0,
            Scale::LogInt,
        ),
        ParamSpec::int("epochs", 1, 100_000, "passes of SGD over the ratings").tuned(
            5.0,
            100.0,
            Scale::Int,
        ),
        ParamSpec::float_above("learning_rate", 0.0, 1.0, "SGD step size").tuned(
            1e-3,
            0.1,
            Scale::Log,
        ),
        ParamSpec::float("reg", 0.0, 100.0, "L2 weight on factors and biases").tuned(
            1e-3,
            1.0,
            Scale::Log,
        ),
        ParamSpec::float(
            "init_mean",
            f64::NEG_INFINITY,
            f64::INFINITY,
            "mean of the initial factors",
        ),
        ParamSpec::float(
            "init_std",
            0.0,
            f64::INFINITY,
            "standard deviation of the initial factors",
        ),
        ParamSpec::bool("shuffle", "shuffle the ratings before each epoch"),
        ParamSpec::seed(),
        ParamSpec::optional_range(
            "rating_range",
            "clip predictions to [lo, hi] (none: no clipping)",
        ),
    ];
}
