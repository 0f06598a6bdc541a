//! The two products of a bilinear decoder, for a block of at most [`MR`] rows at a time:
//! logits `z = s · Tᵀ` and the gradient `ds = dz · T`, where `T` (`n × k`, the other side's
//! factors) stays fixed for a whole pass and is packed once ([`PackedFactors`]).
//!
//! Both products are register-tiled AVX2 + FMA microkernels (a row block × 16 columns, the
//! accumulators held in 12 ymm registers), with a portable version for other CPUs; which one
//! runs follows [`recs_core::simd::level`] (the AVX-512 level runs the AVX2 kernels, so the
//! two vector levels give the same numbers). Between
//! them the caller turns `z` into `dz` in place while the block is still in L1/L2: unlike a
//! general gemm, nothing is repacked per call and the `rows × n` logits never leave cache.

/// Rows per microkernel block.
pub(crate) const MR: usize = 6;
/// Column width of a logits tile.
const NR: usize = 16;

/// `T` (`n × k`) in the two layouts the kernels read: `Tᵀ` as `k × np` (`np` = `n` rounded
/// up to 16, zero padded) and `T` as `n × kp` (`kp` = `k` rounded up to 8, zero padded).
#[derive(Debug, Clone)]
pub(crate) struct PackedFactors {
    pub n: usize,
    pub k: usize,
    pub np: usize,
    pub kp: usize,
    tt: Vec<f32>,
    tk: Vec<f32>,
}

impl PackedFactors {
    /// Packs row-major `t` (`n × k`).
    pub(crate) fn new(t: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(t.len(), n * k, "factor matrix has the wrong length");
        let np = n.div_ceil(NR) * NR;
        let kp = k.div_ceil(8) * 8;
        let mut tt = vec![0.0; k * np];
        let mut tk = vec![0.0; n * kp];
        for (j, row) in t.chunks_exact(k.max(1)).enumerate().take(n) {
            for (l, &v) in row.iter().enumerate() {
                tt[l * np + j] = v;
            }
            tk[j * kp..j * kp + k].copy_from_slice(row);
        }
        Self {
            n,
            k,
            np,
            kp,
            tt,
            tk,
        }
    }

    /// Packs `T` (`n × k`) given as its transpose `tt` (row-major `k × n`).
    pub(crate) fn from_transpose(tt: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(tt.len(), n * k, "factor matrix has the wrong length");
        let np = n.div_ceil(NR) * NR;
        let kp = k.div_ceil(8) * 8;
        let mut packed_tt = vec![0.0; k * np];
        for (l, row) in tt.chunks_exact(n.max(1)).enumerate().take(k) {
            packed_tt[l * np..l * np + n].copy_from_slice(row);
        }
        let mut tk = vec![0.0; n * kp];
        for (l, row) in tt.chunks_exact(n.max(1)).enumerate().take(k) {
            for (j, &v) in row.iter().enumerate() {
                tk[j * kp + l] = v;
            }
        }
        Self {
            n,
            k,
            np,
            kp,
            tt: packed_tt,
            tk,
        }
    }

    /// `z[r, 0..np] = s[r, ..] · Tᵀ` for the `rows ≤ MR` rows of `s` (`rows × k`); `z` is
    /// `rows × np` (the padding columns come out 0).
    pub(crate) fn logits(&self, s: &[f32], rows: usize, z: &mut [f32]) {
        assert!(rows <= MR && s.len() >= rows * self.k && z.len() >= rows * self.np);
        #[cfg(target_arch = "x86_64")]
        if recs_core::simd::level() >= recs_core::simd::Level::Avx2 {
            // SAFETY: AVX2 and FMA are available (`level()` never exceeds what the CPU
            // supports); the slices have the lengths
            // asserted above, which are all the kernel reads or writes.
            unsafe {
                match rows {
                    1 => avx::logits::<1>(s, self.k, &self.tt, self.np, z),
                    2 => avx::logits::<2>(s, self.k, &self.tt, self.np, z),
                    3 => avx::logits::<3>(s, self.k, &self.tt, self.np, z),
                    4 => avx::logits::<4>(s, self.k, &self.tt, self.np, z),
                    5 => avx::logits::<5>(s, self.k, &self.tt, self.np, z),
                    6 => avx::logits::<6>(s, self.k, &self.tt, self.np, z),
                    _ => {}
                }
            }
            return;
        }
        portable_logits(s, rows, self.k, &self.tt, self.np, z);
    }

    /// `ds[r, ..] = dz[r, 0..n] · T` for `rows ≤ MR` rows; `dz` is `rows × np` with zeros
    /// (or at least finite values) in the padding columns `n..np`, `ds` `rows × k`.
    pub(crate) fn grad(&self, dz: &[f32], rows: usize, ds: &mut [f32]) {
        assert!(rows <= MR && dz.len() >= rows * self.np && ds.len() >= rows * self.k);
        #[cfg(target_arch = "x86_64")]
        if recs_core::simd::level() >= recs_core::simd::Level::Avx2 {
            // SAFETY: as in `logits`.
            unsafe {
                match rows {
                    1 => {
                        avx::grad::<1>(dz, self.np, self.n, &self.tk, self.kp, &self.tt, self.k, ds)
                    }
                    2 => {
                        avx::grad::<2>(dz, self.np, self.n, &self.tk, self.kp, &self.tt, self.k, ds)
                    }
                    3 => {
                        avx::grad::<3>(dz, self.np, self.n, &self.tk, self.kp, &self.tt, self.k, ds)
                    }
                    4 => {
                        avx::grad::<4>(dz, self.np, self.n, &self.tk, self.kp, &self.tt, self.k, ds)
                    }
                    5 => {
                        avx::grad::<5>(dz, self.np, self.n, &self.tk, self.kp, &self.tt, self.k, ds)
                    }
                    6 => {
                        avx::grad::<6>(dz, self.np, self.n, &self.tk, self.kp, &self.tt, self.k, ds)
                    }
                    _ => {}
                }
            }
            return;
        }
        portable_grad(dz, rows, self.np, self.n, &self.tk, self.kp, self.k, ds);
    }
}

fn portable_logits(s: &[f32], rows: usize, k: usize, tt: &[f32], np: usize, z: &mut [f32]) {
    for r in 0..rows {
        let zr = &mut z[r * np..(r + 1) * np];
        zr.fill(0.0);
        for l in 0..k {
            let a = s[r * k + l];
            for (zv, &t) in zr.iter_mut().zip(&tt[l * np..(l + 1) * np]) {
                *zv += a * t;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn portable_grad(
    dz: &[f32],
    rows: usize,
    np: usize,
    n: usize,
    tk: &[f32],
    kp: usize,
    k: usize,
    ds: &mut [f32],
) {
    for r in 0..rows {
        let mut acc = vec![0.0f32; kp];
        for j in 0..n {
            let d = dz[r * np + j];
            for (a, &t) in acc.iter_mut().zip(&tk[j * kp..(j + 1) * kp]) {
                *a += d * t;
            }
        }
        ds[r * k..(r + 1) * k].copy_from_slice(&acc[..k]);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;

    /// See [`super::PackedFactors::logits`]. Safety: AVX2 + FMA available;
    /// `s.len() ≥ R·k`, `tt.len() ≥ k·np`, `z.len() ≥ R·np`, `np % 16 == 0`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn logits<const R: usize>(
        s: &[f32],
        k: usize,
        tt: &[f32],
        np: usize,
        z: &mut [f32],
    ) {
        debug_assert!(s.len() >= R * k && tt.len() >= k * np && z.len() >= R * np && np % 16 == 0);
        let (sp, tp, zp) = (s.as_ptr(), tt.as_ptr(), z.as_mut_ptr());
        let mut j = 0;
        while j < np {
            let mut acc = [[_mm256_setzero_ps(); 2]; R];
            for l in 0..k {
                // SAFETY: l < k and j + 16 ≤ np, so l·np + j + 16 ≤ k·np ≤ tt.len();
                // r < R so r·k + l < R·k ≤ s.len().
                unsafe {
                    let t0 = _mm256_loadu_ps(tp.add(l * np + j));
                    let t1 = _mm256_loadu_ps(tp.add(l * np + j + 8));
                    for (r, a) in acc.iter_mut().enumerate() {
                        let sv = _mm256_broadcast_ss(&*sp.add(r * k + l));
                        a[0] = _mm256_fmadd_ps(sv, t0, a[0]);
                        a[1] = _mm256_fmadd_ps(sv, t1, a[1]);
                    }
                }
            }
            for (r, a) in acc.iter().enumerate() {
                // SAFETY: r·np + j + 16 ≤ R·np ≤ z.len().
                unsafe {
                    _mm256_storeu_ps(zp.add(r * np + j), a[0]);
                    _mm256_storeu_ps(zp.add(r * np + j + 8), a[1]);
                }
            }
            j += 16;
        }
    }

    /// See [`super::PackedFactors::grad`]. Columns in blocks of 16 (broadcast `dz`, load
    /// rows of `T`); the last `k mod 16` columns as dot products along `j` with rows of
    /// `Tᵀ`. Safety: AVX2 + FMA available; `dz.len() ≥ R·np`, `n ≤ np`, `np % 8 == 0`,
    /// `tk.len() ≥ n·kp`, `kp ≥ k`, `tt.len() ≥ k·np`, `ds.len() ≥ R·k`; the padding
    /// columns `n..np` of `dz` hold finite values and those of `tt` zeros.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn grad<const R: usize>(
        dz: &[f32],
        np: usize,
        n: usize,
        tk: &[f32],
        kp: usize,
        tt: &[f32],
        k: usize,
        ds: &mut [f32],
    ) {
        debug_assert!(dz.len() >= R * np && n <= np && np % 8 == 0 && tk.len() >= n * kp);
        debug_assert!(k <= kp && tt.len() >= k * np && ds.len() >= R * k);
        let (dp, tp) = (dz.as_ptr(), tk.as_ptr());
        let wide = k / 16 * 16;
        let mut c = 0;
        while c < wide {
            let mut acc = [[_mm256_setzero_ps(); 2]; R];
            for j in 0..n {
                // SAFETY: j < n and c + 16 ≤ k ≤ kp, so j·kp + c + 16 ≤ n·kp ≤ tk.len();
                // r·np + j < R·np ≤ dz.len().
                unsafe {
                    let t0 = _mm256_loadu_ps(tp.add(j * kp + c));
                    let t1 = _mm256_loadu_ps(tp.add(j * kp + c + 8));
                    for (r, a) in acc.iter_mut().enumerate() {
                        let d = _mm256_broadcast_ss(&*dp.add(r * np + j));
                        a[0] = _mm256_fmadd_ps(d, t0, a[0]);
                        a[1] = _mm256_fmadd_ps(d, t1, a[1]);
                    }
                }
            }
            for (r, a) in acc.iter().enumerate() {
                // SAFETY: r·k + c + 16 ≤ ·k + k ≤ ds.len().
                unsafe {
                    _mm256_storeu_ps(ds.as_mut_ptr().add(r * k + c), a[0]);
                    _mm256_storeu_ps(ds.as_mut_ptr().add(r * k + c + 8), a[1]);
                }
            }
            c += 16;
        }
        // The remaining columns, two at a time: ds[r, l] = Σ_j dz[r, j] · Tᵀ[l, j] over the
        // padded width np (Tᵀ's padding is zero).
        let ttp = tt.as_ptr();
        while c < k {
            let pair = c + 1 < k;
            let l1 = if pair { c + 1 } else { c };
            let mut acc = [[_mm256_setzero_ps(); 2]; R];
            let mut j = 0;
            while j < np {
                // SAFETY: j + 8 ≤ np, l1 < k, so l·np + j + 8 ≤ k·np ≤ tt.len() and
                // r·np + j + 8 ≤ R·np ≤ dz.len().
                unsafe {
                    let t0 = _mm256_loadu_ps(ttp.add(c * np + j));
                    let t1 = _mm256_loadu_ps(ttp.add(l1 * np + j));
                    for (r, a) in acc.iter_mut().enumerate() {
                        let d = _mm256_loadu_ps(dp.add(r * np + j));
                        a[0] = _mm256_fmadd_ps(d, t0, a[0]);
                        a[1] = _mm256_fmadd_ps(d, t1, a[1]);
                    }
                }
                j += 8;
            }
            for (r, a) in acc.iter().enumerate() {
                ds[r * k + c] = hsum(a[0]);
                if pair {
                    ds[r * k + c + 1] = hsum(a[1]);
                }
            }
            c += if pair { 2 } else { 1 };
        }
    }

    /// The sum of a vector's eight lanes.
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize, salt: f32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as f32 + salt) * 0.731).sin())
            .collect()
    }

    #[test]
    fn logits_and_grad_match_naive_products() {
        for &(n, k) in &[(1, 1), (17, 3), (40, 50), (33, 9), (16, 16), (5, 24)] {
            let t = data(n * k, 0.5);
            let p = PackedFactors::new(&t, n, k);
            // The same packing from the transpose.
            let tt: Vec<f32> = (0..k * n).map(|i| t[(i % n) * k + i / n]).collect();
            let q = PackedFactors::from_transpose(&tt, n, k);
            assert_eq!((&q.tt, &q.tk), (&p.tt, &p.tk));
            for rows in 1..=MR {
                let s = data(rows * k, 1.5);
                let mut z = vec![f32::NAN; rows * p.np];
                p.logits(&s, rows, &mut z);
                let mut zp = vec![f32::NAN; rows * p.np];
                portable_logits(&s, rows, k, &p.tt, p.np, &mut zp);
                for r in 0..rows {
                    for j in 0..p.np {
                        let want: f32 = if j < n {
                            (0..k).map(|l| s[r * k + l] * t[j * k + l]).sum()
                        } else {
                            0.0
                        };
                        assert!(
                            (z[r * p.np + j] - want).abs() < 1e-4,
                            "z n={n} k={k} r={r} j={j}"
                        );
                        assert!((zp[r * p.np + j] - want).abs() < 1e-4);
                    }
                }
                let dz = data(rows * p.np, 2.5);
                let mut ds = vec![f32::NAN; rows * k];
                p.grad(&dz, rows, &mut ds);
                let mut dsp = vec![f32::NAN; rows * k];
                portable_grad(&dz, rows, p.np, n, &p.tk, p.kp, k, &mut dsp);
                for r in 0..rows {
                    for l in 0..k {
                        let want: f32 = (0..n).map(|j| dz[r * p.np + j] * t[j * k + l]).sum();
                        assert!(
                            (ds[r * k + l] - want).abs() < 1e-3,
                            "ds n={n} k={k} r={r} l={l}"
                        );
                        assert!((dsp[r * k + l] - want).abs() < 1e-3);
                    }
                }
            }
        }
    }

    #[test]
    fn microkernels_agree_across_simd_paths() {
        let (n, k) = (45, 21);
        let p = PackedFactors::new(&data(n * k, 0.5), n, k);
        let runs = crate::simd_paths::each_level(|_| {
            let mut out = Vec::new();
            for rows in 1..=MR {
                let mut z = vec![0.0; rows * p.np];
                p.logits(&data(rows * k, 1.5), rows, &mut z);
                let mut ds = vec![0.0; rows * k];
                p.grad(&data(rows * p.np, 2.5), rows, &mut ds);
                out.extend(z);
                out.extend(ds);
            }
            out
        });
        crate::simd_paths::assert_paths_agree("decoder products", &runs, 1e-6);
    }
}
