//! [`SarParams`] and [`Similarity`]: SAR's hyper-parameters and their schema.

use recs_core::ModelParams;
use recs_core::schema::ParamSpec;
use serde::{Deserialize, Serialize};

use crate::common::MAX_THREADS;

/// How SAR turns co-occurrence counts into an item–item similarity (Recommenders'
/// `similarity_type`; see the [module docs](super) for the formulas).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Similarity {
    /// `C_ij / (d_i + d_j − C_ij)` (Recommenders' default).
    #[default]
    Jaccard,
    /// `C_ij / (d_i d_j)`: favours discovery.
    Lift,
    /// The co-occurrence counts themselves (Recommenders' `cooccurrence`): favours
    /// popular items.
    #[serde(alias = "cooccurrence")]
    Counts,
    /// `C_ij / √(d_i d_j)`.
    Cosine,
    /// `C_ij / min(d_i, d_j)`.
    InclusionIndex,
    /// `log2(n · C_ij / (d_i d_j))`.
    MutualInformation,
    /// `C_ij · log2(n · C_ij / (d_i d_j))`.
    LexicographersMutualInformation,
}

impl Similarity {
    /// The value of `C_ij` given the items' counts `di`, `dj` and `n` items with a user.
    pub fn of(self, c: f64, di: f64, dj: f64, n: f64) -> f64 {
        match self {
            Similarity::Counts => c,
            Similarity::Jaccard => c / (di + dj - c),
            Similarity::Lift => c / (di * dj),
            Similarity::Cosine => c / (di * dj).sqrt(),
            Similarity::InclusionIndex => c / di.min(dj),
            Similarity::MutualInformation => (n * c / (di * dj)).log2(),
            Similarity::LexicographersMutualInformation => c * (n * c / (di * dj)).log2(),
        }
    }
}

/// SAR's hyper-parameters (defaults: Recommenders' `SARSingleNode`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SarParams {
    /// The item–item similarity (default `jaccard`).
    pub similarity: Similarity,
    /// Decay each interaction's affinity by its age (default false).
    pub time_decay: bool,
    /// Days until an affinity is halved (default 30); only `time_decay` reads it.
    pub half_life_days: f64,
    /// The time (seconds, as the data's times) ages are measured from (default: the
    /// latest training time); only `time_decay` reads it.
    pub time_now: Option<i64>,
    /// Co-occurrences below this count are dropped (default 1: none).
    pub threshold: u64,
    /// Worker threads for the fit (default 0: all of rayon's pool). The model does not
    /// depend on it.
    pub threads: usize,
}

impl Default for SarParams {
    fn default() -> Self {
        Self {
            similarity: Similarity::Jaccard,
            time_decay: false,
            half_life_days: 30.0,
            time_now: None,
            threshold: 1,
            threads: 0,
        }
    }
}

impl ModelParams for SarParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::choice(
            "similarity",
            &[
                "jaccard",
                "lift",
                "counts",
                "cooccurrence",
                "cosine",
                "inclusion_index",
                "mutual_information",
                "lexicographers_mutual_information",
            ],
            "item-item similarity from co-occurrence (cooccurrence = counts)",
        )
        .alias(&["similarity_type"]),
        ParamSpec::bool("time_decay", "decay affinities by their age")
            .alias(&["timedecay_formula"]),
        ParamSpec::float_above("half_life_days", 0.0, 1e9, "days until an affinity halves")
            .alias(&["time_decay_coefficient"]),
        ParamSpec::optional_int(
            "time_now",
            0,
            i64::MAX as u64,
            "time ages are measured from (seconds; default: the latest training time)",
        ),
        ParamSpec::int(
            "threshold",
            1,
            u32::MAX as u64,
            "co-occurrences below it are dropped",
        ),
        ParamSpec::int(
            "threads",
            0,
            MAX_THREADS as u64,
            "worker threads (0: all cores)",
        ),
    ];
}
