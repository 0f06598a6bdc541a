//! Inference: logits of fold-in rows, Liang's evaluation, and the fold-in scorer.

use rayon::prelude::*;
use recs_metrics::{Candidates, EvalConfig, Metric, ScoreError, Scorer};
use recs_sparse::CsrMatrix;

use super::MultVae;
use super::forward::forward;
use crate::error::{Result, VaeError};

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

    /// Liang's NDCG@k of fold-in rows `x_in` against held-out rows `x_out` (fold-in items
    /// excluded from the ranking), averaged over rows with held-out items.
    pub fn ndcg_at(&self, x_in: &CsrMatrix, x_out: &CsrMatrix, k: usize) -> Result<f64> {
        let r = self.evaluate(x_in, x_out, &[Metric::NdcgLiang], &[k])?;
        Ok(r[&format!("ndcg_liang@{k}")])
    }

    /// Liang's Recall@k and NDCG@k (and any other `metrics`) of fold-in rows `x_in` against
    /// held-out rows `x_out`, every item ranked, fold-in items excluded.
    pub fn evaluate(
        &self,
        x_in: &CsrMatrix,
        x_out: &CsrMatrix,
        metrics: &[Metric],
        ks: &[usize],
    ) -> Result<std::collections::BTreeMap<String, f64>> {
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
        evaluate_scores(&scores, n, x_in, x_out, metrics, ks)
    }

    /// A scorer of the users whose rows are `x` (training users, or held-out users' fold-in
    /// rows): each is encoded from its row and decoded to a score per item.
    pub fn scorer<'a>(&'a self, x: &'a CsrMatrix) -> FoldIn<'a> {
        FoldIn { model: self, x }
    }
}

/// [`MultVae::evaluate`] of scores computed beforehand (`x_in.n_rows() × n_items`,
/// row-major), whichever engine computed them.
pub(super) fn evaluate_scores(
    scores: &[f32],
    n_items: usize,
    x_in: &CsrMatrix,
    x_out: &CsrMatrix,
    metrics: &[Metric],
    ks: &[usize],
) -> Result<std::collections::BTreeMap<String, f64>> {
    let cfg = EvalConfig {
        metrics: metrics.to_vec(),
        ks: ks.to_vec(),
        exclude_seen: true,
        candidates: Candidates::All,
        ..EvalConfig::default()
    };
    let pre = Precomputed { scores, n_items };
    let r = recs_metrics::evaluate(&pre, x_in, x_out, &cfg)
        .map_err(|e| VaeError::InvalidData(e.to_string()))?;
    Ok(r.means)
}

/// Scores computed beforehand, row-major.
struct Precomputed<'a> {
    scores: &'a [f32],
    n_items: usize,
}

impl Scorer for Precomputed<'_> {
    fn n_users(&self) -> usize {
        self.scores.len() / self.n_items
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> std::result::Result<(), ScoreError> {
        let u = user as usize;
        if u >= self.n_users() {
            return Err(ScoreError::UnknownUser {
                user,
                n_users: self.n_users(),
            });
        }
        out.copy_from_slice(&self.scores[u * self.n_items..(u + 1) * self.n_items]);
        Ok(())
    }
}

/// [`MultVae::scorer`]: scores the users whose rows are `x`.
#[derive(Debug, Clone, Copy)]
pub struct FoldIn<'a> {
    model: &'a MultVae,
    x: &'a CsrMatrix,
}

impl Scorer for FoldIn<'_> {
    fn n_users(&self) -> usize {
        self.x.n_rows()
    }

    fn n_items(&self) -> usize {
        self.model.n_items
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> std::result::Result<(), ScoreError> {
        self.score_users(&[user], out)
    }

    fn score_users(&self, users: &[u32], out: &mut [f32]) -> std::result::Result<(), ScoreError> {
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
