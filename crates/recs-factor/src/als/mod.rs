//! Alternating least squares for implicit feedback (Hu, Koren & Volinsky 2008) with
//! implicit's semantics (`implicit.cpu.als.AlternatingLeastSquares`).
//!
//! The training matrix holds confidences: an entry of value r gives c = α·r. A positive c
//! means a preference p = 1 with weight c, a negative one p = 0 with weight |c| (a
//! dislike), and every entry not stored p = 0 with weight 1. Each half-iteration solves,
//! for every user u with the item factors Y fixed (then for every item with the user
//! factors fixed),
//!
//! ```text
//! (YᵀY + λI + Σ_{i ∈ u} (|c_ui| − 1) y_i y_iᵀ) x_u = Σ_{i ∈ u, c_ui > 0} c_ui y_i
//! ```
//!
//! exactly as implicit builds it: YᵀY (+ λI) is computed once per half-iteration and only
//! the user's own items are touched. With `reg_scaling = count` ([`RegScaling::Count`],
//! ALS-WR, Spark MLlib's ALS) λ becomes λ·n_u, n_u the row's positive entries (at least 1):
//! the row adds λ(n_u − 1) to the diagonal of its own system. (The paper writes the weight of an observed entry as
//! 1 + α·r; implicit, and so recs, weighs it α·r, so α = 1 on binary data gives observed
//! and unobserved entries the same weight.) Two solvers ([`AlsSolver`]):
//!
//! - `cg` (default, implicit's `use_cg=True`): [`AlsParams::cg_steps`] conjugate-gradient
//!   steps per row, warm-started from the row's previous factors (Takács et al. 2011), the
//!   sparse part of A·p applied without forming A (terms of weight |c| − 1 = 0 skipped:
//!   they add nothing);
//! - `cholesky`: the exact solve, A formed and factored per row (f64 factorisation).
//!
//! Rows are independent, so the rows are solved in parallel on rayon in fixed chunks and
//! the result does not depend on the thread count; the Gram matrices are reduced over
//! fixed row blocks in a fixed order. The kernels are `recs_core::multiversion!` builds
//! with fused multiply-adds on the vector paths (AVX2 and AVX-512 use the same 16 lanes and
//! sum order, so they agree bit for bit; the portable path agrees to rounding).
//!
//! Initialisation is implicit's by default: factors uniform in [0, 0.01), users then items,
//! from the seed; `init = normal` ([`AlsInit::Normal`]) starts each row at a unit-length
//! standard normal draw, as Spark MLlib does, which ranks better after a few iterations.
//! The reported `"loss"` is implicit's training loss (`calculate_loss`) after each
//! iteration, computed from what the item half-iteration already has (the residual of
//! each item's system), so it costs two dot products per item.

//!
//! The module's files: `params` ([`AlsParams`], [`AlsSolver`], the schema), `model`
//! ([`Als`] and its accessors), `kernels` (the row solvers, the Gram matrix, the scores),
//! `fit` (the half-iterations and the iteration loop), `score` (known users, and new users
//! through `recalculate_user`: the fold-in), `persist` (the model file), [`blocks`] (the
//! half-iterations cut into blocks of rows, for training across processes); the
//! [`Recommender`] impl is here.

pub mod blocks;
mod fit;
mod kernels;
mod model;
mod params;
mod persist;
mod score;
#[cfg(test)]
mod tests;

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{
    Capabilities, FoldIn, ItemVectors, ModelError, Progress, Recommender, RowSolver, TrainData,
};

pub use model::Als;
pub use params::{AlsInit, AlsParams, AlsSolver, RegScaling};

/// `als`: ranking from the interactions' values as confidences; item and user vectors,
/// fold-in (implicit's `recalculate_user`).
impl Recommender for Als {
    const KIND: &'static str = "als";
    const CAPABILITIES: Capabilities = Capabilities {
        item_vectors: true,
        user_vectors: true,
        fold_in: true,
        row_solve: true,
        ..Capabilities::NONE
    };
    type Params = AlsParams;

    /// Trains on the confidences of `data.matrix` (users × items; an entry r has confidence
    /// α·r, see the module documentation), reporting every iteration to `progress` with
    /// implicit's training loss as `"loss"`. When `progress` returns
    /// [`recs_core::Control::Stop`], training ends after that iteration and the model is
    /// returned as it is (its params then record the iterations actually trained).
    ///
    /// Errors when the parameters are out of range, the matrix has no interaction, a row's
    /// system cannot be factored (Cholesky, `reg` 0) or the factors stop being finite.
    fn fit(
        params: &AlsParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        fit::fit(params, data.matrix, progress)
    }

    fn params(&self) -> &AlsParams {
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

    fn user_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: self.user_factors(),
            dim: self.params.factors,
        })
    }

    fn fold_in(&self) -> Option<&dyn FoldIn> {
        Some(self)
    }

    fn row_solver(&self) -> Option<&dyn RowSolver> {
        Some(self)
    }
}
