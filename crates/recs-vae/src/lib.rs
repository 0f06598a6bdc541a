//! Autoencoder recommenders: BiVAE (native kernels or [candle](candle_core)), AutoRec
//! ([`autorec`]) and Mult-VAE / Mult-DAE ([`multvae`]), trained on a user × item
//! [`CsrMatrix`](recs_sparse::CsrMatrix) and served through [`recs_metrics::Scorer`].
//!
//! Every model trains through one epoch loop (shuffled or ordered batches, the finite-loss
//! check, best epoch and patience, [`EpochReport`]s to a [`Progress`] callback that may
//! [`Control::Stop`] it), one Adam (PyTorch's formula) and one SIMD dispatch
//! ([`recs_core::multiversion!`]); every `fit` takes `(params, data, progress)`.
//!
//! Every autoencoder trains on an [`Engine`], the one its params' `device` names
//! ([`Engine::from_device`]; `fit_on` takes one directly):
//!
//! - `"native"` ([`Engine::Native`], the default) runs hand-written CPU kernels — the first
//!   layer reads the sparse batch directly, dense products go through `gemm` (candle's own
//!   CPU matrix kernel) and the elementwise work is fused;
//! - `"cpu"`, `"cuda"` or `"cuda:N"` ([`Engine::Candle`]) run the same model as candle
//!   tensor ops on candle's CPU device or a CUDA GPU, with the crate's `candle` feature
//!   (`cuda` for a GPU; without `candle`, a build has the native engine only and refuses
//!   these devices, saying which feature to build with): a
//!   batch goes to the device as its entries and is densified there, the noise and dropout
//!   masks are the native path's own draws, and everything else — forward, backward (BiVAE's written out,
//!   Mult-VAE's and AutoRec's by candle's autograd) and Adam — stays on the device.
//!
//! Both engines compute the same thing from the same seed (the tests hold them to it: a
//! training step's loss and gradients to 1e-4, short runs' metrics to 0.01); scoring a
//! trained or loaded model runs on the CPU. One seed controls every random draw.
//!
//! ```
//! use recs_metrics::Scorer;
//! use recs_sparse::{CsrMatrix, DuplicatePolicy};
//! use recs_vae::{BiVae, BiVaeParams, Control, EpochReport};
//!
//! // 4 users × 5 items: users 0, 1 like items 0–2, users 2, 3 like items 2–4.
//! let (u, i): (Vec<u32>, Vec<u32>) =
//!     [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2), (2, 3), (3, 3), (3, 4)].into_iter().unzip();
//! let x = CsrMatrix::from_triplets(4, 5, &u, &i, &vec![1.0; u.len()], DuplicatePolicy::Sum)?;
//! let params = BiVaeParams { factors: 2, hidden: vec![4], epochs: 5, batch_size: 2, ..Default::default() };
//! let mut epochs = 0;
//! let model = BiVae::fit(&params, &x, &mut |_: &EpochReport| {
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
mod error;
mod kernels;
pub mod multvae;
pub mod nn;
mod optim;
pub mod persist;
mod recommender;
#[cfg(test)]
mod simd_paths;
mod team;
mod train;

pub use autorec::{AutoRec, AutoRecParams, Unseen};
pub use bivae::{BiVae, BiVaeParams, BiVaeTrainer};
#[cfg(feature = "candle")]
pub use candle_core;
pub use error::{Result, VaeError};
pub use multvae::{MultVae, MultVaeData, MultVaeParams};
pub use nn::{Activation, Likelihood};
pub use recommender::{MultDaeModel, MultVaeModel};
pub use recs_core::{Control, EpochReport, NoProgress, ParamError, Progress};

/// Where a model trains.
#[derive(Debug, Clone, Default)]
pub enum Engine {
    /// Hand-written kernels on the CPU (parallel through rayon's global pool). The default,
    /// and the fast path on a CPU.
    #[default]
    Native,
    /// Candle tensor ops on a candle device: `Device::Cpu`, or a GPU (`Engine::cuda`).
    #[cfg(feature = "candle")]
    Candle(candle_core::Device),
}

impl Engine {
    /// Candle on CUDA device `ordinal`. Fails with a [`VaeError::Device`] unless the crate
    /// was built with the `cuda` feature (the message says to build with `--features cuda`)
    /// and the device exists.
    pub fn cuda(ordinal: usize) -> Result<Engine> {
        device::open_cuda(ordinal)
    }

    /// A short description: `native-cpu`, `candle-cpu`, `candle-cuda:0`, …
    pub fn describe(&self) -> String {
        match self {
            Engine::Native => "native-cpu".into(),
            #[cfg(feature = "candle")]
            Engine::Candle(d) => match d.location() {
                candle_core::DeviceLocation::Cpu => "candle-cpu".into(),
                candle_core::DeviceLocation::Cuda { gpu_id } => format!("candle-cuda:{gpu_id}"),
                candle_core::DeviceLocation::Metal { gpu_id } => format!("candle-metal:{gpu_id}"),
            },
        }
    }
}
