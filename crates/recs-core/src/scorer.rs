//! Scoring: the seam between models and everything that evaluates or serves them.
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
    /// The caller's deadline passed, or it cancelled the call, before scoring finished.
    #[error("scoring stopped: the deadline passed or the request was cancelled")]
    Cancelled,
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

macro_rules! forward_scorer {
    ($($ty:ty $(: $extra:path)?),*) => {$(
        impl<T: Scorer + $($extra +)? ?Sized> Scorer for $ty {
            fn n_users(&self) -> usize {
                (**self).n_users()
            }
            fn n_items(&self) -> usize {
                (**self).n_items()
            }
            fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
                (**self).score_user(user, out)
            }
            fn score_users(&self, users: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
                (**self).score_users(users, out)
            }
        }
        impl<T: RatingPredictor + $($extra +)? ?Sized> RatingPredictor for $ty {
            fn predict(&self, user: u32, item: u32) -> f32 {
                (**self).predict(user, item)
            }
        }
    )*};
}

// `Arc<T>` is `Sync` only when `T` is `Send` too.
forward_scorer!(&T, Box<T>, std::sync::Arc<T>: Send);

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    struct Two;
    impl Scorer for Two {
        fn n_users(&self) -> usize {
            2
        }
        fn n_items(&self) -> usize {
            3
        }
        fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
            if user >= 2 {
                return Err(ScoreError::UnknownUser { user, n_users: 2 });
            }
            for (i, o) in out.iter_mut().enumerate() {
                *o = (user * 10 + i as u32) as f32;
            }
            Ok(())
        }
    }

    fn batch<S: Scorer>(s: S) -> Vec<f32> {
        let mut out = vec![0.0; 6];
        s.score_users(&[1, 0], &mut out).unwrap();
        out
    }

    #[test]
    fn blanket_impls_forward_and_default_batch_checks_length() {
        let want = vec![10.0, 11.0, 12.0, 0.0, 1.0, 2.0];
        assert_eq!(batch(&Two), want);
        assert_eq!(batch(Box::new(Two) as Box<dyn Scorer>), want);
        assert_eq!(batch(Arc::new(Two)), want);
        let mut short = vec![0.0; 5];
        assert!(matches!(
            Two.score_users(&[0, 1], &mut short),
            Err(ScoreError::BufferLength {
                got: 5,
                expected: 6
            })
        ));
        assert!(matches!(
            Two.score_users(&[2], &mut [0.0; 3]),
            Err(ScoreError::UnknownUser { user: 2, .. })
        ));
    }
}
