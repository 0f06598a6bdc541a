//! BiVAE: the Bilateral Variational Autoencoder for collaborative filtering (Truong, Salah
//! & Lauw, WSDM 2021), with the semantics of Cornac's `BiVAECF`.
//!
//! Users are encoded from their rows and items from their columns of the binarised matrix
//! `x`, each by an MLP into a Gaussian `N(μ, σ²)` (σ = sigmoid of a linear head); the
//! decoder is `x̂ = sigmoid(θ·βᵀ)`. Training alternates, every epoch, an **item pass** over
//! all item batches in order, decoding against the stored user samples `θ` and then
//! storing the batch's fresh samples `β` from the updated encoder, and a **user pass** over
//! all user batches decoding against the stored `β`. Each pass minimises the batch mean of
//! `β_KL·KL − log-likelihood` with its own Adam. After the last epoch the means `μ_θ`, `μ_β`
//! are recomputed; scores are `μ_θ·μ_β` (see [`BiVae`]'s `Scorer` implementation).
//!
//! Differences from Cornac, none of which changes what is computed: Cornac re-runs the
//! whole model after each step just to read the encoder output (we run only the encoder);
//! Cornac fills `β` with `0.01·N(0, 1)` before training but overwrites every row in the
//! first item pass before any read (we start from zeros); the random streams are ours
//! (ChaCha8), not PyTorch's. Cornac's optional CAP priors (from side features) are not
//! implemented: the prior is always `N(0, I)`.
//!
//! The module's files: `params` (the hyper-parameters and their schema), `train` (fitting:
//! the training state on either backend, the epochs, [`BiVaeTrainer`]), `score` (scores
//! and the embedding of new rows), `persist` (model files) and `tests`.

mod params;
mod persist;
mod score;
#[cfg(test)]
mod tests;
mod train;

pub use params::BiVaeParams;
pub use train::BiVaeTrainer;

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{
    Capabilities, ItemVectors, ModelError, ModelParams as _, Progress, Recommender, TrainData,
};

use crate::Engine;
use crate::backend::native::HostMat;
use crate::nn::GaussianEncoder;

/// A trained BiVAE: the posterior means `μ_θ` (users × k) and `μ_β` (items × k), the last
/// samples `θ`, `β`, and both encoders (to embed new rows).
///
/// As a [`Scorer`](recs_core::Scorer) it scores user `u` and item `i` by `μ_θ[u]·μ_β[i]`:
/// Cornac scores `sigmoid(μ_θ[u]·μ_β[i])`, which ranks identically; we skip the sigmoid
/// because it saturates to 1.0 in `f32` for large products and would turn distinct scores
/// into ties.
#[derive(Clone)]
pub struct BiVae {
    params: BiVaeParams,
    n_users: usize,
    n_items: usize,
    mu_theta: Vec<f32>,
    mu_beta: Vec<f32>,
    theta: Vec<f32>,
    beta: Vec<f32>,
    user_encoder: GaussianEncoder<HostMat>,
    item_encoder: GaussianEncoder<HostMat>,
    epochs_trained: usize,
}

impl std::fmt::Debug for BiVae {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BiVae")
            .field("n_users", &self.n_users)
            .field("n_items", &self.n_items)
            .field("params", &self.params)
            .field("epochs_trained", &self.epochs_trained)
            .finish_non_exhaustive()
    }
}

impl BiVae {
    /// Dimension of the factors.
    pub fn factors(&self) -> usize {
        self.params.factors
    }

    /// Epochs it was trained for.
    pub fn epochs_trained(&self) -> usize {
        self.epochs_trained
    }

    /// `μ_θ`: user embeddings, row-major `n_users × k`.
    pub fn user_embeddings(&self) -> &[f32] {
        &self.mu_theta
    }

    /// `μ_β`: item embeddings, row-major `n_items × k`.
    pub fn item_embeddings(&self) -> &[f32] {
        &self.mu_beta
    }
}

/// BiVAE ranks (it predicts no ratings), has item vectors (the items' latent means `μ_β`)
/// and user vectors (`μ_θ`), and scores a batch of users in one matrix product.
impl Recommender for BiVae {
    const KIND: &'static str = "bivae";
    const CAPABILITIES: Capabilities = Capabilities {
        item_vectors: true,
        user_vectors: true,
        batch_scoring: true,
        ..Capabilities::NONE
    };
    type Params = BiVaeParams;

    /// Trains with `params` on `data.matrix` (users × items; values are binarised;
    /// `data.validation` is not used) on the engine `params.device` names
    /// ([`Engine::from_device`]); see [`BiVae::fit_on`].
    fn fit(
        params: &BiVaeParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        params.validate()?;
        Self::fit_on(
            params,
            data,
            &Engine::from_device(&params.device)?,
            progress,
        )
    }

    fn params(&self) -> &BiVaeParams {
        &self.params
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        persist::write(self, out)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        persist::read(file)
    }

    fn item_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: self.item_embeddings(),
            dim: self.factors(),
        })
    }

    fn user_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: self.user_embeddings(),
            dim: self.factors(),
        })
    }
}
