//! BiVAE's scores (`μ_θ·μ_βᵀ`, one matrix product per batch of users) and the embedding of
//! rows it never saw through its encoders.

use recs_core::{ModelError, ScoreError, Scorer};
use recs_sparse::CsrMatrix;

use super::BiVae;
use super::train::{Batches, means};
use crate::Result;
use crate::backend::native::{HostMat, Native};
use crate::kernels::{MatRef, gemm};
use crate::nn::GaussianEncoder;

impl BiVae {
    /// Embeds new users from their interactions (rows over the training items; values are
    /// binarised): the user encoder's `μ`, row-major `rows × k`.
    pub fn embed_users(&self, x: &CsrMatrix) -> Result<Vec<f32>, ModelError> {
        self.embed(&self.user_encoder, x, self.n_items, "users")
    }

    /// Embeds new items from their interactions (rows over the training users).
    pub fn embed_items(&self, x: &CsrMatrix) -> Result<Vec<f32>, ModelError> {
        self.embed(&self.item_encoder, x, self.n_users, "items")
    }

    fn embed(
        &self,
        enc: &GaussianEncoder<HostMat>,
        x: &CsrMatrix,
        n_cols: usize,
        what: &str,
    ) -> Result<Vec<f32>> {
        if x.n_cols() != n_cols {
            return Err(ModelError::Data(format!(
                "rows to embed as {what} have {} columns, the model expects {n_cols}",
                x.n_cols()
            )));
        }
        let x = x.binarize();
        let batches = Batches::new(&Native, &x, self.params.batch_size)?;
        means(&Native, enc, &x, &batches, self.params.factors)
    }
}

impl Scorer for BiVae {
    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        self.score_users(&[user], out)
    }

    /// One matrix product: the users' `μ_θ` rows times `μ_βᵀ`.
    fn score_users(&self, users: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        let (n, k) = (self.n_items, self.params.factors);
        if out.len() != users.len() * n {
            return Err(ScoreError::BufferLength {
                got: out.len(),
                expected: users.len() * n,
            });
        }
        let mut rows = Vec::with_capacity(users.len() * k);
        for &u in users {
            if u as usize >= self.n_users {
                return Err(ScoreError::UnknownUser {
                    user: u,
                    n_users: self.n_users,
                });
            }
            rows.extend_from_slice(&self.mu_theta[u as usize * k..(u as usize + 1) * k]);
        }
        let parallel = users.len() * n * k >= 1 << 20;
        gemm(
            out,
            MatRef::new(&rows, users.len(), k),
            MatRef::new(&self.mu_beta, n, k).t(),
            false,
            parallel,
        );
        Ok(())
    }
}
