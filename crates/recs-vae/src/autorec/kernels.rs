//! AutoRec's vectorised kernels: activations, the dot product, the sparse encoder, a batch
//! chunk's forward and backward pass, and the fused per-column gradient + Adam update.

use recs_core::multiversion;
use recs_core::simd::{self, Level, Madd};
use recs_sparse::CsrMatrix;

use crate::kernels;
use crate::nn::Activation;
use crate::optim::{self, AdamStep, Madds};

pub(super) fn act_code(act: Option<Activation>) -> u8 {
    match act {
        None => 0,
        Some(Activation::Sigmoid) => 1,
        Some(Activation::Tanh) => 2,
        Some(Activation::Elu) => 3,
        Some(Activation::Relu) => 4,
        Some(Activation::Relu6) => 5,
    }
}

#[inline(always)]
pub(super) fn act_apply<M: Madd>(x: f32, act: u8) -> f32 {
    match act {
        0 => x,
        1 => kernels::sigmoid::<M>(x),
        2 => kernels::tanh::<M>(x),
        3 => {
            if x > 0.0 {
                x
            } else {
                kernels::exp::<M>(x) - 1.0
            }
        }
        4 => x.max(0.0),
        _ => x.clamp(0.0, 6.0),
    }
}

/// `x ← act(x)` elementwise, the activation chosen outside the loop so it vectorises.
#[inline(always)]
pub(super) fn act_slice<M: Madd>(x: &mut [f32], act: u8) {
    match act {
        0 => {}
        1 => x.iter_mut().for_each(|v| *v = kernels::sigmoid::<M>(*v)),
        2 => x.iter_mut().for_each(|v| *v = kernels::tanh::<M>(*v)),
        a => x.iter_mut().for_each(|v| *v = act_apply::<M>(*v, a)),
    }
}

/// The activation's derivative, written through its output `y`.
#[inline(always)]
pub(super) fn act_deriv(y: f32, act: u8) -> f32 {
    match act {
        0 => 1.0,
        1 => y * (1.0 - y),
        2 => 1.0 - y * y,
        3 => {
            if y > 0.0 {
                1.0
            } else {
                y + 1.0
            }
        }
        4 => f32::from(y > 0.0),
        _ => f32::from(y > 0.0 && y < 6.0),
    }
}

/// `a · b`: AVX2 + FMA with four 8-lane accumulators when `wide` (which the caller sets to
/// `simd::level() >= Level::Avx2`, once per kernel call rather than per product), else
/// eight lanes of `M::madd`.
#[inline(always)]
pub(super) fn dot8<M: Madd>(a: &[f32], b: &[f32], wide: bool) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if wide {
        // SAFETY: `wide` is only true when `simd::level()` is AVX2 or wider, which it never
        // is unless the CPU supports AVX2 and FMA.
        return unsafe { dot_avx2(a, b) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = wide;
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] = M::madd(x[l], y[l], acc[l]);
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s = M::madd(*x, *y, s);
    }
    s
}

/// Whether [`dot8`] may use its AVX2 + FMA kernel.
#[inline]
pub(super) fn wide_dot() -> bool {
    simd::level() >= Level::Avx2
}

/// [`dot8`] in AVX2 + FMA. Safety: the CPU must support both.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY (all loads): i + 8·k + 8 ≤ n, so every load is inside both slices.
    while i + 32 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            let (x, y) = unsafe {
                (
                    _mm256_loadu_ps(pa.add(i + 8 * k)),
                    _mm256_loadu_ps(pb.add(i + 8 * k)),
                )
            };
            *a = _mm256_fmadd_ps(x, y, *a);
        }
        i += 32;
    }
    while i + 8 <= n {
        let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
        acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
        i += 8;
    }
    let v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    let q = _mm_add_ss(q, _mm_shuffle_ps::<1>(q, q));
    let mut s = _mm_cvtss_f32(q);
    while i < n {
        s = a[i].mul_add(b[i], s);
        i += 1;
    }
    s
}

/// `out[c..c + W] += Σ_t coef(t) · row(t)[c..c + W]`, the accumulators in registers.
#[inline(always)]
pub(super) fn block_sum<'a, M: Madd, const W: usize>(
    n: usize,
    term: &impl Fn(usize) -> (f32, &'a [f32]),
    c: usize,
    out: &mut [f32],
) {
    let mut acc = [0.0f32; W];
    acc.copy_from_slice(&out[c..c + W]);
    for t in 0..n {
        let (a, row) = term(t);
        let src = &row[c..c + W];
        for i in 0..W {
            acc[i] = M::madd(a, src[i], acc[i]);
        }
    }
    out[c..c + W].copy_from_slice(&acc);
}

/// `out += Σ_t coef(t) · row(t)` over `n` terms, in register-sized column blocks so each
/// output value is loaded and stored once.
#[inline(always)]
pub(super) fn weighted_sum<'a, M: Madd>(
    n: usize,
    term: impl Fn(usize) -> (f32, &'a [f32]),
    out: &mut [f32],
) {
    let h = out.len();
    let mut c = 0;
    while c + 64 <= h {
        block_sum::<M, 64>(n, &term, c, out);
        c += 64;
    }
    while c + 8 <= h {
        block_sum::<M, 8>(n, &term, c, out);
        c += 8;
    }
    while c < h {
        block_sum::<M, 1>(n, &term, c, out);
        c += 1;
    }
}

multiversion! {
    /// Hidden codes of `rows` of `x` into `out` (`rows.len() × hidden`).
    pub(super) fn encode_rows<M>(x: &CsrMatrix, rows: &[u32], w: &[f32], b: &[f32], act: u8, out: &mut [f32]) {
        let h = b.len();
        for (&r, o) in rows.iter().zip(out.chunks_exact_mut(h)) {
            o.copy_from_slice(b);
            let row = x.row(r as usize);
            weighted_sum::<M>(row.indices.len(), |t| {
                let c = row.indices[t] as usize;
                (row.values[t], &w[c * h..(c + 1) * h])
            }, o);
            act_slice::<M>(o, act);
        }
    }
}

multiversion! {
    /// Forward and backward pass of a chunk of a batch's rows. For every row: its code
    /// (into `codes`), the output gradient at each observed entry (into `g`, aligned with the
    /// row's entries), and the gradient at the hidden pre-activation (into `d_pre`). Returns
    /// the summed squared error.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn rows_step<M>(
        x: &CsrMatrix, rows: &[u32], enc_w: &[f32], enc_b: &[f32], dec_w: &[f32], dec_b: &[f32],
        acts: (u8, u8), codes: &mut [f32], g: &mut [f32], d_pre: &mut [f32],
    ) -> f64 {
        let h = enc_b.len();
        let (act_h, act_o) = acts;
        let wide = wide_dot();
        let mut sse = 0.0f64;
        let mut at = 0;
        for ((&r, code), dp) in rows.iter().zip(codes.chunks_exact_mut(h)).zip(d_pre.chunks_exact_mut(h)) {
            let row = x.row(r as usize);
            code.copy_from_slice(enc_b);
            weighted_sum::<M>(row.indices.len(), |t| {
                let c = row.indices[t] as usize;
                (row.values[t], &enc_w[c * h..(c + 1) * h])
            }, code);
            act_slice::<M>(code, act_h);
            let n = row.indices.len();
            let ge = &mut g[at..at + n];
            for ((&c, &v), ge) in row.indices.iter().zip(row.values).zip(ge.iter_mut()) {
                let c = c as usize;
                let y = act_apply::<M>(dot8::<M>(code, &dec_w[c * h..(c + 1) * h], wide) + dec_b[c], act_o);
                let e = y - v;
                sse += f64::from(e * e);
                *ge = 2.0 * e * act_deriv(y, act_o);
            }
            dp.fill(0.0);
            let ge = &g[at..at + n];
            weighted_sum::<M>(n, |t| {
                let c = row.indices[t] as usize;
                (ge[t], &dec_w[c * h..(c + 1) * h])
            }, dp);
            at += n;
            match act_h {
                1 => for (d, &y) in dp.iter_mut().zip(code.iter()) { *d *= act_deriv(y, 1) },
                2 => for (d, &y) in dp.iter_mut().zip(code.iter()) { *d *= act_deriv(y, 2) },
                a => for (d, &y) in dp.iter_mut().zip(code.iter()) { *d *= act_deriv(y, a) },
            }
        }
        sse
    }
}

multiversion! {
    /// One Adam update of `p` with gradient `g + λ p` (PyTorch's formulation).
    pub(super) fn adam_row<M>(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], lambda: f32, s: &AdamStep) {
        optim::update::<Madds<M>>(p, m, v, g, lambda, s)
    }
}

multiversion! {
    /// For output column `c` of a batch: the decoder weight and bias gradients and the
    /// encoder weight gradient, reduced over the batch rows that observe `c`, then applied
    /// by Adam. `hits` are `(batch row, entry)` pairs; `rows_vals` the entries' ratings.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn column_update<M>(
        hits: &[(u32, u32)], codes: &[f32], d_pre: &[f32], g: &[f32], vals: &[f32],
        dec_w: &mut [f32], dec_mw: &mut [f32], dec_vw: &mut [f32],
        dec_b: &mut f32, dec_mb: &mut f32, dec_vb: &mut f32,
        enc_w: &mut [f32], enc_mw: &mut [f32], enc_vw: &mut [f32],
        lambda: f32, s: &AdamStep, scratch: &mut [f32],
    ) {
        let h = dec_w.len();
        let (gv, gw) = scratch.split_at_mut(h);
        gv.fill(0.0);
        gw.fill(0.0);
        let gb: f32 = hits.iter().map(|&(_, e)| g[e as usize]).sum();
        weighted_sum::<M>(hits.len(), |t| {
            let (j, e) = (hits[t].0 as usize, hits[t].1 as usize);
            (g[e], &codes[j * h..(j + 1) * h])
        }, gv);
        weighted_sum::<M>(hits.len(), |t| {
            let (j, e) = (hits[t].0 as usize, hits[t].1 as usize);
            (vals[e], &d_pre[j * h..(j + 1) * h])
        }, gw);
        optim::update::<Madds<M>>(dec_w, dec_mw, dec_vw, gv, lambda, s);
        optim::update::<Madds<M>>(enc_w, enc_mw, enc_vw, gw, lambda, s);
        optim::update::<Madds<M>>(
            std::slice::from_mut(dec_b), std::slice::from_mut(dec_mb), std::slice::from_mut(dec_vb),
            std::slice::from_ref(&gb), 0.0, s,
        );
    }
}

multiversion! {
    pub(super) fn output_one<M>(code: &[f32], v: &[f32], b: f32, act: u8) -> f32 {
        act_apply::<M>(dot8::<M>(code, v, wide_dot()) + b, act)
    }
}
