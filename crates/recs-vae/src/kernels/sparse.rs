//! Sparse × dense products of a first encoder layer, on the raw CSR arrays of a
//! [`CsrMatrix`]: the same products as [`CsrMatrix::spmm`] / [`CsrMatrix::spmm_t`] (the
//! tests compare them), but compiled for AVX2 + FMA where the CPU has them and register-
//! blocked: the forward product keeps a block of an output row in registers while it runs
//! over the row's stored entries.

use std::ops::Range;

use recs_sparse::CsrMatrix;

use recs_core::multiversion;
use recs_core::simd::Madd;

/// `acc[..W] += v · w[..W]`, the accumulators kept in registers by the caller's loop.
#[inline(always)]
fn row_block<M: Madd, const W: usize>(
    indptr: (usize, usize),
    indices: &[u32],
    values: &[f32],
    w: &[f32],
    h: usize,
    c: usize,
    out: &mut [f32],
) {
    let mut acc = [0.0f32; W];
    for p in indptr.0..indptr.1 {
        let v = values[p];
        let src = &w[indices[p] as usize * h + c..][..W];
        for i in 0..W {
            acc[i] = M::madd(v, src[i], acc[i]);
        }
    }
    out[c..c + W].copy_from_slice(&acc);
}

multiversion! {
    /// Rows `r0..r0 + out.len()/h` of `x · w` into `out`.
    fn spmm_rows<M>(indptr: &[usize], indices: &[u32], values: &[f32], w: &[f32], h: usize, r0: usize, out: &mut [f32]) {
        for (r, o) in out.chunks_exact_mut(h).enumerate() {
            let span = (indptr[r0 + r], indptr[r0 + r + 1]);
            // Column blocks as wide as the registers allow, so each stored entry's weight
            // row is read in as few passes as possible.
            let mut c = 0;
            while c + 96 <= h {
                row_block::<M, 96>(span, indices, values, w, h, c, o);
                c += 96;
            }
            if c + 64 <= h {
                row_block::<M, 64>(span, indices, values, w, h, c, o);
                c += 64;
            }
            if c + 32 <= h {
                row_block::<M, 32>(span, indices, values, w, h, c, o);
                c += 32;
            }
            if c + 16 <= h {
                row_block::<M, 16>(span, indices, values, w, h, c, o);
                c += 16;
            }
            if c + 8 <= h {
                row_block::<M, 8>(span, indices, values, w, h, c, o);
                c += 8;
            }
            if c + 4 <= h {
                row_block::<M, 4>(span, indices, values, w, h, c, o);
                c += 4;
            }
            while c < h {
                row_block::<M, 1>(span, indices, values, w, h, c, o);
                c += 1;
            }
        }
    }
}

/// Rows `rows` of `x · w` into `out` (`rows.len() × h`); `w` is row-major `x.n_cols() × h`.
/// Panics on mismatched lengths (a caller bug).
pub(crate) fn spmm_range(x: &CsrMatrix, rows: Range<usize>, w: &[f32], h: usize, out: &mut [f32]) {
    assert_eq!(w.len(), x.n_cols() * h, "spmm: weight has the wrong length");
    assert_eq!(
        out.len(),
        rows.len() * h,
        "spmm: output has the wrong length"
    );
    assert!(rows.end <= x.n_rows(), "spmm: rows out of range");
    if h == 0 {
        return;
    }
    spmm_rows(x.indptr(), x.indices(), x.values(), w, h, rows.start, out);
}

multiversion! {
    /// Adds to `out` (rows `first..first + out.len()/h` of `xᵀ · d`) the contribution of
    /// every stored entry whose column falls in that range.
    fn spmm_t_rows<M>(indptr: &[usize], indices: &[u32], values: &[f32], d: &[f32], h: usize, first: usize, out: &mut [f32]) {
        let (lo, hi) = (first as u32, (first + out.len() / h) as u32);
        for r in 0..indptr.len() - 1 {
            let src = &d[r * h..(r + 1) * h];
            let cols = &indices[indptr[r]..indptr[r + 1]];
            // Column indices are sorted within a row.
            let p0 = indptr[r] + cols.partition_point(|&c| c < lo);
            let p1 = indptr[r] + cols.partition_point(|&c| c < hi);
            for p in p0..p1 {
                let v = values[p];
                let at = (indices[p] - lo) as usize * h;
                for (y, &s) in out[at..at + h].iter_mut().zip(src) {
                    *y = M::madd(v, s, *y);
                }
            }
        }
    }
}

/// Adds `x[rows]ᵀ · d` to `out`, where `d` is row-major `rows.len() × h` and `out` holds rows
/// `out_first..out_first + out.len()/h` of the `x.n_cols() × h` result: part of a first
/// layer's weight gradient. Different output row ranges can be filled concurrently (split
/// the buffer with `split_at_mut`); each gets the same sums, in the same order, as one call
/// over the whole buffer.
#[cfg_attr(not(feature = "candle"), allow(dead_code))] // used by the candle engine (and tests)
pub(crate) fn spmm_t_add(
    x: &CsrMatrix,
    rows: Range<usize>,
    d: &[f32],
    h: usize,
    out_first: usize,
    out: &mut [f32],
) {
    assert_eq!(
        d.len(),
        rows.len() * h,
        "spmm_t: operand has the wrong length"
    );
    assert!(rows.end <= x.n_rows(), "spmm_t: rows out of range");
    if h == 0 {
        return;
    }
    assert!(
        out.len() % h == 0 && out_first + out.len() / h <= x.n_cols(),
        "spmm_t: output out of range"
    );
    let indptr = &x.indptr()[rows.start..=rows.end];
    spmm_t_rows(indptr, x.indices(), x.values(), d, h, out_first, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use recs_sparse::DuplicatePolicy;

    fn matrix(rows: usize, cols: usize, density: u32) -> CsrMatrix {
        let (mut r, mut c, mut v) = (vec![], vec![], vec![]);
        for i in 0..rows {
            for j in 0..cols {
                let hsh = (i * 7919 + j * 104_729) % 97;
                if (hsh as u32) < density {
                    r.push(i as u32);
                    c.push(j as u32);
                    v.push(1.0 + (hsh % 3) as f32);
                }
            }
        }
        CsrMatrix::from_triplets(rows, cols, &r, &c, &v, DuplicatePolicy::Sum).unwrap()
    }

    #[test]
    fn products_match_recs_sparse() {
        for &(rows, cols, h, dens) in &[
            (3, 5, 1, 50),
            (20, 30, 100, 30),
            (50, 400, 37, 20),
            (9, 7, 130, 90),
        ] {
            let x = matrix(rows, cols, dens);
            let w: Vec<f32> = (0..cols * h).map(|i| (i as f32 * 0.37).sin()).collect();
            let mut ours = vec![f32::NAN; rows * h];
            let mut theirs = vec![0.0; rows * h];
            let cut = rows / 3;
            spmm_range(&x, 0..cut, &w, h, &mut ours[..cut * h]);
            spmm_range(&x, cut..rows, &w, h, &mut ours[cut * h..]);
            x.spmm(&w, h, &mut theirs).unwrap();
            for (a, b) in ours.iter().zip(&theirs) {
                assert!((a - b).abs() < 1e-4, "spmm {a} vs {b}");
            }
            let d: Vec<f32> = (0..rows * h).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut ours = vec![0.0; cols * h];
            let mut theirs = vec![0.0; cols * h];
            // Two row ranges of x, the output split in two row ranges on two threads.
            let half = cols / 2;
            let (left, right) = ours.split_at_mut(half * h);
            for rr in [0..cut, cut..rows] {
                let dd = &d[rr.start * h..rr.end * h];
                let (r1, r2) = (rr.clone(), rr.clone());
                rayon::join(
                    || spmm_t_add(&x, r1, dd, h, 0, left),
                    || spmm_t_add(&x, r2, dd, h, half, right),
                );
            }
            x.spmm_t(&d, h, &mut theirs).unwrap();
            for (a, b) in ours.iter().zip(&theirs) {
                assert!((a - b).abs() < 1e-4, "spmm_t {a} vs {b}");
            }
        }
    }

    #[test]
    fn products_agree_across_simd_paths() {
        // 100 columns of output: register blocks of 64, 32 and 4 wide.
        let (rows, cols, h) = (20, 30, 100);
        let x = matrix(rows, cols, 30);
        let w: Vec<f32> = (0..cols * h).map(|i| (i as f32 * 0.37).sin()).collect();
        let d: Vec<f32> = (0..rows * h).map(|i| (i as f32 * 0.11).cos()).collect();
        let runs = crate::simd_paths::each_level(|_| {
            let mut out = vec![0.0; rows * h];
            spmm_range(&x, 0..rows, &w, h, &mut out);
            let mut t = vec![0.0; cols * h];
            spmm_t_add(&x, 0..rows, &d, h, 0, &mut t);
            out.extend(t);
            out
        });
        crate::simd_paths::assert_paths_agree("spmm", &runs, 1e-6);
    }
}
