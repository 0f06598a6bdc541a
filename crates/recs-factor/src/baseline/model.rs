//! [`BaselineOnly`] and [`GlobalMean`]: the fitted models and their accessors.

use super::params::BaselineParams;

/// r̂(u, i) = μ + b_u + b_i with biases fitted by ALS (Surprise's `BaselineOnly`).
///
/// Each epoch sets every b_i = Σ(r − μ − b_u) / (reg_i + n_i), then every
/// b_u = Σ(r − μ − b_i) / (reg_u + n_u). A user or item without training ratings has bias 0.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineOnly {
    pub(super) params: BaselineParams,
    pub(super) global_mean: f32,
    pub(super) clip: (f32, f32),
    pub(super) user_bias: Vec<f32>,
    pub(super) item_bias: Vec<f32>,
}

impl BaselineOnly {
    /// The training ratings' mean μ.
    pub fn global_mean(&self) -> f32 {
        self.global_mean
    }

    /// User biases (length `n_users`).
    pub fn user_bias(&self) -> &[f32] {
        &self.user_bias
    }

    /// Item biases (length `n_items`).
    pub fn item_bias(&self) -> &[f32] {
        &self.item_bias
    }
}

/// Predicts the training ratings' mean for every pair; ranks nothing above anything.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalMean {
    pub(super) mean: f32,
    pub(super) n_users: usize,
    pub(super) n_items: usize,
}

impl GlobalMean {
    /// The mean.
    pub fn mean(&self) -> f32 {
        self.mean
    }
}
