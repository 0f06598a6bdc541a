//! Biased matrix factorization trained by SGD (Surprise's `SVD`).
//!
//! r̂(u, i) = μ + b_u + b_i + p_u · q_i, fitted by stochastic gradient descent on the
//! squared error with L2 regularization, in Surprise's update order: per rating, the error
//! with the current parameters, then b_u, b_i, then every factor pair (p_uf, q_if) from
//! their values before the update.
//!
//! The module's files: `params` ([`MfParams`] and its schema), `model` ([`BiasedMf`] and
//! its accessors), `fit` (the SGD step, the epoch kernel, training), `score` (estimates,
//! `Scorer`, `RatingPredictor`), `persist` (the model file's tensors and facts); the
//! [`Recommender`] impl is here.

mod fit;
mod fold;
mod model;
mod params;
mod persist;
mod score;
#[cfg(test)]
mod tests;

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{
    Capabilities, FoldIn, ItemVectors, ModelError, Progress, RatingPredictor, Recommender,
    TrainData,
};

pub use model::BiasedMf;
pub use params::MfParams;

/// `mf`: ranking and rating prediction from the ratings (the matrix's values); item and
/// user vectors.
impl Recommender for BiasedMf {
    const KIND: &'static str = "mf";
    const CAPABILITIES: Capabilities = Capabilities {
        rating_prediction: true,
        item_vectors: true,
        user_vectors: true,
        fold_in: true,
        ..Capabilities::NONE
    };
    type Params = MfParams;

    /// Trains on the ratings of `data.matrix`, visited in the matrix's order (user by user)
    /// before the first shuffle, reporting every epoch to `progress` (the epoch's mean
    /// squared error over its updates as `"loss"`). When `progress` returns
    /// [`recs_core::Control::Stop`], training ends after that epoch and the model is
    /// returned as it is (its params then record the epochs actually trained).
    ///
    /// Errors when the parameters are out of range, the matrix has no rating, or the loss
    /// stops being finite.
    fn fit(
        params: &MfParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        fit::fit(params, data.matrix, data.order, progress)
    }

    fn params(&self) -> &MfParams {
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

    fn rating_predictor(&self) -> Option<&dyn RatingPredictor> {
        Some(self)
    }

    fn item_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: self.item_factors(),
            dim: self.params.factors,
        })
    }

    fn user_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: self.user_factors(),
            dim: self.params.factors,
        })
    }
}
