//! RecVAE's network: where each tensor lives in the flat parameter vectors, the
//! initialisation, and the native engine's forward and backward passes.
//!
//! The encoder's parameters are one flat vector (`fc1.weight` `n_items × hidden`, its bias,
//! `fc2`–`fc5` `hidden × hidden` with biases, the five layer norms' scales and shifts, and
//! the heads `[μ | log σ²]` as one `hidden × 2·factors` weight with its bias); the decoder's
//! another (`factors × n_items` and a bias). A weight is stored `in × out` (`y = x·W + b`).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use recs_core::multiversion;
use recs_sparse::CsrMatrix;

use crate::kernels::rows::{
    add_bias, dropped_input, par_softmax_nll, softmax_nll, sparse_backward_items, sparse_forward,
};
use crate::kernels::{self, MatRef};

/// Dense layers of the encoder.
pub(super) const LAYERS: usize = 5;
/// The layer norms' ε (the authors' 0.1).
pub(super) const LN_EPS: f32 = 0.1;
/// The standard deviation of the reparameterisation's noise in training (the authors').
pub(super) const NOISE_STD: f32 = 0.01;
/// The composite prior's weights: standard normal, the previous encoder's posterior, the
/// wide normal.
pub(super) const MIXTURE: [f32; 3] = [3.0 / 20.0, 3.0 / 4.0, 1.0 / 10.0];
/// The wide normal's log variance.
pub(super) const WIDE_LOG_VAR: f32 = 10.0;
/// `ln 2π`.
const LN_2PI: f32 = 1.837_877_1;
/// Rows per parallel task of the row-wise kernels.
const ROWS_PER_TASK: usize = 32;
/// Parameters per parallel task of an Adam update.
const ADAM_CHUNK: usize = 1 << 15;

/// Where every tensor of the encoder lives in its flat vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Layout {
    pub n_items: usize,
    pub hidden: usize,
    pub factors: usize,
    pub fc_w: [usize; LAYERS],
    pub fc_b: [usize; LAYERS],
    pub ln_g: [usize; LAYERS],
    pub ln_b: [usize; LAYERS],
    pub head_w: usize,
    pub head_b: usize,
    /// The encoder's parameter count.
    pub len: usize,
}

impl Layout {
    pub(super) fn new(n_items: usize, hidden: usize, factors: usize) -> Self {
        let mut at = 0;
        let mut take = |n: usize| {
            let start = at;
            at += n;
            start
        };
        let (mut fc_w, mut fc_b) = ([0; LAYERS], [0; LAYERS]);
        for i in 0..LAYERS {
            fc_w[i] = take(Self::fan_in_of(i, n_items, hidden) * hidden);
            fc_b[i] = take(hidden);
        }
        let (mut ln_g, mut ln_b) = ([0; LAYERS], [0; LAYERS]);
        for i in 0..LAYERS {
            ln_g[i] = take(hidden);
            ln_b[i] = take(hidden);
        }
        let head_w = take(hidden * 2 * factors);
        let head_b = take(2 * factors);
        Self {
            n_items,
            hidden,
            factors,
            fc_w,
            fc_b,
            ln_g,
            ln_b,
            head_w,
            head_b,
            len: at,
        }
    }

    fn fan_in_of(i: usize, n_items: usize, hidden: usize) -> usize {
        if i == 0 { n_items } else { hidden }
    }

    /// Inputs of dense layer `i`.
    pub(super) fn fan_in(&self, i: usize) -> usize {
        Self::fan_in_of(i, self.n_items, self.hidden)
    }

    /// Every encoder tensor: its name in a model file, offset and shape, in vector order.
    pub(super) fn tensors(&self) -> Vec<(String, usize, Vec<usize>)> {
        let h = self.hidden;
        let mut out = Vec::new();
        for i in 0..LAYERS {
            out.push((
                format!("encoder.fc{}.weight", i + 1),
                self.fc_w[i],
                vec![self.fan_in(i), h],
            ));
            out.push((format!("encoder.fc{}.bias", i + 1), self.fc_b[i], vec![h]));
        }
        for i in 0..LAYERS {
            out.push((format!("encoder.ln{}.weight", i + 1), self.ln_g[i], vec![h]));
            out.push((format!("encoder.ln{}.bias", i + 1), self.ln_b[i], vec![h]));
        }
        out.push((
            "encoder.head.weight".into(),
            self.head_w,
            vec![h, 2 * self.factors],
        ));
        out.push((
            "encoder.head.bias".into(),
            self.head_b,
            vec![2 * self.factors],
        ));
        out
    }

    /// The decoder's parameter count (`factors × n_items` weights, then `n_items` biases).
    pub(super) fn dec_len(&self) -> usize {
        (self.factors + 1) * self.n_items
    }
}

/// `out ← U(−bound, bound)` draws.
fn uniform(rng: &mut ChaCha8Rng, out: &mut [f32], bound: f32) {
    for v in out {
        *v = (rng.random::<f32>() * 2.0 - 1.0) * bound;
    }
}

/// A freshly initialised encoder as PyTorch initialises its layers: every linear layer's
/// weight and bias `U(±1/√fan_in)`, layer norms scale 1, shift 0.
pub(super) fn init_encoder(l: &Layout, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let h = l.hidden;
    let mut enc = vec![0.0f32; l.len];
    for i in 0..LAYERS {
        let bound = 1.0 / (l.fan_in(i) as f32).sqrt();
        uniform(rng, &mut enc[l.fc_w[i]..l.fc_w[i] + l.fan_in(i) * h], bound);
        uniform(rng, &mut enc[l.fc_b[i]..l.fc_b[i] + h], bound);
        enc[l.ln_g[i]..l.ln_g[i] + h].fill(1.0);
    }
    let bound = 1.0 / (h as f32).sqrt();
    let k2 = 2 * l.factors;
    uniform(rng, &mut enc[l.head_w..l.head_w + h * k2], bound);
    uniform(rng, &mut enc[l.head_b..l.head_b + k2], bound);
    enc
}

/// A freshly initialised decoder (PyTorch's linear layer: `U(±1/√factors)`).
pub(super) fn init_decoder(l: &Layout, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut dec = vec![0.0f32; l.dec_len()];
    uniform(rng, &mut dec, 1.0 / (l.factors as f32).sqrt());
    dec
}

/// `Σ a[i]·b[i]` in 16 lanes (so that it vectorises), the lanes summed in order.
#[inline(always)]
fn lane_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
        acc[l] += x * y;
    }
    acc.iter().sum()
}

/// `Σ a[i]` in 16 lanes.
#[inline(always)]
fn lane_sum(a: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let c = a.chunks_exact(16);
    let r = c.remainder();
    for x in c {
        for l in 0..16 {
            acc[l] += x[l];
        }
    }
    for (l, x) in r.iter().enumerate() {
        acc[l] += x;
    }
    acc.iter().sum()
}

multiversion! {
    /// Each row of `pre` (width `g.len()`) through swish and layer norm: `xhat` the
    /// normalised swish, `out = g ⊙ xhat + b`, `rstd` each row's `1/√(var + ε)`.
    fn swish_norm<M>(pre: &[f32], g: &[f32], b: &[f32], xhat: &mut [f32], out: &mut [f32], rstd: &mut [f32]) {
        let h = g.len();
        for (((a, xh), o), rs) in pre
            .chunks_exact(h)
            .zip(xhat.chunks_exact_mut(h))
            .zip(out.chunks_exact_mut(h))
            .zip(rstd.iter_mut())
        {
            for (x, &v) in xh.iter_mut().zip(a) {
                *x = v * kernels::sigmoid::<M>(v);
            }
            let mean = lane_sum(xh) / h as f32;
            for x in xh.iter_mut() {
                *x -= mean;
            }
            let var = lane_dot(xh, xh) / h as f32;
            let r = 1.0 / (var + LN_EPS).sqrt();
            for (((x, o), &gg), &bb) in xh.iter_mut().zip(o.iter_mut()).zip(g).zip(b) {
                *x *= r;
                *o = gg * *x + bb;
            }
            *rs = r;
        }
    }
}

multiversion! {
    /// Back through layer norm and swish, row by row: from `dout` (∂loss/∂output) to `da`
    /// (∂loss/∂pre-activation).
    fn norm_swish_back<M>(dout: &[f32], xhat: &[f32], rstd: &[f32], pre: &[f32], g: &[f32], da: &mut [f32]) {
        let h = g.len();
        for ((((d, xh), &rs), a), o) in dout
            .chunks_exact(h)
            .zip(xhat.chunks_exact(h))
            .zip(rstd)
            .zip(pre.chunks_exact(h))
            .zip(da.chunks_exact_mut(h))
        {
            for ((o, &dv), &gg) in o.iter_mut().zip(d).zip(g) {
                *o = dv * gg;
            }
            let (m1, m2) = (lane_sum(o) / h as f32, lane_dot(o, xh) / h as f32);
            for ((o, &x), &av) in o.iter_mut().zip(xh).zip(a) {
                let sg = kernels::sigmoid::<M>(av);
                *o = rs * (*o - m1 - x * m2) * (sg * (1.0 + av * (1.0 - sg)));
            }
        }
    }
}

/// The elements of [`ROWS_PER_TASK`] rows of width `h`: one parallel task of the row-wise
/// kernels.
fn row_tasks(h: usize) -> usize {
    ROWS_PER_TASK * h.max(1)
}

/// An encoder's forward pass over a batch, with what the backward pass needs.
pub(super) struct Encoded {
    /// Per dense layer: the pre-activation, `rows × hidden`.
    pre: Vec<Vec<f32>>,
    /// Per layer: the normalised swish, `rows × hidden`.
    xhat: Vec<Vec<f32>>,
    /// Per layer: each row's `1/√(var + ε)`.
    rstd: Vec<Vec<f32>>,
    /// Per layer: its output, `rows × hidden`.
    out: Vec<Vec<f32>>,
    /// `[μ | log σ²]`, `rows × 2·factors`.
    pub head: Vec<f32>,
}

/// The encoder `enc` on the batch `input` (`(row, item, value)` entries of `rows` rows);
/// `par`: its products split over rayon's threads (not where the caller already runs
/// batches side by side). The result is the same either way.
pub(super) fn encode(
    l: &Layout,
    enc: &[f32],
    input: &[(u32, u32, f32)],
    rows: usize,
    par: bool,
) -> Encoded {
    let h = l.hidden;
    let mut e = Encoded {
        pre: Vec::with_capacity(LAYERS),
        xhat: Vec::with_capacity(LAYERS),
        rstd: Vec::with_capacity(LAYERS),
        out: Vec::with_capacity(LAYERS),
        head: Vec::new(),
    };
    let mut skip = vec![0.0f32; rows * h];
    for i in 0..LAYERS {
        let mut a = vec![0.0f32; rows * h];
        let w = &enc[l.fc_w[i]..l.fc_w[i] + l.fan_in(i) * h];
        if i == 0 {
            sparse_forward(input, w, h, &mut a);
        } else {
            let x = MatRef::new(&e.out[i - 1], rows, h);
            kernels::gemm(&mut a, x, MatRef::new(w, h, h), false, par);
        }
        add_bias(&mut a, &enc[l.fc_b[i]..l.fc_b[i] + h]);
        if i > 0 {
            add_into(&mut a, &skip);
        }
        let (mut xhat, mut out, mut rstd) =
            (vec![0.0; rows * h], vec![0.0; rows * h], vec![0.0; rows]);
        let (g, b) = (
            &enc[l.ln_g[i]..l.ln_g[i] + h],
            &enc[l.ln_b[i]..l.ln_b[i] + h],
        );
        let t = row_tasks(h);
        a.par_chunks(t)
            .zip(xhat.par_chunks_mut(t))
            .zip(out.par_chunks_mut(t))
            .zip(rstd.par_chunks_mut(ROWS_PER_TASK))
            .for_each(|(((a, x), o), r)| swish_norm(a, g, b, x, o, r));
        if i + 1 < LAYERS {
            add_into(&mut skip, &out);
        }
        e.pre.push(a);
        e.xhat.push(xhat);
        e.rstd.push(rstd);
        e.out.push(out);
    }
    let k2 = 2 * l.factors;
    let mut head = vec![0.0f32; rows * k2];
    kernels::gemm(
        &mut head,
        MatRef::new(&e.out[LAYERS - 1], rows, h),
        MatRef::new(&enc[l.head_w..l.head_w + h * k2], h, k2),
        false,
        par,
    );
    add_bias(&mut head, &enc[l.head_b..l.head_b + k2]);
    e.head = head;
    e
}

/// `a += b`.
fn add_into(a: &mut [f32], b: &[f32]) {
    for (x, &y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// Columns per task where column sums run on rayon's threads.
const COLUMNS_PER_TASK: usize = 64;

/// `out ← Σ_m Σ_rows m` over the `rows × out.len()` matrices `ms`, in order: slices of
/// columns on rayon's threads, each column summed over the matrices' rows in order.
fn column_sums(ms: &[&[f32]], out: &mut [f32]) {
    let w = out.len();
    out.par_chunks_mut(COLUMNS_PER_TASK)
        .enumerate()
        .for_each(|(c, out)| {
            let c0 = c * COLUMNS_PER_TASK;
            out.fill(0.0);
            for m in ms {
                for row in m.chunks_exact(w) {
                    add_into(out, &row[c0..c0 + out.len()]);
                }
            }
        });
}

/// The backward pass of one part of a batch down to every layer's deltas (no weight
/// gradient yet): from `dhead` (∂loss/∂`[μ | log σ²]`) and the forward pass `e` of `rows`
/// rows Its products run on the calling thread (the batch's parts run side by side).
struct Deltas {
    /// Per layer: ∂loss/∂(its output), `rows × hidden`.
    dout: Vec<Vec<f32>>,
    /// Per layer: ∂loss/∂(its pre-activation), `rows × hidden`.
    da: Vec<Vec<f32>>,
}

fn deltas(l: &Layout, enc: &[f32], e: &Encoded, rows: usize, dhead: &[f32]) -> Deltas {
    let h = l.hidden;
    let k2 = 2 * l.factors;
    let mut d = Deltas {
        dout: vec![Vec::new(); LAYERS],
        da: vec![Vec::new(); LAYERS],
    };
    // dout: ∂loss/∂(the layer's output); skip: Σ of the later layers' da (their skip inputs).
    let mut dout = vec![0.0f32; rows * h];
    kernels::gemm(
        &mut dout,
        MatRef::new(dhead, rows, k2),
        MatRef::new(&enc[l.head_w..l.head_w + h * k2], h, k2).t(),
        false,
        false,
    );
    let mut skip = vec![0.0f32; rows * h];
    for i in (0..LAYERS).rev() {
        if i + 1 < LAYERS {
            let w = &enc[l.fc_w[i + 1]..l.fc_w[i + 1] + h * h];
            dout = vec![0.0f32; rows * h];
            kernels::gemm(
                &mut dout,
                MatRef::new(&d.da[i + 1], rows, h),
                MatRef::new(w, h, h).t(),
                false,
                false,
            );
            add_into(&mut dout, &skip);
        }
        let mut da = vec![0.0f32; rows * h];
        let gamma = &enc[l.ln_g[i]..l.ln_g[i] + h];
        let t = row_tasks(h);
        dout.par_chunks(t)
            .zip(e.xhat[i].par_chunks(t))
            .zip(e.rstd[i].par_chunks(ROWS_PER_TASK))
            .zip(e.pre[i].par_chunks(t))
            .zip(da.par_chunks_mut(t))
            .for_each(|((((d, x), r), a), o)| norm_swish_back(d, x, r, a, gamma, o));
        if i > 0 {
            add_into(&mut skip, &da);
        }
        d.dout[i] = std::mem::take(&mut dout);
        d.da[i] = da;
    }
    d
}

/// One part of a batch after its forward and backward passes: its input entries (rows
/// from 0), forward pass, ∂loss/∂head and deltas.
struct Part {
    input: Vec<(u32, u32, f32)>,
    e: Encoded,
    dhead: Vec<f32>,
    d: Deltas,
}

/// A part's row-major matrix (picked by the function) and its width.
type Operand<'a> = (&'a dyn Fn(&Part) -> &[f32], usize);

/// `dst = Σ_parts aᵀ · b` over the parts in order, `a(p)` and `b(p)` a part's row-major
/// matrices of widths `wa` and `wb`, on the calling thread.
fn sum_products(parts: &[Part], dst: &mut [f32], (a, wa): Operand<'_>, (b, wb): Operand<'_>) {
    for (n, p) in parts.iter().enumerate() {
        let r = b(p).len() / wb;
        kernels::gemm(
            dst,
            MatRef::new(a(p), r, wa).t(),
            MatRef::new(b(p), r, wb),
            n > 0,
            false,
        );
    }
}

/// `dst = Σ_parts Σ_rows m(p)`, the parts in order ([`column_sums`]).
fn sum_rows(parts: &[Part], dst: &mut [f32], m: &(dyn Fn(&Part) -> &[f32] + Sync)) {
    let ms: Vec<&[f32]> = parts.iter().map(m).collect();
    column_sums(&ms, dst);
}

/// The encoder's gradient into `g` (overwritten) from the parts of a batch, in row order
/// (each weight gradient a sum over the parts; the column sums run over the rows in order).
/// The layers' weight products run side by side, each on one thread; the result does not
/// depend on the thread count.
fn weight_gradients(l: &Layout, parts: &[Part], g: &mut [f32]) {
    let h = l.hidden;
    let k2 = 2 * l.factors;
    // The layout's tensors as disjoint slices, in its order.
    let mut rest = g;
    let mut take = |at: usize, n: usize| {
        debug_assert_eq!(l.len - rest.len(), at, "the layout's order");
        let (a, b) = std::mem::take(&mut rest).split_at_mut(n);
        rest = b;
        a
    };
    let mut fc = Vec::with_capacity(LAYERS);
    for i in 0..LAYERS {
        let w = take(l.fc_w[i], l.fan_in(i) * h);
        fc.push((w, take(l.fc_b[i], h)));
    }
    let mut ln = Vec::with_capacity(LAYERS);
    for i in 0..LAYERS {
        let gg = take(l.ln_g[i], h);
        ln.push((gg, take(l.ln_b[i], h)));
    }
    let (head_w, head_b) = (take(l.head_w, h * k2), take(l.head_b, k2));
    rayon::scope(|s| {
        s.spawn(|_| {
            sum_products(
                parts,
                head_w,
                (&|p| &p.e.out[LAYERS - 1], h),
                (&|p| &p.dhead, k2),
            );
            sum_rows(parts, head_b, &|p| &p.dhead);
        });
        for (i, ((gw, gb), (gg, gs))) in fc.into_iter().zip(ln).enumerate() {
            s.spawn(move |_| {
                layer_norm_gradients(parts, i, h, gg, gs);
                sum_rows(parts, gb, &|p| &p.d.da[i]);
                if i > 0 {
                    sum_products(parts, gw, (&|p| &p.e.out[i - 1], h), (&|p| &p.d.da[i], h));
                } else {
                    // Slices of items on rayon's threads; each scans the batch's entries.
                    let items = l.n_items.div_ceil(4 * rayon::current_num_threads()).max(64);
                    gw.par_chunks_mut(items * h)
                        .enumerate()
                        .for_each(|(c, gw)| {
                            gw.fill(0.0);
                            for p in parts {
                                let first = (c * items) as u32;
                                sparse_backward_items(&p.input, &p.d.da[0], h, first, gw);
                            }
                        });
                }
            });
        }
    });
}

/// Layer `i`'s norm scale and shift gradients into `gg` and `gb` (overwritten): columns in
/// slices on rayon's threads, each summed over the parts' rows in order.
fn layer_norm_gradients(parts: &[Part], i: usize, h: usize, gg: &mut [f32], gb: &mut [f32]) {
    gg.par_chunks_mut(COLUMNS_PER_TASK)
        .zip(gb.par_chunks_mut(COLUMNS_PER_TASK))
        .enumerate()
        .for_each(|(c, (gg, gb))| {
            let cols = c * COLUMNS_PER_TASK..c * COLUMNS_PER_TASK + gg.len();
            gg.fill(0.0);
            gb.fill(0.0);
            for p in parts {
                let rows = p.d.dout[i].chunks_exact(h).zip(p.e.xhat[i].chunks_exact(h));
                for (d, x) in rows {
                    let (d, x) = (&d[cols.clone()], &x[cols.clone()]);
                    for ((a, b), (&dv, &xv)) in
                        gg.iter_mut().zip(gb.iter_mut()).zip(d.iter().zip(x))
                    {
                        *a += dv * xv;
                        *b += dv;
                    }
                }
            }
        });
}

/// `logits = z · W + b` of the decoder `dec`, `rows × n_items`; `par` as for [`encode`].
pub(super) fn decode(l: &Layout, dec: &[f32], z: &[f32], rows: usize, par: bool) -> Vec<f32> {
    let (k, n) = (l.factors, l.n_items);
    let mut logits = vec![0.0f32; rows * n];
    kernels::gemm(
        &mut logits,
        MatRef::new(z, rows, k),
        MatRef::new(&dec[..k * n], k, n),
        false,
        par,
    );
    add_bias(&mut logits, &dec[k * n..]);
    logits
}

/// `z = μ + s ⊙ σ` of a head `[μ | log σ²]` and scaled noise `s` (`z = μ` without noise).
pub(super) fn sample(l: &Layout, head: &[f32], noise: Option<&[f32]>) -> Vec<f32> {
    let k = l.factors;
    let rows = head.len() / (2 * k);
    let mut z = vec![0.0f32; rows * k];
    for j in 0..rows {
        for c in 0..k {
            let mu = head[j * 2 * k + c];
            z[j * k + c] = match noise {
                Some(s) => mu + s[j * k + c] * (0.5 * head[j * 2 * k + k + c]).exp(),
                None => mu,
            };
        }
    }
    z
}

/// A batch's draws, as every engine takes them: the input entries (normalised and, in an
/// encoder pass, dropped out; one uniform draw per entry, in row order) then the noise
/// `0.01 · ε`, `rows × factors` standard normals scaled.
pub(super) fn draws(
    l: &Layout,
    dropout: f32,
    x: &CsrMatrix,
    rows: &[u32],
    rng: &mut ChaCha8Rng,
) -> (Vec<(u32, u32, f32)>, Vec<f32>) {
    let input = dropped_input(dropout, x, rows, Some(rng));
    (input, noise(l, rows.len(), rng))
}

/// The noise `0.01 · ε` of `rows` rows (standard normals drawn from `rng`, scaled).
pub(super) fn noise(l: &Layout, rows: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut noise = kernels::normals(rng, rows * l.factors);
    noise.iter_mut().for_each(|v| *v *= NOISE_STD);
    noise
}

/// The KL weight of each row of `rows` of `x`: `kl_weight(|x|)`.
pub(super) fn kl_weights(x: &CsrMatrix, rows: &[u32], kl_weight: impl Fn(f32) -> f32) -> Vec<f32> {
    rows.iter()
        .map(|&r| kl_weight(x.row(r as usize).values.iter().sum()))
        .collect()
}

/// `log N(z; m, e^lv)` per coordinate.
#[inline]
fn log_normal(z: f32, m: f32, lv: f32) -> f32 {
    -0.5 * (lv + LN_2PI + (z - m) * (z - m) * (-lv).exp())
}

/// The KL part of (part of) a batch of `batch` rows: from the head `[μ | log σ²]`, the prior
/// encoder's head `old`, the scaled noise `noise`, the rows' KL weights `w` and `dz`
/// (∂loss/∂z of the likelihood, already divided by `batch`), returns `Σ_rows w · Σ (log q(z)
/// − log p(z))` and ∂loss/∂head, the loss being divided by `batch`.
pub(super) fn kl_head(
    l: &Layout,
    head: &[f32],
    old: &[f32],
    noise: &[f32],
    w: &[f32],
    dz: &[f32],
    batch: usize,
) -> (f64, Vec<f32>) {
    let k = l.factors;
    let rows = w.len();
    let inv = 1.0 / batch as f32;
    let ln_w = MIXTURE.map(f32::ln);
    let mut dhead = vec![0.0f32; rows * 2 * k];
    let mut total = 0.0f64;
    for j in 0..rows {
        let c_u = w[j] * inv;
        let mut row_kl = 0.0f64;
        for c in 0..k {
            let (mu, lv) = (head[j * 2 * k + c], head[j * 2 * k + k + c]);
            let (pm, plv) = (old[j * 2 * k + c], old[j * 2 * k + k + c]);
            let s = noise[j * k + c];
            let sd = (0.5 * lv).exp();
            let z = mu + s * sd;
            let comps = [(0.0, 0.0), (pm, plv), (0.0, WIDE_LOG_VAR)];
            let g = [0, 1, 2].map(|i| ln_w[i] + log_normal(z, comps[i].0, comps[i].1));
            let m = g[0].max(g[1]).max(g[2]);
            let sum: f32 = g.iter().map(|&v| (v - m).exp()).sum();
            let lse = m + sum.ln();
            row_kl += f64::from(log_normal(z, mu, lv) - lse);
            // ∂ log p / ∂z: the responsibilities times each component's −(z − m)/σ².
            let mut dlogp = 0.0f32;
            for i in 0..3 {
                dlogp -= (g[i] - lse).exp() * (z - comps[i].0) * (-comps[i].1).exp();
            }
            // log q's total derivative is 0 in μ and −½ in log σ²; log p's goes through z.
            let gz = dz[j * k + c] - c_u * dlogp;
            dhead[j * 2 * k + c] = gz;
            dhead[j * 2 * k + k + c] = gz * 0.5 * s * sd - 0.5 * c_u;
        }
        total += f64::from(w[j]) * row_kl;
    }
    (total, dhead)
}

/// One encoder step's loss (the batch mean negative ELBO) and the encoder's gradient into
/// `g`: the batch `rows` of `x` through the encoder `enc` (input dropout `dropout`) and the
/// decoder `dec`, against the prior whose encoder gave the batch the heads `prior`
/// (`rows × 2·factors`, [`heads`]), drawing from `rng`.
///
/// The batch's draws are taken first, in row order; then its two halves run their forward
/// and backward passes in parallel, and the weight gradients sum the halves in order: the
/// result does not depend on the thread count.
#[allow(clippy::too_many_arguments)]
pub(super) fn encoder_step(
    l: &Layout,
    dropout: f32,
    kl_weight: impl Fn(f32) -> f32,
    (enc, dec): (&[f32], &[f32]),
    prior: &[f32],
    x: &CsrMatrix,
    rows: &[u32],
    rng: &mut ChaCha8Rng,
    g: &mut [f32],
) -> f64 {
    let b = rows.len();
    let (input, noise) = draws(l, dropout, x, rows, rng);
    let w = kl_weights(x, rows, kl_weight);
    let half = b.div_ceil(2);
    let (k, k2) = (l.factors, 2 * l.factors);
    let split = input.partition_point(|e| (e.0 as usize) < half);
    let (in1, in2) = input.split_at(split);
    let in2: Vec<(u32, u32, f32)> = in2
        .iter()
        .map(|&(j, i, v)| (j - half as u32, i, v))
        .collect();
    let part = |input: Vec<(u32, u32, f32)>, r: std::ops::Range<usize>| {
        encoder_part(
            l,
            (enc, dec),
            (
                &prior[r.start * k2..r.end * k2],
                &noise[r.start * k..r.end * k],
                &w[r.clone()],
            ),
            x,
            &rows[r],
            b,
            input,
        )
    };
    let ((loss1, p1), (loss2, p2)) =
        rayon::join(|| part(in1.to_vec(), 0..half), || part(in2, half..b));
    weight_gradients(l, &[p1, p2], g);
    (loss1 + loss2) / b as f64
}

/// The forward and backward passes of one part of an encoder step's batch (`rows` of `x`,
/// of a batch of `batch` rows; its prior heads, noise and KL weights in `draws`): its
/// summed loss and what the weight gradients need.
fn encoder_part(
    l: &Layout,
    (enc, dec): (&[f32], &[f32]),
    (prior, noise, w): (&[f32], &[f32], &[f32]),
    x: &CsrMatrix,
    rows: &[u32],
    batch: usize,
    input: Vec<(u32, u32, f32)>,
) -> (f64, Part) {
    let b = rows.len();
    // The batch's parts run side by side: each part's products on its own thread.
    let e = encode(l, enc, &input, b, false);
    let z = sample(l, &e.head, Some(noise));
    let mut logits = decode(l, dec, &z, b, false);
    let nll = softmax_nll(&mut logits, x, rows, 1.0 / batch as f32);
    let (k, n) = (l.factors, l.n_items);
    let mut dz = vec![0.0f32; b * k];
    kernels::gemm(
        &mut dz,
        MatRef::new(&logits, b, n),
        MatRef::new(&dec[..k * n], k, n).t(),
        false,
        false,
    );
    let (kl, dhead) = kl_head(l, &e.head, prior, noise, w, &dz, batch);
    let d = deltas(l, enc, &e, b, &dhead);
    (nll + kl, Part { input, e, dhead, d })
}

/// One decoder step's loss (the batch mean negative log-likelihood) and the decoder's
/// gradient into `g`: the batch `rows` of `x`, whose encoder heads without dropout are
/// `heads` (the encoder is fixed in a decoder pass), sampled with noise drawn from `rng`.
pub(super) fn decoder_step(
    l: &Layout,
    heads: &[f32],
    dec: &[f32],
    x: &CsrMatrix,
    rows: &[u32],
    rng: &mut ChaCha8Rng,
    g: &mut [f32],
) -> f64 {
    let b = rows.len();
    let noise = noise(l, rows.len(), rng);
    let z = sample(l, heads, Some(&noise));
    let mut logits = decode(l, dec, &z, b, true);
    let nll = par_softmax_nll(&mut logits, x, rows, 1.0 / b as f32);
    let (k, n) = (l.factors, l.n_items);
    let (gw, gb) = g.split_at_mut(k * n);
    kernels::gemm(
        gw,
        MatRef::new(&z, b, k).t(),
        MatRef::new(&logits, b, n),
        false,
        true,
    );
    column_sums(&[&logits], gb);
    nll / b as f64
}

/// The heads `[μ | log σ²]` of the encoder `enc` on every row of `x` without dropout
/// (`n_rows × 2·factors`): what the prior's encoder gives a batch, and what a decoder pass
/// samples from.
pub(super) fn heads(l: &Layout, enc: &[f32], x: &CsrMatrix) -> Vec<f32> {
    // Chunks of a fixed size on rayon's threads (each row's heads depend only on its chunk's
    // fixed bounds, not on the thread count).
    let all: Vec<u32> = (0..x.n_rows() as u32).collect();
    let parts: Vec<Vec<f32>> = all
        .par_chunks(recs_core::ranking::BATCH)
        .map(|chunk| {
            let input = dropped_input(0.0, x, chunk, None);
            encode(l, enc, &input, chunk.len(), false).head
        })
        .collect();
    parts.concat()
}

/// The rows `rows` of a row-major matrix `m` of width `w`.
pub(super) fn gather(m: &[f32], w: usize, rows: &[u32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len() * w);
    for &r in rows {
        out.extend_from_slice(&m[r as usize * w..(r as usize + 1) * w]);
    }
    out
}

/// Logits of `rows` of `x` at inference (no dropout, `z = μ`), `rows.len() × n_items`.
pub(super) fn logits(
    l: &Layout,
    enc: &[f32],
    dec: &[f32],
    x: &CsrMatrix,
    rows: &[u32],
) -> Vec<f32> {
    let input = dropped_input(0.0, x, rows, None);
    let e = encode(l, enc, &input, rows.len(), true);
    decode(l, dec, &sample(l, &e.head, None), rows.len(), true)
}

/// One Adam step of `p` (moments `m`, `v`) with gradient `g`, in parallel chunks.
pub(super) fn adam_step(
    adam: &mut crate::optim::Adam,
    p: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    g: &[f32],
) {
    let s = adam.next_step();
    p.par_chunks_mut(ADAM_CHUNK)
        .zip(m.par_chunks_mut(ADAM_CHUNK))
        .zip(v.par_chunks_mut(ADAM_CHUNK))
        .zip(g.par_chunks(ADAM_CHUNK))
        .for_each(|(((p, m), v), g)| crate::optim::update_plain(p, m, v, g, &s));
}
