//! Mult-VAE and Mult-DAE (Liang, Krishnan, Hoffman & Jebara, "Variational Autoencoders for
//! Collaborative Filtering", WWW 2018), as the PyTorch reference `multvae_torch.py` and the
//! authors' `vae_cf` compute them.
//!
//! A user's row `x` (item counts, usually 0/1) is L2-normalised, dropped out (training only),
//! and encoded by tanh layers; the VAE's last encoder layer gives `[μ | log σ²]` and samples
//! `z = μ + ε ⊙ σ` in training (`z = μ` at inference), the DAE's gives `z = tanh(·)`. The
//! decoder mirrors the encoder and ends in logits over every item; the loss is the
//! multinomial log-likelihood `−Σᵢ xᵢ log softmax(logits)ᵢ` averaged over the batch, plus
//! `β · KL(q(z|x) ‖ N(0, I))` for the VAE with `β = min(cap, step / total_anneal_steps)`, plus
//! an optional L2 term. Adam, seeded shuffled batches, and the epoch with the best validation
//! NDCG@100 kept.
//!
//! The first layer reads the sparse batch directly (each stored entry adds a weight row);
//! the dense layers are `gemm` products; the softmax and its gradient are one fused pass per
//! row. Users not seen in training are scored from their fold-in rows ([`MultVae::scorer`]).

use std::path::Path;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use recs_metrics::{Candidates, EvalConfig, Metric, ScoreError, Scorer};
use recs_sparse::CsrMatrix;
use serde::{Deserialize, Serialize};

use crate::error::{Result, VaeError};
use crate::kernels::{self, MatRef};
use recs_core::multiversion;
use crate::optim::{self, Adam};
use crate::persist::{self, ModelMeta, NamedTensor};
use crate::train::{EpochReport, Progress};

/// Model kinds written in model files.
pub const MODEL_KIND_VAE: &str = "multvae";
/// See [`MODEL_KIND_VAE`].
pub const MODEL_KIND_DAE: &str = "multdae";

/// Hyper-parameters of [`MultVae`]; the defaults are the paper's Mult-VAE on ml-20m
/// ([I-600-200-600-I], batch 500, 200 000 annealing steps) except the batch (100) and
/// annealing (1 000 steps), which follow the ml-100k reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultVaeParams {
    /// `true` (default): Mult-VAE; `false`: Mult-DAE (no KL term, `z = tanh(·)`).
    pub variational: bool,
    /// Encoder hidden layers (default `[600]`; each 1..=65536); the decoder mirrors them.
    pub hidden: Vec<usize>,
    /// Latent dimension (default 200; 1..=65536).
    pub latent: usize,
    /// Dropout on the normalised input in training (default 0.5; in [0, 1)).
    pub dropout: f32,
    /// Epochs (default 200; 1..=100000).
    pub n_epochs: usize,
    /// Users per batch (default 100; ≥ 1).
    pub batch_size: usize,
    /// Adam's learning rate (default 0.001; in (0, 1]).
    pub learning_rate: f64,
    /// Largest β (default 0.2; ≥ 0).
    pub anneal_cap: f32,
    /// β = min(cap, step / this); 0 means a fixed β = cap (default 1000).
    pub total_anneal_steps: usize,
    /// L2 weight λ: λ · Σ‖W‖² over the weights (not biases) is added to every batch's loss,
    /// as `vae_cf` does (default 0; ≥ 0).
    pub weight_decay: f32,
    /// Stop after this many epochs without a better validation NDCG@100 (default `None`).
    pub patience: Option<usize>,
    /// Seed of the initialisation, shuffles, dropout and noise (default 42).
    pub seed: u64,
}

impl Default for MultVaeParams {
    fn default() -> Self {
        Self {
            variational: true,
            hidden: vec![600],
            latent: 200,
            dropout: 0.5,
            n_epochs: 200,
            batch_size: 100,
            learning_rate: 1e-3,
            anneal_cap: 0.2,
            total_anneal_steps: 1000,
            weight_decay: 0.0,
            patience: None,
            seed: 42,
        }
    }
}

impl MultVaeParams {
    /// Checks every parameter against its documented range.
    pub fn validate(&self) -> Result<()> {
        if self.hidden.iter().any(|&h| !(1..=65536).contains(&h)) {
            return Err(VaeError::invalid(
                "hidden",
                format!("{:?}", self.hidden),
                "sizes in 1..=65536",
            ));
        }
        if !(1..=65536).contains(&self.latent) {
            return Err(VaeError::invalid("latent", self.latent, "in 1..=65536"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(VaeError::invalid("dropout", self.dropout, "in [0, 1)"));
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
        if !(self.anneal_cap.is_finite() && self.anneal_cap >= 0.0) {
            return Err(VaeError::invalid(
                "anneal_cap",
                self.anneal_cap,
                "finite and ≥ 0",
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(VaeError::invalid(
                "weight_decay",
                self.weight_decay,
                "finite and ≥ 0",
            ));
        }
        if self.patience == Some(0) {
            return Err(VaeError::invalid("patience", 0, "at least 1 (or None)"));
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        if self.variational {
            MODEL_KIND_VAE
        } else {
            MODEL_KIND_DAE
        }
    }
}

/// One dense layer's place in the flat parameter vector: `w` is `fan_in × fan_out`
/// (`y = x·W + b`), then `b`.
#[derive(Debug, Clone, Copy)]
struct Layer {
    w: usize,
    b: usize,
    fan_in: usize,
    fan_out: usize,
}

/// The layer layout of a network over `n_items` items.
fn layout(p: &MultVaeParams, n_items: usize) -> (Vec<Layer>, usize, usize) {
    let mut dims = vec![n_items];
    dims.extend(&p.hidden);
    let head = if p.variational {
        2 * p.latent
    } else {
        p.latent
    };
    dims.push(head);
    let mut dec = vec![p.latent];
    dec.extend(p.hidden.iter().rev());
    dec.push(n_items);
    let mut layers = Vec::new();
    let mut at = 0;
    let n_enc = dims.len() - 1;
    for w in dims.windows(2).chain(dec.windows(2)) {
        let (i, o) = (w[0], w[1]);
        layers.push(Layer {
            w: at,
            b: at + i * o,
            fan_in: i,
            fan_out: o,
        });
        at += i * o + o;
    }
    (layers, n_enc, at)
}

/// A trained Mult-VAE or Mult-DAE.
#[derive(Debug, Clone)]
pub struct MultVae {
    params: MultVaeParams,
    n_items: usize,
    layers: Vec<Layer>,
    n_enc: usize,
    theta: Vec<f32>,
    epochs_trained: usize,
    best_epoch: usize,
    extra: serde_json::Value,
}

/// Activations of one forward pass over a batch, kept for the backward pass.
struct Pass {
    /// Batch entries of the dropped-out normalised input: (row, item, value).
    input: Vec<(u32, u32, f32)>,
    /// Output of every layer after its activation (the VAE head: raw `[μ | log σ²]`; the
    /// last decoder layer: logits).
    outs: Vec<Vec<f32>>,
    /// The latent sample (or code) fed to the decoder.
    z: Vec<f32>,
    /// The noise ε (VAE, training).
    eps: Vec<f32>,
}

/// One batch's pass up to every layer's delta, the batch's rows in order.
struct BatchDeltas {
    /// Rows in the batch.
    rows: usize,
    /// Batch entries of the dropped-out normalised input, `(row, item, value)`, sorted by
    /// item then row.
    entries: Vec<(u32, u32, f32)>,
    /// Per layer: its input, `rows × fan_in` (empty for the sparse first layer).
    inputs: Vec<Vec<f32>>,
    /// Per layer: ∂loss/∂(its output before the activation), `rows × fan_out`.
    deltas: Vec<Vec<f32>>,
    /// The batch loss without the L2 term.
    loss: f64,
}

/// The parameters one [`Block`] covers.
#[derive(Debug, Clone, Copy)]
enum Part {
    /// Rows `r0..r1` of a layer's weight matrix (`fan_in × fan_out`, row-major).
    Rows { layer: usize, r0: usize, r1: usize },
    /// A layer's bias.
    Bias { layer: usize },
}

/// A contiguous run of `len` flat parameters that one training task updates (the blocks
/// follow one another in layout order).
#[derive(Debug, Clone, Copy)]
struct Block {
    part: Part,
    len: usize,
}

/// Parameters per [`Block`], about: its gradient (256 KiB) stays in L2 for its Adam update.
const BLOCK_FLOATS: usize = 1 << 16;

/// The blocks of about `max_floats` parameters covering every parameter in layout order (a
/// layer's weights in row blocks, then its bias). Their boundaries depend only on the layer
/// shapes, never on the thread count, so the numbers do not either.
fn blocks(layers: &[Layer], max_floats: usize) -> Vec<Block> {
    let mut out = Vec::new();
    for (li, l) in layers.iter().enumerate() {
        let r = (max_floats / l.fan_out).max(1);
        let mut r0 = 0;
        while r0 < l.fan_in {
            let r1 = (r0 + r).min(l.fan_in);
            out.push(Block {
                part: Part::Rows { layer: li, r0, r1 },
                len: (r1 - r0) * l.fan_out,
            });
            r0 = r1;
        }
        out.push(Block {
            part: Part::Bias { layer: li },
            len: l.fan_out,
        });
    }
    out
}

/// Adam's state over the flat parameters.
struct OptState {
    adam: Adam,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl MultVae {
    fn forward(
        &self,
        theta: &[f32],
        x: &CsrMatrix,
        rows: &[u32],
        train: Option<&mut ChaCha8Rng>,
    ) -> Pass {
        forward(
            &self.params,
            &self.layers,
            self.n_enc,
            theta,
            x,
            rows,
            train,
        )
    }
}

multiversion! {
    /// `v ← tanh(v)` (Cephes tanhf, vectorised).
    fn tanh_inplace<M>(v: &mut [f32]) {
        v.iter_mut().for_each(|x| *x = kernels::tanh::<M>(*x));
    }
}

multiversion! {
    /// `v ← e^(v − m)`; returns the sum (vectorised).
    fn exp_shift<M>(v: &mut [f32], m: f32) -> f64 {
        let mut acc = [0.0f32; 8];
        let mut chunks = v.chunks_exact_mut(8);
        for c in &mut chunks {
            for l in 0..8 {
                c[l] = kernels::exp::<M>(c[l] - m);
                acc[l] += c[l];
            }
        }
        let mut s: f64 = acc.iter().map(|&a| f64::from(a)).sum();
        for x in chunks.into_remainder() {
            *x = kernels::exp::<M>(*x - m);
            s += f64::from(*x);
        }
        s
    }
}

// The elementwise loops below are compiled for AVX2 where the CPU has it (plain `*` and `+`,
// never fused, so the numbers are the same on every path).
multiversion! {
    /// `y[row] += b` for every row.
    fn add_bias(y: &mut [f32], b: &[f32]) {
        for row in y.chunks_exact_mut(b.len()) {
            for (v, &c) in row.iter_mut().zip(b) {
                *v += c;
            }
        }
    }
}

multiversion! {
    /// `g ← g ⊙ (1 − y²)`: back through a tanh whose output is `y`.
    fn mul_tanh_grad(g: &mut [f32], y: &[f32]) {
        for (g, &y) in g.iter_mut().zip(y) {
            *g *= 1.0 - y * y;
        }
    }
}

multiversion! {
    /// The sparse first layer: `a[row] += v · w[item]` for every batch entry.
    fn sparse_forward(input: &[(u32, u32, f32)], w: &[f32], h: usize, a: &mut [f32]) {
        for &(j, i, v) in input {
            let src = &w[i as usize * h..(i as usize + 1) * h];
            for (o, &wv) in a[j as usize * h..(j as usize + 1) * h].iter_mut().zip(src) {
                *o += v * wv;
            }
        }
    }
}

multiversion! {
    /// Its weight gradient: `gw[item − first] += v · d[row]` for every batch entry.
    fn sparse_backward(input: &[(u32, u32, f32)], d: &[f32], h: usize, first: u32, gw: &mut [f32]) {
        for &(j, i, v) in input {
            let dj = &d[j as usize * h..(j as usize + 1) * h];
            let at = (i - first) as usize * h;
            for (g, &dv) in gw[at..at + h].iter_mut().zip(dj) {
                *g += v * dv;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn forward(
    p: &MultVaeParams,
    layers: &[Layer],
    n_enc: usize,
    theta: &[f32],
    x: &CsrMatrix,
    rows: &[u32],
    mut train: Option<&mut ChaCha8Rng>,
) -> Pass {
    let b = rows.len();
    let keep = 1.0 - p.dropout;
    // Normalised, dropped-out input.
    let mut input = Vec::new();
    for (j, &r) in rows.iter().enumerate() {
        let row = x.row(r as usize);
        let norm = row
            .values
            .iter()
            .map(|v| v * v)
            .sum::<f32>()
            .sqrt()
            .max(1e-12);
        for (&i, &v) in row.indices.iter().zip(row.values) {
            let mut val = v / norm;
            if let Some(rng) = train.as_deref_mut() {
                if p.dropout > 0.0 {
                    if rng.random::<f32>() < keep {
                        val /= keep;
                    } else {
                        continue;
                    }
                }
            }
            input.push((j as u32, i, val));
        }
    }
    let mut outs: Vec<Vec<f32>> = Vec::with_capacity(layers.len());
    // First layer: sparse rows of W1.
    let l0 = layers[0];
    let h = l0.fan_out;
    let mut a = vec![0.0f32; b * h];
    sparse_forward(&input, &theta[l0.w..l0.w + l0.fan_in * h], h, &mut a);
    add_bias(&mut a, &theta[l0.b..l0.b + h]);
    let last_enc = n_enc - 1;
    if !(p.variational && last_enc == 0) {
        tanh_inplace(&mut a);
    }
    outs.push(a);
    let dense = |l: Layer, input: &[f32]| -> Vec<f32> {
        let mut y = vec![0.0f32; b * l.fan_out];
        kernels::gemm_transposed(
            &mut y,
            MatRef::new(input, b, l.fan_in),
            MatRef::new(&theta[l.w..l.w + l.fan_in * l.fan_out], l.fan_in, l.fan_out),
            false,
        );
        add_bias(&mut y, &theta[l.b..l.b + l.fan_out]);
        y
    };
    for (li, &l) in layers.iter().enumerate().take(n_enc).skip(1) {
        let mut y = dense(l, &outs[li - 1]);
        if !(p.variational && li == last_enc) {
            tanh_inplace(&mut y);
        }
        outs.push(y);
    }
    let k = p.latent;
    let mut eps = Vec::new();
    let z = if p.variational {
        let head = &outs[last_enc];
        let mut z = vec![0.0f32; b * k];
        match train {
            Some(rng) => {
                eps = kernels::normals(rng, b * k);
                for j in 0..b {
                    for c in 0..k {
                        let (mu, lv) = (head[j * 2 * k + c], head[j * 2 * k + k + c]);
                        z[j * k + c] = mu + eps[j * k + c] * (0.5 * lv).exp();
                    }
                }
            }
            None => {
                for j in 0..b {
                    z[j * k..(j + 1) * k].copy_from_slice(&head[j * 2 * k..j * 2 * k + k]);
                }
            }
        }
        z
    } else {
        outs[last_enc].clone()
    };
    let n = layers.len();
    let mut prev = z.clone();
    for (li, &l) in layers.iter().enumerate().skip(n_enc) {
        let mut y = dense(l, &prev);
        if li + 1 < n {
            tanh_inplace(&mut y);
        }
        prev = y.clone();
        outs.push(y);
    }
    Pass {
        input,
        outs,
        z,
        eps,
    }
}

/// `Σ_rows −Σᵢ xᵢ log softmax(logits)ᵢ`, and `logits` replaced by `scale · (softmax · Σx − x)`.
fn softmax_nll(logits: &mut [f32], x: &CsrMatrix, rows: &[u32], scale: f32) -> f64 {
    let n_items = x.n_cols();
    logits
        .chunks_mut(n_items)
        .zip(rows.iter())
        .map(|(l, &r)| {
            let row = x.row(r as usize);
            let m = l.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let mut nll = 0.0f64;
            let mut picked = 0.0f64;
            for (&i, &v) in row.indices.iter().zip(row.values) {
                picked += f64::from(v) * f64::from(l[i as usize]);
            }
            let total: f32 = row.values.iter().sum();
            let s = exp_shift(l, m);
            let lse = f64::from(m) + s.ln();
            nll += f64::from(total) * lse - picked;
            let inv = (1.0 / s) as f32;
            for v in l.iter_mut() {
                *v *= inv * total * scale;
            }
            for (&i, &v) in row.indices.iter().zip(row.values) {
                l[i as usize] -= v * scale;
            }
            nll
        })
        .sum()
}

impl MultVae {
    /// Trains on `train` (users × items; every stored entry is a count, usually 1), choosing
    /// the epoch by NDCG@100 of `validation` (fold-in rows, held-out rows) when given.
    /// Reports each epoch's `"loss"` (the batch-mean negative ELBO) and, with validation,
    /// `"validation_ndcg@100"`.
    pub fn fit(
        train: &CsrMatrix,
        params: &MultVaeParams,
        validation: Option<(&CsrMatrix, &CsrMatrix)>,
        mut progress: Progress<'_>,
    ) -> Result<MultVae> {
        params.validate()?;
        if train.nnz() == 0 {
            return Err(VaeError::InvalidData(
                "the training matrix holds no interaction".into(),
            ));
        }
        let started = Instant::now();
        let n_items = train.n_cols();
        let (layers, n_enc, n_params) = layout(params, n_items);
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        // Xavier-normal weights, N(0, 0.001²) biases, as the reference initialises.
        let mut theta = vec![0.0f32; n_params];
        for l in &layers {
            let std = (2.0 / (l.fan_in + l.fan_out) as f64).sqrt() as f32;
            let w = kernels::normals(&mut rng, l.fan_in * l.fan_out);
            for (v, e) in theta[l.w..l.w + l.fan_in * l.fan_out].iter_mut().zip(w) {
                *v = e * std;
            }
            let b = kernels::normals(&mut rng, l.fan_out);
            for (v, e) in theta[l.b..l.b + l.fan_out].iter_mut().zip(b) {
                *v = e * 0.001;
            }
        }
        let mut model = MultVae {
            params: params.clone(),
            n_items,
            layers,
            n_enc,
            theta: Vec::new(),
            epochs_trained: 0,
            best_epoch: 0,
            extra: serde_json::Value::Null,
        };
        let blocks = blocks(&model.layers, BLOCK_FLOATS);
        let mut opt = OptState {
            adam: Adam::new(params.learning_rate),
            m: vec![0.0f32; n_params],
            v: vec![0.0f32; n_params],
        };
        let mut order: Vec<u32> = (0..train.n_rows() as u32)
            .filter(|&r| !train.row(r as usize).indices.is_empty())
            .collect();
        let mut step = 0usize;
        let mut best: Option<(f64, usize, Vec<f32>)> = None;
        let mut since_best = 0;
        for epoch in 1..=params.n_epochs {
            let t0 = Instant::now();
            order.shuffle(&mut rng);
            let mut loss_sum = 0.0f64;
            for batch in order.chunks(params.batch_size) {
                let beta = if !params.variational {
                    0.0
                } else if params.total_anneal_steps == 0 {
                    params.anneal_cap
                } else {
                    params
                        .anneal_cap
                        .min(step as f32 / params.total_anneal_steps as f32)
                };
                let loss =
                    model.train_step(&blocks, &mut opt, &mut theta, train, batch, beta, &mut rng);
                loss_sum += loss * batch.len() as f64;
                step += 1;
            }
            let loss = loss_sum / order.len() as f64;
            if !loss.is_finite() {
                return Err(VaeError::NonFiniteLoss {
                    epoch,
                    what: "train",
                    value: loss,
                });
            }
            model.epochs_trained = epoch;
            let mut losses = vec![("loss", loss)];
            if let Some((vin, vout)) = validation {
                model.theta = std::mem::take(&mut theta);
                let ndcg = model.ndcg_at(vin, vout, 100)?;
                theta = std::mem::take(&mut model.theta);
                losses.push(("validation_ndcg@100", ndcg));
                if best.as_ref().is_none_or(|(b, _, _)| ndcg > *b) {
                    best = Some((ndcg, epoch, theta.clone()));
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
        match best {
            Some((_, e, t)) => {
                model.best_epoch = e;
                model.theta = t;
            }
            None => {
                model.best_epoch = model.epochs_trained;
                model.theta = theta;
            }
        }
        Ok(model)
    }

    /// The forward and backward pass of one batch up to every layer's delta (no weight
    /// gradient yet). The two halves of the batch run in parallel, each with its own stream
    /// of dropout and noise drawn from `rng`, so the result does not depend on the thread
    /// count.
    fn batch_deltas(
        &self,
        theta: &[f32],
        x: &CsrMatrix,
        rows: &[u32],
        beta: f32,
        rng: &mut ChaCha8Rng,
    ) -> BatchDeltas {
        let b = rows.len();
        let scale = 1.0 / b as f32;
        let half = b.div_ceil(2);
        let (s1, s2) = (rng.random::<u64>(), rng.random::<u64>());
        let (r1, r2) = rows.split_at(half);
        let (mut d, d2) = rayon::join(
            || {
                let mut rng = ChaCha8Rng::seed_from_u64(s1);
                self.half_deltas(theta, x, r1, 0, beta, scale, &mut rng)
            },
            || {
                let mut rng = ChaCha8Rng::seed_from_u64(s2);
                self.half_deltas(theta, x, r2, half as u32, beta, scale, &mut rng)
            },
        );
        d.loss += d2.loss;
        d.entries.extend(d2.entries);
        d.entries.sort_unstable_by_key(|&(j, i, _)| (i, j));
        for (a, b) in d.inputs.iter_mut().zip(d2.inputs) {
            a.extend(b);
        }
        for (a, b) in d.deltas.iter_mut().zip(d2.deltas) {
            a.extend(b);
        }
        d.rows = b;
        d
    }

    /// [`MultVae::batch_deltas`] of the rows `rows` (the batch's rows `first..`), the loss
    /// scaled by `scale`; entries unsorted.
    #[allow(clippy::too_many_arguments)]
    fn half_deltas(
        &self,
        theta: &[f32],
        x: &CsrMatrix,
        rows: &[u32],
        first: u32,
        beta: f32,
        scale: f32,
        rng: &mut ChaCha8Rng,
    ) -> BatchDeltas {
        let p = &self.params;
        let b = rows.len();
        let n = self.layers.len();
        let mut out = BatchDeltas {
            rows: b,
            entries: Vec::new(),
            inputs: vec![Vec::new(); n],
            deltas: vec![Vec::new(); n],
            loss: 0.0,
        };
        if b == 0 {
            return out;
        }
        let mut pass = self.forward(theta, x, rows, Some(rng));
        let logits = pass.outs.last_mut().expect("a decoder layer");
        let nll = softmax_nll(logits, x, rows, scale);
        // Backward through the decoder: d holds ∂loss/∂(layer output before activation).
        let mut d = pass.outs.pop().expect("logits");
        for li in (self.n_enc..n).rev() {
            let l = self.layers[li];
            let mut dx = vec![0.0f32; b * l.fan_in];
            kernels::gemm_transposed(
                &mut dx,
                MatRef::new(&d, b, l.fan_out),
                MatRef::new(&theta[l.w..l.w + l.fan_in * l.fan_out], l.fan_in, l.fan_out).t(),
                false,
            );
            if li > self.n_enc {
                // Through the tanh of the previous decoder layer.
                mul_tanh_grad(&mut dx, &pass.outs[li - 1]);
            }
            out.inputs[li] = if li == self.n_enc {
                std::mem::take(&mut pass.z)
            } else {
                std::mem::take(&mut pass.outs[li - 1])
            };
            out.deltas[li] = std::mem::replace(&mut d, dx);
        }
        // d = ∂loss/∂z. Into the encoder head.
        let k = p.latent;
        let last = self.n_enc - 1;
        let mut kl = 0.0f64;
        let d_head = if p.variational {
            let head = &pass.outs[last];
            let mut dh = vec![0.0f32; b * 2 * k];
            for j in 0..b {
                for c in 0..k {
                    let (mu, lv) = (head[j * 2 * k + c], head[j * 2 * k + k + c]);
                    let e = lv.exp();
                    kl += -0.5 * f64::from(1.0 + lv - mu * mu - e);
                    let dz = d[j * k + c];
                    let std = (0.5 * lv).exp();
                    dh[j * 2 * k + c] = dz + beta * scale * mu;
                    dh[j * 2 * k + k + c] =
                        dz * pass.eps[j * k + c] * 0.5 * std + beta * scale * 0.5 * (e - 1.0);
                }
            }
            dh
        } else {
            let mut dh = d;
            mul_tanh_grad(&mut dh, &pass.outs[last]);
            dh
        };
        let mut d = d_head;
        for li in (1..self.n_enc).rev() {
            let l = self.layers[li];
            let mut dx = vec![0.0f32; b * l.fan_in];
            kernels::gemm_transposed(
                &mut dx,
                MatRef::new(&d, b, l.fan_out),
                MatRef::new(&theta[l.w..l.w + l.fan_in * l.fan_out], l.fan_in, l.fan_out).t(),
                false,
            );
            mul_tanh_grad(&mut dx, &pass.outs[li - 1]);
            out.inputs[li] = std::mem::take(&mut pass.outs[li - 1]);
            out.deltas[li] = std::mem::replace(&mut d, dx);
        }
        out.deltas[0] = d;
        out.entries = pass
            .input
            .into_iter()
            .map(|(j, i, v)| (j + first, i, v))
            .collect();
        out.loss = (nll + f64::from(beta) * kl) * f64::from(scale);
        out
    }

    /// The gradient of the batch loss with respect to the parameters `part` covers (whose
    /// values are `w`), into `g` (overwritten); returns their `Σ w²` for the L2 term (0 for a
    /// bias, which has none, or without weight decay).
    fn block_grad(&self, d: &BatchDeltas, part: Part, w: &[f32], g: &mut [f32]) -> f64 {
        match part {
            Part::Rows { layer: 0, r0, r1 } => {
                g.fill(0.0);
                let h = self.layers[0].fan_out;
                let lo = d.entries.partition_point(|e| (e.1 as usize) < r0);
                let hi = d.entries.partition_point(|e| (e.1 as usize) < r1);
                sparse_backward(&d.entries[lo..hi], &d.deltas[0], h, r0 as u32, g);
            }
            Part::Rows { layer, r0, r1 } => {
                let l = self.layers[layer];
                kernels::gemm(
                    g,
                    MatRef::new(&d.inputs[layer], d.rows, l.fan_in)
                        .t()
                        .sub_rows(r0, r1),
                    MatRef::new(&d.deltas[layer], d.rows, l.fan_out),
                    false,
                    false,
                );
            }
            Part::Bias { layer } => {
                g.fill(0.0);
                let l = self.layers[layer];
                for row in d.deltas[layer].chunks_exact(l.fan_out) {
                    for (g, &dv) in g.iter_mut().zip(row) {
                        *g += dv;
                    }
                }
                return 0.0;
            }
        }
        decay(g, w, self.params.weight_decay)
    }

    /// One training step on a batch: its gradient block by block, each block's Adam update
    /// applied while the block is in cache (blocks in parallel; no full gradient is ever
    /// stored). Returns the batch loss.
    #[allow(clippy::too_many_arguments)]
    fn train_step(
        &self,
        blocks: &[Block],
        opt: &mut OptState,
        theta: &mut [f32],
        x: &CsrMatrix,
        rows: &[u32],
        beta: f32,
        rng: &mut ChaCha8Rng,
    ) -> f64 {
        let d = self.batch_deltas(theta, x, rows, beta, rng);
        let s = opt.adam.next_step();
        let wd = self.params.weight_decay;
        let mut work = Vec::with_capacity(blocks.len());
        let (mut t, mut m, mut v) = (theta, &mut opt.m[..], &mut opt.v[..]);
        for blk in blocks {
            let (tb, tr) = t.split_at_mut(blk.len);
            let (mb, mr) = m.split_at_mut(blk.len);
            let (vb, vr) = v.split_at_mut(blk.len);
            (t, m, v) = (tr, mr, vr);
            work.push((blk.part, tb, mb, vb));
        }
        let regs: Vec<f64> = work
            .into_par_iter()
            .map_init(Vec::new, |g: &mut Vec<f32>, (part, p, m, v)| {
                g.resize(p.len(), 0.0);
                let g = &mut g[..p.len()];
                let reg = self.block_grad(&d, part, p, g);
                optim::update_plain(p, m, v, g, &s);
                reg
            })
            .collect();
        d.loss + f64::from(wd) * regs.iter().sum::<f64>()
    }

    /// The whole gradient of the batch loss into `grad` (overwritten), the blocks one after
    /// another; returns the loss. The reference [`MultVae::train_step`] is tested against.
    #[cfg(test)]
    fn gradient(
        &self,
        theta: &[f32],
        x: &CsrMatrix,
        rows: &[u32],
        beta: f32,
        rng: &mut ChaCha8Rng,
        grad: &mut [f32],
    ) -> f64 {
        let d = self.batch_deltas(theta, x, rows, beta, rng);
        let wd = self.params.weight_decay;
        let mut reg = 0.0;
        let mut at = 0;
        for blk in blocks(&self.layers, BLOCK_FLOATS) {
            let g = &mut grad[at..at + blk.len];
            reg += self.block_grad(&d, blk.part, &theta[at..at + blk.len], g);
            at += blk.len;
        }
        d.loss + f64::from(wd) * reg
    }

    /// Scores (logits) of `rows` of `x` at inference, `rows.len() × n_items`.
    fn logits(&self, x: &CsrMatrix, rows: &[u32]) -> Vec<f32> {
        let mut pass = forward(
            &self.params,
            &self.layers,
            self.n_enc,
            &self.theta,
            x,
            rows,
            None,
        );
        pass.outs.pop().expect("logits")
    }

    /// Liang's NDCG@k of fold-in rows `x_in` against held-out rows `x_out` (fold-in items
    /// excluded from the ranking), averaged over rows with held-out items.
    pub fn ndcg_at(&self, x_in: &CsrMatrix, x_out: &CsrMatrix, k: usize) -> Result<f64> {
        let r = self.evaluate(x_in, x_out, &[Metric::NdcgLiang], &[k])?;
        Ok(r[&format!("ndcg_liang@{k}")])
    }

    /// Liang's Recall@k and NDCG@k (and any other `metrics`) of fold-in rows `x_in` against
    /// held-out rows `x_out`, every item ranked, fold-in items excluded.
    pub fn evaluate(
        &self,
        x_in: &CsrMatrix,
        x_out: &CsrMatrix,
        metrics: &[Metric],
        ks: &[usize],
    ) -> Result<std::collections::BTreeMap<String, f64>> {
        let cfg = EvalConfig {
            metrics: metrics.to_vec(),
            ks: ks.to_vec(),
            exclude_seen: true,
            candidates: Candidates::All,
            ..EvalConfig::default()
        };
        let rows: Vec<u32> = (0..x_in.n_rows() as u32).collect();
        let n = self.n_items;
        let mut scores = vec![0.0f32; rows.len() * n];
        // One even share of the rows per thread (each a single batched forward pass).
        let share = rows
            .len()
            .div_ceil(rayon::current_num_threads().max(1))
            .max(1);
        scores
            .par_chunks_mut(share * n)
            .zip(rows.par_chunks(share))
            .for_each(|(out, r)| out.copy_from_slice(&self.logits(x_in, r)));
        let pre = Precomputed {
            scores: &scores,
            n_items: n,
        };
        let r = recs_metrics::evaluate(&pre, x_in, x_out, &cfg)
            .map_err(|e| VaeError::InvalidData(e.to_string()))?;
        Ok(r.means)
    }

    /// A scorer of the users whose rows are `x` (training users, or held-out users' fold-in
    /// rows): each is encoded from its row and decoded to a score per item.
    pub fn scorer<'a>(&'a self, x: &'a CsrMatrix) -> FoldIn<'a> {
        FoldIn { model: self, x }
    }

    /// The parameters it was trained with.
    pub fn params(&self) -> &MultVaeParams {
        &self.params
    }

    /// Epochs run, and the epoch whose weights were kept.
    pub fn epochs(&self) -> (usize, usize) {
        (self.epochs_trained, self.best_epoch)
    }

    /// Items it scores.
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Free-form metadata saved with the model; `null` by default.
    pub fn extra(&self) -> &serde_json::Value {
        &self.extra
    }

    /// Replaces the free-form metadata saved with the model.
    pub fn set_extra(&mut self, extra: serde_json::Value) {
        self.extra = extra;
    }

    /// Writes the model atomically in the recs model-file format.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let names: Vec<(String, String)> = (0..self.layers.len())
            .map(|i| (format!("layer{i}.weight"), format!("layer{i}.bias")))
            .collect();
        let mut tensors = Vec::new();
        for (l, (wn, bn)) in self.layers.iter().zip(&names) {
            tensors.push(NamedTensor {
                name: wn.clone(),
                shape: vec![l.fan_in, l.fan_out],
                data: &self.theta[l.w..l.w + l.fan_in * l.fan_out],
            });
            tensors.push(NamedTensor {
                name: bn.clone(),
                shape: vec![l.fan_out],
                data: &self.theta[l.b..l.b + l.fan_out],
            });
        }
        let mut meta = ModelMeta::new(
            self.params.kind(),
            env!("CARGO_PKG_VERSION"),
            serde_json::to_value(&self.params).map_err(|e| VaeError::InvalidData(e.to_string()))?,
        );
        meta.training = serde_json::json!({
            "epochs_trained": self.epochs_trained,
            "best_epoch": self.best_epoch,
            "n_items": self.n_items,
        });
        meta.extra = self.extra.clone();
        persist::write_model(path.as_ref(), meta, &tensors)
    }

    /// Reads a model written by [`MultVae::save`] (either kind).
    pub fn load(path: impl AsRef<Path>) -> Result<MultVae> {
        let path = path.as_ref();
        let bad = |message: String| VaeError::BadModelFile {
            path: path.to_path_buf(),
            message,
        };
        let kind = recs_modelfile::peek(path)
            .map_err(|e| bad(e.to_string()))?
            .model;
        if kind != MODEL_KIND_VAE && kind != MODEL_KIND_DAE {
            return Err(bad(format!(
                "it holds a `{kind}` model, not a Mult-VAE/DAE"
            )));
        }
        let (meta, mut tensors) = persist::read_model(path, &kind)?;
        let params: MultVaeParams = serde_json::from_value(meta.params.clone())
            .map_err(|e| bad(format!("unreadable params: {e}")))?;
        params.validate().map_err(|e| bad(e.to_string()))?;
        let num = |k: &str| {
            meta.training
                .get(k)
                .and_then(|v| v.as_u64())
                .ok_or_else(|| bad(format!("training.{k} is missing")))
        };
        let n_items = num("n_items")? as usize;
        let (layers, n_enc, n_params) = layout(&params, n_items);
        let mut theta = vec![0.0f32; n_params];
        for (i, l) in layers.iter().enumerate() {
            let w = persist::take(
                path,
                &mut tensors,
                &format!("layer{i}.weight"),
                &[l.fan_in, l.fan_out],
            )?;
            theta[l.w..l.w + w.len()].copy_from_slice(&w);
            let b = persist::take(path, &mut tensors, &format!("layer{i}.bias"), &[l.fan_out])?;
            theta[l.b..l.b + b.len()].copy_from_slice(&b);
        }
        Ok(MultVae {
            params,
            n_items,
            layers,
            n_enc,
            theta,
            epochs_trained: num("epochs_trained")? as usize,
            best_epoch: num("best_epoch")? as usize,
            extra: meta.extra.clone(),
        })
    }
}

/// Adds the L2 term's gradient `2 · wd · w` to `g`; returns `Σ w²` (0 when `wd` is 0).
fn decay(g: &mut [f32], w: &[f32], wd: f32) -> f64 {
    if wd <= 0.0 {
        return 0.0;
    }
    let mut reg = 0.0f64;
    for (g, &w) in g.iter_mut().zip(w) {
        *g += 2.0 * wd * w;
        reg += f64::from(w * w);
    }
    reg
}

/// Scores computed beforehand, row-major.
struct Precomputed<'a> {
    scores: &'a [f32],
    n_items: usize,
}

impl Scorer for Precomputed<'_> {
    fn n_users(&self) -> usize {
        self.scores.len() / self.n_items
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> std::result::Result<(), ScoreError> {
        let u = user as usize;
        if u >= self.n_users() {
            return Err(ScoreError::UnknownUser {
                user,
                n_users: self.n_users(),
            });
        }
        out.copy_from_slice(&self.scores[u * self.n_items..(u + 1) * self.n_items]);
        Ok(())
    }
}

/// [`MultVae::scorer`]: scores the users whose rows are `x`.
#[derive(Debug, Clone, Copy)]
pub struct FoldIn<'a> {
    model: &'a MultVae,
    x: &'a CsrMatrix,
}

impl Scorer for FoldIn<'_> {
    fn n_users(&self) -> usize {
        self.x.n_rows()
    }

    fn n_items(&self) -> usize {
        self.model.n_items
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> std::result::Result<(), ScoreError> {
        self.score_users(&[user], out)
    }

    fn score_users(&self, users: &[u32], out: &mut [f32]) -> std::result::Result<(), ScoreError> {
        if let Some(&u) = users.iter().find(|&&u| u as usize >= self.x.n_rows()) {
            return Err(ScoreError::UnknownUser {
                user: u,
                n_users: self.x.n_rows(),
            });
        }
        if out.len() != users.len() * self.model.n_items {
            return Err(ScoreError::BufferLength {
                got: out.len(),
                expected: users.len() * self.model.n_items,
            });
        }
        out.copy_from_slice(&self.model.logits(self.x, users));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recs_sparse::DuplicatePolicy;

    fn toy() -> CsrMatrix {
        let (mut u, mut i) = (Vec::new(), Vec::new());
        for a in 0..40u32 {
            for b in 0..30u32 {
                if (a % 3 == b % 3) && (a * 7 + b * 3) % 5 != 0 {
                    u.push(a);
                    i.push(b);
                }
            }
        }
        let v = vec![1.0; u.len()];
        CsrMatrix::from_triplets(40, 30, &u, &i, &v, DuplicatePolicy::Error).unwrap()
    }

    #[test]
    fn gradient_matches_finite_differences() {
        for variational in [true, false] {
            let x = toy();
            let p = MultVaeParams {
                variational,
                hidden: vec![6],
                latent: 3,
                dropout: 0.0,
                weight_decay: 0.01,
                ..Default::default()
            };
            let m = MultVae::fit(
                &x,
                &MultVaeParams {
                    n_epochs: 1,
                    ..p.clone()
                },
                None,
                None,
            )
            .unwrap();
            let rows = [0u32, 4, 7, 11];
            let mut grad = vec![0.0; m.theta.len()];
            let loss = |theta: &[f32]| {
                let mut g = vec![0.0; theta.len()];
                let mut rng = ChaCha8Rng::seed_from_u64(9);
                m.gradient(theta, &x, &rows, 0.2, &mut rng, &mut g)
            };
            let mut rng = ChaCha8Rng::seed_from_u64(9);
            m.gradient(&m.theta, &x, &rows, 0.2, &mut rng, &mut grad);
            let h = 1e-2f32;
            for idx in (0..m.theta.len()).step_by(7) {
                let mut tp = m.theta.clone();
                tp[idx] += h;
                let mut tm = m.theta.clone();
                tm[idx] -= h;
                let num = (loss(&tp) - loss(&tm)) / (2.0 * f64::from(h));
                let an = f64::from(grad[idx]);
                assert!(
                    (an - num).abs() < 2e-3 + 2e-2 * num.abs(),
                    "vae {variational} θ[{idx}]: analytic {an}, numeric {num}"
                );
            }
        }
    }

    #[test]
    fn fused_step_is_the_gradient_then_adam() {
        let x = toy();
        let p = MultVaeParams {
            hidden: vec![7],
            latent: 3,
            weight_decay: 0.01,
            ..Default::default()
        };
        let m = MultVae::fit(&x, &MultVaeParams { n_epochs: 1, ..p }, None, None).unwrap();
        let rows = [1u32, 2, 5, 9, 30];
        let mut grad = vec![0.0; m.theta.len()];
        let want_loss = m.gradient(
            &m.theta,
            &x,
            &rows,
            0.1,
            &mut ChaCha8Rng::seed_from_u64(3),
            &mut grad,
        );
        // Small blocks, so that every kind of block and boundary is exercised.
        let blocks = blocks(&m.layers, 20);
        assert!(blocks.len() > 20);
        let mut opt = OptState {
            adam: Adam::new(0.01),
            m: vec![0.0; m.theta.len()],
            v: vec![0.0; m.theta.len()],
        };
        let mut theta = m.theta.clone();
        let loss = m.train_step(
            &blocks,
            &mut opt,
            &mut theta,
            &x,
            &rows,
            0.1,
            &mut ChaCha8Rng::seed_from_u64(3),
        );
        assert!(
            (loss - want_loss).abs() <= 1e-9 * want_loss.abs(),
            "{loss} vs {want_loss}"
        );
        // Adam's first step: m̂ = g, v̂ = g², so θ moves by lr · g / (|g| + ε).
        for ((&t1, &t0), &g) in theta.iter().zip(&m.theta).zip(&grad) {
            let want = t0 - 0.01 * g / (g.abs() + 1e-8);
            assert!((t1 - want).abs() < 1e-6, "{t1} vs {want} (g {g})");
        }
    }

    #[test]
    fn training_does_not_depend_on_the_thread_count() {
        let x = toy();
        let p = MultVaeParams {
            hidden: vec![9],
            latent: 3,
            n_epochs: 3,
            batch_size: 7,
            ..Default::default()
        };
        let fit = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| MultVae::fit(&x, &p, None, None).unwrap().theta)
        };
        assert_eq!(fit(1), fit(3));
    }

    #[test]
    fn learns_groups_and_round_trips() {
        let x = toy();
        let p = MultVaeParams {
            hidden: vec![16],
            latent: 4,
            n_epochs: 60,
            batch_size: 8,
            learning_rate: 0.01,
            ..Default::default()
        };
        let mut losses = Vec::new();
        let m = MultVae::fit(
            &x,
            &p,
            None,
            Some(&mut |r: &EpochReport| losses.push(r.loss("loss").unwrap())),
        )
        .unwrap();
        assert_eq!(losses.len(), 60);
        eprintln!(
            "losses {:?}",
            &losses.iter().step_by(10).collect::<Vec<_>>()
        );
        assert!(losses[59] < losses[0] - 0.3, "{losses:?}");
        let mut s = vec![0.0; 30];
        m.scorer(&x).score_user(0, &mut s).unwrap();
        // User 0 likes items ≡ 0 mod 3: they outscore the others on average.
        let (mut a, mut b) = (0.0, 0.0);
        for (i, v) in s.iter().enumerate() {
            if i % 3 == 0 {
                a += v / 10.0
            } else {
                b += v / 20.0
            }
        }
        assert!(a > b + 0.5, "{a} vs {b}: {s:?}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        m.save(&path).unwrap();
        let back = MultVae::load(&path).unwrap();
        let mut s2 = vec![0.0; 30];
        back.scorer(&x).score_user(0, &mut s2).unwrap();
        assert_eq!(s, s2);
        assert!(
            MultVaeParams {
                dropout: 1.0,
                ..Default::default()
            }
            .validate()
            .unwrap_err()
            .to_string()
            .contains("dropout")
        );
    }
}
