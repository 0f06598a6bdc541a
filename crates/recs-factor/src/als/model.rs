//! [`Als`]: the fitted model and its accessors.

use std::sync::OnceLock;

use recs_core::modelfile::Floats;

use super::params::AlsParams;

/// A trained ALS model: score(u, i) = x_u · y_i (fitted, saved and loaded through
/// [`recs_core::Recommender`]).
#[derive(Debug, Clone)]
pub struct Als {
    pub(super) params: AlsParams,
    pub(super) n_users: usize,
    pub(super) n_items: usize,
    /// Row-major `n_users × factors`; in place in the file when loaded from a mapped one.
    pub(super) user_factors: Floats,
    /// Row-major `n_items × factors`; as the user factors.
    pub(super) item_factors: Floats,
    /// YᵀY + λI, computed on the first fold-in.
    pub(super) item_gram: OnceLock<Vec<f32>>,
    /// XᵀX + λI, computed on the first item solve.
    pub(super) user_gram: OnceLock<Vec<f32>>,
}

impl Als {
    /// User factors, row-major `n_users × factors`.
    pub fn user_factors(&self) -> &[f32] {
        &self.user_factors
    }

    /// Item factors, row-major `n_items × factors`.
    pub fn item_factors(&self) -> &[f32] {
        &self.item_factors
    }
}
