//! Scoring: a known user's affinities times the similarity; a new user's items (1 each) or
//! affinities (values, decayed by their times) times the similarity; the popularity for a
//! user without history; an item's row of the similarity.

use recs_core::model::check_rated;
use recs_core::{FoldIn, ScoreError, Scorer, SimilarItems};

use super::fit::decay;
use super::model::Sar;
use crate::common::{check_item, check_len, check_user, fold_in_items, score_users_parallel};

impl Sar {
    /// `out = Σ a_i · S[i]` over the user's `(item, affinity)`, or the popularity when they
    /// have none.
    fn score_affinities(&self, items: &[u32], affinities: &[f32], out: &mut [f32]) {
        if items.is_empty() {
            out.copy_from_slice(&self.popularity);
        } else {
            self.similarity.times(items, affinities, out);
        }
    }
}

impl Scorer for Sar {
    fn n_users(&self) -> usize {
        self.affinity.n_rows()
    }

    fn n_items(&self) -> usize {
        self.similarity.n_rows()
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        check_len(out, self.n_items())?;
        check_user(user, self.n_users())?;
        let r = self.affinity.row(user as usize);
        self.score_affinities(r.indices, r.values, out);
        Ok(())
    }

    fn score_users(&self, users: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        score_users_parallel(self, users, out)
    }
}

impl FoldIn for Sar {
    /// Each item counts 1 (Recommenders' `get_item_based_topk` without ratings); no items:
    /// the popularity.
    fn score_items(&self, items: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        if items.is_empty() {
            check_len(out, self.n_items())?;
            out.copy_from_slice(&self.popularity);
            return Ok(());
        }
        check_len(out, self.n_items())?;
        let items = fold_in_items(items, self.n_items())?;
        self.similarity.times(&items, &vec![1.0; items.len()], out);
        Ok(())
    }

    /// Each value is the item's affinity, decayed by its time against the model's
    /// reference time when the model decays (values without times are taken as they are);
    /// an item given twice sums its affinities, as SAR groups interactions.
    fn score_rated(
        &self,
        items: &[u32],
        values: &[f32],
        timestamps: Option<&[i64]>,
        out: &mut [f32],
    ) -> Result<(), ScoreError> {
        check_rated(items, values, timestamps)?;
        check_len(out, self.n_items())?;
        fold_in_items(items, self.n_items())?;
        let mut pairs: Vec<(u32, f32)> = items
            .iter()
            .zip(values)
            .enumerate()
            .map(|(k, (&i, &v))| match (self.time_now, timestamps) {
                (Some(now), Some(t)) => (i, v * decay(now, t[k], self.params.half_life_days)),
                _ => (i, v),
            })
            .collect();
        pairs.sort_by_key(|p| p.0);
        let (mut idx, mut val): (Vec<u32>, Vec<f32>) = (Vec::new(), Vec::new());
        for (i, v) in pairs {
            if idx.last() == Some(&i) {
                *val.last_mut().expect("a value per index") += v;
            } else {
                idx.push(i);
                val.push(v);
            }
        }
        self.score_affinities(&idx, &val, out);
        Ok(())
    }
}

/// `similar` for SAR: the item's row of the similarity (0 for items it never co-occurs
/// with).
impl SimilarItems for Sar {
    fn similarity_row(&self, item: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        check_len(out, self.n_items())?;
        check_item(item, self.n_items())?;
        self.similarity.row_into(item as usize, out);
        Ok(())
    }
}
