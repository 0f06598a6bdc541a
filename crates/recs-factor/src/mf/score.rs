//! Scoring: the estimate with its fallbacks for users and items without training ratings,
//! `Scorer` (unclipped) and `RatingPredictor` (clipped to the rating range).

use recs_core::{RatingPredictor, ScoreError, Scorer};

use super::model::BiasedMf;
use crate::common::{dot, score_checks};

impl BiasedMf {
    fn known_user(&self, u: u32) -> bool {
        (u as usize) < self.n_users && self.user_count[u as usize] > 0.0
    }

    fn known_item(&self, i: u32) -> bool {
        (i as usize) < self.n_items && self.item_count[i as usize] > 0.0
    }

    /// The unclipped estimate: μ, plus b_u for a user seen in training, plus b_i for an item
    /// seen in training, plus p_u · q_i when both were.
    pub fn estimate(&self, user: u32, item: u32) -> f32 {
        let k = self.params.factors;
        let (ku, ki) = (self.known_user(user), self.known_item(item));
        let (u, i) = (user as usize, item as usize);
        let mut est = self.global_mean;
        if ku {
            est += self.user_bias[u];
        }
        if ki {
            est += self.item_bias[i];
        }
        if ku && ki {
            est += dot(
                &self.user_factors[u * k..(u + 1) * k],
                &self.item_factors[i * k..(i + 1) * k],
            );
        }
        est
    }
}

impl RatingPredictor for BiasedMf {
    /// The estimate clipped to the rating range; unknown users or items fall back to μ plus
    /// the known biases.
    fn predict(&self, user: u32, item: u32) -> f32 {
        self.estimate(user, item).clamp(self.clip.0, self.clip.1)
    }
}

impl Scorer for BiasedMf {
    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    /// Unclipped estimates (clipping would tie the best items).
    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        score_checks(user, out, self.n_users, self.n_items)?;
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.estimate(user, i as u32);
        }
        Ok(())
    }
}
