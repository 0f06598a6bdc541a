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
//! the user's own items are touched. (The paper writes the weight of an observed entry as
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
//! Initialisation is implicit's idea: factors uniform in [0, 0.01), users then items, from
//! the seed. The reported `"loss"` is implicit's training loss (`calculate_loss`) after each
//! iteration, computed from what the item half-iteration already has (the residual of
//! each item's system), so it costs two dot products per item.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use recs_core::ModelParams as _;
use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::simd::Madd;
use recs_core::{Progress, ScoreError, Scorer};
use recs_sparse::CsrMatrix;
use serde::{Deserialize, Serialize};

use crate::common::report_epoch;
use crate::common::score_checks;
use crate::{ModelError, io};

/// How each row's least-squares system is solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AlsSolver {
    /// A few conjugate-gradient steps warm-started from the previous factors (implicit's
    /// default, `use_cg=True`; default).
    #[default]
    Cg,
    /// The exact solve by a Cholesky factorisation of each row's system (implicit's
    /// `use_cg=False`).
    Cholesky,
}

/// Hyper-parameters of [`Als`]; the defaults are implicit's `AlternatingLeastSquares`
/// defaults. Missing fields take their defaults when deserialised; unknown fields are an
/// error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlsParams {
    /// Latent factors (default 100; 1..=4096).
    pub factors: usize,
    /// ALS iterations, each a user and an item half (implicit's `iterations`; default 15;
    /// 1..=100000).
    pub epochs: usize,
    /// L2 regularisation λ added to every row's system (implicit's `regularization`;
    /// default 0.01; in [0, 1e6]). Training uses it as an `f32`. With 0, a row's system
    /// can be singular: the Cholesky solver then refuses.
    pub reg: f64,
    /// Confidence scale α: an entry of value r has confidence α·r (default 1.0; in
    /// (0, 1e6]).
    pub alpha: f64,
    /// The row solver (default [`AlsSolver::Cg`]).
    pub solver: AlsSolver,
    /// Conjugate-gradient steps per row and half-iteration with the `cg` solver (implicit's
    /// `cg_steps`; default 3; 1..=1000).
    pub cg_steps: usize,
    /// Worker threads (default 0: rayon's current pool, every core unless the caller
    /// installs a smaller pool; 0..=1024). The result does not depend on it.
    pub threads: usize,
    /// Seed of the initial factors (default 42).
    pub seed: u64,
}

impl Default for AlsParams {
    fn default() -> Self {
        Self {
            factors: 100,
            epochs: 15,
            reg: 0.01,
            alpha: 1.0,
            solver: AlsSolver::Cg,
            cg_steps: 3,
            threads: 0,
            seed: 42,
        }
    }
}

/// A trained ALS model: score(u, i) = x_u · y_i.
#[derive(Debug, Clone)]
pub struct Als {
    params: AlsParams,
    n_users: usize,
    n_items: usize,
    user_factors: Vec<f32>,
    item_factors: Vec<f32>,
    /// YᵀY + λI, computed on the first fold-in.
    item_gram: OnceLock<Vec<f32>>,
}

/// Rows per parallel task (the chunks are fixed, so the result does not depend on how
/// rayon schedules them).
const ROWS_PER_TASK: usize = 32;
/// Rows per block of the Gram matrix reduction.
const GRAM_ROWS: usize = 1024;
/// Lanes of the vector kernels (AVX-512 width; AVX2 runs them as two halves, in the same
/// order).
const L: usize = 16;

/// a · b.
#[inline(always)]
fn dot<M: Madd>(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; L];
    let (ac, bc) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..L {
            acc[l] = M::madd(x[l], y[l], acc[l]);
        }
    }
    let mut tail = 0f32;
    for (&x, &y) in ar.iter().zip(br) {
        tail = M::madd(x, y, tail);
    }
    // A fixed pairwise reduction of the lanes.
    let mut w = L;
    while w > 1 {
        w /= 2;
        for l in 0..w {
            acc[l] += acc[l + w];
        }
    }
    acc[0] + tail
}

/// y += a · x.
#[inline(always)]
fn axpy<M: Madd>(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = M::madd(a, x, *y);
    }
}

/// out = G v for the full symmetric `k × k` row-major `g`, as Σ_j v_j G_j (row j of G is
/// its column j): elementwise multiply-adds, no horizontal sums.
#[inline(always)]
fn symv<M: Madd>(g: &[f32], v: &[f32], out: &mut [f32]) {
    let k = v.len();
    out.fill(0.0);
    for (&vj, row) in v.iter().zip(g.chunks_exact(k)) {
        axpy::<M>(vj, row, out);
    }
}

/// Per-task scratch rows.
struct Scratch {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
    b: Vec<f32>,
    /// The row's system (`k × k`, Cholesky only).
    a: Vec<f32>,
    /// Its f64 factor (Cholesky only).
    l: Vec<f64>,
}

impl Scratch {
    fn new(k: usize, solver: AlsSolver) -> Self {
        let kk = if solver == AlsSolver::Cholesky {
            k * k
        } else {
            0
        };
        Self {
            r: vec![0.0; k],
            p: vec![0.0; k],
            ap: vec![0.0; k],
            b: vec![0.0; k],
            a: vec![0.0; kk],
            l: vec![0.0; kk],
        }
    }
}

/// What one half-iteration reads: the confidences of its rows, the fixed factors and their
/// Gram matrix (+ λI).
struct Half<'a> {
    indptr: &'a [usize],
    indices: &'a [u32],
    values: &'a [f32],
    alpha: f32,
    fixed: &'a [f32],
    gram: &'a [f32],
    k: usize,
    solver: AlsSolver,
    cg_steps: usize,
}

/// (weight of p = 1 in b, |c| − 1 added to A, |c|) of the entry of confidence `c`.
#[inline(always)]
fn weights(c: f32) -> (f32, f32, f32) {
    if c > 0.0 {
        (c, c - 1.0, c)
    } else {
        (0.0, -c - 1.0, -c)
    }
}

impl Half<'_> {
    /// The row of factor `i` of the fixed side.
    #[inline(always)]
    fn fixed_row(&self, i: u32) -> &[f32] {
        &self.fixed[i as usize * self.k..][..self.k]
    }

    /// CG on row `row` (factors `x`, updated in place); returns the row's part of the loss.
    #[inline(always)]
    fn cg_row<M: Madd>(&self, row: usize, x: &mut [f32], s: &mut Scratch) -> f64 {
        let (lo, hi) = (self.indptr[row], self.indptr[row + 1]);
        if lo == hi {
            x.fill(0.0);
            return 0.0;
        }
        let (idx, vals) = (&self.indices[lo..hi], &self.values[lo..hi]);
        let Scratch { r, p, ap, b, .. } = s;
        b.fill(0.0);
        // r collects −Σ (|c| − 1)(y·x) y first.
        r.fill(0.0);
        let mut total = 0f64;
        for (&i, &v) in idx.iter().zip(vals) {
            let y = self.fixed_row(i);
            let (pos, w, abs) = weights(self.alpha * v);
            total += f64::from(abs);
            if pos != 0.0 {
                axpy::<M>(pos, y, b);
            }
            if w != 0.0 {
                let d = dot::<M>(y, x);
                axpy::<M>(-w * d, y, r);
            }
        }
        // r = b − A x
        symv::<M>(self.gram, x, ap);
        for ((r, &b), &g) in r.iter_mut().zip(b.iter()).zip(ap.iter()) {
            *r = b + *r - g;
        }
        p.copy_from_slice(r);
        let mut rsold = dot::<M>(r, r);
        if rsold >= 1e-20 {
            for _ in 0..self.cg_steps {
                symv::<M>(self.gram, p, ap);
                for (&i, &v) in idx.iter().zip(vals) {
                    let (_, w, _) = weights(self.alpha * v);
                    if w != 0.0 {
                        let y = self.fixed_row(i);
                        let d = dot::<M>(y, p);
                        axpy::<M>(w * d, y, ap);
                    }
                }
                let pap = dot::<M>(p, ap);
                // p·Ap > 0 for a positive definite system; stop rather than divide by 0.
                if pap.is_nan() || pap <= 0.0 {
                    break;
                }
                let a = rsold / pap;
                axpy::<M>(a, p, x);
                axpy::<M>(-a, ap, r);
                let rsnew = dot::<M>(r, r);
                if rsnew < 1e-20 {
                    break;
                }
                let beta = rsnew / rsold;
                for (p, &r) in p.iter_mut().zip(r.iter()) {
                    *p = M::madd(beta, *p, r);
                }
                rsold = rsnew;
            }
        }
        // xᵀAx − 2bᵀx + Σ|c| with A x = b − r.
        total - f64::from(dot::<M>(x, b)) - f64::from(dot::<M>(x, r))
    }

    /// The exact solve of row `row` into `x`; returns the row's part of the loss, or `None`
    /// when its system is not positive definite.
    #[inline(always)]
    fn cholesky_row<M: Madd>(&self, row: usize, x: &mut [f32], s: &mut Scratch) -> Option<f64> {
        let (lo, hi) = (self.indptr[row], self.indptr[row + 1]);
        if lo == hi {
            x.fill(0.0);
            return Some(0.0);
        }
        let k = self.k;
        let (idx, vals) = (&self.indices[lo..hi], &self.values[lo..hi]);
        let Scratch { b, a, l, .. } = s;
        b.fill(0.0);
        a.copy_from_slice(self.gram);
        let mut total = 0f64;
        for (&i, &v) in idx.iter().zip(vals) {
            let y = self.fixed_row(i);
            let (pos, w, abs) = weights(self.alpha * v);
            total += f64::from(abs);
            if pos != 0.0 {
                axpy::<M>(pos, y, b);
            }
            if w != 0.0 {
                // the upper triangle of A += w y yᵀ
                for j in 0..k {
                    axpy::<M>(w * y[j], &y[j..], &mut a[j * k + j..(j + 1) * k]);
                }
            }
        }
        let sol = cholesky_solve(a, l, b, k)?;
        let mut xb = 0f64;
        for ((x, s), &b) in x.iter_mut().zip(&sol).zip(b.iter()) {
            *x = *s as f32;
            xb += s * f64::from(b);
        }
        Some(total - xb)
    }
}

/// Solves A z = b for the symmetric positive definite `a` (`k × k`, upper triangle read),
/// factoring it into `l` (lower, row-major) in f64; `None` when a pivot is not positive.
#[inline(always)]
fn cholesky_solve(a: &[f32], l: &mut [f64], b: &[f32], k: usize) -> Option<Vec<f64>> {
    for j in 0..k {
        let (done, rest) = l.split_at_mut(j * k);
        let lj = &mut rest[..k];
        for i in 0..=j {
            // A[j][i] = A[i][j] (upper triangle)
            let mut s = f64::from(a[i * k + j]);
            let li = if i == j {
                &lj[..i]
            } else {
                &done[i * k..i * k + i]
            };
            for m in 0..i {
                s -= li[m] * lj[m];
            }
            if i == j {
                if s.is_nan() || s <= 0.0 || !s.is_finite() {
                    return None;
                }
                lj[j] = s.sqrt();
            } else {
                lj[i] = s / done[i * k + i];
            }
        }
    }
    let mut z = vec![0f64; k];
    for i in 0..k {
        let row = &l[i * k..i * k + i];
        let s = f64::from(b[i]) - row.iter().zip(&z).map(|(a, b)| a * b).sum::<f64>();
        z[i] = s / l[i * k + i];
    }
    for i in (0..k).rev() {
        let mut s = z[i];
        for m in i + 1..k {
            s -= l[m * k + i] * z[m];
        }
        z[i] = s / l[i * k + i];
    }
    z.iter().all(|v| v.is_finite()).then_some(z)
}

recs_core::multiversion! {
    /// Solves the rows `first..` whose factors are `xs` (whole rows); the loss of these
    /// rows, or `Err(row)` for a row whose system the Cholesky solver could not factor.
    fn solve_rows<M>(half: &Half<'_>, first: usize, xs: &mut [f32], s: &mut Scratch) -> Result<f64, usize> {
        let mut loss = 0f64;
        for (r, x) in xs.chunks_exact_mut(half.k).enumerate() {
            let row = first + r;
            loss += match half.solver {
                AlsSolver::Cg => half.cg_row::<M>(row, x, s),
                AlsSolver::Cholesky => half.cholesky_row::<M>(row, x, s).ok_or(row)?,
            };
        }
        Ok(loss)
    }
}

recs_core::multiversion! {
    /// The upper triangle of Σ v vᵀ over the rows of `rows` (`k` wide) into `g` (`k × k`).
    fn gram_block<M>(rows: &[f32], k: usize, g: &mut [f32]) {
        for v in rows.chunks_exact(k) {
            for j in 0..k {
                axpy::<M>(v[j], &v[j..], &mut g[j * k + j..(j + 1) * k]);
            }
        }
    }
}

recs_core::multiversion! {
    /// out[i] = x · y_i for every row y_i of `y`.
    fn scores_into<M>(x: &[f32], y: &[f32], out: &mut [f32]) {
        for (o, yi) in out.iter_mut().zip(y.chunks_exact(x.len())) {
            *o = dot::<M>(x, yi);
        }
    }
}

/// VᵀV + λI of the `n × k` rows `v` (full symmetric, row-major), and the trace of VᵀV
/// (‖V‖²). Blocks of [`GRAM_ROWS`] rows are summed in parallel, then reduced in order in
/// f64.
fn gram(v: &[f32], k: usize, reg: f32) -> (Vec<f32>, f64) {
    let parts: Vec<Vec<f32>> = v
        .par_chunks(k * GRAM_ROWS)
        .map(|rows| {
            let mut g = vec![0f32; k * k];
            gram_block(rows, k, &mut g);
            g
        })
        .collect();
    let mut acc = vec![0f64; k * k];
    for p in &parts {
        for (a, &x) in acc.iter_mut().zip(p) {
            *a += f64::from(x);
        }
    }
    let trace: f64 = (0..k).map(|j| acc[j * k + j]).sum();
    let mut g = vec![0f32; k * k];
    for i in 0..k {
        for j in i..k {
            let x = acc[i * k + j] as f32;
            g[i * k + j] = x;
            g[j * k + i] = x;
        }
        g[i * k + i] += reg;
    }
    (g, trace)
}

/// Solves every row of `m` (confidences, rows × fixed rows) into `x` against `fixed`;
/// the rows' loss total.
fn half_iteration(
    m: &CsrMatrix,
    x: &mut [f32],
    fixed: &[f32],
    params: &AlsParams,
) -> Result<(f64, f64), ModelError> {
    let k = params.factors;
    let reg = params.reg as f32;
    let (g, fixed_norm) = gram(fixed, k, reg);
    let half = Half {
        indptr: m.indptr(),
        indices: m.indices(),
        values: m.values(),
        alpha: params.alpha as f32,
        fixed,
        gram: &g,
        k,
        solver: params.solver,
        cg_steps: params.cg_steps,
    };
    let losses: Vec<Result<f64, usize>> = x
        .par_chunks_mut(k * ROWS_PER_TASK)
        .enumerate()
        .map(|(c, xs)| {
            let mut s = Scratch::new(k, params.solver);
            solve_rows(&half, c * ROWS_PER_TASK, xs, &mut s)
        })
        .collect();
    let mut loss = 0f64;
    for l in losses {
        loss += l.map_err(|row| {
            ModelError::Data(format!(
                "the least-squares system of row {row} is not positive definite \
                 (raise `reg` above {})",
                params.reg
            ))
        })?;
    }
    Ok((loss, fixed_norm))
}

impl Als {
    /// Trains on the confidences of `train` (users × items; an entry r has confidence
    /// α·r, see the module documentation), reporting every iteration to `progress` with
    /// implicit's training loss as `"loss"`. When `progress` returns [`Control::Stop`],
    /// training ends after that iteration and the model is returned as it is (its
    /// [`params`](Als::params) then record the iterations actually trained).
    ///
    /// Errors when the parameters are out of range, `train` has no interaction, a row's
    /// system cannot be factored (Cholesky, `reg` 0) or the factors stop being finite.
    ///
    /// [`Control::Stop`]: recs_core::Control::Stop
    pub fn fit(
        params: &AlsParams,
        train: &CsrMatrix,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        params.validate()?;
        if train.nnz() == 0 {
            return Err(ModelError::Data("no interaction to train on".into()));
        }
        // The epoch loop runs here (the progress callback need not be `Send`); only the
        // half-iterations run on the pool.
        // A caller already on a pool of `threads` workers (e.g. the benchmark worker) runs
        // the half-iterations there rather than on a second pool of the same size.
        let pool = match params.threads {
            0 => None,
            n if rayon::current_thread_index().is_some() && rayon::current_num_threads() == n => {
                None
            }
            n => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .map_err(|e| ModelError::Data(format!("cannot start {n} threads: {e}")))?,
            ),
        };
        let started = Instant::now();
        let (nu, ni, k) = (train.n_rows(), train.n_cols(), params.factors);
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let mut uf: Vec<f32> = (0..nu * k).map(|_| rng.random::<f32>() * 0.01).collect();
        let mut itf: Vec<f32> = (0..ni * k).map(|_| rng.random::<f32>() * 0.01).collect();
        let by_item = train.transpose();
        // implicit's denominator: the weight of every entry, stored or not.
        let total_weight: f64 = train
            .values()
            .iter()
            .map(|&v| f64::from((params.alpha as f32 * v).abs()))
            .sum::<f64>()
            + (nu as f64 * ni as f64 - train.nnz() as f64);
        let reg = f64::from(params.reg as f32);
        let mut trained = 0;
        for epoch in 1..=params.epochs {
            let t0 = Instant::now();
            let on_pool = |m: &CsrMatrix, x: &mut [f32], fixed: &[f32]| match &pool {
                Some(p) => p.install(|| half_iteration(m, x, fixed, params)),
                None => half_iteration(m, x, fixed, params),
            };
            on_pool(train, &mut uf, &itf)?;
            let (item_loss, user_norm) = on_pool(&by_item, &mut itf, &uf)?;
            let loss = (item_loss + reg * user_norm) / total_weight.max(1.0);
            if !loss.is_finite() || uf.iter().chain(&itf).any(|v| !v.is_finite()) {
                return Err(ModelError::Diverged {
                    epoch,
                    what: "loss",
                    value: loss,
                });
            }
            trained = epoch;
            if report_epoch(progress, (epoch, params.epochs), loss, None, (t0, started)) {
                break;
            }
        }
        Ok(Self {
            params: AlsParams {
                epochs: trained,
                ..params.clone()
            },
            n_users: nu,
            n_items: ni,
            user_factors: uf,
            item_factors: itf,
            item_gram: OnceLock::new(),
        })
    }

    /// The parameters the model was trained with.
    pub fn params(&self) -> &AlsParams {
        &self.params
    }

    /// User factors, row-major `n_users × factors`.
    pub fn user_factors(&self) -> &[f32] {
        &self.user_factors
    }

    /// Item factors, row-major `n_items × factors`.
    pub fn item_factors(&self) -> &[f32] {
        &self.item_factors
    }

    /// The factors of a user who interacted with `items` with the values `values` (one
    /// each; confidence α·value), solved exactly against the fixed item factors: implicit's
    /// `recalculate_user`. Repeated items count once (the last value).
    pub fn recalculate_user(&self, items: &[u32], values: &[f32]) -> Result<Vec<f32>, ModelError> {
        let k = self.params.factors;
        if items.len() != values.len() {
            return Err(ModelError::Data(format!(
                "{} items but {} values",
                items.len(),
                values.len()
            )));
        }
        if let Some(&bad) = items.iter().find(|&&i| i as usize >= self.n_items) {
            return Err(ModelError::Data(format!(
                "item index {bad} is out of range: the model knows {} items",
                self.n_items
            )));
        }
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(ModelError::Data(format!("value {v} is not finite")));
        }
        let mut row: Vec<(u32, f32)> = items.iter().copied().zip(values.iter().copied()).collect();
        // sort by item, keeping the last value of a repeated item
        row.reverse();
        row.sort_by_key(|&(i, _)| i);
        row.dedup_by_key(|&mut (i, _)| i);
        let (idx, vals): (Vec<u32>, Vec<f32>) = row.into_iter().unzip();
        let gram = self
            .item_gram
            .get_or_init(|| gram(&self.item_factors, k, self.params.reg as f32).0);
        let indptr = [0, idx.len()];
        let half = Half {
            indptr: &indptr,
            indices: &idx,
            values: &vals,
            alpha: self.params.alpha as f32,
            fixed: &self.item_factors,
            gram,
            k,
            solver: AlsSolver::Cholesky,
            cg_steps: 0,
        };
        let mut x = vec![0f32; k];
        solve_rows(&half, 0, &mut x, &mut Scratch::new(k, AlsSolver::Cholesky)).map_err(|_| {
            ModelError::Data(format!(
                "the user's least-squares system is not positive definite (the model's reg is {})",
                self.params.reg
            ))
        })?;
        Ok(x)
    }

    /// Writes `x · y_i` for every item into `out`.
    pub(crate) fn scores_for(&self, x: &[f32], out: &mut [f32]) {
        scores_into(x, &self.item_factors, out);
    }

    /// Writes the model alone to `path`, atomically (the registry's writer adds the
    /// training catalogue and provenance).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        io::save_file(path, "als", &self.params(), |w| self.write_into(w))
    }

    /// Reads a model of this kind from `path`, verified; a corrupt or foreign file is a
    /// [`ModelError::File`] error naming the file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Self::read_from(&io::open(path, "als")?)
    }

    /// Adds the model's tensors and facts to `w`.
    pub(crate) fn write_into<'a>(&'a self, w: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        let k = self.params.factors;
        let meta = serde_json::json!({
            "n_users": self.n_users,
            "n_items": self.n_items,
        });
        io::save(
            w,
            meta,
            &[
                ("user_factors", vec![self.n_users, k], &self.user_factors),
                ("item_factors", vec![self.n_items, k], &self.item_factors),
            ],
        )
    }

    /// Rebuilds the model from a verified file of its kind (every tensor checked against
    /// the shape the metadata and params give before it is copied).
    pub(crate) fn read_from(file: &ModelReader) -> Result<Self, ModelError> {
        let f = io::load(file);
        let params: AlsParams = f.params()?;
        params.validate().map_err(|e| f.bad(e.to_string()))?;
        let nu = f.meta_size("n_users")?;
        let ni = f.meta_size("n_items")?;
        let k = params.factors;
        Ok(Self {
            user_factors: f.take("user_factors", &[nu, k])?,
            item_factors: f.take("item_factors", &[ni, k])?,
            params,
            n_users: nu,
            n_items: ni,
            item_gram: OnceLock::new(),
        })
    }
}

impl Scorer for Als {
    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        score_checks(user, out, self.n_users, self.n_items)?;
        let k = self.params.factors;
        self.scores_for(&self.user_factors[user as usize * k..][..k], out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use recs_core::{Control, EpochReport, NoProgress};
    use recs_sparse::DuplicatePolicy;

    use super::*;

    fn random_matrix(nu: u32, ni: u32, density: f32, seed: u64, values: bool) -> CsrMatrix {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut r, mut c, mut v) = (vec![], vec![], vec![]);
        for u in 0..nu {
            for i in 0..ni {
                if rng.random::<f32>() < density {
                    r.push(u);
                    c.push(i);
                    v.push(if values {
                        rng.random_range(1..=5) as f32
                    } else {
                        1.0
                    });
                }
            }
        }
        CsrMatrix::from_triplets(nu as usize, ni as usize, &r, &c, &v, DuplicatePolicy::Error)
            .unwrap()
    }

    /// implicit's loss (`_als.calculate_loss`) computed directly, in f64.
    fn direct_loss(m: &Als, x: &CsrMatrix) -> f64 {
        let k = m.params.factors;
        let (alpha, reg) = (m.params.alpha, m.params.reg as f32 as f64);
        let (mut loss, mut total) = (0f64, 0f64);
        for u in 0..m.n_users {
            let xu = &m.user_factors[u * k..][..k];
            for i in 0..m.n_items {
                let yi = &m.item_factors[i * k..][..k];
                let pred: f64 = xu
                    .iter()
                    .zip(yi)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum();
                match x.get(u, i) {
                    Some(v) => {
                        let c = f64::from(alpha as f32 * v);
                        let (p, w) = if c > 0.0 { (1.0, c) } else { (0.0, -c) };
                        loss += w * (p - pred) * (p - pred);
                        total += w;
                    }
                    None => {
                        loss += pred * pred;
                        total += 1.0;
                    }
                }
            }
        }
        let norm: f64 = m
            .user_factors
            .iter()
            .chain(&m.item_factors)
            .map(|v| f64::from(*v) * f64::from(*v))
            .sum();
        (loss + reg * norm) / total
    }

    #[test]
    fn reported_loss_is_implicits_loss() {
        let x = random_matrix(30, 20, 0.2, 1, true);
        for solver in [AlsSolver::Cholesky, AlsSolver::Cg] {
            let p = AlsParams {
                factors: 5,
                epochs: 4,
                alpha: 0.7,
                reg: 0.1,
                solver,
                ..AlsParams::default()
            };
            let mut last = 0.0;
            let m = Als::fit(&p, &x, &mut |e: &EpochReport| {
                last = e.total_loss();
                Control::Continue
            })
            .unwrap();
            let want = direct_loss(&m, &x);
            assert!(
                (last - want).abs() < 1e-4 * want.max(1.0),
                "{solver:?}: {last} vs {want}"
            );
        }
    }

    /// The Cholesky half-iteration gives each row the minimiser of its weighted
    /// least-squares problem: the gradient vanishes.
    #[test]
    fn cholesky_rows_solve_their_normal_equations() {
        let x = random_matrix(25, 15, 0.3, 2, true);
        let p = AlsParams {
            factors: 4,
            epochs: 1,
            alpha: 2.0,
            reg: 0.5,
            solver: AlsSolver::Cholesky,
            ..AlsParams::default()
        };
        let m = Als::fit(&p, &x, &mut NoProgress).unwrap();
        // After the item half, every item row is optimal given the user factors.
        let k = 4;
        let reg = 0.5f32 as f64;
        for i in 0..15 {
            let yi = &m.item_factors[i * k..][..k];
            let mut grad = vec![0f64; k];
            for u in 0..25 {
                let xu = &m.user_factors[u * k..][..k];
                let pred: f64 = xu
                    .iter()
                    .zip(yi)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum();
                let (pv, w) = match x.get(u, i) {
                    Some(v) => (1.0, f64::from(2.0f32 * v)),
                    None => (0.0, 1.0),
                };
                for j in 0..k {
                    grad[j] += w * (pred - pv) * f64::from(xu[j]);
                }
            }
            for j in 0..k {
                grad[j] += reg * f64::from(yi[j]);
                assert!(grad[j].abs() < 1e-3, "item {i} grad {grad:?}");
            }
        }
    }

    /// More CG steps converge to the exact solve.
    #[test]
    fn cg_approaches_cholesky() {
        let x = random_matrix(40, 30, 0.2, 3, false);
        let base = AlsParams {
            factors: 6,
            epochs: 6,
            reg: 0.1,
            alpha: 3.0,
            ..AlsParams::default()
        };
        let exact = Als::fit(
            &AlsParams {
                solver: AlsSolver::Cholesky,
                ..base.clone()
            },
            &x,
            &mut NoProgress,
        )
        .unwrap();
        let scores = |m: &Als| {
            let mut out = vec![0f32; 40 * 30];
            for u in 0..40 {
                m.score_user(u, &mut out[u as usize * 30..][..30]).unwrap();
            }
            out
        };
        let want = scores(&exact);
        let err = |steps| {
            let m = Als::fit(
                &AlsParams {
                    cg_steps: steps,
                    ..base.clone()
                },
                &x,
                &mut NoProgress,
            )
            .unwrap();
            scores(&m)
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max)
        };
        let (e1, e20) = (err(1), err(20));
        assert!(e20 < 1e-3, "20 CG steps: max score difference {e20}");
        assert!(e20 < e1, "{e20} !< {e1}");
    }

    #[test]
    fn same_numbers_on_any_thread_count() {
        // Bit for bit, so no other test may force a SIMD level meanwhile.
        let _level = recs_core::simd::same_level();
        let x = random_matrix(300, 80, 0.05, 4, true);
        let run = |threads| {
            let p = AlsParams {
                factors: 8,
                epochs: 3,
                threads,
                ..AlsParams::default()
            };
            Als::fit(&p, &x, &mut NoProgress).unwrap()
        };
        let (a, b) = (run(1), run(3));
        assert_eq!(a.user_factors, b.user_factors);
        assert_eq!(a.item_factors, b.item_factors);
    }

    #[test]
    fn simd_levels_agree_to_rounding() {
        let x = random_matrix(60, 40, 0.1, 5, true);
        let p = AlsParams {
            factors: 37,
            epochs: 3,
            ..AlsParams::default()
        };
        let runs = recs_core::simd::at_each_level(|_| Als::fit(&p, &x, &mut NoProgress).unwrap());
        let (_, first) = &runs[0];
        for (level, m) in &runs[1..] {
            for (a, b) in first.item_factors.iter().zip(&m.item_factors) {
                assert!(
                    (a - b).abs() <= 1e-3 * a.abs().max(1e-2),
                    "{level:?}: {a} vs {b}"
                );
            }
        }
        // the two vector paths share lanes and sum order: bit for bit
        if runs.len() == 3 {
            assert_eq!(runs[1].1.item_factors, runs[2].1.item_factors);
        }
    }

    #[test]
    fn recalculate_user_matches_the_trained_exact_solve() {
        let x = random_matrix(20, 12, 0.3, 6, true);
        let p = AlsParams {
            factors: 3,
            epochs: 2,
            solver: AlsSolver::Cholesky,
            ..AlsParams::default()
        };
        let m = Als::fit(&p, &x, &mut NoProgress).unwrap();
        // one more user half against the final item factors = recalculate_user per user
        let mut uf = m.user_factors.clone();
        half_iteration(&x, &mut uf, &m.item_factors, &p).unwrap();
        for u in 0..20 {
            let row = x.row(u);
            let got = m.recalculate_user(row.indices, row.values).unwrap();
            for (a, b) in got.iter().zip(&uf[u * 3..][..3]) {
                assert!((a - b).abs() < 1e-5, "user {u}: {a} vs {b}");
            }
        }
        // repeated items count once, order does not matter
        let a = m.recalculate_user(&[3, 1, 1], &[1.0, 5.0, 2.0]).unwrap();
        let b = m.recalculate_user(&[1, 3], &[2.0, 1.0]).unwrap();
        assert_eq!(a, b);
        assert!(m.recalculate_user(&[12], &[1.0]).is_err());
        assert!(m.recalculate_user(&[1], &[]).is_err());
        assert!(m.recalculate_user(&[1], &[f32::NAN]).is_err());
    }

    #[test]
    fn negative_values_are_dislikes() {
        // a dislike pushes the score below what no interaction gives
        let x = CsrMatrix::from_triplets(
            3,
            3,
            &[0, 0, 1, 1, 2, 2],
            &[0, 1, 0, 1, 0, 1],
            &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
            DuplicatePolicy::Error,
        )
        .unwrap();
        let p = AlsParams {
            factors: 2,
            epochs: 5,
            alpha: 10.0,
            reg: 0.1,
            solver: AlsSolver::Cholesky,
            ..AlsParams::default()
        };
        let m = Als::fit(&p, &x, &mut NoProgress).unwrap();
        let like = m.recalculate_user(&[0], &[1.0]).unwrap();
        let dislike = m.recalculate_user(&[0], &[-1.0]).unwrap();
        let mut s = [0f32; 3];
        m.scores_for(&like, &mut s);
        let liked = s[0];
        m.scores_for(&dislike, &mut s);
        assert!(s[0] < 0.05 && liked > 0.5, "{liked} {}", s[0]);
    }

    #[test]
    fn stop_keeps_the_epochs_trained_and_reg_zero_refused_by_cholesky() {
        let x = random_matrix(10, 8, 0.3, 7, false);
        let mut n = 0;
        let m = Als::fit(
            &AlsParams {
                factors: 2,
                ..AlsParams::default()
            },
            &x,
            &mut |_: &EpochReport| {
                n += 1;
                if n == 2 {
                    Control::Stop
                } else {
                    Control::Continue
                }
            },
        )
        .unwrap();
        assert_eq!(m.params().epochs, 2);
        // more factors than items, no regularisation: singular systems
        let p = AlsParams {
            factors: 12,
            reg: 0.0,
            solver: AlsSolver::Cholesky,
            ..AlsParams::default()
        };
        let e = Als::fit(&p, &x, &mut NoProgress).unwrap_err();
        assert!(e.to_string().contains("reg"), "{e}");
    }

    #[test]
    fn params_check_and_deserialise() {
        let p: AlsParams = serde_json::from_str(r#"{"factors": 3, "solver": "cholesky"}"#).unwrap();
        assert_eq!(p.solver, AlsSolver::Cholesky);
        assert!(serde_json::from_str::<AlsParams>(r#"{"iterations": 3}"#).is_err());
        for (p, name) in [
            (
                AlsParams {
                    factors: 0,
                    ..AlsParams::default()
                },
                "factors",
            ),
            (
                AlsParams {
                    epochs: 0,
                    ..AlsParams::default()
                },
                "epochs",
            ),
            (
                AlsParams {
                    reg: -1.0,
                    ..AlsParams::default()
                },
                "reg",
            ),
            (
                AlsParams {
                    alpha: 0.0,
                    ..AlsParams::default()
                },
                "alpha",
            ),
            (
                AlsParams {
                    alpha: f64::NAN,
                    ..AlsParams::default()
                },
                "alpha",
            ),
            (
                AlsParams {
                    cg_steps: 0,
                    ..AlsParams::default()
                },
                "cg_steps",
            ),
            (
                AlsParams {
                    threads: 2000,
                    ..AlsParams::default()
                },
                "threads",
            ),
        ] {
            assert_eq!(p.validate().unwrap_err().param, name);
        }
        assert!(AlsParams::default().validate().is_ok());
    }

    #[test]
    fn save_and_load_round_trip() {
        let x = random_matrix(10, 8, 0.3, 8, false);
        let m = Als::fit(
            &AlsParams {
                factors: 3,
                epochs: 2,
                ..AlsParams::default()
            },
            &x,
            &mut NoProgress,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.recs");
        m.save(&path).unwrap();
        let back = Als::load(&path).unwrap();
        assert_eq!(back.user_factors, m.user_factors);
        assert_eq!(back.item_factors, m.item_factors);
        assert_eq!(back.params, m.params);
    }
}
