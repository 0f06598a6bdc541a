//! Scoring: the sum of `B`'s rows of a user's items (a known user's training items, or a
//! new user's: the fold-in).

use recs_core::{FoldIn, ScoreError, Scorer, SimilarItems};

use super::model::Ease;
use crate::common::{check_item, check_len, check_user, fold_in_items, score_users_parallel};

impl Ease {
    /// Writes the sum of `B`'s rows of `items` into `out` (length `n_items`).
    fn add_rows(&self, items: &[u32], out: &mut [f32]) {
        let n = self.n_items();
        out.fill(0.0);
        for &i in items {
            let row = &self.b[i as usize * n..(i as usize + 1) * n];
            for (o, &v) in out.iter_mut().zip(row) {
                *o += v;
            }
        }
    }
}

impl Scorer for Ease {
    fn n_users(&self) -> usize {
        self.user_items.n_rows()
    }

    fn n_items(&self) -> usize {
        self.user_items.n_cols()
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        check_len(out, self.n_items())?;
        check_user(user, self.n_users())?;
        self.add_rows(self.user_items.row(user as usize).indices, out);
        Ok(())
    }

    fn score_users(&self, users: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        score_users_parallel(self, users, out)
    }
}

impl FoldIn for Ease {
    fn score_items(&self, items: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        check_len(out, self.n_items())?;
        let items = fold_in_items(items, self.n_items())?;
        self.add_rows(&items, out);
        Ok(())
    }
}

/// `similar` for EASE: the item's row of `B`, what an interaction with it adds to each
/// item's score (0 on the diagonal).
impl SimilarItems for Ease {
    fn similarity_row(&self, item: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        let n = self.n_items();
        check_len(out, n)?;
        check_item(item, n)?;
        out.copy_from_slice(&self.b[item as usize * n..(item as usize + 1) * n]);
        Ok(())
    }
}
