//! The seam between models and everything that evaluates or serves them.
//!
//! Every model crate implements [`Scorer`] (ranking) and, where it predicts ratings,
//! [`RatingPredictor`]. Metrics, the CLI and xtask only ever see these traits, so they never
//! depend on candle or on any model crate.

use thiserror::Error;

/// What a scorer can report instead of scores.
#[derive(Debug, Error)]
pub enum ScoreError {
    /// The user index is not one the model was trained with.
    #[error("user index {user} is out of range: the model knows {n_users} users")]
    UnknownUser {
        /// The user index asked for.
        user: u32,
        /// How many users the model knows.
        n_users: usize,
    },
    /// The caller's buffer does not have the length the call needs.
    #[error("score buffer has length {got}, expected {expected} (users × items)")]
    BufferLength {
        /// The buffer's length.
        got: usize,
        /// The length it must have.
        expected: usize,
    },
    /// Anything the model itself reports (a backend error, say).
    #[error("model error: {0}")]
    Model(String),
}

/// Scores users over all items: the one thing an evaluator or a server needs of a ranking model.
///
/// Indices are the dense `u32` indices of the training data's id maps. Higher scores rank
/// first. Implementations must be deterministic for a trained model and safe to call from
/// many threads at once.
pub trait Scorer: Sync {
    /// Number of users the model can score (valid user indices are `0..n_users()`).
    fn n_users(&self) -> usize;

    /// Number of items every score row covers.
    fn n_items(&self) -> usize;

    /// Writes the scores of `user` for every item into `out` (length `n_items()`).
    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError>;

    /// Writes the scores of several users, row after row, into `out`
    /// (length `users.len() * n_items()`). The default calls [`Scorer::score_user`] per row;
    /// models with a faster batched path (one matrix product) override it.
    fn score_users(&self, users: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        let n = self.n_items();
        if out.len() != users.len() * n {
            return Err(ScoreError::BufferLength {
                got: out.len(),
                expected: users.len() * n,
            });
        }
        if n == 0 {
            return Ok(());
        }
        for (&u, row) in users.iter().zip(out.chunks_mut(n)) {
            self.score_user(u, row)?;
        }
        Ok(())
    }
}

/// Predicts ratings for (user, item) pairs: the seam for rating-prediction models.
///
/// A user or item the model never saw in training gets the model's documented fallback
/// (for example the global mean plus the known biases); it is never an error.
pub trait RatingPredictor: Sync {
    /// The predicted rating of `item` by `user`.
    fn predict(&self, user: u32, item: u32) -> f32;
}
