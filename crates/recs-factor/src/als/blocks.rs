//! ALS's half-iterations cut into blocks of rows, for an engine that trains across
//! processes (Ray): each worker solves its block of rows ([`solve_block`]) with the same
//! kernels as [`Als`]'s own fit against the fixed side's Gram matrix, and the driver
//! assembles the factors into a model ([`Als::from_factors`]).
//!
//! The Gram matrix is a sum of parts of [`gram_rows`] consecutive rows reduced in order
//! ([`gram_from_parts`]). A worker that solves a block starting on a multiple of
//! [`gram_rows`] also computes its block's parts ([`gram_parts`]), so the next
//! half-iteration's workers build the Gram matrix from the blocks' parts with no step on
//! the driver between half-iterations; [`gram`] computes it whole.
//!
//! A row's solve reads only its own entries, the fixed factors and the Gram matrix, and
//! the parts are the fit's own, so blocks solved apart give the factors the one-process
//! fit gives, bit for bit, from the same initial factors ([`initial_factors`]).

use recs_core::{ModelError, ModelParams as _};
use recs_sparse::CsrMatrix;

use super::kernels::{self, Fixed};
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
    let k = whole_rows(fixed, params)?;
    Ok(kernels::gram(fixed, k, params.reg as f32))
}

/// Rows per Gram part for a side of `n_rows` rows: blocks whose parts are combined with
/// [`gram_from_parts`] start on multiples of it.
pub fn gram_rows(n_rows: usize) -> usize {
    kernels::gram_rows(n_rows)
}

/// The Gram parts of `block` (whole rows of `params.factors`, starting on a multiple of
/// [`gram_rows`] of its side): one `k × k` upper triangle per `rows` rows, in order, on the
/// current rayon pool.
pub fn gram_parts(block: &[f32], rows: usize, params: &AlsParams) -> Result<Vec<f32>, ModelError> {
    let k = whole_rows(block, params)?;
    if rows == 0 {
        return Err(ModelError::Data(
            "a Gram part needs at least one row".into(),
        ));
    }
    Ok(kernels::gram_parts(block, k, rows))
}

/// The Gram matrix plus λI (`k × k`, full, row-major) and ‖fixed‖² from every block's
/// [`gram_parts`], concatenated in the blocks' order: [`gram`]'s result, bit for bit.
pub fn gram_from_parts(parts: &[f32], params: &AlsParams) -> Result<(Vec<f32>, f64), ModelError> {
    params.validate()?;
    let k = params.factors;
    if parts.len() % (k * k) != 0 {
        return Err(ModelError::Data(format!(
            "the Gram parts hold {} values, not a whole number of {k} × {k} parts",
            parts.len()
        )));
    }
    Ok(kernels::gram_from_parts(parts, k, params.reg as f32))
}

fn whole_rows(fixed: &[f32], params: &AlsParams) -> Result<usize, ModelError> {
    params.validate()?;
    let k = params.factors;
    if fixed.len() % k != 0 {
        return Err(ModelError::Data(format!(
            "the factors hold {} values, not a whole number of rows of {k}",
            fixed.len()
        )));
    }
    Ok(k)
}

/// Solves every row of `rows` (the block's confidences: its rows × all the fixed side's
/// rows) into `x` (the block's factors, `rows × k`: the conjugate-gradient solver starts
/// from them), against the fixed side's factors and their `gram` (from [`gram`] or
/// [`gram_from_parts`]). `fixed` holds the fixed side's rows in order: one array, or the
/// blocks that solved them, each starting on a multiple of [`gram_rows`] of that side (read
/// where they are, never copied together). Returns the block's part of the training loss.
/// Runs on the current rayon pool.
pub fn solve_block(
    rows: &CsrMatrix,
    x: &mut [f32],
    fixed: &[&[f32]],
    gram: &[f32],
    params: &AlsParams,
) -> Result<f64, ModelError> {
    params.validate()?;
    let k = params.factors;
    let n_fixed: usize = fixed.iter().map(|b| b.len()).sum();
    for (what, got, want) in [
        ("the block's factors", x.len(), rows.n_rows() * k),
        ("the fixed factors", n_fixed, rows.n_cols() * k),
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
    if let [whole] = fixed {
        return super::fit::solve_with_gram(rows, x, Fixed::Whole(whole), gram, params);
    }
    let unit = gram_rows(rows.n_cols());
    let mut starts = Vec::with_capacity(fixed.len());
    let mut table = Vec::with_capacity(rows.n_cols().div_ceil(unit));
    let mut at = 0;
    for (b, block) in fixed.iter().enumerate() {
        let n = block.len() / k;
        if block.len() % k != 0 || n == 0 || (b + 1 < fixed.len() && n % unit != 0) {
            return Err(ModelError::Data(format!(
                "fixed block {b} holds {} values: every block needs whole rows of {k}, at least \
                 one, and all but the last a multiple of {unit} rows",
                block.len()
            )));
        }
        starts.push(at);
        table.resize(table.len() + n.div_ceil(unit), b as u32);
        at += n;
    }
    let blocks = Fixed::Blocks {
        blocks: fixed,
        starts: &starts,
        table: &table,
        shift: unit.trailing_zeros(),
    };
    super::fit::solve_with_gram(rows, x, blocks, gram, params)
}

/// λ's weight on the rows of a block once solved: ‖x‖², or Σ n_r ‖x_r‖² under
/// [`RegScaling::Count`](super::RegScaling::Count) (n_r: row r's positive confidences in
/// `rows`, at least 1), summed in f64.
pub fn reg_norm(rows: &CsrMatrix, x: &[f32], params: &AlsParams) -> Result<f64, ModelError> {
    let k = whole_rows(x, params)?;
    if x.len() != rows.n_rows() * k {
        return Err(ModelError::Data(format!(
            "the block's factors hold {} values; {} rows with {k} factors need {}",
            x.len(),
            rows.n_rows(),
            rows.n_rows() * k
        )));
    }
    let count = params.reg_scaling == super::RegScaling::Count;
    Ok(x.chunks_exact(k)
        .enumerate()
        .map(|(r, v)| {
            let sq: f64 = v.iter().map(|&a| f64::from(a) * f64::from(a)).sum();
            if count {
                super::fit::count_weight(rows, r, params.alpha as f32) * sq
            } else {
                sq
            }
        })
        .sum())
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
