//! Scoring: a known user's row of the training matrix times `W`; a new user's items (value
//! 1 each) times `W` (the fold-in); an item's row of `W` (similar items).

use recs_core::{FoldIn, ScoreError, Scorer, SimilarItems};

use super::model::Rp3Beta;
use crate::common::{score_known, score_new, score_users_parallel, similarity_row};

impl Scorer for Rp3Beta {
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

impl FoldIn for Rp3Beta {
    fn score_items(&self, items: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        score_new(&self.similarity, items, out)
    }
}

/// `similar` for RP3beta: the item's row of `W` (0 outside the kept entries).
impl SimilarItems for Rp3Beta {
    fn similarity_row(&self, item: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        similarity_row(&self.similarity, item, out)
    }
}
