//! Inference: logits of fold-in rows, Liang's NDCG@k of held-out rows, and the scorer of a
//! set of rows.

use rayon::prelude::*;
use recs_core::{ModelError, ScoreError, Scorer};
use recs_sparse::CsrMatrix;

use super::MultVae;
use super::forward::forward;

impl MultVae {
    /// Scores (logits) of `rows` of `x` at inference, `rows.len() × n_items`.
    fn logits(&self, x: &CsrMatrix, rows: &[u32]) -> Vec<f32> {
        let mut pass = forward(
            &self.params,
            &self.layers,
            self.n_enc,
            &self.theta,
            x,
            rows,
            None,
        );
        pass.outs.pop().expect("logits")
    }

    /// Liang's NDCG@k of fold-in rows `x_in` against held-out rows `x_out` (every item
    /// ranked, fold-in items excluded), averaged over the rows with both
    /// ([`recs_core::validation::ndcg_at_k`]): what validation picks the best epoch by.
    pub fn ndcg_at(
        &self,
        x_in: &CsrMatrix,
        x_out: &CsrMatrix,
        k: usize,
    ) -> Result<f64, ModelError> {
        let rows: Vec<u32> = (0..x_in.n_rows() as u32).collect();
        let n = self.n_items;
        let mut scores = vec![0.0f32; rows.len() * n];
        // One even share of the rows per thread (each a single batched forward pass).
        let share = rows
            .len()
            .div_ceil(rayon::current_num_threads().max(1))
            .max(1);
        scores
            .par_chunks_mut(share * n)
            .zip(rows.par_chunks(share))
            .for_each(|(out, r)| out.copy_from_slice(&self.logits(x_in, r)));
        recs_core::validation::ndcg_at_k(&scores, x_in, x_out, k)
    }

    /// A scorer of the users whose rows are `x` (training users, or held-out users' fold-in
    /// rows): each is encoded from its row and decoded to a score per item.
    pub fn scorer<'a>(&'a self, x: &'a CsrMatrix) -> RowScorer<'a> {
        RowScorer { model: self, x }
    }
}

/// [`MultVae::scorer`]: scores the users whose rows are `x`, a batch of users in one
/// forward pass.
#[derive(Debug, Clone, Copy)]
pub struct RowScorer<'a> {
    model: &'a MultVae,
    x: &'a CsrMatrix,
}

impl Scorer for RowScorer<'_> {
    fn n_users(&self) -> usize {
        self.x.n_rows()
    }

    fn n_items(&self) -> usize {
        self.model.n_items
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        self.score_users(&[user], out)
    }

    fn score_users(&self, users: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        if let Some(&u) = users.iter().find(|&&u| u as usize >= self.x.n_rows()) {
            return Err(ScoreError::UnknownUser {
                user: u,
                n_users: self.x.n_rows(),
            });
        }
        if out.len() != users.len() * self.model.n_items {
            return Err(ScoreError::BufferLength {
                got: out.len(),
                expected: users.len() * self.model.n_items,
            });
        }
        out.copy_from_slice(&self.model.logits(self.x, users));
        Ok(())
    }
}
