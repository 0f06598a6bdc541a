//! AutoRec (Sedhain, Menon, Sanner & Xie, "AutoRec: Autoencoders Meet Collaborative
//! Filtering", WWW 2015) for rating prediction.
//!
//! I-AutoRec (the default, `item_based: true`) reconstructs each item's vector of user
//! ratings; U-AutoRec each user's vector of item ratings. With `r` a row of the rating matrix
//! (observed entries only), `h = f(W r + b)` and `r̂ = g(V h + c)`; the loss is the squared
//! error over the *observed* entries plus `λ/2 (‖W‖² + ‖V‖²)`, minimised by Adam over
//! seeded shuffled batches of rows, exactly as the PyTorch reference
//! (`autorec_torch.py`) writes it.
//!
//! Because the loss only looks at observed entries, training never needs the dense output:
//! the prediction at an observed `(row, col)` is one dot product `V[col]·h + c[col]`, the
//! output gradient is non-zero only there, and so every product (encoder, decoder and their
//! gradients) costs `O(nnz × hidden)` per epoch instead of `O(rows × cols × hidden)`. The
//! result is the same function and the same gradients as the dense masked computation (a
//! test holds them to it). Weights are stored one row per rating-matrix column
//! (`cols × hidden`), so each of those products is a contiguous vector operation, and the
//! gradient of each column's weights is reduced and applied (fused with Adam) by one task:
//! no dense gradient buffer, and results independent of the thread count.

use std::path::Path;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use recs_metrics::{RatingPredictor, ScoreError, Scorer};
use recs_sparse::{CsrMatrix, DuplicatePolicy};
use serde::{Deserialize, Serialize};

use crate::error::{Result, VaeError};
use crate::kernels;
use recs_core::multiversion;
use recs_core::simd::{self, Level, Madd};
use crate::nn::{Activation, HostLinear};
use crate::optim::{self, Adam, AdamStep, Madds};
use crate::persist::{self, ModelMeta, NamedTensor};
use crate::team;
use crate::train::{EpochReport, Progress};

/// The model kind written in model files.
pub const MODEL_KIND: &str = "autorec";

/// What a prediction falls back to when its user or item has no training rating.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unseen {
    /// A constant (the paper and the PyTorch reference use 3).
    Constant(f32),
    /// The mean of the training ratings.
    GlobalMean,
}

/// Hyper-parameters of [`AutoRec`]. The defaults are the paper's I-AutoRec (500 sigmoid
/// hidden units, identity output) with the PyTorch reference's optimiser settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoRecParams {
    /// Hidden units (default 500; 1..=65536).
    pub hidden: usize,
    /// I-AutoRec (`true`, default): rows are items, each a vector of user ratings;
    /// U-AutoRec (`false`): rows are users.
    pub item_based: bool,
    /// Hidden activation (default sigmoid).
    pub hidden_activation: Activation,
    /// Output activation; `None` (default) is the identity.
    pub output_activation: Option<Activation>,
    /// L2 weight λ of `λ/2 (‖W‖² + ‖V‖²)`, added to every batch's summed squared error as
    /// the reference does (default 100; ≥ 0, finite).
    pub lambda: f32,
    /// Passes over the rows (default 200; 1..=100000).
    pub n_epochs: usize,
    /// Rows per batch (default 256; ≥ 1).
    pub batch_size: usize,
    /// Adam's learning rate (default 0.001; > 0 and ≤ 1).
    pub learning_rate: f64,
    /// Fraction of the training ratings held out (seeded) to measure validation RMSE after
    /// every epoch; the weights of the best epoch are kept (default 0: no validation, the
    /// last epoch's weights; 0 ≤ f ≤ 0.5).
    pub validation_fraction: f64,
    /// With validation: stop after this many epochs without a better validation RMSE
    /// (default `None`: run every epoch, keep the best).
    pub patience: Option<usize>,
    /// Prediction for a user or item without training ratings (default `Constant(3.0)`).
    pub unseen: Unseen,
    /// Predictions are clipped to this range (default `None`: the training ratings' min and
    /// max).
    pub rating_range: Option<(f32, f32)>,
    /// Seed of the initialisation, the validation draw and the shuffles (default 42).
    pub seed: u64,
    /// Threads (default 0: rayon's pool size). Results do not depend on it.
    pub n_threads: usize,
}

impl Default for AutoRecParams {
    fn default() -> Self {
        Self {
            hidden: 500,
            item_based: true,
            hidden_activation: Activation::Sigmoid,
            output_activation: None,
            lambda: 100.0,
            n_epochs: 200,
            batch_size: 256,
            learning_rate: 1e-3,
            validation_fraction: 0.0,
            patience: None,
            unseen: Unseen::Constant(3.0),
            rating_range: None,
            seed: 42,
            n_threads: 0,
        }
    }
}

impl AutoRecParams {
    /// Checks every parameter against its documented range.
    pub fn validate(&self) -> Result<()> {
        if !(1..=65536).contains(&self.hidden) {
            return Err(VaeError::invalid("hidden", self.hidden, "in 1..=65536"));
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(VaeError::invalid("lambda", self.lambda, "finite and ≥ 0"));
        }
        if !(1..=100_000).contains(&self.n_epochs) {
            return Err(VaeError::invalid(
                "n_epochs",
                self.n_epochs,
                "in 1..=100000",
            ));
        }
        if self.batch_size == 0 {
            return Err(VaeError::invalid("batch_size", 0, "at least 1"));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return Err(VaeError::invalid(
                "learning_rate",
                self.learning_rate,
                "in (0, 1]",
            ));
        }
        if !(0.0..=0.5).contains(&self.validation_fraction) {
            return Err(VaeError::invalid(
                "validation_fraction",
                self.validation_fraction,
                "in [0, 0.5]",
            ));
        }
        if self.patience == Some(0) {
            return Err(VaeError::invalid("patience", 0, "at least 1 (or None)"));
        }
        if let Unseen::Constant(v) = self.unseen {
            if !v.is_finite() {
                return Err(VaeError::invalid("unseen", v, "a finite constant"));
            }
        }
        if let Some((lo, hi)) = self.rating_range {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(VaeError::invalid(
                    "rating_range",
                    format!("({lo}, {hi})"),
                    "finite, low ≤ high",
                ));
            }
        }
        if self.n_threads > 1024 {
            return Err(VaeError::invalid(
                "n_threads",
                self.n_threads,
                "in 0..=1024",
            ));
        }
        Ok(())
    }
}

/// A trained AutoRec. See the module documentation.
#[derive(Debug, Clone)]
pub struct AutoRec {
    params: AutoRecParams,
    n_users: usize,
    n_items: usize,
    /// Encoder weights, `cols × hidden` (row `c` multiplies input column `c`).
    enc_w: Vec<f32>,
    /// Encoder bias, `hidden`.
    enc_b: Vec<f32>,
    /// Decoder weights, `cols × hidden` (row `c` produces output column `c`).
    dec_w: Vec<f32>,
    /// Decoder bias, `cols`.
    dec_b: Vec<f32>,
    /// The hidden code of every row from its training ratings, `rows × hidden`.
    codes: Vec<f32>,
    /// 1 where the row / column has a training rating, else 0.
    row_seen: Vec<f32>,
    col_seen: Vec<f32>,
    global_mean: f32,
    clip: (f32, f32),
    epochs_trained: usize,
    best_epoch: usize,
    extra: serde_json::Value,
}

fn act_code(act: Option<Activation>) -> u8 {
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
fn act_apply<M: Madd>(x: f32, act: u8) -> f32 {
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
fn act_slice<M: Madd>(x: &mut [f32], act: u8) {
    match act {
        0 => {}
        1 => x.iter_mut().for_each(|v| *v = kernels::sigmoid::<M>(*v)),
        2 => x.iter_mut().for_each(|v| *v = kernels::tanh::<M>(*v)),
        a => x.iter_mut().for_each(|v| *v = act_apply::<M>(*v, a)),
    }
}

/// The activation's derivative, written through its output `y`.
#[inline(always)]
fn act_deriv(y: f32, act: u8) -> f32 {
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
fn dot8<M: Madd>(a: &[f32], b: &[f32], wide: bool) -> f32 {
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
fn wide_dot() -> bool {
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
fn block_sum<'a, M: Madd, const W: usize>(
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
fn weighted_sum<'a, M: Madd>(n: usize, term: impl Fn(usize) -> (f32, &'a [f32]), out: &mut [f32]) {
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
    fn encode_rows<M>(x: &CsrMatrix, rows: &[u32], w: &[f32], b: &[f32], act: u8, out: &mut [f32]) {
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
    fn rows_step<M>(
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
    fn adam_row<M>(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], lambda: f32, s: &AdamStep) {
        optim::update::<Madds<M>>(p, m, v, g, lambda, s)
    }
}

multiversion! {
    /// For output column `c` of a batch: the decoder weight and bias gradients and the
    /// encoder weight gradient, reduced over the batch rows that observe `c`, then applied
    /// by Adam. `hits` are `(batch row, entry)` pairs; `rows_vals` the entries' ratings.
    #[allow(clippy::too_many_arguments)]
    fn column_update<M>(
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

/// Rows of one batch and the buffers of its step.
struct BatchBuffers {
    codes: Vec<f32>,
    d_pre: Vec<f32>,
    g: Vec<f32>,
    vals: Vec<f32>,
    /// Entry offset of each batch row in `g` / `vals`.
    offsets: Vec<usize>,
    /// Per column: start of its hits in `hits` (CSC of the batch).
    col_start: Vec<usize>,
    hits: Vec<(u32, u32)>,
}

/// Rows per task of the row phase and columns per task of the column phase.
const ROW_CHUNK: usize = 8;
const COL_CHUNK: usize = 16;

/// The trainable state: parameters and Adam moments.
#[derive(Clone)]
struct Weights {
    enc_w: Vec<f32>,
    enc_b: Vec<f32>,
    dec_w: Vec<f32>,
    dec_b: Vec<f32>,
}

struct Moments {
    enc_w: (Vec<f32>, Vec<f32>),
    enc_b: (Vec<f32>, Vec<f32>),
    dec_w: (Vec<f32>, Vec<f32>),
    dec_b: (Vec<f32>, Vec<f32>),
}

fn zeros2(n: usize) -> (Vec<f32>, Vec<f32>) {
    (vec![0.0; n], vec![0.0; n])
}

/// One Adam step on the batch `rows` of `x`; returns the batch's summed squared error.
fn batch_step(
    x: &CsrMatrix,
    rows: &[u32],
    w: &mut Weights,
    mom: &mut Moments,
    buf: &mut BatchBuffers,
    params: &AutoRecParams,
    step: &AdamStep,
) -> f64 {
    let h = params.hidden;
    let n_cols = x.n_cols();
    let acts = (
        act_code(Some(params.hidden_activation)),
        act_code(params.output_activation),
    );
    // Entry offsets and ratings of the batch rows.
    buf.offsets.clear();
    buf.vals.clear();
    for &r in rows {
        buf.offsets.push(buf.vals.len());
        buf.vals.extend_from_slice(x.row(r as usize).values);
    }
    let nnz = buf.vals.len();
    buf.offsets.push(nnz);
    buf.codes.resize(rows.len() * h, 0.0);
    buf.d_pre.resize(rows.len() * h, 0.0);
    buf.g.resize(nnz, 0.0);

    // Row phase: codes, output gradients, hidden gradients.
    let sse = {
        let (enc_w, enc_b, dec_w, dec_b) = (&w.enc_w, &w.enc_b, &w.dec_w, &w.dec_b);
        let mut parts = Vec::new();
        let (mut codes, mut d_pre, mut g) =
            (&mut buf.codes[..], &mut buf.d_pre[..], &mut buf.g[..]);
        for (ci, chunk) in rows.chunks(ROW_CHUNK).enumerate() {
            let first = ci * ROW_CHUNK;
            let n_entries = buf.offsets[first + chunk.len()] - buf.offsets[first];
            let (c, rest_c) = codes.split_at_mut(chunk.len() * h);
            let (d, rest_d) = d_pre.split_at_mut(chunk.len() * h);
            let (gg, rest_g) = g.split_at_mut(n_entries);
            codes = rest_c;
            d_pre = rest_d;
            g = rest_g;
            parts.push((chunk, c, d, gg, 0.0f64));
        }
        team::for_each_mut(&mut parts, |(chunk, c, d, gg, sse)| {
            *sse = rows_step(x, chunk, enc_w, enc_b, dec_w, dec_b, acts, c, gg, d);
        });
        parts.iter().map(|p| p.4).sum::<f64>()
    };

    // The batch's entries grouped by column.
    buf.col_start.clear();
    buf.col_start.resize(n_cols + 1, 0);
    for &r in rows {
        for &c in x.row(r as usize).indices {
            buf.col_start[c as usize + 1] += 1;
        }
    }
    for c in 0..n_cols {
        buf.col_start[c + 1] += buf.col_start[c];
    }
    buf.hits.resize(nnz, (0, 0));
    let mut fill = buf.col_start.clone();
    for (j, &r) in rows.iter().enumerate() {
        for (k, &c) in x.row(r as usize).indices.iter().enumerate() {
            let slot = &mut fill[c as usize];
            buf.hits[*slot] = (j as u32, (buf.offsets[j] + k) as u32);
            *slot += 1;
        }
    }

    // Column phase: decoder and encoder weight gradients, fused with Adam.
    {
        let (codes, d_pre, g, vals) = (&buf.codes, &buf.d_pre, &buf.g, &buf.vals);
        let (hits, col_start) = (&buf.hits, &buf.col_start);
        let lambda = params.lambda;
        let mut parts: Vec<_> = w
            .dec_w
            .chunks_mut(COL_CHUNK * h)
            .zip(mom.dec_w.0.chunks_mut(COL_CHUNK * h))
            .zip(mom.dec_w.1.chunks_mut(COL_CHUNK * h))
            .zip(w.dec_b.chunks_mut(COL_CHUNK))
            .zip(mom.dec_b.0.chunks_mut(COL_CHUNK))
            .zip(mom.dec_b.1.chunks_mut(COL_CHUNK))
            .zip(w.enc_w.chunks_mut(COL_CHUNK * h))
            .zip(mom.enc_w.0.chunks_mut(COL_CHUNK * h))
            .zip(mom.enc_w.1.chunks_mut(COL_CHUNK * h))
            .enumerate()
            .collect();
        team::for_each_mut(
            &mut parts,
            |(ci, ((((((((dw, dm), dv), db), dbm), dbv), ew), em), ev))| {
                let mut scratch = vec![0.0f32; 2 * h];
                for k in 0..db.len() {
                    let c = *ci * COL_CHUNK + k;
                    let hs = &hits[col_start[c]..col_start[c + 1]];
                    let s = k * h..(k + 1) * h;
                    column_update(
                        hs,
                        codes,
                        d_pre,
                        g,
                        vals,
                        &mut dw[s.clone()],
                        &mut dm[s.clone()],
                        &mut dv[s.clone()],
                        &mut db[k],
                        &mut dbm[k],
                        &mut dbv[k],
                        &mut ew[s.clone()],
                        &mut em[s.clone()],
                        &mut ev[s],
                        lambda,
                        step,
                        &mut scratch,
                    );
                }
            },
        );
    }

    // Encoder bias: the column sums of the hidden gradients (no L2, as the reference).
    let mut gb = vec![0.0f32; h];
    for d in buf.d_pre.chunks_exact(h) {
        for (a, &b) in gb.iter_mut().zip(d) {
            *a += b;
        }
    }
    adam_row(
        &mut w.enc_b,
        &mut mom.enc_b.0,
        &mut mom.enc_b.1,
        &gb,
        0.0,
        step,
    );
    sse
}

/// Codes of every row of `x` (`rows × hidden`), in parallel.
fn encode_all(x: &CsrMatrix, w: &Weights, params: &AutoRecParams) -> Vec<f32> {
    let h = params.hidden;
    let act = act_code(Some(params.hidden_activation));
    let rows: Vec<u32> = (0..x.n_rows() as u32).collect();
    let mut out = vec![0.0f32; rows.len() * h];
    let mut parts: Vec<_> = rows.chunks(64).zip(out.chunks_mut(64 * h)).collect();
    team::for_each_mut(&mut parts, |(r, o)| {
        encode_rows(x, r, &w.enc_w, &w.enc_b, act, o)
    });
    out
}

/// `(row, col, rating)` triples.
type Entries = Vec<(u32, u32, f32)>;

fn split_validation(
    x: &CsrMatrix,
    fraction: f64,
    rng: &mut ChaCha8Rng,
) -> Result<(CsrMatrix, Entries)> {
    let mut all: Entries = Vec::with_capacity(x.nnz());
    for r in 0..x.n_rows() {
        let row = x.row(r);
        for (&c, &v) in row.indices.iter().zip(row.values) {
            all.push((r as u32, c, v));
        }
    }
    all.shuffle(rng);
    let n_val = (all.len() as f64 * fraction).round() as usize;
    let val = all[..n_val].to_vec();
    let fit = &all[n_val..];
    let (rs, cs, vs): (Vec<u32>, Vec<u32>, Vec<f32>) = fit.iter().fold(
        (Vec::new(), Vec::new(), Vec::new()),
        |(mut a, mut b, mut c), &(r, col, v)| {
            a.push(r);
            b.push(col);
            c.push(v);
            (a, b, c)
        },
    );
    let m = CsrMatrix::from_triplets(
        x.n_rows(),
        x.n_cols(),
        &rs,
        &cs,
        &vs,
        DuplicatePolicy::Error,
    )?;
    Ok((m, val))
}

impl AutoRec {
    /// Trains on `train`, a users × items matrix of ratings (every stored entry is an
    /// observed rating), calling `progress` after every epoch with the losses `"train_rmse"`
    /// (of the epoch's batches, before their updates) and, with validation,
    /// `"validation_rmse"`.
    ///
    /// Errors when a parameter is out of range, `train` holds no rating, or the loss stops
    /// being finite (naming the epoch).
    pub fn fit(
        train: &CsrMatrix,
        params: &AutoRecParams,
        mut progress: Progress<'_>,
    ) -> Result<AutoRec> {
        params.validate()?;
        if train.nnz() == 0 {
            return Err(VaeError::InvalidData(
                "the training matrix holds no rating".into(),
            ));
        }
        let started = Instant::now();
        let (n_users, n_items) = train.shape();
        let full = if params.item_based {
            train.transpose()
        } else {
            train.clone()
        };
        let (n_rows, n_cols) = full.shape();
        let values = full.values();
        let global_mean =
            (values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64) as f32;
        let clip = params.rating_range.unwrap_or_else(|| {
            values
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                })
        });
        let h = params.hidden;
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        // PyTorch's nn.Linear initialisation for both layers (U(±1/√fan_in)).
        let enc = HostLinear::torch_init(n_cols, h, &mut rng);
        let dec = HostLinear::torch_init(h, n_cols, &mut rng);
        let mut w = Weights {
            enc_w: enc.w.0,
            enc_b: enc.b.0,
            dec_w: dec.w.0,
            dec_b: dec.b.0,
        };
        let mut mom = Moments {
            enc_w: zeros2(n_cols * h),
            enc_b: zeros2(h),
            dec_w: zeros2(n_cols * h),
            dec_b: zeros2(n_cols),
        };
        let (fit_x, val) = if params.validation_fraction > 0.0 {
            let (m, v) = split_validation(&full, params.validation_fraction, &mut rng)?;
            (m, Some(v))
        } else {
            (full.clone(), None)
        };
        let threads = if params.n_threads == 0 {
            rayon::current_num_threads().max(1)
        } else {
            params.n_threads
        };
        let mut opt = Adam::new(params.learning_rate);
        let mut order: Vec<u32> = (0..n_rows as u32)
            .filter(|&r| !fit_x.row(r as usize).indices.is_empty())
            .collect();
        let mut buf = BatchBuffers {
            codes: Vec::new(),
            d_pre: Vec::new(),
            g: Vec::new(),
            vals: Vec::new(),
            offsets: Vec::new(),
            col_start: Vec::new(),
            hits: Vec::new(),
        };
        let mut best: Option<(f64, usize, Weights)> = None;
        let mut epochs_trained = 0;
        let mut since_best = 0;
        team::Team::run_with(threads, || -> Result<()> {
            for epoch in 1..=params.n_epochs {
                let t0 = Instant::now();
                order.shuffle(&mut rng);
                let mut sse = 0.0;
                for batch in order.chunks(params.batch_size) {
                    let step = opt.next_step();
                    sse += batch_step(&fit_x, batch, &mut w, &mut mom, &mut buf, params, &step);
                }
                let train_rmse = (sse / fit_x.nnz() as f64).sqrt();
                if !train_rmse.is_finite() {
                    return Err(VaeError::NonFiniteLoss {
                        epoch,
                        what: "train",
                        value: train_rmse,
                    });
                }
                epochs_trained = epoch;
                let mut losses = vec![("train_rmse", train_rmse)];
                if let Some(val) = &val {
                    let codes = encode_all(&fit_x, &w, params);
                    let model = Self::assemble(
                        params,
                        n_users,
                        n_items,
                        &w,
                        codes,
                        &fit_x,
                        global_mean,
                        clip,
                    );
                    let v = model.rmse_on(val);
                    losses.push(("validation_rmse", v));
                    if best.as_ref().is_none_or(|(b, _, _)| v < *b) {
                        best = Some((v, epoch, w.clone()));
                        since_best = 0;
                    } else {
                        since_best += 1;
                    }
                }
                if let Some(cb) = progress.as_deref_mut() {
                    cb(&EpochReport {
                        epoch,
                        n_epochs: params.n_epochs,
                        losses,
                        seconds: t0.elapsed().as_secs_f64(),
                        elapsed_seconds: started.elapsed().as_secs_f64(),
                    });
                }
                if params.patience.is_some_and(|p| since_best >= p) {
                    break;
                }
            }
            Ok(())
        })?;
        let best_epoch = match best {
            Some((_, e, bw)) => {
                w = bw;
                e
            }
            None => epochs_trained,
        };
        let codes = team::Team::run_with(threads, || encode_all(&full, &w, params));
        let mut model = Self::assemble(
            params,
            n_users,
            n_items,
            &w,
            codes,
            &full,
            global_mean,
            clip,
        );
        model.epochs_trained = epochs_trained;
        model.best_epoch = best_epoch;
        Ok(model)
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        params: &AutoRecParams,
        n_users: usize,
        n_items: usize,
        w: &Weights,
        codes: Vec<f32>,
        x: &CsrMatrix,
        global_mean: f32,
        clip: (f32, f32),
    ) -> AutoRec {
        let row_seen = (0..x.n_rows())
            .map(|r| f32::from(!x.row(r).indices.is_empty()))
            .collect();
        let col_seen = x.col_counts().iter().map(|&c| f32::from(c > 0)).collect();
        AutoRec {
            params: params.clone(),
            n_users,
            n_items,
            enc_w: w.enc_w.clone(),
            enc_b: w.enc_b.clone(),
            dec_w: w.dec_w.clone(),
            dec_b: w.dec_b.clone(),
            codes,
            row_seen,
            col_seen,
            global_mean,
            clip,
            epochs_trained: 0,
            best_epoch: 0,
            extra: serde_json::Value::Null,
        }
    }

    fn rmse_on(&self, entries: &[(u32, u32, f32)]) -> f64 {
        let se: f64 = entries
            .iter()
            .map(|&(r, c, v)| {
                let p = self.predict_rc(r as usize, c as usize);
                f64::from(p - v).powi(2)
            })
            .sum();
        (se / entries.len().max(1) as f64).sqrt()
    }

    /// The clipped prediction at (row, col) of the rating matrix as the model sees it.
    fn predict_rc(&self, r: usize, c: usize) -> f32 {
        let known = r < self.row_seen.len()
            && c < self.col_seen.len()
            && self.row_seen[r] > 0.0
            && self.col_seen[c] > 0.0;
        if !known {
            return self.default_rating();
        }
        let h = self.params.hidden;
        let z = self.output(&self.codes[r * h..(r + 1) * h], c);
        z.clamp(self.clip.0, self.clip.1)
    }

    fn output(&self, code: &[f32], c: usize) -> f32 {
        let h = self.params.hidden;
        output_one(
            code,
            &self.dec_w[c * h..(c + 1) * h],
            self.dec_b[c],
            act_code(self.params.output_activation),
        )
    }

    /// What a user or item without training ratings gets ([`AutoRecParams::unseen`]).
    pub fn default_rating(&self) -> f32 {
        match self.params.unseen {
            Unseen::Constant(v) => v,
            Unseen::GlobalMean => self.global_mean,
        }
    }

    /// The parameters it was trained with.
    pub fn params(&self) -> &AutoRecParams {
        &self.params
    }

    /// Epochs run, and the epoch whose weights were kept (the best on validation, else the
    /// last).
    pub fn epochs(&self) -> (usize, usize) {
        (self.epochs_trained, self.best_epoch)
    }

    /// The hidden code of every row of the rating matrix as the model reads it (items for
    /// I-AutoRec, users for U-AutoRec), `rows × hidden`, row-major.
    pub fn row_codes(&self) -> &[f32] {
        &self.codes
    }

    /// The mean of the training ratings.
    pub fn global_mean(&self) -> f32 {
        self.global_mean
    }

    /// Free-form metadata saved with the model (e.g. the CLI's id maps); `null` by default.
    pub fn extra(&self) -> &serde_json::Value {
        &self.extra
    }

    /// Replaces the free-form metadata saved with the model.
    pub fn set_extra(&mut self, extra: serde_json::Value) {
        self.extra = extra;
    }

    /// Writes the model to `path` atomically (see [`crate::persist`]).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let h = self.params.hidden;
        let (n_rows, n_cols) = (self.row_seen.len(), self.col_seen.len());
        fn t<'a>(name: &str, shape: Vec<usize>, data: &'a [f32]) -> NamedTensor<'a> {
            NamedTensor {
                name: name.into(),
                shape,
                data,
            }
        }
        let tensors = [
            t("enc_w", vec![n_cols, h], &self.enc_w),
            t("enc_b", vec![h], &self.enc_b),
            t("dec_w", vec![n_cols, h], &self.dec_w),
            t("dec_b", vec![n_cols], &self.dec_b),
            t("codes", vec![n_rows, h], &self.codes),
            t("row_seen", vec![n_rows], &self.row_seen),
            t("col_seen", vec![n_cols], &self.col_seen),
        ];
        let meta = ModelMeta {
            format_version: persist::FORMAT_VERSION,
            model: MODEL_KIND.into(),
            crate_version: env!("CARGO_PKG_VERSION").into(),
            params: serde_json::to_value(&self.params)
                .map_err(|e| VaeError::InvalidData(e.to_string()))?,
            shapes: Default::default(),
            training: serde_json::json!({
                "epochs_trained": self.epochs_trained,
                "best_epoch": self.best_epoch,
                "global_mean": self.global_mean,
                "clip": [self.clip.0, self.clip.1],
                "n_users": self.n_users,
                "n_items": self.n_items,
            }),
            extra: self.extra.clone(),
        };
        persist::write_model(path.as_ref(), meta, &tensors)
    }

    /// Reads a model written by [`AutoRec::save`]. A missing, truncated, corrupt or foreign
    /// file is an error saying what is wrong.
    pub fn load(path: impl AsRef<Path>) -> Result<AutoRec> {
        let path = path.as_ref();
        let bad = |message: String| VaeError::BadModelFile {
            path: path.to_path_buf(),
            message,
        };
        let (meta, mut tensors) = persist::read_model(path, MODEL_KIND)?;
        let params: AutoRecParams = serde_json::from_value(meta.params.clone())
            .map_err(|e| bad(format!("unreadable params: {e}")))?;
        params.validate().map_err(|e| bad(e.to_string()))?;
        let tr = &meta.training;
        let num = |k: &str| {
            tr.get(k)
                .and_then(|v| v.as_f64())
                .ok_or_else(|| bad(format!("training.{k} is missing")))
        };
        let (n_users, n_items) = (num("n_users")? as usize, num("n_items")? as usize);
        let (n_rows, n_cols) = if params.item_based {
            (n_items, n_users)
        } else {
            (n_users, n_items)
        };
        let clip = tr
            .get("clip")
            .and_then(|c| Some((c.get(0)?.as_f64()? as f32, c.get(1)?.as_f64()? as f32)))
            .ok_or_else(|| bad("training.clip is missing".into()))?;
        let h = params.hidden;
        let mut take = |name: &str, shape: &[usize]| persist::take(path, &mut tensors, name, shape);
        Ok(AutoRec {
            enc_w: take("enc_w", &[n_cols, h])?,
            enc_b: take("enc_b", &[h])?,
            dec_w: take("dec_w", &[n_cols, h])?,
            dec_b: take("dec_b", &[n_cols])?,
            codes: take("codes", &[n_rows, h])?,
            row_seen: take("row_seen", &[n_rows])?,
            col_seen: take("col_seen", &[n_cols])?,
            n_users,
            n_items,
            global_mean: num("global_mean")? as f32,
            clip,
            epochs_trained: num("epochs_trained")? as usize,
            best_epoch: num("best_epoch")? as usize,
            extra: meta.extra.clone(),
            params,
        })
    }
}

multiversion! {
    fn output_one<M>(code: &[f32], v: &[f32], b: f32, act: u8) -> f32 {
        act_apply::<M>(dot8::<M>(code, v, wide_dot()) + b, act)
    }
}

impl RatingPredictor for AutoRec {
    /// The reconstruction at (user, item), clipped to the rating range; a user or item
    /// without training ratings (or out of range) gets [`AutoRec::default_rating`].
    fn predict(&self, user: u32, item: u32) -> f32 {
        let (r, c) = if self.params.item_based {
            (item, user)
        } else {
            (user, item)
        };
        self.predict_rc(r as usize, c as usize)
    }
}

impl Scorer for AutoRec {
    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    /// Predicted ratings of every item (clipped, defaults where unseen).
    fn score_user(&self, user: u32, out: &mut [f32]) -> std::result::Result<(), ScoreError> {
        if user as usize >= self.n_users {
            return Err(ScoreError::UnknownUser {
                user,
                n_users: self.n_users,
            });
        }
        if out.len() != self.n_items {
            return Err(ScoreError::BufferLength {
                got: out.len(),
                expected: self.n_items,
            });
        }
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.predict(user, i as u32);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn toy(seed: u64) -> CsrMatrix {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut u, mut i, mut v) = (Vec::new(), Vec::new(), Vec::new());
        for a in 0..12u32 {
            for b in 0..9u32 {
                if rng.random::<f32>() < 0.5 {
                    u.push(a);
                    i.push(b);
                    v.push(1.0 + ((a % 3 + b % 3) as f32));
                }
            }
        }
        CsrMatrix::from_triplets(12, 9, &u, &i, &v, DuplicatePolicy::Error).unwrap()
    }

    /// The dense masked loss of the reference, in f64.
    fn dense_loss(x: &CsrMatrix, w: &Weights, p: &AutoRecParams, rows: &[u32]) -> f64 {
        let h = p.hidden;
        let n_cols = x.n_cols();
        let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
        let mut loss = 0.0;
        for &r in rows {
            let mut dense = vec![0.0f64; n_cols];
            let mut mask = vec![0.0f64; n_cols];
            let row = x.row(r as usize);
            for (&c, &v) in row.indices.iter().zip(row.values) {
                dense[c as usize] = f64::from(v);
                mask[c as usize] = 1.0;
            }
            let code: Vec<f64> = (0..h)
                .map(|k| {
                    sig(f64::from(w.enc_b[k])
                        + (0..n_cols)
                            .map(|c| dense[c] * f64::from(w.enc_w[c * h + k]))
                            .sum::<f64>())
                })
                .collect();
            for c in 0..n_cols {
                let o = f64::from(w.dec_b[c])
                    + (0..h)
                        .map(|k| code[k] * f64::from(w.dec_w[c * h + k]))
                        .sum::<f64>();
                loss += ((o - dense[c]) * mask[c]).powi(2);
            }
        }
        let reg: f64 = w
            .enc_w
            .iter()
            .chain(&w.dec_w)
            .map(|&a| f64::from(a).powi(2))
            .sum();
        loss + f64::from(p.lambda) / 2.0 * reg
    }

    #[test]
    fn sparse_gradients_match_the_dense_masked_loss() {
        // Plain SGD through Adam's first step is sign-like; instead compare the gradient the
        // step uses against finite differences of the dense loss, through a step with
        // lr → the gradient itself: run `rows_step` + the column reduction directly.
        let x = toy(3);
        let p = AutoRecParams {
            hidden: 4,
            lambda: 0.7,
            ..AutoRecParams::default()
        };
        let (n_cols, h) = (x.n_cols(), p.hidden);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let enc = HostLinear::torch_init(n_cols, h, &mut rng);
        let dec = HostLinear::torch_init(h, n_cols, &mut rng);
        let w = Weights {
            enc_w: enc.w.0,
            enc_b: enc.b.0,
            dec_w: dec.w.0,
            dec_b: dec.b.0,
        };
        let rows: Vec<u32> = vec![0, 3, 5, 7, 11];
        // Analytic gradients: a step of Adam with β₁ = 0, β₂ → 0 would normalise them away,
        // so recover them with SGD-like moments: m after one step is (1 − β₁) g.
        let mut wc = w.clone();
        let mut mom = Moments {
            enc_w: zeros2(n_cols * h),
            enc_b: zeros2(h),
            dec_w: zeros2(n_cols * h),
            dec_b: zeros2(n_cols),
        };
        let mut buf = BatchBuffers {
            codes: vec![],
            d_pre: vec![],
            g: vec![],
            vals: vec![],
            offsets: vec![],
            col_start: vec![],
            hits: vec![],
        };
        let step = AdamStep {
            beta1: 0.0,
            beta2: 0.0,
            eps: 1.0,
            step_size: 0.0,
            bias_correction2_sqrt: 1.0,
        };
        let sse = batch_step(&x, &rows, &mut wc, &mut mom, &mut buf, &p, &step);
        // With β₁ = 0 the first moment holds the full gradient (step size 0 leaves weights).
        let eps = 1e-3f64;
        let base = dense_loss(&x, &w, &p, &rows);
        let reg: f64 = w
            .enc_w
            .iter()
            .chain(&w.dec_w)
            .map(|&a| f64::from(a).powi(2))
            .sum();
        assert!(
            (base - (sse + f64::from(p.lambda) / 2.0 * reg)).abs() < 1e-3 * base.max(1.0),
            "{base} vs {sse}"
        );
        let check = |name: &str, analytic: &[f32], get: &dyn Fn(&mut Weights) -> &mut Vec<f32>| {
            for (idx, &an) in analytic.iter().enumerate() {
                let mut wp = w.clone();
                get(&mut wp)[idx] += eps as f32;
                let mut wm = w.clone();
                get(&mut wm)[idx] -= eps as f32;
                let numeric =
                    (dense_loss(&x, &wp, &p, &rows) - dense_loss(&x, &wm, &p, &rows)) / (2.0 * eps);
                let a = f64::from(an);
                assert!(
                    (a - numeric).abs() < 2e-2 * (1.0 + numeric.abs()),
                    "{name}[{idx}]: analytic {a}, numeric {numeric}"
                );
            }
        };
        check("enc_w", &mom.enc_w.0, &|w| &mut w.enc_w);
        check("enc_b", &mom.enc_b.0, &|w| &mut w.enc_b);
        check("dec_w", &mom.dec_w.0, &|w| &mut w.dec_w);
        check("dec_b", &mom.dec_b.0, &|w| &mut w.dec_b);
        // Nothing moved.
        assert_eq!(wc.enc_w, w.enc_w);
    }

    #[test]
    fn learns_clips_and_falls_back_for_unseen() {
        let x = toy(5);
        let p = AutoRecParams {
            hidden: 8,
            lambda: 0.1,
            n_epochs: 300,
            batch_size: 4,
            learning_rate: 0.01,
            ..AutoRecParams::default()
        };
        let m = AutoRec::fit(&x, &p, None).unwrap();
        let mut se = 0.0;
        for u in 0..x.n_rows() {
            let row = x.row(u);
            for (&i, &v) in row.indices.iter().zip(row.values) {
                se += f64::from(m.predict(u as u32, i) - v).powi(2);
            }
        }
        let rmse = (se / x.nnz() as f64).sqrt();
        assert!(rmse < 0.3, "train RMSE {rmse}");
        // Out of range → the default; inside the clip range always.
        assert_eq!(m.predict(100, 0), 3.0);
        let gm = AutoRec {
            params: AutoRecParams {
                unseen: Unseen::GlobalMean,
                ..m.params.clone()
            },
            ..m.clone()
        };
        assert_eq!(gm.predict(0, 100), gm.global_mean());
        let (lo, hi) = (1.0, 5.0);
        let mut scores = vec![0.0; 9];
        m.score_user(2, &mut scores).unwrap();
        assert!(scores.iter().all(|s| (lo..=hi).contains(s)));
        // Same seed, same model; thread count does not matter.
        let one = AutoRec::fit(
            &x,
            &AutoRecParams {
                n_threads: 1,
                ..p.clone()
            },
            None,
        )
        .unwrap();
        let two = AutoRec::fit(
            &x,
            &AutoRecParams {
                n_threads: 2,
                ..p.clone()
            },
            None,
        )
        .unwrap();
        assert_eq!(one.dec_w, two.dec_w);
    }

    #[test]
    fn validation_keeps_the_best_epoch_and_patience_stops() {
        let x = toy(7);
        let p = AutoRecParams {
            hidden: 8,
            lambda: 0.0,
            n_epochs: 400,
            batch_size: 4,
            learning_rate: 0.05,
            validation_fraction: 0.3,
            patience: Some(5),
            ..AutoRecParams::default()
        };
        let mut reports = Vec::new();
        let m = AutoRec::fit(&x, &p, Some(&mut |r: &EpochReport| reports.push(r.clone()))).unwrap();
        let (ran, best) = m.epochs();
        assert_eq!(reports.len(), ran);
        assert!(ran < 400 && best + 5 == ran, "ran {ran}, best {best}");
        let vals: Vec<f64> = reports
            .iter()
            .map(|r| r.loss("validation_rmse").unwrap())
            .collect();
        let min = vals.iter().cloned().fold(f64::INFINITY, f64::min);
        assert_eq!(vals[best - 1], min);
    }

    #[test]
    fn validate_names_the_parameter() {
        for (p, name) in [
            (
                AutoRecParams {
                    hidden: 0,
                    ..Default::default()
                },
                "hidden",
            ),
            (
                AutoRecParams {
                    lambda: -1.0,
                    ..Default::default()
                },
                "lambda",
            ),
            (
                AutoRecParams {
                    learning_rate: 0.0,
                    ..Default::default()
                },
                "learning_rate",
            ),
            (
                AutoRecParams {
                    validation_fraction: 0.9,
                    ..Default::default()
                },
                "validation_fraction",
            ),
            (
                AutoRecParams {
                    patience: Some(0),
                    ..Default::default()
                },
                "patience",
            ),
            (
                AutoRecParams {
                    rating_range: Some((5.0, 1.0)),
                    ..Default::default()
                },
                "rating_range",
            ),
        ] {
            let e = p.validate().unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
    }

    #[test]
    fn save_load_round_trips_and_refuses_bad_files() {
        let x = toy(9);
        let p = AutoRecParams {
            hidden: 6,
            n_epochs: 5,
            batch_size: 4,
            ..AutoRecParams::default()
        };
        let mut m = AutoRec::fit(&x, &p, None).unwrap();
        m.set_extra(serde_json::json!({"note": 1}));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.safetensors");
        m.save(&path).unwrap();
        let l = AutoRec::load(&path).unwrap();
        for u in 0..12 {
            for i in 0..9 {
                assert_eq!(m.predict(u, i), l.predict(u, i));
            }
        }
        assert_eq!(l.extra(), m.extra());
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let e = AutoRec::load(&path).unwrap_err().to_string();
        assert!(e.contains("a.safetensors"), "{e}");
    }
}
