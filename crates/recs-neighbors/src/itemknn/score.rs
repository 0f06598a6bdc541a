//! Scoring: a known user's row of the training matrix times the similarity; a new user's
//! items (value 1 each) times the similarity (the fold-in).

use recs_core::{FoldIn, ScoreError, Scorer, SimilarItems};

use super::model::ItemKnn;
use crate::common::{score_known, score_new, score_users_parallel, similarity_row};

impl Scorer for ItemKnn {
    fn n_users(&self) -> usize {
        self.user_items.n_rows()
    }

    fn n_items(&self) -> usize {
        self.similarity.n_rows()
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        score_known(&self.user_items, &self.similarity, user, out)
    }

    fn score_users(&self, users: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        score_users_parallel(self, users, out)
    }
}

impl FoldIn for ItemKnn {
    fn score_items(&self, items: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        score_new(&self.similarity, items, out)
    }
}

/// `similar` for ItemKNN: the item's row of the neighbour matrix (0 for a non-neighbour).
impl SimilarItems for ItemKnn {
    fn similarity_row(&self, item: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        similarity_row(&self.similarity, item, out)
    }
}
