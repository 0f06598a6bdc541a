//! [`BaselineParams`] and the empty [`GlobalMeanParams`], with their schemas.

use recs_core::ModelParams;
use recs_core::schema::{ParamSpec, Scale};
use serde::{Deserialize, Serialize};

/// Hyper-parameters of `BaselineOnly`; the defaults are Surprise's ALS baseline defaults.
/// Missing fields take their defaults when deserialised; unknown fields are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BaselineParams {
    /// Alternating passes (default 10; 1..=100000).
    pub epochs: usize,
    /// Regularization of the user biases (default 15; ≥ 0 and finite).
    pub reg_u: f64,
    /// Regularization of the item biases (default 10; ≥ 0 and finite).
    pub reg_i: f64,
    /// Predictions are clipped to this range (default `None`: the training ratings' range).
    pub rating_range: Option<(f32, f32)>,
}

impl Default for BaselineParams {
    fn default() -> Self {
        Self {
            epochs: 10,
            reg_u: 15.0,
            reg_i: 10.0,
            rating_range: None,
        }
    }
}

impl ModelParams for BaselineParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::int("epochs", 1, 100_000, "ALS sweeps over the biases"),
        ParamSpec::float("reg_u", 0.0, f64::INFINITY, "shrinkage of the user biases").tuned(
            0.1,
            100.0,
            Scale::Log,
        ),
        ParamSpec::float("reg_i", 0.0, f64::INFINITY, "shrinkage of the item biases").tuned(
            0.1,
            100.0,
            Scale::Log,
        ),
        ParamSpec::optional_range(
            "rating_range",
            "clip predictions to [lo, hi] (none: no clipping)",
        ),
    ];
}

/// The global mean takes no parameters (an empty document; any key is refused).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalMeanParams {}

impl ModelParams for GlobalMeanParams {
    const SCHEMA: &'static [ParamSpec] = &[];
}
