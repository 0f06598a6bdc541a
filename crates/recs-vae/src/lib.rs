//! Autoencoder recommenders: BiVAE ([`bivae`]), AutoRec ([`autorec`]) and Mult-VAE /
//! Mult-DAE ([`multvae`]), trained on a user × item [`CsrMatrix`](recs_sparse::CsrMatrix)
//! and used through recs-core's seam.
//!
//! Each model type — [`BiVae`], [`AutoRec`], [`MultVaeModel`] and [`MultDaeModel`] —
//! implements [`Recommender`](recs_core::Recommender): its kind (`KIND`: `bivae`, `autorec`,
//! `multvae`, `multdae`), its params (a schema from which `validate()` is derived), `fit(params,
//! &TrainData, progress)`, `save`/`load` through [`recs_core::modelfile`] (files written
//! and read by path with [`recs_core::save_path`] / [`recs_core::load_path`]), and the
//! capabilities it declares; `Scorer` (and, for AutoRec, `RatingPredictor`) score it.
//! Errors are [`recs_core::ModelError`]'s: a parameter out of range, unusable data, a loss
//! that diverged (naming the epoch), an unusable device, a model file, or a failure inside
//! candle or the sparse layer.
//!
//! # Layout
//!
//! One folder per model, each with the same files: `mod.rs` (the model type and its
//! `Recommender` impl), `params.rs` (the params and their schema), `train.rs` (fitting),
//! `score.rs` (scoring), `persist.rs` (its tensors in a model file) and `tests.rs`; plus
//! what the model needs besides — AutoRec's `kernels` and `setup` (what both engines train
//! from), Mult-VAE's `model` (its two models, `multvae` and `multdae`, over the one network
//! `mod.rs` defines, with their `Recommender` impls), `layout`, `forward` and `backward`,
//! and each's `candle` (its candle engine). No two modules import each other. Shared by all: `train` (the one
//! epoch loop: finite-loss check, best epoch and patience, [`EpochReport`]s to a
//! [`Progress`] callback that may [`Control::Stop`] it), `optim` (the one Adam, PyTorch's
//! formula), `backend` (BiVAE's operations on either engine, and Adam over a parameter set
//! on one), `nn` (activations, likelihoods, torch-style initialisation), `kernels` (math
//! built with [`recs_core::multiversion!`]), `team` (a spinning fork-join team for short
//! parallel regions) and `device` (the [`Engine`] a `device` parameter names).
//!
//! Every autoencoder trains on an [`Engine`], the one its params' `device` names
//! ([`Engine::from_device`]; each model's `fit_on` takes one directly):
//!
//! - `"native"` ([`Engine::Native`], the default) runs hand-written CPU kernels — the first
//!   layer reads the sparse batch directly, dense products go through `gemm` (candle's own
//!   CPU matrix kernel) and the elementwise work is fused;
//! - `"cpu"`, `"cuda"` or `"cuda:N"` (`Engine::Candle`) run the same model as candle
//!   tensor ops on candle's CPU device or a CUDA GPU, with the crate's `candle` feature
//!   (`cuda` for a GPU; without `candle`, a build has the native engine only and refuses
//!   these devices, saying which feature to build with): a batch goes to the device as its
//!   entries and is densified there, the noise and dropout masks are the native path's own
//!   draws, and everything else — forward, backward (BiVAE's written out, Mult-VAE's and
//!   AutoRec's by candle's autograd) and Adam — stays on the device.
//!
//! Both engines compute the same thing from the same seed (the tests hold them to it: a
//! training step's loss and gradients to 1e-4, short runs' metrics to 0.01); scoring a
//! trained or loaded model runs on the CPU. One seed controls every random draw.
//!
//! ```
//! use recs_core::{Recommender, Scorer, TrainData};
//! use recs_sparse::{CsrMatrix, DuplicatePolicy};
//! use recs_vae::{BiVae, BiVaeParams, Control, EpochReport};
//!
//! // 4 users × 5 items: users 0, 1 like items 0–2, users 2, 3 like items 2–4.
//! let (u, i): (Vec<u32>, Vec<u32>) =
//!     [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2), (2, 3), (3, 3), (3, 4)].into_iter().unzip();
//! let x = CsrMatrix::from_triplets(4, 5, &u, &i, &vec![1.0; u.len()], DuplicatePolicy::Sum)?;
//! let params = BiVaeParams { factors: 2, hidden: vec![4], epochs: 5, batch_size: 2, ..Default::default() };
//! let mut epochs = 0;
//! let model = BiVae::fit(&params, &TrainData::new(&x), &mut |_: &EpochReport| {
//!     epochs += 1;
//!     Control::Continue
//! })?;
//! assert_eq!(epochs, 5);
//! let mut scores = vec![0.0; 5];
//! model.score_user(0, &mut scores)?;
//! assert!(scores.iter().all(|s| s.is_finite()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod autorec;
mod backend;
pub mod bivae;
mod device;
mod kernels;
pub mod multvae;
pub mod nn;
mod optim;
pub mod recvae;
#[cfg(test)]
mod simd_paths;
mod team;
#[cfg(test)]
mod testing;
mod train;

pub use autorec::{AutoRec, AutoRecParams, Unseen};
pub use bivae::{BiVae, BiVaeParams, BiVaeTrainer};
#[cfg(feature = "candle")]
pub use candle_core;
pub use device::Engine;
pub use multvae::{MultDaeModel, MultVae, MultVaeModel, MultVaeParams};
pub use nn::{Activation, Likelihood};
pub use recs_core::{Control, EpochReport, NoProgress, ParamError, Progress};
pub use recvae::{RecVaeModel, RecVaeParams};

/// Results of the crate's fallible steps: [`recs_core::ModelError`] unless said otherwise.
pub(crate) type Result<T, E = recs_core::ModelError> = std::result::Result<T, E>;
