//! Fitting: the sparse Gram matrix, its inverse through faer's Cholesky factorisation (in
//! place, two dense matrices at most), `B` from the inverse, in `f32` or `f64`.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::triangular::BlockStructure;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;
use recs_core::{ModelError, ModelParams as _};
use recs_sparse::CsrMatrix;

use super::model::Ease;
use super::params::{Dtype, EaseParams};
use crate::common::with_threads;

/// Fits on `x` (users × items; binarized: any stored entry is an interaction) with `params`
/// (validated, and the memory checked, first).
pub(super) fn fit(params: &EaseParams, x: &CsrMatrix) -> Result<Ease, ModelError> {
    params.validate()?;
    params.check_memory(x.n_cols())?;
    let x = x.binarize();
    let b = with_threads(params.threads, || {
        let xt = x.transpose();
        match params.dtype {
            Dtype::F32 => fit_in::<f32>(params, &x, &xt),
            Dtype::F64 => fit_in::<f64>(params, &x, &xt),
        }
    })??;
    if b.iter().any(|v| !v.is_finite()) {
        return Err(ModelError::Data(
            "B holds a non-finite value: raise `reg` or use `dtype` = \"f64\"".into(),
        ));
    }
    Ok(Ease {
        params: params.clone(),
        user_items: x,
        b: b.into(),
    })
}

/// The float types the fit runs in.
trait Real: faer::traits::RealField + Copy + Send + Sync + 'static {
    fn of(x: f64) -> Self;
    fn to_f32(self) -> f32;
    fn zero_() -> Self {
        Self::of(0.0)
    }
    /// `B` (row-major, f32) from the full symmetric `P` (see [`b_from_p`]).
    fn into_b(p: Vec<Self>, n: usize) -> Result<Vec<f32>, ModelError>;
}

impl Real for f32 {
    fn of(x: f64) -> Self {
        x as f32
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn into_b(mut p: Vec<f32>, n: usize) -> Result<Vec<f32>, ModelError> {
        // In place of P: no third matrix.
        let d: Vec<f32> = (0..n).map(|j| p[j * n + j]).collect();
        p.par_chunks_mut(n.max(1)).enumerate().for_each(|(i, row)| {
            for (v, &dj) in row.iter_mut().zip(&d) {
                *v = -(*v / dj);
            }
            row[i] = 0.0;
        });
        Ok(p)
    }
}

impl Real for f64 {
    fn of(x: f64) -> Self {
        x
    }
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn into_b(p: Vec<f64>, n: usize) -> Result<Vec<f32>, ModelError> {
        let mut b: Vec<f32> = zeroed(n * n, "B")?;
        b_from_p(&p, n, &mut b);
        Ok(b)
    }
}

/// A zeroed buffer of `n` values, or an error naming what it is for (the memory check has
/// passed; the system may still refuse).
fn zeroed<T: Real>(n: usize, what: &str) -> Result<Vec<T>, ModelError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|e| {
        ModelError::Model(format!("cannot allocate {what} ({n} values): {e}").into())
    })?;
    v.resize(n, T::zero_());
    Ok(v)
}

/// `XᵀX + λI` into `g` (column-major `n × n`; symmetric, so row-major too) from the binary
/// `x` and its transpose: column i adds, for each user of item i, a 1 at each of the
/// user's items. Parallel over columns (each task owns its columns).
fn gram<T: Real>(x: &CsrMatrix, xt: &CsrMatrix, reg: f64, g: &mut [T]) {
    let n = xt.n_rows();
    let one = T::of(1.0);
    g.par_chunks_mut(n).enumerate().for_each(|(i, col)| {
        for &u in xt.row(i).indices {
            for &j in x.row(u as usize).indices {
                col[j as usize] += one;
            }
        }
        col[i] += T::of(reg);
    });
}

/// Copies the lower triangle of the column-major `n × n` matrix in `a` onto its upper
/// triangle, in tiles.
fn mirror_lower<T: Copy>(a: &mut [T], n: usize) {
    const TILE: usize = 64;
    for jb in (0..n).step_by(TILE) {
        for ib in (jb..n).step_by(TILE) {
            for j in jb..(jb + TILE).min(n) {
                for i in ib.max(j + 1)..(ib + TILE).min(n) {
                    // (j, i) in the upper triangle, column i, from (i, j), column j.
                    a[i * n + j] = a[j * n + i];
                }
            }
        }
    }
}

/// `P = (XᵀX + λI)⁻¹` in place of `g` (column-major, full), using `work` (n², zeroed) for
/// `L⁻¹`.
fn invert_spd<T: Real>(g: &mut [T], work: &mut [T], n: usize, par: Par) -> Result<(), ModelError> {
    {
        let a = MatMut::from_column_major_slice_mut(g, n, n);
        let req = faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch::<T>(
            n,
            par,
            Default::default(),
        );
        let mut buf = MemBuffer::try_new(req)
            .map_err(|_| ModelError::Model("cannot allocate the Cholesky workspace".into()))?;
        let stack = MemStack::new(&mut buf);
        faer::linalg::cholesky::llt::factor::cholesky_in_place(
            a,
            Default::default(),
            par,
            stack,
            Default::default(),
        )
        .map_err(|e| {
            ModelError::Data(format!(
                "XᵀX + λI is not positive definite to working precision ({e:?}): \
                 raise `reg` or use `dtype` = \"f64\""
            ))
        })?;
    }
    {
        let l = MatRef::from_column_major_slice(g, n, n);
        let linv = MatMut::from_column_major_slice_mut(work, n, n);
        faer::linalg::triangular_inverse::invert_lower_triangular(linv, l, par);
    }
    let linv = MatRef::from_column_major_slice(work, n, n);
    let p = MatMut::from_column_major_slice_mut(g, n, n);
    faer::linalg::matmul::triangular::matmul(
        p,
        BlockStructure::TriangularLower,
        Accum::Replace,
        linv.transpose(),
        BlockStructure::TriangularUpper,
        linv,
        BlockStructure::TriangularLower,
        T::of(1.0),
        par,
    );
    mirror_lower(g, n);
    Ok(())
}

/// `B` (row-major, f32) from the full symmetric `P`: row i is `−P[i, ·] / diag(P)`, 0 on
/// the diagonal. `P`'s column i is its row i.
fn b_from_p<T: Real>(p: &[T], n: usize, out: &mut [f32]) {
    let d: Vec<T> = (0..n).map(|j| p[j * n + j]).collect();
    out.par_chunks_mut(n.max(1))
        .zip(p.par_chunks(n.max(1)))
        .enumerate()
        .for_each(|(i, (b, pi))| {
            for j in 0..n {
                b[j] = (-(pi[j] / d[j])).to_f32();
            }
            b[i] = 0.0;
        });
}

fn fit_in<T: Real>(
    params: &EaseParams,
    x: &CsrMatrix,
    xt: &CsrMatrix,
) -> Result<Vec<f32>, ModelError> {
    let n = xt.n_rows();
    let par = match params.threads {
        1 => Par::Seq,
        t => Par::rayon(t),
    };
    let mut g: Vec<T> = zeroed(n * n, "the Gram matrix")?;
    if n == 0 {
        return Ok(Vec::new());
    }
    gram(x, xt, params.reg, &mut g);
    {
        let mut work: Vec<T> = zeroed(n * n, "the inverse Cholesky factor")?;
        invert_spd(&mut g, &mut work, n, par)?;
    }
    T::into_b(g, n)
}
