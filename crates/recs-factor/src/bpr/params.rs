//! [`BprParams`] and [`NegativeSampling`]: BPR's hyper-parameters and their schema.

use recs_core::ModelParams;
use recs_core::schema::{ParamSpec, Scale};
use serde::{Deserialize, Serialize};

/// How negative items are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum NegativeSampling {
    /// Uniformly over all items (Cornac; default).
    #[default]
    #[serde(rename = "uniform", alias = "Uniform")]
    Uniform,
    /// Proportionally to item popularity: the item of a uniformly drawn training interaction
    /// (implicit's sampler).
    #[serde(rename = "popularity", alias = "Popularity")]
    Popularity,
}

/// Hyper-parameters of `Bpr`; the defaults are Cornac `BPR`'s. Missing fields take their
/// defaults when deserialised; unknown fields are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BprParams {
    /// Latent factors (default 10; 1..=4096).
    pub factors: usize,
    /// Epochs; each draws as many pairs as there are interactions (default 100; 1..=100000).
    pub epochs: usize,
    /// SGD learning rate (default 0.001; in (0, 10]). Training uses it as an `f32`.
    pub learning_rate: f64,
    /// L2 regularization λ of factors and item biases (default 0.01; in [0, 100]). Training
    /// uses it as an `f32`.
    pub reg: f64,
    /// Negative sampling (default [`NegativeSampling::Uniform`]).
    pub negatives: NegativeSampling,
    /// Redraws of a negative the user has interacted with before the pair is skipped
    /// (default 100; 0..=100000; 0 skips at once, as Cornac does).
    pub max_resample: usize,
    /// Worker threads (default 0: all of rayon's pool, which is every core unless the caller
    /// installs a smaller pool; 0..=1024). 1 is the deterministic mode; more train
    /// asynchronously on shared factors (Hogwild-style, with per-row locks) on rayon's pool.
    pub threads: usize,
    /// Seed of the initialization and every draw (default 42).
    pub seed: u64,
}

impl Default for BprParams {
    fn default() -> Self {
        Self {
            factors: 10,
            epochs: 100,
            learning_rate: 0.001,
            reg: 0.01,
            negatives: NegativeSampling::Uniform,
            max_resample: 100,
            threads: 0,
            seed: 42,
        }
    }
}

impl ModelParams for BprParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::int("factors", 1, 4096, "latent factors per user and item").tuned(
            8.0,
            256.0,
            Scale::LogInt,
        ),
        ParamSpec::int("epochs", 1, 100_000, "passes over the interactions").tuned(
            10.0,
            200.0,
            Scale::Int,
        ),
        ParamSpec::float_above("learning_rate", 0.0, 10.0, "SGD step size").tuned(
            1e-3,
            0.3,
            Scale::Log,
        ),
        ParamSpec::float(
            "reg",
            0.0,
            100.0,
            "L2 weight on the factors and item biases",
        )
        .tuned(1e-4, 0.1, Scale::Log),
        ParamSpec::choice(
            "negatives",
            &["uniform", "popularity"],
            "how negative items are drawn",
        ),
        ParamSpec::int(
            "max_resample",
            0,
            100_000,
            "redraws of a negative the user has seen",
        ),
        ParamSpec::int(
            "threads",
            0,
            1024,
            "worker threads (0: all cores); more than one is not bit-reproducible: Hogwild threads race on shared rows, and the work is split by thread count",
        ),
        ParamSpec::seed(),
    ];
}
