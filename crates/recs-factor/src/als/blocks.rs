//! ALS's half-iterations cut into blocks of rows, for an engine that trains across
//! processes (Ray): the driver computes the fixed side's Gram matrix once per
//! half-iteration ([`gram`]), each worker solves its block of rows against it
//! ([`solve_block`]) with the same kernels as [`Als`]'s own fit, and the driver assembles
//! the factors into a model ([`Als::from_factors`]).
//!
//! A row's solve reads only its own entries, the fixed factors and the Gram matrix, so
//! blocks solved apart give the factors the one-process fit gives, bit for bit, from the
//! same initial factors ([`initial_factors`]).

use recs_core::{ModelError, ModelParams as _};
use recs_sparse::CsrMatrix;

use super::kernels;
use super::model::Als;
use super::params::AlsParams;

/// The initial user and item factors (`n_users × k`, `n_items × k`, row-major) that
/// [`Als`]'s fit starts from with these params' seed and [`AlsInit`](super::AlsInit),
/// users then items.
pub fn initial_factors(params: &AlsParams, n_users: usize, n_items: usize) -> (Vec<f32>, Vec<f32>) {
    super::fit::initial_factors(params, n_users, n_items)
}

/// The fixed side's Gram matrix plus λI (`k × k`, full, row-major) and ‖fixed‖², on the
/// current rayon pool; `fixed` holds whole rows of `params.factors`.
pub fn gram(fixed: &[f32], params: &AlsParams) -> Result<(Vec<f32>, f64), ModelError> {
    params.validate()?;
    let k = params.factors;
    if fixed.len() % k != 0 {
        return Err(ModelError::Data(format!(
            "the fixed factors hold {} values, not a whole number of rows of {k}",
            fixed.len()
        )));
    }
    Ok(kernels::gram(fixed, k, params.reg as f32))
}

/// Solves every row of `rows` (the block's confidences: its rows × all the fixed side's
/// rows) into `x` (the block's factors, `rows × k`: the conjugate-gradient solver starts
/// from them), against `fixed` (`rows.n_cols() × k`) and its `gram` from [`gram`]. Returns
/// the block's part of the training loss. Runs on the current rayon pool.
pub fn solve_block(
    rows: &CsrMatrix,
    x: &mut [f32],
    fixed: &[f32],
    gram: &[f32],
    params: &AlsParams,
) -> Result<f64, ModelError> {
    params.validate()?;
    let k = params.factors;
    for (what, got, want) in [
        ("the block's factors", x.len(), rows.n_rows() * k),
        ("the fixed factors", fixed.len(), rows.n_cols() * k),
        ("the Gram matrix", gram.len(), k * k),
    ] {
        if got != want {
            return Err(ModelError::Data(format!(
                "{what} hold {got} values; {} rows × {} columns with {k} factors need {want}",
                rows.n_rows(),
                rows.n_cols()
            )));
        }
    }
    super::fit::solve_with_gram(rows, x, fixed, gram, params)
}

impl Als {
    /// A model from trained factors (`n_users × k` and `n_items × k`, row-major) and the
    /// params they were trained with: what a distributed fit returns.
    pub fn from_factors(
        params: AlsParams,
        user_factors: Vec<f32>,
        item_factors: Vec<f32>,
    ) -> Result<Self, ModelError> {
        params.validate()?;
        let k = params.factors;
        for (what, v) in [("user", &user_factors), ("item", &item_factors)] {
            if v.len() % k != 0 {
                return Err(ModelError::Data(format!(
                    "the {what} factors hold {} values, not a whole number of rows of {k}",
                    v.len()
                )));
            }
            if let Some(x) = v.iter().find(|x| !x.is_finite()) {
                return Err(ModelError::Data(format!("a {what} factor is {x}")));
            }
        }
        Ok(Self {
            n_users: user_factors.len() / k,
            n_items: item_factors.len() / k,
            params,
            user_factors: user_factors.into(),
            item_factors: item_factors.into(),
            item_gram: Default::default(),
            user_gram: Default::default(),
        })
    }
}
