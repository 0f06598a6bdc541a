//! EASE, Steck's "Embarrassingly Shallow Autoencoders for Sparse Data" (WWW 2019): the
//! closed-form item × item model
//!
//! ```text
//! P = (XᵀX + λI)⁻¹,   B = I − P · diagMat(1 / diag(P)),   so diag(B) = 0,
//! ```
//!
//! on the binarized user × item matrix `X` (EASE is defined on implicit feedback; the values
//! given are read as "interacted"). A user's scores are their binarized row times `B`.
//!
//! The Gram matrix is built sparse (each item's column from the users who have it: exact
//! integer counts), then factorised and inverted with faer (`P = L⁻ᵀL⁻¹` from the Cholesky
//! factor `L`: a Cholesky factorisation, a triangular inverse and a triangular product, in
//! place, so fitting holds two dense `items × items` matrices of the working precision at
//! most). `dtype` picks that precision (`f32` default, `f64`); `B` is kept in `f32` either
//! way. Before allocating, the fit refuses data whose dense matrices would exceed
//! `max_memory_gb`.

use rayon::prelude::*;
use recs_core::Capabilities;
use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::schema::{ParamSpec, Scale};
use recs_core::{
    FoldIn, ModelError, ModelParams, ParamError, Progress, Recommender, ScoreError, Scorer,
    TrainData,
};
use recs_sparse::CsrMatrix;
use serde::{Deserialize, Serialize};

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::triangular::BlockStructure;
use faer::{Accum, MatMut, MatRef, Par};

use crate::common::{
    MAX_THREADS, check_len, check_user, fold_in_items, meta_size, score_users_parallel,
    with_threads,
};

/// The floating-point precision of EASE's Gram matrix and its inverse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dtype {
    /// 4-byte floats (default): half the memory and about twice the speed.
    #[default]
    #[serde(rename = "f32", alias = "float32")]
    F32,
    /// 8-byte floats: for badly conditioned Gram matrices (a small `reg` on many items).
    #[serde(rename = "f64", alias = "float64")]
    F64,
}

impl Dtype {
    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }

    /// The name params use.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
        }
    }
}

/// EASE's hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EaseParams {
    /// λ, the L2 weight added to the Gram matrix's diagonal (default 500: Steck's setting
    /// for MovieLens-20M in the paper's code; RecBole's default is 250). Must be > 0.
    pub reg: f64,
    /// Precision of the Gram matrix and its inverse: `"f32"` (default) or `"f64"`.
    pub dtype: Dtype,
    /// The most memory, in GB (10^9 bytes), the fit's dense `items × items` matrices may take
    /// (default 8). The fit holds two of them in `dtype` (items² × 4 × 2 bytes in `f32`,
    /// × 8 × 2 in `f64`) and refuses, before allocating, data that would need more.
    pub max_memory_gb: f64,
    /// Worker threads for the fit (default 0: all of rayon's pool). With 1 the fit is
    /// sequential; the same data and thread count give the same model.
    pub threads: usize,
}

impl Default for EaseParams {
    fn default() -> Self {
        Self {
            reg: 500.0,
            dtype: Dtype::F32,
            max_memory_gb: 8.0,
            threads: 0,
        }
    }
}

impl ModelParams for EaseParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::float_above(
            "reg",
            0.0,
            f64::INFINITY,
            "L2 weight λ added to the Gram matrix's diagonal",
        )
        .tuned(1.0, 5000.0, Scale::Log),
        ParamSpec::choice(
            "dtype",
            &["f32", "f64", "float32", "float64"],
            "precision of the dense solve",
        ),
        ParamSpec::float_above(
            "max_memory_gb",
            0.0,
            f64::INFINITY,
            "largest dense working set allowed, in GB",
        ),
        ParamSpec::int(
            "threads",
            0,
            MAX_THREADS as u64,
            "worker threads (0: all cores)",
        ),
    ];
}

impl EaseParams {
    /// Bytes the fit's dense matrices take for `n_items` items (two `items × items`
    /// matrices in `dtype`).
    pub fn dense_bytes(&self, n_items: usize) -> u128 {
        2 * (n_items as u128) * (n_items as u128) * self.dtype.size() as u128
    }

    /// `Ok` when [`EaseParams::dense_bytes`] fits `max_memory_gb`; otherwise the error names
    /// the parameter, its value and what the data needs.
    pub fn check_memory(&self, n_items: usize) -> Result<(), ParamError> {
        let need = self.dense_bytes(n_items);
        if need as f64 <= self.max_memory_gb * 1e9 {
            return Ok(());
        }
        Err(ParamError::new(
            "max_memory_gb",
            self.max_memory_gb,
            format!(
                ">= {:.2} for EASE on {n_items} items in {}: the fit holds two dense \
                 {n_items} × {n_items} matrices of {}-byte values ({need} bytes); raise \
                 `max_memory_gb` if the machine has the memory, or use fewer items",
                need as f64 / 1e9,
                self.dtype.name(),
                self.dtype.size(),
            ),
        ))
    }
}

/// A fitted EASE model: the users' training items and the dense `B`.
#[derive(Debug, Clone)]
pub struct Ease {
    params: EaseParams,
    user_items: CsrMatrix,
    /// `B`, `items × items`, row-major: row i is what an interaction with item i adds to
    /// every item's score.
    b: Vec<f32>,
}

/// What can go wrong in EASE's fit beyond its parameters.
#[derive(Debug)]
struct EaseError(String);

impl std::fmt::Display for EaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EaseError {}

fn ease_error(msg: String) -> ModelError {
    ModelError::model(EaseError(msg))
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
    v.try_reserve_exact(n)
        .map_err(|e| ease_error(format!("cannot allocate {what} ({n} values): {e}")))?;
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
            .map_err(|_| ease_error("cannot allocate the Cholesky workspace".into()))?;
        let stack = MemStack::new(&mut buf);
        faer::linalg::cholesky::llt::factor::cholesky_in_place(
            a,
            Default::default(),
            par,
            stack,
            Default::default(),
        )
        .map_err(|e| {
            ease_error(format!(
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

impl Ease {
    /// Fits on `x` (users × items; binarized: any stored entry is an interaction) with
    /// `params` (validated, and the memory checked, first).
    pub fn fit(params: &EaseParams, x: &CsrMatrix) -> Result<Self, ModelError> {
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
            return Err(ease_error(
                "B holds a non-finite value: raise `reg` or use `dtype` = \"f64\"".into(),
            ));
        }
        Ok(Self {
            params: params.clone(),
            user_items: x,
            b,
        })
    }

    /// The parameters it was fitted with.
    pub fn params(&self) -> &EaseParams {
        &self.params
    }

    /// `B`, `items × items`, row-major (`diag(B) = 0`).
    pub fn weights(&self) -> &[f32] {
        &self.b
    }

    fn add_rows(&self, items: &[u32], out: &mut [f32]) {
        let n = self.n_items();
        out.fill(0.0);
        for &i in items {
            let row = &self.b[i as usize * n..(i as usize + 1) * n];
            for (o, &v) in out.iter_mut().zip(row) {
                *o += v;
            }
        }
    }
}

impl Scorer for Ease {
    fn n_users(&self) -> usize {
        self.user_items.n_rows()
    }

    fn n_items(&self) -> usize {
        self.user_items.n_cols()
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        check_len(out, self.n_items())?;
        check_user(user, self.n_users())?;
        self.add_rows(self.user_items.row(user as usize).indices, out);
        Ok(())
    }

    fn score_users(&self, users: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        score_users_parallel(self, users, out)
    }
}

impl FoldIn for Ease {
    fn score_items(&self, items: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        check_len(out, self.n_items())?;
        let items = fold_in_items(items, self.n_items())?;
        self.add_rows(&items, out);
        Ok(())
    }
}

const USER_INDPTR: &str = "ease.user_items.indptr";
const USER_INDICES: &str = "ease.user_items.indices";
const WEIGHTS: &str = "ease.b";

impl Recommender for Ease {
    const KIND: &'static str = "ease";
    const CAPABILITIES: Capabilities = Capabilities {
        fold_in: true,
        batch_scoring: true,
        ..Capabilities::NONE
    };
    type Params = EaseParams;

    fn fit(
        params: &EaseParams,
        data: &TrainData<'_>,
        _progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        Ease::fit(params, data.matrix)
    }

    fn params(&self) -> &EaseParams {
        &self.params
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        out.meta_mut().training = serde_json::json!({
            "n_users": self.n_users(),
            "n_items": self.n_items(),
        });
        out.csr_pattern(USER_INDPTR, USER_INDICES, &self.user_items)?;
        let n = self.n_items();
        out.f32(WEIGHTS, &[n, n], &self.b)?;
        Ok(())
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        let params: EaseParams = file.params()?;
        params.validate()?;
        let n_users = meta_size(file, "n_users")?;
        let n_items = meta_size(file, "n_items")?;
        // The shape is compared before the tensor is read, so a size in the metadata that
        // the file does not hold allocates nothing.
        let b = file.f32(WEIGHTS, &[n_items, n_items])?;
        let user_items = file
            .csr(USER_INDPTR, USER_INDICES, n_users, n_items)?
            .ok_or_else(|| file.error("the users' items are missing"))?;
        if let Some(i) = (0..n_items).find(|&i| b[i * n_items + i] != 0.0) {
            return Err(file
                .error(format!("B's diagonal is not 0 at item {i}"))
                .into());
        }
        Ok(Self {
            params,
            user_items,
            b,
        })
    }

    fn fold_in(&self) -> Option<&dyn FoldIn> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recs_sparse::DuplicatePolicy;

    fn sample(n_users: usize, n_items: usize, seed: u64) -> CsrMatrix {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let (mut u, mut i, mut v) = (Vec::new(), Vec::new(), Vec::new());
        for a in 0..n_users as u32 {
            for b in 0..n_items as u32 {
                if b != 3 && next() % 3 == 0 {
                    u.push(a);
                    i.push(b);
                    v.push((1 + next() % 5) as f32);
                }
            }
        }
        CsrMatrix::from_triplets(n_users, n_items, &u, &i, &v, DuplicatePolicy::KeepLast).unwrap()
    }

    /// Gauss–Jordan inverse in f64 (the dense reference).
    fn inverse(mut a: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
        let n = a.len();
        let mut inv: Vec<Vec<f64>> = (0..n)
            .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
            .collect();
        for c in 0..n {
            let p = (c..n)
                .max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs()))
                .unwrap();
            a.swap(c, p);
            inv.swap(c, p);
            let d = a[c][c];
            for j in 0..n {
                a[c][j] /= d;
                inv[c][j] /= d;
            }
            for r in 0..n {
                if r != c {
                    let f = a[r][c];
                    for j in 0..n {
                        a[r][j] -= f * a[c][j];
                        inv[r][j] -= f * inv[c][j];
                    }
                }
            }
        }
        inv
    }

    #[allow(clippy::needless_range_loop)] // a dense reference, written as the formula reads
    fn reference_b(x: &CsrMatrix, reg: f64) -> Vec<Vec<f64>> {
        let (nu, ni) = x.shape();
        let mut g = vec![vec![0.0; ni]; ni];
        for i in 0..ni {
            for j in 0..ni {
                g[i][j] = (0..nu)
                    .filter(|&u| x.contains(u, i) && x.contains(u, j))
                    .count() as f64;
            }
            g[i][i] += reg;
        }
        let p = inverse(g);
        (0..ni)
            .map(|i| {
                (0..ni)
                    .map(|j| if i == j { 0.0 } else { -p[i][j] / p[j][j] })
                    .collect()
            })
            .collect()
    }

    fn params(reg: f64, dtype: Dtype, threads: usize) -> EaseParams {
        EaseParams {
            reg,
            dtype,
            threads,
            ..EaseParams::default()
        }
    }

    #[test]
    fn b_matches_a_dense_reference_inverse_with_a_zero_diagonal() {
        // 70 items: more than one of faer's blocks, so the blocked paths run.
        let x = sample(120, 70, 9);
        for (reg, dtype, tol) in [
            (5.0, Dtype::F64, 1e-6),
            (5.0, Dtype::F32, 2e-4),
            (500.0, Dtype::F32, 1e-5),
        ] {
            for threads in [1, 2] {
                let m = Ease::fit(&params(reg, dtype, threads), &x).unwrap();
                let want = reference_b(&x, reg);
                let b = m.weights();
                for i in 0..70 {
                    assert_eq!(b[i * 70 + i], 0.0, "diag");
                    for j in 0..70 {
                        let r = want[i][j];
                        assert!(
                            (b[i * 70 + j] as f64 - r).abs() <= tol * (1.0 + r.abs()),
                            "{dtype:?} λ {reg} ({i}, {j}): {} vs {r}",
                            b[i * 70 + j]
                        );
                    }
                }
                // Item 3 has no interaction: its row and column are 0.
                assert!((0..70).all(|j| b[3 * 70 + j] == 0.0 && b[j * 70 + 3] == 0.0));
            }
        }
    }

    #[test]
    fn same_data_and_threads_give_the_same_b() {
        let x = sample(80, 150, 4);
        for t in [1, 2] {
            let a = Ease::fit(&params(50.0, Dtype::F32, t), &x).unwrap();
            let b = Ease::fit(&params(50.0, Dtype::F32, t), &x).unwrap();
            assert_eq!(a.weights(), b.weights());
        }
    }

    #[test]
    fn scores_are_the_binary_row_times_b_and_fold_in_agrees() {
        let x = sample(30, 12, 2);
        let m = Ease::fit(&params(10.0, Dtype::F64, 1), &x).unwrap();
        let b = m.weights();
        for u in 0..30u32 {
            let mut out = vec![0.0; 12];
            m.score_user(u, &mut out).unwrap();
            let items = x.row(u as usize).indices;
            for j in 0..12 {
                let want: f32 = items.iter().map(|&i| b[i as usize * 12 + j]).sum();
                assert!((out[j] - want).abs() < 1e-6);
            }
            let mut fold = vec![0.0; 12];
            let mut shuffled = items.to_vec();
            shuffled.reverse();
            m.score_items(&shuffled, &mut fold).unwrap();
            assert_eq!(fold, out);
        }
        assert!(m.score_items(&[12], &mut [0.0; 12]).is_err());
        assert!(m.score_user(30, &mut [0.0; 12]).is_err());
    }

    #[test]
    fn too_many_items_for_the_memory_limit_are_refused_before_allocating() {
        let p = EaseParams {
            max_memory_gb: 1.0,
            ..EaseParams::default()
        };
        // 20,000 items in f32: 2 × 20k² × 4 = 3.2 GB.
        let x = CsrMatrix::zeros(3, 20_000).unwrap();
        let e = Ease::fit(&p, &x).unwrap_err().to_string();
        assert!(
            e.contains("max_memory_gb") && e.contains("= 1") && e.contains(">= 3.20"),
            "{e}"
        );
        let f64p = EaseParams {
            dtype: Dtype::F64,
            max_memory_gb: 4.0,
            ..EaseParams::default()
        };
        assert!(f64p.check_memory(20_000).is_err());
        assert!(p.check_memory(10_000).is_ok());
    }

    #[test]
    fn params_name_the_bad_value() {
        let bad = |p: EaseParams| p.validate().unwrap_err().param;
        assert_eq!(bad(params(0.0, Dtype::F32, 0)), "reg");
        assert_eq!(
            bad(EaseParams {
                max_memory_gb: -1.0,
                ..EaseParams::default()
            }),
            "max_memory_gb"
        );
        assert_eq!(bad(params(1.0, Dtype::F32, 2000)), "threads");
        let p: EaseParams = serde_json::from_str(r#"{"dtype": "float64"}"#).unwrap();
        assert_eq!(p.dtype, Dtype::F64);
        assert_eq!(serde_json::to_value(&p).unwrap()["dtype"], "f64");
        assert!(serde_json::from_str::<EaseParams>(r#"{"dtype": "f16"}"#).is_err());
        assert!(serde_json::from_str::<EaseParams>(r#"{"lambda": 3}"#).is_err());
    }
}
