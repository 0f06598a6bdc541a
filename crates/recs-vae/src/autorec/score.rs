//! AutoRec's predictions: the clipped reconstruction at observed rows and columns, defaults
//! elsewhere, and the `Scorer` / `RatingPredictor` impls.

use recs_core::{RatingPredictor, ScoreError, Scorer};

use super::AutoRec;
use super::kernels::{act_code, output_one};

impl AutoRec {
    pub(super) fn rmse_on(&self, entries: &[(u32, u32, f32)]) -> f64 {
        let se: f64 = entries
            .iter()
            .map(|&(r, c, v)| {
                let p = self.predict_rc(r as usize, c as usize);
                f64::from(p - v).powi(2)
            })
            .sum();
        (se / entries.len().max(1) as f64).sqrt()
    }

    /// The clipped prediction at (row, col) of the rating matrix as the model sees it.
    fn predict_rc(&self, r: usize, c: usize) -> f32 {
        let known = r < self.row_seen.len()
            && c < self.col_seen.len()
            && self.row_seen[r] > 0.0
            && self.col_seen[c] > 0.0;
        if !known {
            return self.default_rating();
        }
        let h = self.params.factors;
        let z = self.output(&self.codes[r * h..(r + 1) * h], c);
        z.clamp(self.clip.0, self.clip.1)
    }

    fn output(&self, code: &[f32], c: usize) -> f32 {
        let h = self.params.factors;
        output_one(
            code,
            &self.dec_w[c * h..(c + 1) * h],
            self.dec_b[c],
            act_code(self.params.output_activation),
        )
    }
}

impl RatingPredictor for AutoRec {
    /// The reconstruction at (user, item), clipped to the rating range; a user or item
    /// without training ratings (or out of range) gets [`AutoRec::default_rating`].
    fn predict(&self, user: u32, item: u32) -> f32 {
        let (r, c) = if self.params.item_based {
            (item, user)
        } else {
            (user, item)
        };
        self.predict_rc(r as usize, c as usize)
    }
}

impl Scorer for AutoRec {
    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    /// Predicted ratings of every item (clipped, defaults where unseen).
    fn score_user(&self, user: u32, out: &mut [f32]) -> std::result::Result<(), ScoreError> {
        if user as usize >= self.n_users {
            return Err(ScoreError::UnknownUser {
                user,
                n_users: self.n_users,
            });
        }
        if out.len() != self.n_items {
            return Err(ScoreError::BufferLength {
                got: out.len(),
                expected: self.n_items,
            });
        }
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.predict(user, i as u32);
        }
        Ok(())
    }
}
