//! [`ItemKnn`]: the fitted model and its accessors.

use recs_sparse::CsrMatrix;

use super::params::ItemKnnParams;

/// A fitted ItemKNN model: the training matrix (values as given) and the sparse top-K
/// item × item similarity (fitted, saved and loaded through [`recs_core::Recommender`]).
#[derive(Debug, Clone)]
pub struct ItemKnn {
    pub(super) params: ItemKnnParams,
    pub(super) user_items: CsrMatrix,
    pub(super) similarity: CsrMatrix,
}

impl ItemKnn {
    /// The item × item similarity: each row's kept neighbours (implicit's `similarity`).
    pub fn similarity(&self) -> &CsrMatrix {
        &self.similarity
    }

    /// The training matrix the users' scores are computed from.
    pub fn user_items(&self) -> &CsrMatrix {
        &self.user_items
    }
}
