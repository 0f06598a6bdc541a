//! Item–item recommenders in plain Rust + rayon:
//!
//! - [`ItemKnn`] (`itemknn`): implicit's `ItemItemRecommender` family. The user × item
//!   matrix is weighted (cosine, BM25, TF-IDF or none, exactly as implicit 0.7 weights it),
//!   the item × item product is computed sparse with the `neighbours` largest entries kept
//!   per item (the item itself included, as implicit keeps it), and a user's scores are
//!   their row of the training matrix times that similarity.
//! - [`Ease`] (`ease`): Steck's EASE (WWW 2019), `B = I − P·diagMat(1/diag(P))` with
//!   `P = (XᵀX + λI)⁻¹` and `diag(B) = 0`, dense items × items, the inverse through faer's
//!   Cholesky factorisation in `f32` or `f64`; a user's scores are their binarized row
//!   times `B`. Refuses, before allocating, a fit whose dense matrices would exceed
//!   `max_memory_gb`.
//! - [`Rp3Beta`] (`rp3beta`): Paudel et al.'s RP3beta, a three-step random walk user → item
//!   → user → item with the transition probabilities raised to `alpha` and each target
//!   divided by its popularity^`beta`, the top K kept per item (Dacrema et al.'s
//!   `RP3betaRecommender`).
//! - [`Sar`] (`sar`): Microsoft Recommenders' SAR: an item–item similarity from
//!   co-occurrence counts (Jaccard, lift, counts, cosine, inclusion index, mutual
//!   information) times each user's affinities, optionally decayed by age.
//!
//! All four are used through [`recs_core::Recommender`], implemented in their own modules:
//! `ItemKnn::fit(&params, &TrainData::new(&matrix), &mut progress)`, `save` and `load` into
//! the one model file (`recs_core::modelfile`). All train in one pass (no epochs, so
//! `progress` is never called; no random draws: the same data gives the same model,
//! whatever the thread count for ItemKNN, RP3beta and SAR, for a given thread count for
//! EASE), score known users and new users from their items (fold-in), and report unusable
//! data as `ModelError::Data`. Depends on recs-core and recs-sparse only (plus rayon and
//! faer).
//!
//! Layout: one folder per model (`itemknn/`, `ease/`, `rp3beta/`, `sar/`), each with `mod.rs` (the module's
//! documentation and the `Recommender` impl), `params.rs` (the params and their schema),
//! `model.rs` (the fitted type and its accessors), `fit.rs`, `score.rs` (`Scorer` and
//! `FoldIn`), `persist.rs` (the model file's tensors and facts) and `tests.rs`; the files of
//! a model use `params` and `model` and never the other way round. `common.rs` holds what
//! they share (the thread setting, the scoring checks, the item × item product with its
//! per-row top K, the sparse row product, batch scoring, the model file's sparse matrices
//! and the check of a size a model file records).
#![deny(missing_docs)]

mod common;
pub mod ease;
pub mod itemknn;
pub mod rp3beta;
pub mod sar;
#[cfg(test)]
mod testing;

pub use common::ItemMatrix;
pub use ease::{Dtype, Ease, EaseParams};
pub use itemknn::{ItemKnn, ItemKnnParams, Weighting};
pub use rp3beta::{Rp3Beta, Rp3BetaParams};
pub use sar::{Sar, SarParams, Similarity};
