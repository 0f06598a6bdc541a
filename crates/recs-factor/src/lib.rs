//! Matrix factorization in plain Rust: biased MF, bias-only and global-mean baselines, BPR,
//! ALS.
//!
//! - [`BiasedMf`] ([`mf`], kind `mf`): r̂ = μ + b_u + b_i + p_u·q_i by SGD, Surprise's `SVD`.
//! - [`BaselineOnly`] and [`GlobalMean`] ([`baseline`], kinds `bias` and `global-mean`):
//!   Surprise's ALS baseline and μ.
//! - [`Bpr`] ([`bpr`], kind `bpr`): Bayesian personalized ranking on implicit feedback,
//!   Cornac's update, Hogwild-parallel or deterministic single-threaded.
//! - [`Als`] ([`als`], kind `als`): alternating least squares on implicit feedback (Hu et al.
//!   2008) with implicit's semantics: conjugate-gradient or exact Cholesky rows,
//!   rayon-parallel.
//!
//! Every model is used through [`recs_core::Recommender`], implemented in its own module:
//! `Model::fit(&params, &TrainData::new(&matrix), &mut progress)` trains on a user × item
//! matrix (ratings for the rating models, interactions for BPR and ALS), `save` and `load`
//! write and read the one recs model file (`recs_core::modelfile`: safetensors plus JSON
//! metadata; `recs_core::save_path` and `load_path` for a file alone), and the capabilities
//! (`rating_predictor`, `item_vectors`, `user_vectors`, `fold_in`) say what else it does.
//! Every model implements `recs_metrics::Scorer` so the shared evaluator ranks with it; the
//! rating models also implement `recs_metrics::RatingPredictor`. The params use the shared
//! vocabulary (`factors`, `epochs`, `learning_rate`, `reg`, `threads`, `seed`) and declare a
//! schema from which `validate()` is derived (a [`ParamError`] naming the parameter);
//! `progress` is any [`Progress`] (a closure `FnMut(&EpochReport) -> Control`, or
//! [`NoProgress`]) called after every epoch, which can stop training early
//! ([`Control::Stop`]). Errors are [`ModelError`]s: a non-finite loss is
//! `ModelError::Diverged` naming the epoch and the loss, unusable data `ModelError::Data`.
//!
//! Layout: one folder per model (`mf/`, `baseline/`, `bpr/`, `als/`), each with `mod.rs`
//! (the module's documentation and the `Recommender` impl), `params.rs` (the params and
//! their schema), `model.rs` (the fitted type and its accessors), `fit.rs` (training, with
//! `kernels.rs` beside it where the kernels are large), `score.rs` (`Scorer` and the other
//! scoring traits), `persist.rs` (the model file's tensors and facts) and `tests.rs`; the
//! files of a model use `params` and `model` and never the other way round. Shared pieces:
//! `common.rs` (dot products, the epoch report, the checks of a scoring call and of a model
//! file's training facts) and `data.rs` (the rating models' triples of a matrix).
//!
//! The training loops are compiled for each SIMD level of [`recs_core::simd`] and dispatched
//! at run time; every level computes the same numbers (same lanes and sum order, no fused
//! multiply-adds; ALS's kernels use fused multiply-adds on the vector paths, which agree with
//! each other bit for bit and with the portable path to rounding).
//!
//! ```
//! use recs_core::{Recommender, TrainData};
//! use recs_factor::{BiasedMf, MfParams, NoProgress};
//! use recs_metrics::RatingPredictor;
//! use recs_sparse::{CsrMatrix, DuplicatePolicy};
//!
//! let users = [0u32, 0, 1, 1, 2];
//! let items = [0u32, 1, 0, 2, 1];
//! let ratings = [5.0f32, 3.0, 4.0, 1.0, 2.0];
//! let x = CsrMatrix::from_triplets(3, 3, &users, &items, &ratings, DuplicatePolicy::Error)?;
//! let params = MfParams { factors: 4, epochs: 50, ..MfParams::default() };
//! let model = BiasedMf::fit(&params, &TrainData::new(&x), &mut NoProgress)?;
//! let r = model.predict(0, 0);
//! assert!((1.0..=5.0).contains(&r));
//! let top = recs_core::recommend(&model, 2, 2, x.row(2).indices)?;
//! assert_eq!(top.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod als;
pub mod baseline;
pub mod bpr;
mod common;
mod data;
pub mod mf;

pub use als::{Als, AlsInit, AlsParams, AlsSolver, RegScaling};
pub use baseline::{BaselineOnly, BaselineParams, GlobalMean, GlobalMeanParams};
pub use bpr::{Bpr, BprParams, NegativeSampling};
pub use mf::{BiasedMf, MfParams};
// The progress report and callback every model of recs trains with, the parameter and model
// errors, re-exported from `recs_core` for callers that depend on this crate only.
pub use recs_core::{
    Control, EpochReport, ModelError, NoProgress, ParamError, Progress, Recommender, TrainData,
};
