//! The numerical kernels: dot products and multiply-adds in fixed lanes, each row's conjugate
//! gradient or Cholesky solve, the Gram matrix, the scores; `recs_core::multiversion!`
//! builds with fused multiply-adds on the vector paths.

use rayon::prelude::*;
use recs_core::simd::Madd;

use super::params::AlsSolver;

/// Rows per parallel task (the chunks are fixed, so the result does not depend on how
/// rayon schedules them).
pub(super) const ROWS_PER_TASK: usize = 32;
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
pub(super) struct Scratch {
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
    pub(super) fn new(k: usize, solver: AlsSolver) -> Self {
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

/// The fixed side's factors: one array, or the blocks of rows that solved them, in order.
#[derive(Clone, Copy)]
pub(super) enum Fixed<'a> {
    Whole(&'a [f32]),
    /// Block `b` holds rows `starts[b]..`; row `i` lies in block `table[i >> shift]` (every
    /// block starts on a multiple of `1 << shift` rows).
    Blocks {
        blocks: &'a [&'a [f32]],
        starts: &'a [usize],
        table: &'a [u32],
        shift: u32,
    },
}

/// What one half-iteration reads: the confidences of its rows, the fixed factors and their
/// Gram matrix (+ λI).
pub(super) struct Half<'a> {
    pub(super) indptr: &'a [usize],
    pub(super) indices: &'a [u32],
    pub(super) values: &'a [f32],
    pub(super) alpha: f32,
    pub(super) fixed: Fixed<'a>,
    pub(super) gram: &'a [f32],
    pub(super) k: usize,
    pub(super) solver: AlsSolver,
    pub(super) cg_steps: usize,
    /// λ when it scales with each row's positive entries (the Gram matrix holds λ once;
    /// a row of n adds λ(n − 1)); `None` for a λ the same on every row.
    pub(super) count_reg: Option<f32>,
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
    /// What row `row`'s system adds to its diagonal beyond the Gram matrix's λ: λ(n − 1)
    /// under count scaling, n its positive entries (at least 1), else 0.
    #[inline(always)]
    fn extra_reg(&self, vals: &[f32]) -> f32 {
        match self.count_reg {
            None => 0.0,
            Some(reg) => {
                let n = vals
                    .iter()
                    .filter(|&&v| self.alpha * v > 0.0)
                    .count()
                    .max(1);
                reg * (n - 1) as f32
            }
        }
    }

    /// The row of factor `i` of the fixed side.
    #[inline(always)]
    fn fixed_row(&self, i: u32) -> &[f32] {
        let (i, k) = (i as usize, self.k);
        match self.fixed {
            Fixed::Whole(f) => &f[i * k..][..k],
            Fixed::Blocks {
                blocks,
                starts,
                table,
                shift,
            } => {
                let b = table[i >> shift] as usize;
                &blocks[b][(i - starts[b]) * k..][..k]
            }
        }
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
        let extra = self.extra_reg(vals);
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
        if extra != 0.0 {
            axpy::<M>(extra, x, ap);
        }
        for ((r, &b), &g) in r.iter_mut().zip(b.iter()).zip(ap.iter()) {
            *r = b + *r - g;
        }
        p.copy_from_slice(r);
        let mut rsold = dot::<M>(r, r);
        if rsold >= 1e-20 {
            for _ in 0..self.cg_steps {
                symv::<M>(self.gram, p, ap);
                if extra != 0.0 {
                    axpy::<M>(extra, p, ap);
                }
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
        let extra = self.extra_reg(vals);
        let Scratch { b, a, l, .. } = s;
        b.fill(0.0);
        a.copy_from_slice(self.gram);
        for j in 0..k {
            a[j * k + j] += extra;
        }
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
    pub(super) fn solve_rows<M>(
        half: &Half<'_>,
        first: usize,
        xs: &mut [f32],
        s: &mut Scratch,
    ) -> Result<f64, usize> {
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
    pub(super) fn scores_into<M>(x: &[f32], y: &[f32], out: &mut [f32]) {
        for (o, yi) in out.iter_mut().zip(y.chunks_exact(x.len())) {
            *o = dot::<M>(x, yi);
        }
    }
}

/// Rows per part of the Gram matrix of a side of `n_rows` rows: a power of two between 16
/// and 1024, about 64 parts or fewer. Depends on `n_rows` only (never on threads), so the sum's order, and
/// its bits, are the same on any machine; blocks solved apart start on multiples of it.
pub(super) fn gram_rows(n_rows: usize) -> usize {
    n_rows.div_ceil(64).next_power_of_two().clamp(16, 1024)
}

/// The parts of VᵀV for the `n × k` rows `v`: one `k × k` upper triangle (f32, row-major)
/// per `rows` consecutive rows (the last may hold fewer), computed in parallel.
pub(super) fn gram_parts(v: &[f32], k: usize, rows: usize) -> Vec<f32> {
    let mut parts = vec![0f32; v.len().div_ceil(k * rows) * k * k];
    parts
        .par_chunks_mut(k * k)
        .zip(v.par_chunks(k * rows))
        .for_each(|(g, rows)| gram_block(rows, k, g));
    parts
}

/// VᵀV + λI (full symmetric, row-major) and the trace of VᵀV (‖V‖²) from [`gram_parts`]'
/// parts, in order: summed in f64 one after the other.
pub(super) fn gram_from_parts(parts: &[f32], k: usize, reg: f32) -> (Vec<f32>, f64) {
    let mut acc = vec![0f64; k * k];
    for p in parts.chunks_exact(k * k) {
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

/// VᵀV + λI of the `n × k` rows `v` (full symmetric, row-major), and the trace of VᵀV
/// (‖V‖²): parts of [`gram_rows`] rows summed in parallel, then reduced in order in f64.
pub(super) fn gram(v: &[f32], k: usize, reg: f32) -> (Vec<f32>, f64) {
    let rows = gram_rows(v.len() / k.max(1));
    gram_from_parts(&gram_parts(v, k, rows), k, reg)
}
