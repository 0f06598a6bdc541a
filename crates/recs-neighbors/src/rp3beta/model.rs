//! [`Rp3Beta`]: the fitted model and its accessors.

use recs_sparse::CsrMatrix;

use super::params::Rp3BetaParams;

/// A fitted RP3beta model: the training matrix (values as given) and the sparse top-K
/// item × item walk probabilities `W` (fitted, saved and loaded through
/// [`recs_core::Recommender`]).
#[derive(Debug, Clone)]
pub struct Rp3Beta {
    pub(super) params: Rp3BetaParams,
    pub(super) user_items: CsrMatrix,
    pub(super) similarity: CsrMatrix,
}

impl Rp3Beta {
    /// The item × item matrix `W`: each row's kept entries.
    pub fn similarity(&self) -> &CsrMatrix {
        &self.similarity
    }

    /// The training matrix the users' scores are computed from.
    pub fn user_items(&self) -> &CsrMatrix {
        &self.user_items
    }
}
