//! [`Sar`]: the fitted model and its accessors.

use recs_sparse::CsrMatrix;

use crate::common::ItemMatrix;

use super::params::SarParams;

/// A fitted SAR model: the users' affinities, the item × item similarity (sparse, or dense
/// when most pairs co-occur), the
/// items' popularity (the fallback for users without history) and the reference time of
/// the decay (fitted, saved and loaded through [`recs_core::Recommender`]).
#[derive(Debug, Clone)]
pub struct Sar {
    pub(super) params: SarParams,
    pub(super) affinity: CsrMatrix,
    pub(super) similarity: ItemMatrix,
    pub(super) popularity: Vec<f32>,
    pub(super) time_now: Option<i64>,
}

impl Sar {
    /// The item × item similarity.
    pub fn similarity(&self) -> &ItemMatrix {
        &self.similarity
    }

    /// The users' affinities (users × items).
    pub fn affinity(&self) -> &CsrMatrix {
        &self.affinity
    }

    /// Each item's user count after the threshold: what a user without history is ranked by.
    pub fn popularity(&self) -> &[f32] {
        &self.popularity
    }

    /// The time the decay measured ages from (`None` without decay).
    pub fn time_now(&self) -> Option<i64> {
        self.time_now
    }
}
