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
//!
//! Both train in one pass (no epochs, no random draws: the same data gives the same model,
//! whatever the thread count for ItemKNN, for a given thread count for EASE), score known
//! users and new users from their items (fold-in), and save into the one model file.
//! Depends on recs-core and recs-sparse only (plus rayon and faer).
#![deny(missing_docs)]

mod common;
pub mod ease;
pub mod itemknn;

pub use ease::{Dtype, Ease, EaseParams};
pub use itemknn::{ItemKnn, ItemKnnParams, Weighting};
