//! Matrix factorization in plain Rust: biased MF, bias-only and global-mean baselines, BPR,
//! ALS.
//!
//! Models train on a user × item matrix (`recs_core::TrainData`) and implement
//! `recs_metrics::Scorer` so the shared evaluator ranks with them; the rating models also
//! implement `recs_metrics::RatingPredictor`.
//!
//! - [`BiasedMf`] ([`mf`]): r̂ = μ + b_u + b_i + p_u·q_i by SGD, Surprise's `SVD`.
//! - [`BaselineOnly`] and [`GlobalMean`] ([`baseline`]): Surprise's ALS baseline and μ.
//! - [`Bpr`] ([`bpr`]): Bayesian personalized ranking on implicit feedback, Cornac's update,
//!   Hogwild-parallel or deterministic single-threaded.
//! - [`Als`] ([`als`]): alternating least squares on implicit feedback (Hu et al. 2008) with
//!   implicit's semantics: conjugate-gradient or exact Cholesky rows, rayon-parallel.
//!
//! Every model saves to and loads from the one recs model-file format (`recs_core::modelfile`:
//! safetensors plus JSON metadata). The models with epochs train with one signature,
//! `Model::fit(&params, &data, &mut progress)`: the params use the shared vocabulary
//! (`factors`, `epochs`, `learning_rate`, `reg`, `threads`, `seed`; `validate()` gives a
//! [`ParamError`] naming the parameter), and `progress` is any [`Progress`] (a closure
//! `FnMut(&EpochReport) -> Control`, or [`NoProgress`]) called after every epoch, which can
//! stop training early ([`Control::Stop`]). [`GlobalMean`] has neither parameters nor
//! epochs: `GlobalMean::fit(&data)`.
//!
//! The training loops are compiled for each SIMD level of [`recs_core::simd`] and dispatched
//! at run time; every level computes the same numbers (same lanes and sum order, no fused
//! multiply-adds).
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
mod io;
pub mod mf;
mod recommender;

pub use als::{Als, AlsParams, AlsSolver};
pub use baseline::{BaselineOnly, BaselineParams, GlobalMean, GlobalMeanParams};
pub use bpr::{Bpr, BprParams, NegativeSampling};
pub use mf::{BiasedMf, MfParams};
// The progress report and callback every model of recs trains with, and the parameter
// error, re-exported from `recs_core` for callers that depend on this crate only.
pub use recs_core::{Control, EpochReport, ModelError, NoProgress, ParamError, Progress};
