//! Bayesian personalized ranking (Rendle et al. 2009) with Cornac's update.
//!
//! x_uij = b_i − b_j + p_u · (q_i − q_j) for a positive item i and a negative item j of
//! user u; each SGD step ascends ln σ(x_uij) − λ/2 (‖p_u‖² + ‖q_i‖² + ‖q_j‖² + b_i² + b_j²)
//! with z = σ(−x_uij):
//!
//! ```text
//! p_u += lr (z (q_i − q_j) − λ p_u)     q_i += lr (z p_u − λ q_i)     q_j += lr (−z p_u − λ q_j)
//! b_i += lr (z − λ b_i)                 b_j += lr (−z − λ b_j)
//! ```
//!
//! (q_i, q_j updated with p_u's value before the step), exactly Cornac's `BPR._fit_sgd`. An
//! epoch draws as many (u, i) pairs as there are training interactions, uniformly over the
//! interactions. Negatives are drawn per [`NegativeSampling`] and verified: a draw the user
//! has interacted with is redrawn, up to [`BprParams::max_resample`] times, and the pair is
//! skipped after that (Cornac skips at once).
//!
//! With `threads == 1` training is single-threaded and deterministic: the same seed gives
//! bit-identical factors. With more threads, the workers update the shared factors
//! asynchronously, as in Hogwild (Niu et al. 2011; Cornac and implicit run fully
//! lock-free), so results vary slightly from run to run; but each step holds short spin
//! locks on the three rows it updates (one user, two items), so there is no data race and
//! never two live `&mut` to one row, and the update runs in place with the same vectorised
//! arithmetic as the single-threaded mode. (Lock-free sharing in Rust would need every
//! factor read and written as a scalar atomic, which measured 2.6 times slower at k = 200.)
//!
//! The module's files: `params` ([`BprParams`], [`NegativeSampling`], the schema), `model`
//! ([`Bpr`] and its accessors), `kernels` (the step, the sampling loop, the only worker's
//! store), `shared` (the locked store the parallel workers share), `fit` (the epoch loop),
//! `score`, `persist` (the model file); the [`Recommender`] impl is here.

mod fit;
mod kernels;
mod model;
mod params;
mod persist;
mod score;
mod shared;
mod solve;
#[cfg(test)]
mod tests;

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{
    Capabilities, ItemVectors, ModelError, Progress, Recommender, RowSolver, TrainData,
};

pub use model::Bpr;
pub use params::{BprParams, NegativeSampling};

/// `bpr`: ranking from the binarized interactions; item and user vectors.
impl Recommender for Bpr {
    const KIND: &'static str = "bpr";
    const CAPABILITIES: Capabilities = Capabilities {
        item_vectors: true,
        user_vectors: true,
        row_solve: true,
        ..Capabilities::NONE
    };
    type Params = BprParams;

    /// Trains on the interactions of `data.matrix` (users × items; every stored entry is a
    /// positive, whatever its value), reporting every epoch to `progress`: the mean BPR loss
    /// `-ln σ(x_uij)` over the epoch's sampled pairs as `"loss"`, and the fraction of those
    /// pairs the model ordered correctly before updating on them (a running training-AUC
    /// estimate) as the validation measure `"train_auc"`. When `progress` returns
    /// [`recs_core::Control::Stop`], training ends after that epoch and the model is
    /// returned as it is (its params then record the epochs actually trained).
    ///
    /// Errors when the parameters are out of range, the matrix has no interaction or no
    /// user lacks some item, or the loss stops being finite.
    fn fit(
        params: &BprParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        fit::fit(params, &data.matrix.binarize(), progress)
    }

    fn params(&self) -> &BprParams {
        &self.params
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        persist::save(self, out)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        persist::load(file)
    }

    fn item_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: self.item_factors(),
            dim: self.params.factors,
        })
    }

    fn row_solver(&self) -> Option<&dyn RowSolver> {
        Some(self)
    }

    fn user_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: self.user_factors(),
            dim: self.params.factors,
        })
    }
}
