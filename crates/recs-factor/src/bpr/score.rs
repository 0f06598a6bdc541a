//! Scoring: b_i + p_u · q_i for every item (one SIMD-dispatched call per user).

use recs_core::{ScoreError, Scorer};

use super::model::Bpr;
use crate::common::{biased_scores, score_checks};

impl Bpr {
    /// Writes `user`'s score of every item into `out` (length `n_items`).
    fn fill_scores(&self, user: u32, out: &mut [f32]) {
        let k = self.params.factors;
        let p = &self.user_factors[user as usize * k..(user as usize + 1) * k];
        biased_scores(p, &self.item_factors, &self.item_bias, out);
    }
}

impl Scorer for Bpr {
    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        score_checks(user, out, self.n_users, self.n_items)?;
        self.fill_scores(user, out);
        Ok(())
    }
}
