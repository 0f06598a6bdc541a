//! [`Bpr`]: the fitted model and its accessors.

use recs_core::modelfile::Floats;

use super::params::BprParams;

/// A trained BPR model: score(u, i) = b_i + p_u · q_i (fitted, saved and loaded through
/// [`recs_core::Recommender`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Bpr {
    pub(super) params: BprParams,
    pub(super) n_users: usize,
    pub(super) n_items: usize,
    /// Row-major `n_users × factors`; in place in the file when loaded from a mapped one.
    pub(super) user_factors: Floats,
    /// Row-major `n_items × factors`; as the user factors.
    pub(super) item_factors: Floats,
    pub(super) item_bias: Vec<f32>,
}

impl Bpr {
    /// User factors, row-major `n_users × factors`.
    pub fn user_factors(&self) -> &[f32] {
        &self.user_factors
    }

    /// Item factors, row-major `n_items × factors`.
    pub fn item_factors(&self) -> &[f32] {
        &self.item_factors
    }

    /// Item biases.
    pub fn item_bias(&self) -> &[f32] {
        &self.item_bias
    }
}
