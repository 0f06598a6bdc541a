//! Scoring: a known user's row of the training matrix times the similarity; a new user's
//! items (value 1 each) times the similarity (the fold-in).

use recs_core::{FoldIn, ScoreError, Scorer, SimilarItems};

use super::model::ItemKnn;
use crate::common::{
    check_item, check_len, check_user, fold_in_items, score_users_parallel, sparse_row_times_sparse,
};

impl Scorer for ItemKnn {
    fn n_users(&self) -> usize {
        self.user_items.n_rows()
    }

    fn n_items(&self) -> usize {
        self.similarity.n_rows()
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        check_len(out, self.n_items())?;
        check_user(user, self.n_users())?;
        let r = self.user_items.row(user as usize);
        sparse_row_times_sparse(r.indices, r.values, &self.similarity, out);
        Ok(())
    }

    fn score_users(&self, users: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        score_users_parallel(self, users, out)
    }
}

impl FoldIn for ItemKnn {
    fn score_items(&self, items: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        check_len(out, self.n_items())?;
        let items = fold_in_items(items, self.n_items())?;
        let ones = vec![1.0f32; items.len()];
        sparse_row_times_sparse(&items, &ones, &self.similarity, out);
        Ok(())
    }
}

/// `similar` for ItemKNN: the item's row of the neighbour matrix (0 for a non-neighbour).
impl SimilarItems for ItemKnn {
    fn similarity_row(&self, item: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        check_len(out, self.n_items())?;
        check_item(item, self.n_items())?;
        out.fill(0.0);
        let row = self.similarity.row(item as usize);
        for (&j, &v) in row.indices.iter().zip(row.values) {
            out[j as usize] = v;
        }
        Ok(())
    }
}
