//! [`ItemKnnParams`] and [`Weighting`]: ItemKNN's hyper-parameters and their schema.

use recs_core::ModelParams;
use recs_core::schema::{ParamSpec, Scale};
use serde::{Deserialize, Serialize};

use crate::common::MAX_THREADS;

/// How the user × item matrix is weighted before the item–item product (implicit's
/// recommender classes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    /// Cosine similarity: each item's column L2-normalised (implicit's `CosineRecommender`).
    #[default]
    Cosine,
    /// BM25 with `k1` and `b` (implicit's `BM25Recommender`).
    Bm25,
    /// TF-IDF: square-rooted values times the user's idf, L2-normalised per item
    /// (implicit's `TFIDFRecommender`).
    Tfidf,
    /// The values as given: co-occurrence counts (implicit's `ItemItemRecommender`).
    None,
}

impl Weighting {
    /// The name params use (`"cosine"`, `"bm25"`, `"tfidf"`, `"none"`).
    pub fn name(self) -> &'static str {
        match self {
            Weighting::Cosine => "cosine",
            Weighting::Bm25 => "bm25",
            Weighting::Tfidf => "tfidf",
            Weighting::None => "none",
        }
    }
}

/// ItemKNN's hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ItemKnnParams {
    /// The weighting of the user × item matrix: `cosine` (default), `bm25`, `tfidf` or
    /// `none`.
    pub weighting: Weighting,
    /// Neighbours kept per item, the item itself included (implicit's `K`; default 20, as
    /// implicit's).
    pub neighbours: usize,
    /// BM25's `K1`, the term-frequency saturation (default 1.2, implicit's
    /// `BM25Recommender` default); only `bm25` reads it.
    pub k1: f64,
    /// BM25's `B`, the length normalisation in [0, 1] (default 0.75, implicit's
    /// `BM25Recommender` default); only `bm25` reads it.
    pub b: f64,
    /// Worker threads for the fit (default 0: all of rayon's pool). The model does not depend
    /// on it.
    pub threads: usize,
}

impl Default for ItemKnnParams {
    fn default() -> Self {
        Self {
            weighting: Weighting::Cosine,
            neighbours: 20,
            k1: 1.2,
            b: 0.75,
            threads: 0,
        }
    }
}

impl ModelParams for ItemKnnParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::choice(
            "weighting",
            &["cosine", "bm25", "tfidf", "none"],
            "how interactions are weighted before the item-item cosine",
        ),
        ParamSpec::int("neighbours", 1, u64::MAX, "neighbours kept per item")
            .alias(&["K"])
            .tuned(10.0, 1000.0, Scale::LogInt),
        ParamSpec::float("k1", 0.0, f64::INFINITY, "BM25's k1")
            .alias(&["K1"])
            .tuned(0.5, 3.0, Scale::Linear),
        ParamSpec::float("b", 0.0, 1.0, "BM25's b")
            .alias(&["B"])
            .tuned(0.0, 1.0, Scale::Linear),
        ParamSpec::int(
            "threads",
            0,
            MAX_THREADS as u64,
            "worker threads (0: all cores)",
        ),
    ];
}
