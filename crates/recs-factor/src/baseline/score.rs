//! Scoring: μ + b_u + b_i (`BaselineOnly`), μ (`GlobalMean`); `Scorer` and
//! `RatingPredictor` for both.

use recs_core::{RatingPredictor, ScoreError, Scorer};

use super::model::{BaselineOnly, GlobalMean};
use crate::common::score_checks;

impl BaselineOnly {
    /// The unclipped estimate μ + b_u + b_i (an out-of-range index contributes 0).
    pub fn estimate(&self, user: u32, item: u32) -> f32 {
        self.global_mean
            + self.user_bias.get(user as usize).copied().unwrap_or(0.0)
            + self.item_bias.get(item as usize).copied().unwrap_or(0.0)
    }
}

impl RatingPredictor for BaselineOnly {
    fn predict(&self, user: u32, item: u32) -> f32 {
        self.estimate(user, item).clamp(self.clip.0, self.clip.1)
    }
}

impl Scorer for BaselineOnly {
    fn n_users(&self) -> usize {
        self.user_bias.len()
    }

    fn n_items(&self) -> usize {
        self.item_bias.len()
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        score_checks(user, out, self.user_bias.len(), self.item_bias.len())?;
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.estimate(user, i as u32);
        }
        Ok(())
    }
}

impl RatingPredictor for GlobalMean {
    fn predict(&self, _user: u32, _item: u32) -> f32 {
        self.mean
    }
}

impl Scorer for GlobalMean {
    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        score_checks(user, out, self.n_users, self.n_items)?;
        out.fill(self.mean);
        Ok(())
    }
}
