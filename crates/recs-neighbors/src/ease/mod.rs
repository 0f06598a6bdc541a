//! EASE, Steck's "Embarrassingly Shallow Autoencoders for Sparse Data" (WWW 2019): the
//! closed-form item × item model
//!
//! ```text
//! P = (XᵀX + λI)⁻¹,   B = I − P · diagMat(1 / diag(P)),   so diag(B) = 0,
//! ```
//!
//! on the binarized user × item matrix `X` (EASE is defined on implicit feedback; the values
//! given are read as "interacted"). A user's scores are their binarized row times `B`.
//!
//! The Gram matrix is built sparse (each item's column from the users who have it: exact
//! integer counts), then factorised and inverted with faer (`P = L⁻ᵀL⁻¹` from the Cholesky
//! factor `L`: a Cholesky factorisation, a triangular inverse and a triangular product, in
//! place, so fitting holds two dense `items × items` matrices of the working precision at
//! most). `dtype` picks that precision (`f32` default, `f64`); `B` is kept in `f32` either
//! way. Before allocating, the fit refuses data whose dense matrices would exceed
//! `max_memory_gb`.
//!
//! The module's files: `params` ([`EaseParams`], [`Dtype`], the schema, the memory check),
//! `model` ([`Ease`] and its accessors), `fit` (the Gram matrix, its inverse, `B`), `score`
//! (known users and the fold-in), `persist` (the model file); the [`Recommender`] impl is
//! here.

mod fit;
mod model;
mod params;
mod persist;
mod score;
#[cfg(test)]
mod tests;

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{Capabilities, FoldIn, ModelError, Progress, Recommender, SimilarItems, TrainData};

pub use model::Ease;
pub use params::{Dtype, EaseParams};

/// `ease`: ranking from the binarized interactions, fold-in, batch scoring.
impl Recommender for Ease {
    const KIND: &'static str = "ease";
    const CAPABILITIES: Capabilities = Capabilities {
        fold_in: true,
        batch_scoring: true,
        similar_items: true,
        ..Capabilities::NONE
    };
    type Params = EaseParams;

    /// Fits on `data.matrix` (users × items; binarized: any stored entry is an interaction)
    /// with `params` (validated, and the memory checked, first), in one pass: `progress` is
    /// never called.
    fn fit(
        params: &EaseParams,
        data: &TrainData<'_>,
        _progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        fit::fit(params, data.matrix)
    }

    fn params(&self) -> &EaseParams {
        &self.params
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        persist::save(self, out)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        persist::load(file)
    }

    fn fold_in(&self) -> Option<&dyn FoldIn> {
        Some(self)
    }

    fn similar_items(&self) -> Option<&dyn SimilarItems> {
        Some(self)
    }
}
