//! RP3beta (Paudel et al., "Updatable, Accurate, Diverse, and Scalable Recommendations for
//! Interactive Applications", TiiS 2017; the strong graph baseline of Dacrema et al.,
//! RecSys 2019): a three-step random walk user → item → user → item on the bipartite
//! interaction graph, with popular targets penalised.
//!
//! 1. `P_ui`: each user's row of `X` (values as given: counts, ratings or 1) divided by its
//!    sum; `P_iu`: each item's row of the binarized `Xᵀ` divided by the item's user count.
//!    Both raised elementwise to `alpha` (on the stored transition probabilities).
//! 2. `W[i, j] = (P_iu · P_ui)[i, j] / pop(j)^beta`, `pop(j)` the users of item j; the
//!    diagonal left out; each row keeps its `neighbours` largest entries (ties to the lower
//!    item index), computed sparse row by row (memory: the top-K matrix plus one dense
//!    accumulator of `n_items` per worker, never `n_items²`). With `normalize_similarity`
//!    each kept row is divided by its sum.
//! 3. A user's scores are their row of `X` times `W`; a new user's (fold-in) are a value of
//!    1 per item times `W`; `similar` ranks an item's row of `W`.
//!
//! This is Dacrema et al.'s `RP3betaRecommender` (their defaults `alpha` 1, `beta` 0.6, K
//! 100), the same computation as `graph_peers.py`'s numpy version on binary data.
//!
//! The module's files: `params` ([`Rp3BetaParams`], the schema), `model` ([`Rp3Beta`]),
//! `fit` (the transition matrices and the walk), `score` (known users, fold-in, similar
//! items), `persist` (the model file); the [`Recommender`] impl is here.

mod fit;
mod model;
mod params;
mod persist;
mod score;
#[cfg(test)]
mod tests;

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{Capabilities, FoldIn, ModelError, Progress, Recommender, SimilarItems, TrainData};

pub use fit::similarity;
pub use model::Rp3Beta;
pub use params::Rp3BetaParams;

/// `rp3beta`: ranking from the interactions, fold-in, batch scoring, similar items.
impl Recommender for Rp3Beta {
    const KIND: &'static str = "rp3beta";
    const CAPABILITIES: Capabilities = Capabilities {
        fold_in: true,
        batch_scoring: true,
        similar_items: true,
        ..Capabilities::NONE
    };
    type Params = Rp3BetaParams;

    /// Fits on `data.matrix` (users × items, values as given, none negative) with `params`
    /// (validated first), in one pass: `progress` is never called.
    fn fit(
        params: &Rp3BetaParams,
        data: &TrainData<'_>,
        _progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        fit::fit(params, data.matrix)
    }

    fn params(&self) -> &Rp3BetaParams {
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
