//! CPU kernels on plain `f32` buffers: vectorisable `exp`/`ln`/`sigmoid`/`tanh` and a safe
//! wrapper over the `gemm` crate (the matrix kernel candle-core uses on CPU). Hot loops are
//! compiled for AVX-512, AVX2 + FMA and portable code with [`recs_core::multiversion!`],
//! which picks the widest path [`recs_core::simd::level`] allows.
//!
//! The elementwise functions follow the Cephes single-precision algorithms (range reduction
//! plus a short polynomial), written branch-free so that LLVM vectorises them; they are
//! within a few ulp of the libm results over the ranges the models use (tested below).

pub(crate) mod decode;
pub(crate) mod rows;
pub(crate) mod sparse;

use recs_core::multiversion;
use recs_core::simd::Madd;

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// 1.5 · 2²³ + 127: adding it to a float in [-126, 127] leaves round(x) + 127 in the low
/// mantissa bits.
const EXP_MAGIC: f32 = 12_582_912.0 + 127.0;

/// `min(max(x, lo), hi)` as two compare-and-selects (a NaN `x` passes through).
#[inline(always)]
fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
    let x = if x < lo { lo } else { x };
    if x > hi { hi } else { x }
}

/// `e^x`, Cephes `expf` (about 1 ulp), clamped to the finite range of `f32`.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' published coefficients, digit for digit
pub(crate) fn exp<M: Madd>(x: f32) -> f32 {
    let x = clamp(x, -87.3, 88.3);
    let kf = M::madd(x, LOG2E, EXP_MAGIC);
    let n = kf - EXP_MAGIC;
    let pow2 = f32::from_bits(kf.to_bits() << 23);
    let r = M::madd(n, -0.693_359_4, x);
    let r = M::madd(n, 2.121_944_4e-4, r);
    let mut p = 1.987_569_1e-4_f32;
    p = M::madd(p, r, 1.398_199_9e-3);
    p = M::madd(p, r, 8.333_452e-3);
    p = M::madd(p, r, 4.166_579_6e-2);
    p = M::madd(p, r, 1.666_666_5e-1);
    p = M::madd(p, r, 5.000_000_1e-1);
    let y = M::madd(p, r * r, r) + 1.0;
    y * pow2
}

/// Natural logarithm of a positive normal `x`, Cephes `logf` (about 1 ulp).
#[inline(always)]
pub(crate) fn ln<M: Madd>(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 as f32 - 126.0;
    // Mantissa in [0.5, 1).
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let small = m < std::f32::consts::FRAC_1_SQRT_2;
    e -= if small { 1.0 } else { 0.0 };
    let m = if small { m + m - 1.0 } else { m - 1.0 };
    let z = m * m;
    let mut p = 7.037_683_6e-2_f32;
    p = M::madd(p, m, -1.151_461e-1);
    p = M::madd(p, m, 1.167_699_9e-1);
    p = M::madd(p, m, -1.242_014_1e-1);
    p = M::madd(p, m, 1.424_932_3e-1);
    p = M::madd(p, m, -1.666_805_8e-1);
    p = M::madd(p, m, 2.000_071_4e-1);
    p = M::madd(p, m, -2.499_999_4e-1);
    p = M::madd(p, m, 3.333_333e-1);
    let mut y = p * m * z;
    y = M::madd(e, -2.121_944_4e-4, y);
    y = M::madd(-0.5, z, y);
    M::madd(e, 0.693_359_4, m + y)
}

/// The logistic function `1 / (1 + e^-x)`.
#[inline(always)]
pub(crate) fn sigmoid<M: Madd>(x: f32) -> f32 {
    1.0 / (1.0 + exp::<M>(-x))
}

/// Hyperbolic tangent, Cephes `tanhf` (a polynomial below 0.625, `1 - 2/(e^2x + 1)` above).
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' published coefficients, digit for digit
pub(crate) fn tanh<M: Madd>(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let mut p = -5.704_988_7e-3_f32;
    p = M::madd(p, z, 2.063_908_9e-2);
    p = M::madd(p, z, -5.373_971_6e-2);
    p = M::madd(p, z, 1.333_144_2e-1);
    p = M::madd(p, z, -3.333_328_2e-1);
    let small = M::madd(p * z, x, x);
    let big = 1.0 - 2.0 / (exp::<M>(2.0 * a) + 1.0);
    let big = if x < 0.0 { -big } else { big };
    if a < 0.625 { small } else { big }
}

/// `(sin 2πu, cos 2πu)` for `u` in `[0, 1)`, Cephes `sinf`/`cosf` polynomials on the
/// octant around the nearest quarter turn (about 1e-7 absolute error).
#[inline(always)]
fn sincos_turn<M: Madd>(u: f32) -> (f32, f32) {
    let q = (u * 4.0 + 0.5).floor();
    let y = (u - q * 0.25) * std::f32::consts::TAU;
    let z = y * y;
    let mut ps = -1.951_529_6e-4_f32;
    ps = M::madd(ps, z, 8.332_161e-3);
    ps = M::madd(ps, z, -1.666_665_5e-1);
    let sin_y = M::madd(ps * z, y, y);
    let mut pc = 2.443_315_7e-5_f32;
    pc = M::madd(pc, z, -1.388_731_6e-3);
    pc = M::madd(pc, z, 4.166_664_6e-2);
    let cos_y = M::madd(pc * z, z, M::madd(-0.5, z, 1.0));
    let qi = q as i32;
    let (s, c) = if qi & 1 == 1 {
        (cos_y, -sin_y)
    } else {
        (sin_y, cos_y)
    };
    let s = if qi & 2 == 2 { -s } else { s };
    let c = if qi & 2 == 2 { -c } else { c };
    (s, c)
}

/// Values per Box–Muller group: the first half of a group's words give radii, the second
/// half angles; the group's outputs are the cosines then the sines.
pub(crate) const BOX_MULLER_GROUP: usize = 16;

multiversion! {
    /// Box–Muller: turns the random words `bits` into as many standard normal values in
    /// `out`, group by group (`bits.len() == out.len()`, a multiple of
    /// [`BOX_MULLER_GROUP`]). A prefix of whole groups depends only on its own words.
    pub(crate) fn box_muller<M>(bits: &[u32], out: &mut [f32]) {
        const H: usize = BOX_MULLER_GROUP / 2;
        for (g, o) in bits.chunks_exact(BOX_MULLER_GROUP).zip(out.chunks_exact_mut(BOX_MULLER_GROUP)) {
            let (cos_out, sin_out) = o.split_at_mut(H);
            for i in 0..H {
                // u1 in (0, 1], u2 in [0, 1), both on the 2⁻²⁴ grid.
                let u1 = ((g[i] >> 8) + 1) as f32 * (1.0 / 16_777_216.0);
                let u2 = (g[H + i] >> 8) as f32 * (1.0 / 16_777_216.0);
                let r = (-2.0 * ln::<M>(u1)).sqrt();
                let (s, c) = sincos_turn::<M>(u2);
                cos_out[i] = r * c;
                sin_out[i] = r * s;
            }
        }
    }
}

/// `len` standard normal values from `rng`: as many 32-bit words, rounded up to whole
/// [`box_muller`] groups, the surplus values dropped.
pub(crate) fn normals(rng: &mut impl rand::Rng, len: usize) -> Vec<f32> {
    let g = BOX_MULLER_GROUP;
    let mut bits = vec![0u32; len.div_ceil(g) * g];
    rng.fill(&mut bits[..]);
    let mut out = vec![0.0f32; bits.len()];
    box_muller(&bits, &mut out);
    out.truncate(len);
    out
}

/// A read-only strided view of a matrix inside a slice, for [`gemm`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows × cols` matrix. Panics if `data` is too short (a caller bug).
    pub(crate) fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "matrix view exceeds its buffer");
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose (no copy).
    pub(crate) fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Rows `r0..r1` of this view (no copy).
    pub(crate) fn sub_rows(self, r0: usize, r1: usize) -> Self {
        assert!(r0 <= r1 && r1 <= self.rows, "row range outside the matrix");
        // The view's largest index shrinks from (rows−1)·rs + (cols−1)·cs to
        // (r1−1)·rs + (cols−1)·cs, so the shifted slice still holds every element read.
        let start = if r0 == r1 {
            self.data.len()
        } else {
            r0 * self.row_stride
        };
        Self {
            data: &self.data[start..],
            rows: r1 - r0,
            ..self
        }
    }
}

/// `dst = a · b` (or `dst += a · b` when `accumulate`), `dst` row-major `a.rows × b.cols`.
/// `parallel` lets gemm split the work over rayon's threads (worth it only for large
/// products). Panics on mismatched shapes (a caller bug, never user input).
pub(crate) fn gemm(
    dst: &mut [f32],
    a: MatRef<'_>,
    b: MatRef<'_>,
    accumulate: bool,
    parallel: bool,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "gemm: inner dimensions differ");
    assert_eq!(dst.len(), m * n, "gemm: destination has the wrong length");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    // Every element the kernel reads lies inside the views (checked by MatRef::new and the
    // transposes, which keep the same extent).
    let parallelism = if parallel && rayon::current_num_threads() > 1 {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: `dst` holds m·n elements in row-major order (checked); `a` and `b` are views
    // whose largest index ((rows-1)·row_stride + (cols-1)·col_stride) lies inside their
    // slices (MatRef::new checks rows·cols ≤ len for the untransposed layout, and a
    // transpose swaps both the extents and the strides, so the largest index is unchanged);
    // `dst` does not alias `a` or `b` because it is borrowed mutably.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// [`gemm`] computed as `dstᵀ = bᵀ · aᵀ` (the same product and the same destination
/// layout): the gemm kernel tiles its first dimension by 16, so when `a` has few rows (a
/// batch) and `b` many columns, this puts the large dimension where the tiles go.
pub(crate) fn gemm_transposed(dst: &mut [f32], a: MatRef<'_>, b: MatRef<'_>, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "gemm: inner dimensions differ");
    assert_eq!(dst.len(), m * n, "gemm: destination has the wrong length");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    // SAFETY: as for `gemm`: the views' extents are checked by MatRef::new, `dst` holds m·n
    // row-major values, here addressed as the transpose (n × m with row stride 1 and column
    // stride n), and it is borrowed mutably so it aliases neither input.
    unsafe {
        gemm::gemm(
            n,
            m,
            k,
            dst.as_mut_ptr(),
            n as isize,
            1,
            accumulate,
            b.data.as_ptr(),
            b.row_stride as isize,
            b.col_stride as isize,
            a.data.as_ptr(),
            a.row_stride as isize,
            a.col_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recs_core::simd::{NoFma, WithFma};

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_matches_libm() {
        let mut worst = 0;
        for i in -8000..=8000 {
            let x = i as f32 * 0.01;
            worst = worst.max(ulps(exp::<NoFma>(x), x.exp()));
            worst = worst.max(ulps(exp::<WithFma>(x), x.exp()));
        }
        assert!(worst <= 3, "exp is {worst} ulp off");
        assert!(exp::<NoFma>(-200.0) < 1e-37 && exp::<NoFma>(-200.0) >= 0.0);
        assert!(exp::<NoFma>(200.0).is_finite());
    }

    #[test]
    fn ln_matches_libm() {
        let mut worst = 0;
        for i in 1..20000 {
            let x = i as f32 * 1e-4;
            worst = worst.max(ulps(ln::<NoFma>(x), x.ln()));
            worst = worst.max(ulps(ln::<WithFma>(x), x.ln()));
        }
        for x in [1e-10f32, 1e-30, 3.5e-20, 1.0, 2.0, 1e10] {
            worst = worst.max(ulps(ln::<NoFma>(x), x.ln()));
        }
        assert!(worst <= 3, "ln is {worst} ulp off");
    }

    #[test]
    fn sigmoid_and_tanh_match_libm() {
        for i in -3000..=3000 {
            let x = i as f32 * 0.01;
            let s = 1.0 / (1.0 + (-x).exp());
            assert!(
                (sigmoid::<NoFma>(x) - s).abs() <= 5e-7 * s.max(1e-30) + 1e-37,
                "sigmoid({x})"
            );
            let t = x.tanh();
            assert!(
                (tanh::<NoFma>(x) - t).abs() <= 3e-7 * t.abs().max(1e-6),
                "tanh({x}) {} vs {t}",
                tanh::<NoFma>(x)
            );
        }
        assert_eq!(tanh::<NoFma>(0.0), 0.0);
        assert_eq!(sigmoid::<NoFma>(100.0), 1.0);
        assert!(sigmoid::<NoFma>(-100.0) < 1e-37);
    }

    #[test]
    fn sincos_and_box_muller() {
        for i in 0..4096 {
            let u = i as f32 / 4096.0;
            let (s, c) = sincos_turn::<NoFma>(u);
            let a = u as f64 * std::f64::consts::TAU;
            assert!(
                (s as f64 - a.sin()).abs() < 3e-7 && (c as f64 - a.cos()).abs() < 3e-7,
                "u={u}"
            );
        }
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let bits: Vec<u32> = (0..20_000).map(|_| rng.random()).collect();
        let mut out = vec![0.0; bits.len()];
        box_muller(&bits, &mut out);
        let n = out.len() as f64;
        let mean = out.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = out.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!(out.iter().all(|v| v.is_finite()));
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "mean {mean} var {var}"
        );
    }

    #[test]
    fn gemm_matches_naive_with_transposes() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect(); // n × k
        let mut dst = vec![1.0; m * n];
        gemm(
            &mut dst,
            MatRef::new(&a, m, k),
            MatRef::new(&bt, n, k).t(),
            true,
            false,
        );
        for i in 0..m {
            for j in 0..n {
                let want: f32 = 1.0 + (0..k).map(|l| a[i * k + l] * bt[j * k + l]).sum::<f32>();
                assert!((dst[i * n + j] - want).abs() < 1e-5);
            }
        }
        // aᵀ · a' where a' is m × n: (k × m) · (m × n).
        let mut d2 = vec![0.0; k * n];
        gemm(
            &mut d2,
            MatRef::new(&a, m, k).t(),
            MatRef::new(&dst, m, n),
            false,
            true,
        );
        for i in 0..k {
            for j in 0..n {
                let want: f32 = (0..m).map(|l| a[l * k + i] * dst[l * n + j]).sum();
                assert!((d2[i * n + j] - want).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn gemm_transposed_equals_gemm() {
        let (m, k, n) = (7, 33, 50);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.23).cos()).collect();
        for (bv, acc) in [
            (MatRef::new(&b, k, n), false),
            (MatRef::new(&bt, n, k).t(), true),
        ] {
            let mut want = vec![0.5; m * n];
            let mut got = vec![0.5; m * n];
            gemm(&mut want, MatRef::new(&a, m, k), bv, acc, false);
            gemm_transposed(&mut got, MatRef::new(&a, m, k), bv, acc);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-4, "{g} vs {w}");
            }
        }
    }

    #[test]
    fn box_muller_agrees_across_simd_paths() {
        use rand::SeedableRng;
        let runs = crate::simd_paths::each_level(|_| {
            normals(&mut rand_chacha::ChaCha8Rng::seed_from_u64(5), 1000)
        });
        crate::simd_paths::assert_paths_agree("normals", &runs, 1e-6);
    }
}
