//! ItemKNN: implicit's item–item nearest-neighbour recommenders (`CosineRecommender`,
//! `BM25Recommender`, `TFIDFRecommender` and the unweighted `ItemItemRecommender` of
//! implicit 0.7), with their semantics:
//!
//! 1. The user × item matrix `X` (values as given: counts, confidences or 1) is weighted
//!    per item, as implicit weights `X.T` (items × users) before the product:
//!    - `cosine`: each item's column divided by its L2 norm;
//!    - `tfidf`: `sqrt(x) · idf(u)`, then each item's column divided by its L2 norm;
//!    - `bm25`: `x · (K1 + 1) / (K1 · len(i) + x) · idf(u)`, with
//!      `len(i) = (1 − B) + B · Σ_u x_ui / mean_i(Σ_u x_ui)`;
//!    - `none`: the values as they are.
//!
//!    `idf(u) = ln N − ln(1 + n_u)`, `n_u` the user's stored entries and `N` the number of
//!    items (implicit's `log(N) - log1p(bincount(X.col))` on the items × users matrix).
//!    `N` and the mean count only items with at least one training entry: implicit counts
//!    the rows of the matrix it is given, which is the same unless some item column is empty
//!    (our id maps keep items seen only in test data, which must not change the model).
//! 2. The similarity `S = WᵀW` (item × item) is computed sparse — for each item, a dense
//!    accumulator over the items that share a user with it — and only the `neighbours`
//!    largest entries of each item's row are kept (the item itself included, as implicit's
//!    `all_pairs_knn` keeps it; ties to the lower item index). Rows are independent, so the
//!    result is the same whatever the thread count.
//! 3. A user's scores are their row of `X` times `S` (implicit 0.7's
//!    `user_items[u] @ similarity`), every item not reached scoring 0. A new user's scores
//!    (fold-in) are the same product with a value of 1 for each of their items.
//!
//! The module's files: `params` ([`ItemKnnParams`], [`Weighting`], the schema), `model`
//! ([`ItemKnn`] and its accessors), `fit` (the weighting, the top-K product), `score`
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

pub use fit::{top_k_similarity, weighted_items};
pub use model::ItemKnn;
pub use params::{ItemKnnParams, Weighting};

/// `itemknn`: ranking from the interactions (values as given), fold-in, batch scoring.
impl Recommender for ItemKnn {
    const KIND: &'static str = "itemknn";
    const CAPABILITIES: Capabilities = Capabilities {
        fold_in: true,
        batch_scoring: true,
        similar_items: true,
        ..Capabilities::NONE
    };
    type Params = ItemKnnParams;

    /// Fits on `data.matrix` (users × items, values as given) with `params` (validated
    /// first), in one pass: `progress` is never called.
    fn fit(
        params: &ItemKnnParams,
        data: &TrainData<'_>,
        _progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        fit::fit(params, data.matrix)
    }

    fn params(&self) -> &ItemKnnParams {
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
