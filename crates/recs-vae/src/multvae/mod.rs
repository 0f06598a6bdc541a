//! Mult-VAE and Mult-DAE (Liang, Krishnan, Hoffman & Jebara, "Variational Autoencoders for
//! Collaborative Filtering", WWW 2018), as the PyTorch reference `multvae_torch.py` and the
//! authors' `vae_cf` compute them.
//!
//! A user's row `x` (item counts, usually 0/1) is L2-normalised, dropped out (training only),
//! and encoded by tanh layers; the VAE's last encoder layer gives `[μ | log σ²]` and samples
//! `z = μ + ε ⊙ σ` in training (`z = μ` at inference), the DAE's gives `z = tanh(·)`. The
//! decoder mirrors the encoder and ends in logits over every item; the loss is the
//! multinomial log-likelihood `−Σᵢ xᵢ log softmax(logits)ᵢ` averaged over the batch, plus
//! `β · KL(q(z|x) ‖ N(0, I))` for the VAE with `β = min(cap, step / total_anneal_steps)`, plus
//! an optional L2 term. Adam, seeded shuffled batches, and the epoch with the best validation
//! NDCG@100 kept.
//!
//! The first layer reads the sparse batch directly (each stored entry adds a weight row);
//! the dense layers are `gemm` products; the softmax and its gradient are one fused pass per
//! row. Users not seen in training are scored from their fold-in rows ([`MultVae::scorer`]).
//!
//! That is the native engine; the candle engine (`device` `"cpu"`, `"cuda"`, `"cuda:N"`;
//! [`MultVaeModel::fit_on`]) trains the same model from the same draws as candle tensor ops
//! on the device, differentiated by candle's autograd, with the same Adam.
//!
//! The models are [`MultVaeModel`] (`multvae`) and [`MultDaeModel`] (`multdae`): a
//! [`MultVae`] network with its users' rows.
//!
//! The module's files: `model` (the two models: fitting from `TrainData`, validation users,
//! scoring, fold-in, their `Recommender` impls), `params` (the hyper-parameters, their
//! schema, the KL annealing schedule, the data a network trains on), `layout` (the layers
//! in the flat parameter vector and the update blocks), `forward` (the forward pass, the
//! input's dropout and the softmax likelihood), `backward` (deltas and block gradients),
//! `train` (fitting a network: the initialisation, the epochs, the fused step), `candle`
//! (the candle engine's step and scoring), `score` (inference, validation NDCG, the scorer
//! of a set of rows), `persist` (model files) and `tests`.

mod backward;
#[cfg(feature = "candle")]
mod candle;
mod forward;
mod layout;
mod model;
mod params;
mod persist;
mod score;
#[cfg(test)]
mod tests;
mod train;

use layout::Layer;
pub use model::{MultDaeModel, MultVaeModel};
use params::MultVaeData;
pub use params::MultVaeParams;
pub use score::RowScorer;

/// A trained Mult-VAE or Mult-DAE network (what [`MultVaeModel`] and [`MultDaeModel`]
/// score with).
#[derive(Debug, Clone)]
pub struct MultVae {
    params: MultVaeParams,
    n_items: usize,
    layers: Vec<Layer>,
    n_enc: usize,
    theta: Vec<f32>,
    epochs_trained: usize,
    best_epoch: usize,
}

impl MultVae {
    /// The parameters it was trained with.
    pub fn params(&self) -> &MultVaeParams {
        &self.params
    }

    /// Epochs run, and the epoch whose weights were kept.
    pub fn epochs(&self) -> (usize, usize) {
        (self.epochs_trained, self.best_epoch)
    }

    /// Items it scores.
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Each item's row of the decoder's output layer (`n_items × fan_in`, row-major: the
    /// output weight matrix transposed), the item's embedding in the last hidden space.
    pub fn output_item_vectors(&self) -> (Vec<f32>, usize) {
        let l = self.layers[self.layers.len() - 1];
        let w = &self.theta[l.w..l.w + l.fan_in * l.fan_out];
        let mut out = vec![0.0f32; l.fan_in * l.fan_out];
        for r in 0..l.fan_in {
            for (j, &x) in w[r * l.fan_out..(r + 1) * l.fan_out].iter().enumerate() {
                out[j * l.fan_in + r] = x;
            }
        }
        (out, l.fan_in)
    }
}
