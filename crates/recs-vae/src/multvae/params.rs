//! Mult-VAE's and Mult-DAE's hyper-parameters.

use recs_sparse::CsrMatrix;
use serde::{Deserialize, Serialize};

use super::{MODEL_KIND_DAE, MODEL_KIND_VAE};
use crate::error::{Result, VaeError};

/// Hyper-parameters of [`MultVae`]; the defaults are the paper's Mult-VAE on ml-20m
/// ([I-600-200-600-I], batch 500, 200 000 annealing steps) except the batch (100) and
/// annealing (1 000 steps), which follow the ml-100k reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultVaeParams {
    /// `true` (default): Mult-VAE; `false`: Mult-DAE (no KL term, `z = tanh(·)`).
    pub variational: bool,
    /// Encoder hidden layers (default `[600]`; each 1..=65536); the decoder mirrors them.
    pub hidden: Vec<usize>,
    /// Latent dimension (default 200; 1..=65536).
    pub latent: usize,
    /// Dropout on the normalised input in training (default 0.5; in [0, 1)).
    pub dropout: f32,
    /// Epochs (default 200; 1..=100000).
    pub n_epochs: usize,
    /// Users per batch (default 100; ≥ 1).
    pub batch_size: usize,
    /// Adam's learning rate (default 0.001; in (0, 1]).
    pub learning_rate: f64,
    /// Largest β (default 0.2; ≥ 0).
    pub anneal_cap: f32,
    /// β = min(cap, step / this); 0 means a fixed β = cap (default 1000).
    pub total_anneal_steps: usize,
    /// L2 weight λ: λ · Σ‖W‖² over the weights (not biases) is added to every batch's loss,
    /// as `vae_cf` does (default 0; ≥ 0).
    pub weight_decay: f32,
    /// Stop after this many epochs without a better validation NDCG@100 (default `None`).
    pub patience: Option<usize>,
    /// Seed of the initialisation, shuffles, dropout and noise (default 42).
    pub seed: u64,
}

impl Default for MultVaeParams {
    fn default() -> Self {
        Self {
            variational: true,
            hidden: vec![600],
            latent: 200,
            dropout: 0.5,
            n_epochs: 200,
            batch_size: 100,
            learning_rate: 1e-3,
            anneal_cap: 0.2,
            total_anneal_steps: 1000,
            weight_decay: 0.0,
            patience: None,
            seed: 42,
        }
    }
}

impl MultVaeParams {
    /// Checks every parameter against its documented range.
    pub fn validate(&self) -> Result<()> {
        if self.hidden.iter().any(|&h| !(1..=65536).contains(&h)) {
            return Err(VaeError::invalid(
                "hidden",
                format!("{:?}", self.hidden),
                "sizes in 1..=65536",
            ));
        }
        if !(1..=65536).contains(&self.latent) {
            return Err(VaeError::invalid("latent", self.latent, "in 1..=65536"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(VaeError::invalid("dropout", self.dropout, "in [0, 1)"));
        }
        if !(1..=100_000).contains(&self.n_epochs) {
            return Err(VaeError::invalid(
                "n_epochs",
                self.n_epochs,
                "in 1..=100000",
            ));
        }
        if self.batch_size == 0 {
            return Err(VaeError::invalid("batch_size", 0, "at least 1"));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return Err(VaeError::invalid(
                "learning_rate",
                self.learning_rate,
                "in (0, 1]",
            ));
        }
        if !(self.anneal_cap.is_finite() && self.anneal_cap >= 0.0) {
            return Err(VaeError::invalid(
                "anneal_cap",
                self.anneal_cap,
                "finite and ≥ 0",
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(VaeError::invalid(
                "weight_decay",
                self.weight_decay,
                "finite and ≥ 0",
            ));
        }
        if self.patience == Some(0) {
            return Err(VaeError::invalid("patience", 0, "at least 1 (or None)"));
        }
        Ok(())
    }

    pub(super) fn kind(&self) -> &'static str {
        if self.variational {
            MODEL_KIND_VAE
        } else {
            MODEL_KIND_DAE
        }
    }
}

/// What [`MultVae::fit`](super::MultVae::fit) trains on: the training users' rows and,
/// optionally, validation users to choose the epoch by.
#[derive(Debug, Clone, Copy)]
pub struct MultVaeData<'a> {
    /// Users × items; every stored entry is a count (usually 1).
    pub train: &'a CsrMatrix,
    /// Validation users as `(fold-in rows, held-out rows)`, both over the training items:
    /// after every epoch the users are encoded from their fold-in rows and their held-out
    /// items ranked (NDCG@100); the best epoch's weights are kept. `None`: no validation,
    /// the last epoch's weights.
    pub validation: Option<(&'a CsrMatrix, &'a CsrMatrix)>,
}

impl<'a> MultVaeData<'a> {
    /// Training rows without validation.
    pub fn new(train: &'a CsrMatrix) -> Self {
        Self {
            train,
            validation: None,
        }
    }

    /// The same training rows, with validation users' fold-in and held-out rows.
    pub fn with_validation(self, fold_in: &'a CsrMatrix, held_out: &'a CsrMatrix) -> Self {
        Self {
            validation: Some((fold_in, held_out)),
            ..self
        }
    }
}

impl<'a> From<&'a CsrMatrix> for MultVaeData<'a> {
    fn from(train: &'a CsrMatrix) -> Self {
        Self::new(train)
    }
}
