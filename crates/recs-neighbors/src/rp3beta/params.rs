//! [`Rp3BetaParams`]: RP3beta's hyper-parameters and their schema.

use recs_core::ModelParams;
use recs_core::schema::{ParamSpec, Scale};
use serde::{Deserialize, Serialize};

use crate::common::MAX_THREADS;

/// RP3beta's hyper-parameters (defaults: Dacrema et al.'s `RP3betaRecommender`, the
/// settings `graph_peers.py` reports).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rp3BetaParams {
    /// The exponent on the transition probabilities (default 1: the plain random walk).
    pub alpha: f64,
    /// The popularity penalty: each target item's walk probability is divided by its user
    /// count to this power (default 0.6; 0 is P3alpha).
    pub beta: f64,
    /// Entries kept per item row of the similarity (default 100).
    pub neighbours: usize,
    /// Divide each kept row by its sum (default false).
    pub normalize_similarity: bool,
    /// Worker threads for the fit (default 0: all of rayon's pool). The model does not
    /// depend on it.
    pub threads: usize,
}

impl Default for Rp3BetaParams {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            beta: 0.6,
            neighbours: 100,
            normalize_similarity: false,
            threads: 0,
        }
    }
}

impl ModelParams for Rp3BetaParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::float(
            "alpha",
            0.0,
            16.0,
            "exponent on the transition probabilities",
        )
        .tuned(0.0, 2.0, Scale::Linear),
        ParamSpec::float("beta", 0.0, 16.0, "popularity penalty on the target items").tuned(
            0.0,
            1.0,
            Scale::Linear,
        ),
        ParamSpec::int("neighbours", 1, u64::MAX, "entries kept per item row")
            .alias(&["K", "topK"])
            .tuned(10.0, 1000.0, Scale::LogInt),
        ParamSpec::bool(
            "normalize_similarity",
            "divide each similarity row by its sum",
        ),
        ParamSpec::int(
            "threads",
            0,
            MAX_THREADS as u64,
            "worker threads (0: all cores)",
        ),
    ];
}
