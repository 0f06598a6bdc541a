//! SAR, Microsoft Recommenders' Smart Adaptive Recommendations (`SARSingleNode`):
//!
//! 1. **Affinities** `A` (users × items): the training values as given (ratings, counts), or,
//!    with `time_decay`, each interaction's value times `min(1, 0.5^((T − t) / half_life))`,
//!    `T` the reference time (`time_now`, else the latest training time) and `half_life`
//!    `half_life_days` days (Recommenders' `timedecay_formula` and
//!    `time_decay_coefficient`). The decay needs a time per interaction: data without
//!    times is refused.
//! 2. **Co-occurrence** `C = BᵀB`, `B` the binarized interactions; entries below
//!    `threshold` dropped (the diagonal too: an item with fewer users than `threshold`
//!    gets nothing). `d_i = C_ii` is an item's user count.
//! 3. **Similarity** `S` from `C` (`similarity`): `counts` (`C` itself, Recommenders'
//!    `cooccurrence`), `jaccard` `C_ij / (d_i + d_j − C_ij)`, `lift` `C_ij / (d_i d_j)`,
//!    `cosine` `C_ij / √(d_i d_j)`, `inclusion_index` `C_ij / min(d_i, d_j)`,
//!    `mutual_information` `log2(n · C_ij / (d_i d_j))` with `n` the items that have a
//!    user, and `lexicographers_mutual_information` `C_ij` times that. `S` holds the
//!    pairs that co-occur (at least `threshold` times), the diagonal included, and 0
//!    elsewhere; it is kept sparse, or dense (4 bytes an entry, no indices) when at least
//!    half the pairs co-occur, as on ml-100k (60 %) and most real catalogues of a few
//!    thousand items: the same values and scores either way. For the five ratio measures that is every nonzero entry
//!    of Recommenders' dense matrix; for the two information measures Recommenders' dense
//!    matrix holds `−∞` (or NaN) for pairs that never co-occur, which poisons any user
//!    who has such a pair, where recs reads a pair that never co-occurs as no evidence (0).
//! 4. **Scores** `A_u · S`. A user with no training interactions, and a new user with no
//!    items, get the items' popularity `d` (Recommenders' `get_popularity_based_topk`).
//!    A new user's items (fold-in) count 1 each (Recommenders' `get_item_based_topk`);
//!    with values and times ([`recs_core::FoldIn::score_rated`]) they are affinities,
//!    decayed against the model's `T` when the model decays.
//!
//! Recommenders' `normalize` (rescaling scores to the rating range) is not offered: it
//! changes no ranking.
//!
//! The module's files: `params` ([`SarParams`], [`Similarity`], the schema), `model`
//! ([`Sar`]), `fit` (affinities, co-occurrence, similarity), `score` (known users, fold-in,
//! similar items), `persist` (the model file); the [`Recommender`] impl is here.

mod fit;
mod model;
mod params;
mod persist;
mod score;
#[cfg(test)]
mod tests;

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{Capabilities, FoldIn, ModelError, Progress, Recommender, SimilarItems, TrainData};

pub use model::Sar;
pub use params::{SarParams, Similarity};

/// `sar`: ranking from the interactions (time-decayed where asked), fold-in from items or
/// from rated and timed items, batch scoring, similar items.
impl Recommender for Sar {
    const KIND: &'static str = "sar";
    const CAPABILITIES: Capabilities = Capabilities {
        fold_in: true,
        batch_scoring: true,
        similar_items: true,
        time_aware: true,
        ..Capabilities::NONE
    };
    type Params = SarParams;

    /// Fits on `data.matrix` (users × items, values as affinities) and, with `time_decay`,
    /// `data.timestamps` (seconds), with `params` (validated first), in one pass:
    /// `progress` is never called.
    fn fit(
        params: &SarParams,
        data: &TrainData<'_>,
        _progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        fit::fit(params, data)
    }

    fn params(&self) -> &SarParams {
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
