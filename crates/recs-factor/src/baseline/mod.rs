//! Baselines: user and item biases fitted by alternating least squares (Surprise's
//! `BaselineOnly`), and the global mean.
//!
//! The module's files: `params` ([`BaselineParams`], the empty [`GlobalMeanParams`], their
//! schemas), `model` ([`BaselineOnly`], [`GlobalMean`] and their accessors), `fit` (the
//! bias sweeps, the mean), `score` (estimates, `Scorer`, `RatingPredictor`), `persist` (the
//! model files); the [`Recommender`] impls are here.

mod fit;
mod model;
mod params;
mod persist;
mod score;
#[cfg(test)]
mod tests;

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{Capabilities, ModelError, Progress, RatingPredictor, Recommender, TrainData};

pub use model::{BaselineOnly, GlobalMean};
pub use params::{BaselineParams, GlobalMeanParams};

/// `bias`: rating prediction from the ratings (the matrix's values).
impl Recommender for BaselineOnly {
    const KIND: &'static str = "bias";
    const CAPABILITIES: Capabilities = Capabilities {
        rating_prediction: true,
        ..Capabilities::NONE
    };
    type Params = BaselineParams;

    /// Fits the biases on the ratings of `data.matrix`, reporting every epoch to `progress`
    /// (the training MSE as `"loss"`). When `progress` returns [`recs_core::Control::Stop`],
    /// fitting ends after that epoch and the model is returned as it is (its params then
    /// record the epochs actually run).
    ///
    /// Errors when the parameters are out of range, the matrix has no rating, or the loss
    /// stops being finite.
    fn fit(
        params: &BaselineParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        fit::fit_biases(params, data.matrix, progress)
    }

    fn params(&self) -> &BaselineParams {
        &self.params
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        persist::save_biases(self, out)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        persist::load_biases(file)
    }

    fn rating_predictor(&self) -> Option<&dyn RatingPredictor> {
        Some(self)
    }
}

/// `global-mean`: predicts the training ratings' mean for every pair.
impl Recommender for GlobalMean {
    const KIND: &'static str = "global-mean";
    const CAPABILITIES: Capabilities = Capabilities {
        rating_prediction: true,
        ..Capabilities::NONE
    };
    type Params = GlobalMeanParams;

    /// The mean of `data.matrix`'s values (no parameters, no epochs: `progress` is never
    /// called). Errors when the matrix has no rating.
    fn fit(
        _params: &GlobalMeanParams,
        data: &TrainData<'_>,
        _progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        fit::fit_mean(data.matrix)
    }

    fn params(&self) -> &GlobalMeanParams {
        &GlobalMeanParams {}
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        persist::save_mean(self, out);
        Ok(())
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        persist::load_mean(file)
    }

    fn rating_predictor(&self) -> Option<&dyn RatingPredictor> {
        Some(self)
    }
}
