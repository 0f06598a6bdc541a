//! [`BiasedMf`]: the fitted model and its accessors.

use super::params::MfParams;

/// A trained biased matrix factorization model (fitted, saved and loaded through
/// [`recs_core::Recommender`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BiasedMf {
    pub(super) params: MfParams,
    pub(super) n_users: usize,
    pub(super) n_items: usize,
    pub(super) global_mean: f32,
    pub(super) clip: (f32, f32),
    pub(super) user_bias: Vec<f32>,
    pub(super) item_bias: Vec<f32>,
    /// Row-major `n_users × factors`; in place in the file when loaded from a mapped one.
    pub(super) user_factors: recs_core::modelfile::Floats,
    /// Row-major `n_items × factors`; as the user factors.
    pub(super) item_factors: recs_core::modelfile::Floats,
    /// Training ratings per user (as f32): a user with none has no known bias or factors.
    pub(super) user_count: Vec<f32>,
    /// Training ratings per item.
    pub(super) item_count: Vec<f32>,
}

impl BiasedMf {
    /// The training ratings' mean μ.
    pub fn global_mean(&self) -> f32 {
        self.global_mean
    }

    /// User biases b_u (length `n_users`).
    pub fn user_bias(&self) -> &[f32] {
        &self.user_bias
    }

    /// Item biases b_i (length `n_items`).
    pub fn item_bias(&self) -> &[f32] {
        &self.item_bias
    }

    /// User factors, row-major `n_users × factors`.
    pub fn user_factors(&self) -> &[f32] {
        &self.user_factors
    }

    /// Item factors, row-major `n_items × factors`.
    pub fn item_factors(&self) -> &[f32] {
        &self.item_factors
    }
}
