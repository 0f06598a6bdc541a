//! [`Ease`]: the fitted model and its accessors.

use recs_sparse::CsrMatrix;

use super::params::EaseParams;

/// A fitted EASE model: the users' training items and the dense `B` (fitted, saved and
/// loaded through [`recs_core::Recommender`]).
#[derive(Debug, Clone)]
pub struct Ease {
    pub(super) params: EaseParams,
    pub(super) user_items: CsrMatrix,
    /// `B`, `items × items`, row-major: row i is what an interaction with item i adds to
    /// every item's score.
    /// Row-major `n_items × n_items`; in place in the file when loaded from a mapped one.
    pub(super) b: recs_core::modelfile::Floats,
}

impl Ease {
    /// `B`, `items × items`, row-major (`diag(B) = 0`).
    pub fn weights(&self) -> &[f32] {
        &self.b
    }
}
