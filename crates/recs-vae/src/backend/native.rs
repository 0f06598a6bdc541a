//! The CPU backend: hand-written forward and backward kernels on `f32` buffers.

use std::ops::Range;

use recs_core::ModelError;
use recs_core::multiversion;
use recs_core::simd::Madd;
use recs_sparse::CsrMatrix;

use super::{AdamSet, Backend, LOG_EPS, StepResult, StepSpec};
use crate::Result;
use crate::kernels::decode::{MR, PackedFactors};
use crate::kernels::{self, MatRef, gemm, sparse};
use crate::nn::{Activation, GaussianEncoder, Likelihood};
use crate::optim::{self, AdamStep};
use crate::team;

/// A row-major matrix on the host.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HostMat {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl HostMat {
    pub(crate) fn view(&self) -> MatRef<'_> {
        MatRef::new(&self.data, self.rows, self.cols)
    }
}

/// A batch of rows for the native kernels: the rows and their transpose (row `i` of `xt`
/// lists the batch rows that hold column `i`: the first layer's weight gradient gathers
/// along it).
#[derive(Debug, Clone)]
pub(crate) struct NativeBatch {
    pub x: CsrMatrix,
    pub xt: CsrMatrix,
}

/// The CPU backend (stateless; parallel on the active [`team`] if there is one).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Native;

/// Rows per parallel task of a batch step (a multiple of the decoder's microkernel rows).
const CHUNK_ROWS: usize = 3 * MR;
/// Below this many elements an elementwise kernel runs on the calling thread.
const PAR_MIN: usize = 1 << 15;

fn check_shape(what: &str, m: &HostMat, rows: usize, cols: usize) -> Result<()> {
    if m.rows != rows || m.cols != cols {
        return Err(ModelError::Data(format!(
            "{what}: expected a {rows}×{cols} matrix, got {}×{}",
            m.rows, m.cols
        )));
    }
    Ok(())
}

multiversion! {
    /// `y[r, j] = act(y[r, j] + b[j])` for every row `r`.
    fn bias_act<M>(y: &mut [f32], b: &[f32], act: u8) {
        for row in y.chunks_exact_mut(b.len()) {
            match act {
                0 => for (v, &c) in row.iter_mut().zip(b) { *v += c },
                1 => for (v, &c) in row.iter_mut().zip(b) { *v = kernels::sigmoid::<M>(*v + c) },
                2 => for (v, &c) in row.iter_mut().zip(b) { *v = kernels::tanh::<M>(*v + c) },
                3 => for (v, &c) in row.iter_mut().zip(b) {
                    let x = *v + c;
                    *v = if x > 0.0 { x } else { kernels::exp::<M>(x) - 1.0 };
                },
                4 => for (v, &c) in row.iter_mut().zip(b) { *v = (*v + c).max(0.0) },
                _ => for (v, &c) in row.iter_mut().zip(b) { *v = (*v + c).clamp(0.0, 6.0) },
            }
        }
    }
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

multiversion! {
    /// `dy ← dy ⊙ act'(x)` written through the activation's output `y` (as PyTorch does).
    fn act_grad(dy: &mut [f32], y: &[f32], act: u8) {
        let it = dy.iter_mut().zip(y);
        match act {
            1 => for (d, &y) in it { *d *= y * (1.0 - y) },
            2 => for (d, &y) in it { *d *= 1.0 - y * y },
            3 => for (d, &y) in it { *d *= if y > 0.0 { 1.0 } else { y + 1.0 } },
            4 => for (d, &y) in it { *d = if y > 0.0 { *d } else { 0.0 } },
            _ => for (d, &y) in it { *d = if y > 0.0 && y < 6.0 { *d } else { 0.0 } },
        }
    }
}

multiversion! {
    /// For one row of the heads `[μ | σ pre-activation]` (`2k` values): turns the σ half
    /// into `σ = sigmoid(·)` and writes the sample `μ + ε ⊙ σ`.
    fn reparam<M>(head: &mut [f32], sample: &mut [f32], eps: &[f32]) {
        let k = sample.len();
        let (mu, std) = head.split_at_mut(k);
        for (((s, out), &m), &e) in std.iter_mut().zip(sample.iter_mut()).zip(mu.iter()).zip(eps) {
            let sd = kernels::sigmoid::<M>(*s);
            *s = sd;
            *out = M::madd(e, sd, m);
        }
    }
}

/// `(−ll(0, x̂), scale · ∂(−ll(0, x̂))/∂z)` at one entry, `x̂ = sigmoid(z)`; `L` is
/// [`lik_code`].
#[inline(always)]
fn zero_point<M: Madd, const L: u8>(z: f32, scale: f32) -> (f32, f32) {
    let s = kernels::sigmoid::<M>(z);
    let d = s * (1.0 - s);
    match L {
        0 => (s, d * scale),
        1 => (s * s, 2.0 * s * d * scale),
        _ => {
            let q = 1.0 - s + LOG_EPS;
            (-kernels::ln::<M>(q), d / q * scale)
        }
    }
}

#[inline(always)]
fn zero_row<M: Madd, const L: u8>(z: &mut [f32], scale: f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut chunks = z.chunks_exact_mut(8);
    for c in &mut chunks {
        for l in 0..8 {
            let (loss, g) = zero_point::<M, L>(c[l], scale);
            acc[l] += loss;
            c[l] = g;
        }
    }
    let mut tail = 0.0;
    for v in chunks.into_remainder() {
        let (loss, g) = zero_point::<M, L>(*v, scale);
        tail += loss;
        *v = g;
    }
    acc.iter().sum::<f32>() + tail
}

multiversion! {
    /// Writes `scale · ∂(Σ −ll(0, sigmoid(z)))/∂z` over `z` and returns `Σ −ll(0, sigmoid(z))`:
    /// every entry treated as a zero (the stored entries are corrected afterwards).
    fn zero_likelihood_grad<M>(z: &mut [f32], lik: u8, scale: f32) -> f32 {
        match lik {
            0 => zero_row::<M, 0>(z, scale),
            1 => zero_row::<M, 1>(z, scale),
            _ => zero_row::<M, 2>(z, scale),
        }
    }
}

fn lik_code(l: Likelihood) -> u8 {
    match l {
        Likelihood::Pois => 0,
        Likelihood::Gaus => 1,
        Likelihood::Bern => 2,
    }
}

/// For stored entries `(x, z)`: `(−ll(x, x̂) + ll(0, x̂), scale · ∂(−ll(x, x̂))/∂z)`, the
/// correction to [`zero_point`]'s loss and the full gradient; `L` is [`lik_code`].
#[inline(always)]
fn stored_point<M: Madd, const L: u8>(x: f32, z: f32, scale: f32) -> (f32, f32) {
    let s = kernels::sigmoid::<M>(z);
    let d = s * (1.0 - s);
    let p = s + LOG_EPS;
    match L {
        0 => (-x * kernels::ln::<M>(p), (d - x * d / p) * scale),
        1 => ((x - s) * (x - s) - s * s, -2.0 * (x - s) * d * scale),
        _ => {
            let q = 1.0 - s + LOG_EPS;
            (
                x * (kernels::ln::<M>(q) - kernels::ln::<M>(p)),
                (-x * d / p + (1.0 - x) * d / q) * scale,
            )
        }
    }
}

#[inline(always)]
fn stored_row<M: Madd, const L: u8>(z: &mut [f32], x: &[f32], scale: f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut zc = z.chunks_exact_mut(8);
    let mut xc = x.chunks_exact(8);
    for (zz, xx) in (&mut zc).zip(&mut xc) {
        for l in 0..8 {
            let (loss, g) = stored_point::<M, L>(xx[l], zz[l], scale);
            acc[l] += loss;
            zz[l] = g;
        }
    }
    let mut tail = 0.0;
    for (zz, &xx) in zc.into_remainder().iter_mut().zip(xc.remainder()) {
        let (loss, g) = stored_point::<M, L>(xx, *zz, scale);
        tail += loss;
        *zz = g;
    }
    acc.iter().sum::<f32>() + tail
}

multiversion! {
    /// For the logits `z` of a row's stored entries with values `x`: writes the gradient
    /// over `z` and returns the loss correction (see [`stored_point`]).
    fn stored_likelihood_grad<M>(z: &mut [f32], x: &[f32], lik: u8, scale: f32) -> f32 {
        match lik {
            0 => stored_row::<M, 0>(z, x, scale),
            1 => stored_row::<M, 1>(z, x, scale),
            _ => stored_row::<M, 2>(z, x, scale),
        }
    }
}

multiversion! {
    /// `out += column sums of x` (`x` row-major with `out.len()` columns).
    fn add_col_sums(x: &[f32], out: &mut [f32]) {
        for row in x.chunks_exact(out.len()) {
            for (o, &v) in out.iter_mut().zip(row) {
                *o += v;
            }
        }
    }
}

multiversion! {
    /// For one row: the KL terms of `N(μ, σ²)` from `N(0, 1)` (returned) and the backward
    /// pass through the reparameterisation. `head` is `[μ | σ]`, `ds` the upstream
    /// gradient of the sample; writes `[dL/dμ | dL/d(σ pre-activation)]` into `d_head`.
    fn gaussian_grad(ds: &[f32], head: &[f32], eps: &[f32], w: f32, d_head: &mut [f32]) -> f64 {
        let k = ds.len();
        let (mu, std) = head.split_at(k);
        let (d_mu, d_std) = d_head.split_at_mut(k);
        let mut kl = 0.0f64;
        for (((((&g, &m), &s), &e), dm), dsd) in ds.iter().zip(mu).zip(std).zip(eps).zip(d_mu).zip(d_std) {
            kl += (-0.5 * (1.0 + 2.0 * s.ln() - m * m - s * s)) as f64;
            *dm = g + w * m;
            let d = g * e + w * (s - 1.0 / s);
            *dsd = d * s * (1.0 - s);
        }
        kl
    }
}

/// The row chunks of a batch, in order.
fn chunks(rows: usize) -> Vec<Range<usize>> {
    (0..rows.div_ceil(CHUNK_ROWS))
        .map(|c| c * CHUNK_ROWS..((c + 1) * CHUNK_ROWS).min(rows))
        .collect()
}

/// A chunk's forward pass: every hidden layer's output (`rows × width`) and the heads,
/// `rows × stride`, each row `[μ | σ pre-activation | zero padding]` (see [`JointHeads`]).
struct ChunkForward {
    hidden: Vec<Vec<f32>>,
    head: Vec<f32>,
}

/// Both heads as one layer `h × 2k` (`[W_μ | W_σ]`, `[b_μ | b_σ]`), packed for the decoder
/// microkernels: the forward product is their logits form and the input gradient their
/// gradient form, so neither goes through a general gemm.
struct JointHeads {
    packed: PackedFactors,
    bias: Vec<f32>,
    h: usize,
}

impl JointHeads {
    fn new(enc: &GaussianEncoder<HostMat>) -> Self {
        let (h, k) = (enc.mu.w.rows, enc.mu.w.cols);
        // [W_μ | W_σ], h × 2k: the transpose of the packed factors T.
        let mut w = Vec::with_capacity(h * 2 * k);
        for (m, s) in enc
            .mu
            .w
            .data
            .chunks_exact(k)
            .zip(enc.std.w.data.chunks_exact(k))
        {
            w.extend_from_slice(m);
            w.extend_from_slice(s);
        }
        let mut bias = enc.mu.b.data.clone();
        bias.extend_from_slice(&enc.std.b.data);
        Self {
            packed: PackedFactors::from_transpose(&w, 2 * k, h),
            bias,
            h,
        }
    }

    /// Row stride of the heads' output.
    fn stride(&self) -> usize {
        self.packed.np
    }

    /// `[μ | σ pre-activation]` of `n` rows of `x` (`n × h`), `n × stride`.
    fn forward(&self, x: &[f32], n: usize) -> Vec<f32> {
        let st = self.stride();
        let mut out = vec![0.0f32; n * st];
        for blk in (0..n).step_by(MR) {
            let rb = MR.min(n - blk);
            self.packed.logits(
                &x[blk * self.h..(blk + rb) * self.h],
                rb,
                &mut out[blk * st..(blk + rb) * st],
            );
        }
        for row in out.chunks_exact_mut(st) {
            for (v, &b) in row.iter_mut().zip(&self.bias) {
                *v += b;
            }
        }
        out
    }

    /// `d_head · [W_μ | W_σ]ᵀ` for `n` rows of `d_head` (`n × stride`, zero padding).
    fn backward(&self, d_head: &[f32], n: usize) -> Vec<f32> {
        let st = self.stride();
        let mut dx = vec![0.0f32; n * self.h];
        for blk in (0..n).step_by(MR) {
            let rb = MR.min(n - blk);
            self.packed.grad(
                &d_head[blk * st..(blk + rb) * st],
                rb,
                &mut dx[blk * self.h..(blk + rb) * self.h],
            );
        }
        dx
    }
}

/// `x·w + b` then the activation, for `n` rows of `x`.
fn dense(x: &[f32], n: usize, l: &crate::nn::Linear<HostMat>, act: Option<Activation>) -> Vec<f32> {
    let mut out = vec![0.0; n * l.w.cols];
    gemm(
        &mut out,
        MatRef::new(x, n, l.w.rows),
        l.w.view(),
        false,
        false,
    );
    bias_act(&mut out, &l.b.data, act_code(act));
    out
}

fn forward_chunk(
    enc: &GaussianEncoder<HostMat>,
    heads: &JointHeads,
    x: &CsrMatrix,
    rows: Range<usize>,
) -> ChunkForward {
    let n = rows.len();
    let first = &enc.hidden[0];
    let mut h = vec![0.0; n * first.w.cols];
    sparse::spmm_range(x, rows, &first.w.data, first.w.cols, &mut h);
    bias_act(&mut h, &first.b.data, act_code(Some(enc.act)));
    let mut hidden = vec![h];
    for l in &enc.hidden[1..] {
        let next = dense(
            hidden.last().expect("one layer at least"),
            n,
            l,
            Some(enc.act),
        );
        hidden.push(next);
    }
    let head = heads.forward(hidden.last().expect("one layer at least"), n);
    ChunkForward { hidden, head }
}

/// What a chunk's step keeps for the weight gradients.
struct ChunkGrads {
    rows: Range<usize>,
    /// Hidden layer outputs (the inputs of the next layers and heads).
    hidden: Vec<Vec<f32>>,
    /// `dL/d(pre-activation)` of every hidden layer.
    d_pre: Vec<Vec<f32>>,
    /// `[dL/dμ | dL/d(σ head pre-activation) | zero padding]`, `rows × stride`.
    d_head: Vec<f32>,
    /// Row stride of `d_head`.
    stride: usize,
    nll: f64,
    kl: f64,
}

#[allow(clippy::too_many_arguments)]
fn step_chunk(
    enc: &GaussianEncoder<HostMat>,
    heads: &JointHeads,
    x: &CsrMatrix,
    rows: Range<usize>,
    eps: &[f32],
    dec: &PackedFactors,
    spec: StepSpec,
) -> ChunkGrads {
    let (n, k, np) = (rows.len(), dec.k, dec.np);
    let ChunkForward { hidden, mut head } = forward_chunk(enc, heads, x, rows.clone());
    let st = heads.stride();
    let mut s = vec![0.0f32; n * k];
    for ((h, s), e) in head
        .chunks_exact_mut(st)
        .zip(s.chunks_exact_mut(k))
        .zip(eps.chunks_exact(k))
    {
        reparam(&mut h[..2 * k], s, e);
    }
    // Decoder: logits, likelihood gradient and ds, MR rows at a time.
    let code = lik_code(spec.likelihood);
    let mut ds = vec![0.0f32; n * k];
    let mut z = vec![0.0f32; MR * np];
    let mut saved: Vec<f32> = Vec::new();
    let mut nll = 0.0f64;
    for blk in (0..n).step_by(MR) {
        let rb = MR.min(n - blk);
        dec.logits(&s[blk * k..(blk + rb) * k], rb, &mut z);
        for (r, zr) in z.chunks_exact_mut(np).enumerate().take(rb) {
            let zr = &mut zr[..dec.n];
            let row = x.row(rows.start + blk + r);
            saved.clear();
            saved.extend(row.indices.iter().map(|&j| zr[j as usize]));
            nll += zero_likelihood_grad(zr, code, spec.scale) as f64;
            nll += stored_likelihood_grad(&mut saved, row.values, code, spec.scale) as f64;
            for (&j, &g) in row.indices.iter().zip(&saved) {
                zr[j as usize] = g;
            }
        }
        dec.grad(&z, rb, &mut ds[blk * k..(blk + rb) * k]);
    }
    // KL and the reparameterisation.
    let mut d_head = vec![0.0; n * st];
    let w = spec.kl_weight * spec.scale;
    let mut kl = 0.0;
    for (((g, h), e), d) in ds
        .chunks_exact(k)
        .zip(head.chunks_exact(st))
        .zip(eps.chunks_exact(k))
        .zip(d_head.chunks_exact_mut(st))
    {
        kl += gaussian_grad(g, &h[..2 * k], e, w, &mut d[..2 * k]);
    }
    // Back through the heads and the hidden layers.
    let last = hidden.len() - 1;
    let mut dh = heads.backward(&d_head, n);
    let mut d_pre: Vec<Vec<f32>> = vec![Vec::new(); hidden.len()];
    for i in (0..=last).rev() {
        act_grad(&mut dh, &hidden[i], act_code(Some(enc.act)));
        if i > 0 {
            let w = &enc.hidden[i].w;
            let mut below = vec![0.0; n * w.rows];
            gemm(
                &mut below,
                MatRef::new(&dh, n, w.cols),
                w.view().t(),
                false,
                false,
            );
            d_pre[i] = std::mem::replace(&mut dh, below);
        } else {
            d_pre[0] = std::mem::take(&mut dh);
        }
    }
    ChunkGrads {
        rows,
        hidden,
        d_pre,
        d_head,
        stride: st,
        nll,
        kl,
    }
}

/// `Σ over chunks of inputᵀ · d` and the column sums of `d`, for a dense layer.
fn dense_grads(
    chunks: &[ChunkGrads],
    input: impl Fn(&ChunkGrads) -> &[f32],
    d: impl Fn(&ChunkGrads) -> &[f32],
    fan_in: usize,
    fan_out: usize,
) -> (HostMat, HostMat) {
    let mut dw = vec![0.0; fan_in * fan_out];
    let mut db = vec![0.0; fan_out];
    for c in chunks {
        let n = c.rows.len();
        gemm(
            &mut dw,
            MatRef::new(input(c), n, fan_in).t(),
            MatRef::new(d(c), n, fan_out),
            true,
            false,
        );
        add_col_sums(d(c), &mut db);
    }
    (
        HostMat {
            rows: fan_in,
            cols: fan_out,
            data: dw,
        },
        HostMat {
            rows: 1,
            cols: fan_out,
            data: db,
        },
    )
}

/// The weight gradients from every chunk's backward pass, in parallel: the first layer's
/// weight gradient split into two row halves, the other layers and heads alongside.
#[cfg_attr(not(feature = "candle"), allow(dead_code))] // used by the candle engine (and tests)
fn weight_grads(
    enc: &GaussianEncoder<HostMat>,
    x: &CsrMatrix,
    chunks: &[ChunkGrads],
) -> Vec<HostMat> {
    let h0 = enc.hidden[0].w.cols;
    let n_in = x.n_cols();
    let mut dw0 = vec![0.0f32; n_in * h0];
    let hidden_shapes: Vec<(usize, usize)> =
        enc.hidden.iter().map(|l| (l.w.rows, l.w.cols)).collect();
    let head_shape = (enc.mu.w.rows, enc.mu.w.cols);
    // Each half of the threads fills its own rows of the first layer's weight gradient.
    let half = n_in / 2;
    let (top, bottom) = dw0.split_at_mut(half * h0);
    let first = |out_first: usize, out: &mut [f32]| {
        for c in chunks {
            sparse::spmm_t_add(x, c.rows.clone(), &c.d_pre[0], h0, out_first, out);
        }
    };
    let (_, rest) = team::join(
        || first(0, top),
        || {
            first(half, bottom);
            other_grads(chunks, enc.hidden.len(), &hidden_shapes, head_shape)
        },
    );
    let mut grads = vec![HostMat {
        rows: n_in,
        cols: h0,
        data: dw0,
    }];
    grads.extend(rest);
    grads
}

/// Runs `f` on every row chunk of a batch, in parallel when the batch is large enough.
fn map_chunks<T: Send>(
    rows: usize,
    work: usize,
    f: impl Fn(Range<usize>) -> T + Sync + Send,
) -> Vec<T> {
    let cs = chunks(rows);
    if work < PAR_MIN || cs.len() < 2 {
        cs.into_iter().map(f).collect()
    } else {
        team::map(cs.len(), |i| f(cs[i].clone()))
    }
}

/// A piece of the fused update in [`Native::train_step`].
enum Task<'a> {
    /// Rows `first..` of the first layer's weights and their moments.
    Rows {
        first: usize,
        p: &'a mut [f32],
        m: &'a mut [f32],
        v: &'a mut [f32],
    },
    /// Every other parameter with its moments.
    Rest {
        params: &'a mut [&'a mut HostMat],
        moments: &'a mut [(HostMat, HostMat)],
    },
}

/// The gradients of every parameter but the first layer's weight, in
/// [`GaussianEncoder::named_params`] order (first layer's bias first).
fn other_grads(
    chunks: &[ChunkGrads],
    n_hidden: usize,
    hidden_shapes: &[(usize, usize)],
    (fan_in, k): (usize, usize),
) -> Vec<HostMat> {
    let h0 = hidden_shapes[0].1;
    let mut db0 = vec![0.0f32; h0];
    for c in chunks {
        add_col_sums(&c.d_pre[0], &mut db0);
    }
    let mut grads = vec![HostMat {
        rows: 1,
        cols: h0,
        data: db0,
    }];
    let last = n_hidden - 1;
    for (i, &(rows, cols)) in hidden_shapes.iter().enumerate().skip(1) {
        let (dw, db) = dense_grads(chunks, |c| &c.hidden[i - 1], |c| &c.d_pre[i], rows, cols);
        grads.push(dw);
        grads.push(db);
    }
    // The joint heads' gradient in one product over the whole batch, split back into μ's
    // and σ's.
    let rows: usize = chunks.iter().map(|c| c.rows.len()).sum();
    let mut h_all = Vec::with_capacity(rows * fan_in);
    let mut d_all = Vec::with_capacity(rows * 2 * k);
    for c in chunks {
        h_all.extend_from_slice(&c.hidden[last]);
        for r in c.d_head.chunks_exact(c.stride) {
            d_all.extend_from_slice(&r[..2 * k]);
        }
    }
    let mut dw = HostMat {
        rows: fan_in,
        cols: 2 * k,
        data: vec![0.0; fan_in * 2 * k],
    };
    gemm(
        &mut dw.data,
        MatRef::new(&h_all, rows, fan_in).t(),
        MatRef::new(&d_all, rows, 2 * k),
        false,
        false,
    );
    let mut db = HostMat {
        rows: 1,
        cols: 2 * k,
        data: vec![0.0; 2 * k],
    };
    add_col_sums(&d_all, &mut db.data);
    let split = |m: &HostMat, half: usize| -> Vec<f32> {
        let mut out = Vec::with_capacity(m.rows * k);
        for row in m.data.chunks_exact(2 * k) {
            out.extend_from_slice(&row[half * k..(half + 1) * k]);
        }
        out
    };
    for half in 0..2 {
        grads.push(HostMat {
            rows: fan_in,
            cols: k,
            data: split(&dw, half),
        });
        grads.push(HostMat {
            rows: 1,
            cols: k,
            data: split(&db, half),
        });
    }
    grads
}

impl Native {
    /// The row-parallel part of a step: forward, decoder and backward pass for every chunk.
    fn backward_chunks(
        &self,
        enc: &GaussianEncoder<HostMat>,
        x: &CsrMatrix,
        eps: &[f32],
        dec: &PackedFactors,
        spec: StepSpec,
    ) -> Result<Vec<ChunkGrads>> {
        let (b, k) = (x.n_rows(), enc.mu.w.cols);
        check_encoder(enc, x)?;
        if dec.k != k || dec.n != x.n_cols() || eps.len() != b * k {
            return Err(ModelError::Data(format!(
                "step shapes differ: batch {b}×{}, k {k}, decoder {}×{}, noise {}",
                x.n_cols(),
                dec.n,
                dec.k,
                eps.len()
            )));
        }
        let work = b * dec.n * k;
        let heads = JointHeads::new(enc);
        Ok(map_chunks(b, work, |rows| {
            let e = &eps[rows.start * k..rows.end * k];
            step_chunk(enc, &heads, x, rows, e, dec, spec)
        }))
    }
}

impl Backend for Native {
    type Mat = HostMat;
    type Batch = NativeBatch;
    type Decoder = PackedFactors;
    const KEEP_BATCHES: bool = true;

    fn upload(&self, data: Vec<f32>, rows: usize, cols: usize) -> Result<HostMat> {
        if data.len() != rows * cols {
            return Err(ModelError::Data(format!(
                "{} values cannot fill a {rows}×{cols} matrix",
                data.len()
            )));
        }
        Ok(HostMat { rows, cols, data })
    }

    fn download(&self, m: &HostMat) -> Result<Vec<f32>> {
        Ok(m.data.clone())
    }

    fn shape(&self, m: &HostMat) -> (usize, usize) {
        (m.rows, m.cols)
    }

    fn batch(&self, x: &CsrMatrix, rows: Range<usize>) -> Result<NativeBatch> {
        let ids: Vec<u32> = (rows.start as u32..rows.end as u32).collect();
        let x = x.select_rows(&ids).map_err(ModelError::model)?;
        let xt = x.transpose();
        Ok(NativeBatch { x, xt })
    }

    fn decoder(&self, other: &HostMat) -> Result<PackedFactors> {
        Ok(PackedFactors::new(&other.data, other.rows, other.cols))
    }

    fn gradients(
        &self,
        enc: &GaussianEncoder<HostMat>,
        batch: &NativeBatch,
        eps: Vec<f32>,
        dec: &PackedFactors,
        spec: StepSpec,
    ) -> Result<StepResult<HostMat>> {
        let x = &batch.x;
        let parts = self.backward_chunks(enc, x, &eps, dec, spec)?;
        let nll = parts.iter().map(|p| p.nll).sum();
        let kl = parts.iter().map(|p| p.kl).sum();
        let grads = weight_grads(enc, x, &parts);
        Ok(StepResult { nll, kl, grads })
    }

    /// The first layer's weight gradient is never formed: each task computes a block of its
    /// rows from the transposed batch and applies Adam to that block at once, while another
    /// task does the remaining (small) gradients and their updates.
    fn train_step(
        &self,
        enc: &mut GaussianEncoder<HostMat>,
        opt: &mut AdamSet<HostMat>,
        batch: &NativeBatch,
        eps: Vec<f32>,
        dec: &PackedFactors,
        spec: StepSpec,
    ) -> Result<(f64, f64)> {
        let (x, xt) = (&batch.x, &batch.xt);
        let parts = self.backward_chunks(enc, x, &eps, dec, spec)?;
        let nll = parts.iter().map(|p| p.nll).sum();
        let kl = parts.iter().map(|p| p.kl).sum();
        if opt.moments_mut().len() != 2 * enc.hidden.len() + 4 {
            return Err(ModelError::Data("optimiser and encoder differ".into()));
        }
        let step = opt.next_step();
        let h0 = enc.hidden[0].w.cols;
        let n_in = x.n_cols();
        let n_hidden = enc.hidden.len();
        let head_shape = (enc.mu.w.rows, enc.mu.w.cols);
        let hidden_shapes: Vec<(usize, usize)> =
            enc.hidden.iter().map(|l| (l.w.rows, l.w.cols)).collect();
        // dL/d(pre-activation) of the first layer for the whole batch.
        let mut d0 = Vec::with_capacity(x.n_rows() * h0);
        for c in &parts {
            d0.extend_from_slice(&c.d_pre[0]);
        }
        let mut params = enc.params_mut();
        let (w1, rest_params) = params.split_first_mut().expect("an encoder has parameters");
        let ((m1, v1), rest_moments) = opt.moments_mut().split_first_mut().expect("same length");
        for (what, t) in [("first moment", &*m1), ("second moment", &*v1)] {
            check_shape(what, t, n_in, h0)?;
        }
        const BLOCK_ROWS: usize = 256;
        let mut tasks: Vec<Task<'_>> = vec![Task::Rest {
            params: rest_params,
            moments: rest_moments,
        }];
        let block = BLOCK_ROWS * h0;
        for (i, ((p, m), v)) in w1
            .data
            .chunks_mut(block)
            .zip(m1.data.chunks_mut(block))
            .zip(v1.data.chunks_mut(block))
            .enumerate()
        {
            tasks.push(Task::Rows {
                first: i * BLOCK_ROWS,
                p,
                m,
                v,
            });
        }
        let parts = &parts;
        team::for_each_mut(&mut tasks, |task| match task {
            Task::Rows { first, p, m, v } => {
                let rows = p.len() / h0;
                let mut g = vec![0.0f32; p.len()];
                sparse::spmm_range(xt, *first..*first + rows, &d0, h0, &mut g);
                optim::update_plain(p, m, v, &g, &step);
            }
            Task::Rest { params, moments } => {
                let grads = other_grads(parts, n_hidden, &hidden_shapes, head_shape);
                for ((p, (m, v)), g) in params.iter_mut().zip(moments.iter_mut()).zip(&grads) {
                    optim::update_plain(&mut p.data, &mut m.data, &mut v.data, &g.data, &step);
                }
            }
        });
        Ok((nll, kl))
    }

    fn sample(
        &self,
        enc: &GaussianEncoder<HostMat>,
        batch: &NativeBatch,
        eps: Vec<f32>,
    ) -> Result<HostMat> {
        let x = &batch.x;
        check_encoder(enc, x)?;
        let (b, k) = (x.n_rows(), enc.mu.w.cols);
        if eps.len() != b * k {
            return Err(ModelError::Data(format!(
                "noise has {} values, expected {}",
                eps.len(),
                b * k
            )));
        }
        let work = x.nnz() * enc.hidden[0].w.cols;
        let heads = JointHeads::new(enc);
        let parts = map_chunks(b, work, |rows| {
            let ChunkForward { mut head, .. } = forward_chunk(enc, &heads, x, rows.clone());
            let mut s = vec![0.0f32; rows.len() * k];
            let e = &eps[rows.start * k..rows.end * k];
            for ((h, s), e) in head
                .chunks_exact_mut(heads.stride())
                .zip(s.chunks_exact_mut(k))
                .zip(e.chunks_exact(k))
            {
                reparam(&mut h[..2 * k], s, e);
            }
            s
        });
        Ok(HostMat {
            rows: b,
            cols: k,
            data: parts.concat(),
        })
    }

    fn mean(&self, enc: &GaussianEncoder<HostMat>, batch: &NativeBatch) -> Result<HostMat> {
        let x = &batch.x;
        check_encoder(enc, x)?;
        let (b, k) = (x.n_rows(), enc.mu.w.cols);
        let work = x.nnz() * enc.hidden[0].w.cols;
        let heads = JointHeads::new(enc);
        let parts = map_chunks(b, work, |rows| {
            let head = forward_chunk(enc, &heads, x, rows.clone()).head;
            let mut mu = Vec::with_capacity(rows.len() * k);
            for r in head.chunks_exact(heads.stride()) {
                mu.extend_from_slice(&r[..k]);
            }
            mu
        });
        Ok(HostMat {
            rows: b,
            cols: k,
            data: parts.concat(),
        })
    }

    fn adam_step(
        &self,
        p: &mut HostMat,
        m: &mut HostMat,
        v: &mut HostMat,
        g: &HostMat,
        step: &AdamStep,
    ) -> Result<()> {
        for (what, t) in [
            ("first moment", &*m),
            ("second moment", &*v),
            ("gradient", g),
        ] {
            check_shape(what, t, p.rows, p.cols)?;
        }
        const CHUNK: usize = 1 << 14;
        if p.data.len() < PAR_MIN {
            optim::update_plain(&mut p.data, &mut m.data, &mut v.data, &g.data, step);
        } else {
            let mut parts: Vec<_> = p
                .data
                .chunks_mut(CHUNK)
                .zip(m.data.chunks_mut(CHUNK))
                .zip(v.data.chunks_mut(CHUNK))
                .zip(g.data.chunks(CHUNK))
                .collect();
            team::for_each_mut(&mut parts, |(((p, m), v), g)| {
                optim::update_plain(p, m, v, g, step)
            });
        }
        Ok(())
    }

    fn set_rows(&self, target: &mut HostMat, start: usize, src: &HostMat) -> Result<()> {
        if src.cols != target.cols || start + src.rows > target.rows {
            return Err(ModelError::Data(format!(
                "cannot write {}×{} rows at row {start} of a {}×{} matrix",
                src.rows, src.cols, target.rows, target.cols
            )));
        }
        target.data[start * target.cols..(start + src.rows) * target.cols]
            .copy_from_slice(&src.data);
        Ok(())
    }
}

/// Checks that `enc`'s layers chain and that its first layer reads `x`'s columns.
fn check_encoder(enc: &GaussianEncoder<HostMat>, x: &CsrMatrix) -> Result<()> {
    let mut fan_in = x.n_cols();
    for (i, l) in enc.hidden.iter().enumerate() {
        check_shape(&format!("layer {i} weight"), &l.w, fan_in, l.w.cols)?;
        check_shape(&format!("layer {i} bias"), &l.b, 1, l.w.cols)?;
        fan_in = l.w.cols;
    }
    if enc.hidden.is_empty() {
        return Err(ModelError::Data("an encoder needs a hidden layer".into()));
    }
    let k = enc.mu.w.cols;
    for (what, l) in [("mu head", &enc.mu), ("std head", &enc.std)] {
        check_shape(what, &l.w, fan_in, k)?;
        check_shape(what, &l.b, 1, k)?;
    }
    Ok(())
}

#[cfg(test)]
mod simd_tests {
    use super::*;
    use crate::simd_paths::{assert_paths_agree, each_level};

    fn data(n: usize, salt: f32, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 * 0.618 + salt).sin() * scale)
            .collect()
    }

    // 37 columns: a remainder past every vector width.
    const ROWS: usize = 7;
    const COLS: usize = 37;
    const K: usize = 19;

    #[test]
    fn activations_agree_across_simd_paths() {
        let x = data(ROWS * COLS, 0.3, 3.0);
        let b = data(COLS, 1.1, 1.0);
        for act in 0..=5u8 {
            let runs = each_level(|_| {
                let mut y = x.clone();
                bias_act(&mut y, &b, act);
                y
            });
            assert_paths_agree(&format!("bias_act {act}"), &runs, 1e-6);
            let y = runs.last().expect("a run").1.clone();
            let runs = each_level(|_| {
                let mut d = x.clone();
                act_grad(&mut d, &y, act.max(1));
                d
            });
            assert_paths_agree(&format!("act_grad {act}"), &runs, 1e-6);
        }
        let runs = each_level(|_| {
            let mut o = b.clone();
            add_col_sums(&x, &mut o);
            o
        });
        assert_paths_agree("add_col_sums", &runs, 1e-6);
    }

    #[test]
    fn reparameterisation_and_likelihoods_agree_across_simd_paths() {
        let head = data(ROWS * 2 * K, 0.7, 2.0);
        let eps = data(ROWS * K, 2.2, 1.5);
        let runs = each_level(|_| {
            let mut h = head.clone();
            let mut s = vec![0.0; ROWS * K];
            for ((h, s), e) in h
                .chunks_exact_mut(2 * K)
                .zip(s.chunks_exact_mut(K))
                .zip(eps.chunks_exact(K))
            {
                reparam(h, s, e);
            }
            h.extend(s);
            h
        });
        assert_paths_agree("reparam", &runs, 1e-6);
        // [μ | σ] with σ in (0, 1), as the reparameterisation leaves the heads.
        let mu_std: Vec<f32> = runs.last().expect("a run").1[..ROWS * 2 * K].to_vec();
        let ds = data(ROWS * K, 0.9, 0.5);
        let runs = each_level(|_| {
            let mut out = Vec::new();
            for r in 0..ROWS {
                let mut d = vec![0.0; 2 * K];
                let kl = gaussian_grad(
                    &ds[r * K..(r + 1) * K],
                    &mu_std[r * 2 * K..(r + 1) * 2 * K],
                    &eps[r * K..(r + 1) * K],
                    0.3,
                    &mut d,
                );
                out.extend(d);
                out.push(kl as f32);
            }
            out
        });
        assert_paths_agree("gaussian_grad", &runs, 1e-6);
        let z = data(ROWS * COLS, 0.4, 4.0);
        let xs: Vec<f32> = (0..COLS).map(|i| 1.0 + (i % 2) as f32).collect();
        for lik in 0..3u8 {
            let runs = each_level(|_| {
                let mut zz = z.clone();
                let loss = zero_likelihood_grad(&mut zz, lik, 0.25);
                let mut stored = z[..COLS].to_vec();
                let corr = stored_likelihood_grad(&mut stored, &xs, lik, 0.25);
                zz.extend(stored);
                // The sums per entry, so that their scale does not hide the gradients'.
                let n = (ROWS * COLS) as f32;
                zz.extend([loss / n, corr / COLS as f32]);
                zz
            });
            assert_paths_agree(&format!("likelihood {lik}"), &runs, 1e-6);
        }
    }

    #[test]
    fn adam_blocks_agree_across_simd_paths() {
        let g = data(1000, 0.2, 1e-2);
        let runs = each_level(|_| {
            let mut adam = optim::Adam::new(1e-2);
            let (mut p, mut m, mut v) = (data(1000, 0.5, 1.0), vec![0.0; 1000], vec![0.0; 1000]);
            for _ in 0..3 {
                let s = adam.next_step();
                optim::update_plain(&mut p, &mut m, &mut v, &g, &s);
            }
            p
        });
        // Separate multiplies and adds: the same bits on every path, the portable one too.
        assert_paths_agree("update_plain", &runs, 0.0);
    }
}
