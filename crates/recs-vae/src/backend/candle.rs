//! The candle backend: every step as candle tensor ops, one at a time, on a candle device
//! (the CPU, or a GPU with the `cuda` feature). A sparse batch goes to the device as its
//! entries and is densified there ([`dense_rows`], also what Mult-VAE's and AutoRec's
//! candle engines use).
//! The forward pass follows Cornac's PyTorch code op for op and the backward pass is
//! written out by hand (tested against candle's autograd), so this backend is also the
//! reference the native kernels are tested against.

use std::ops::Range;

use candle_core::{DType, Device, Tensor};
use recs_core::ModelError;
use recs_sparse::CsrMatrix;

use super::{AdamSet, Backend, LOG_EPS, StepResult, StepSpec};
use crate::Result;
use crate::nn::{Activation, GaussianEncoder, Likelihood};
use crate::optim::AdamStep;

/// Runs candle tensor ops; a failure is the crate's error ([`ModelError::Model`]).
pub(crate) fn ops<T>(f: impl FnOnce() -> candle_core::Result<T>) -> Result<T> {
    f().map_err(ModelError::model)
}

/// Candle tensor ops on `device`.
#[derive(Debug, Clone)]
pub(crate) struct CandleOps {
    pub device: Device,
}

/// `act(x)`.
pub(crate) fn activate(x: &Tensor, act: Activation) -> candle_core::Result<Tensor> {
    match act {
        Activation::Sigmoid => candle_nn::ops::sigmoid(x),
        Activation::Tanh => x.tanh(),
        Activation::Elu => x.elu(1.0),
        Activation::Relu => x.relu(),
        Activation::Relu6 => x.clamp(0f32, 6f32),
    }
}

/// `dL/d(pre-activation)` from the activation's output `y` and `dL/dy` (as PyTorch does).
fn activate_backward(y: &Tensor, dy: &Tensor, act: Activation) -> candle_core::Result<Tensor> {
    let d = match act {
        Activation::Sigmoid => y.mul(&y.affine(-1.0, 1.0)?)?,
        Activation::Tanh => y.sqr()?.affine(-1.0, 1.0)?,
        Activation::Elu => y
            .gt(0f32)?
            .where_cond(&y.ones_like()?, &y.affine(1.0, 1.0)?)?,
        Activation::Relu => y.gt(0f32)?.to_dtype(DType::F32)?,
        Activation::Relu6 => y
            .gt(0f32)?
            .to_dtype(DType::F32)?
            .mul(&y.lt(6f32)?.to_dtype(DType::F32)?)?,
    };
    dy.mul(&d)
}

/// `−ll(x, sigmoid(z))` elementwise, as Cornac writes it.
pub(crate) fn neg_log_likelihood(
    x: &Tensor,
    z: &Tensor,
    lik: Likelihood,
) -> candle_core::Result<Tensor> {
    let s = candle_nn::ops::sigmoid(z)?;
    let eps = LOG_EPS as f64;
    match lik {
        Likelihood::Pois => s.sub(&x.mul(&s.affine(1.0, eps)?.log()?)?),
        Likelihood::Gaus => x.sub(&s)?.sqr(),
        Likelihood::Bern => {
            let a = x.mul(&s.affine(1.0, eps)?.log()?)?;
            let b = x
                .affine(-1.0, 1.0)?
                .mul(&s.affine(-1.0, 1.0 + eps)?.log()?)?;
            a.add(&b)?.neg()
        }
    }
}

/// `∂(−ll(x, sigmoid(z)))/∂z` elementwise.
fn neg_log_likelihood_grad(x: &Tensor, z: &Tensor, lik: Likelihood) -> candle_core::Result<Tensor> {
    let s = candle_nn::ops::sigmoid(z)?;
    let d = s.mul(&s.affine(-1.0, 1.0)?)?;
    let eps = LOG_EPS as f64;
    match lik {
        // d − x·d/(x̂ + ε)
        Likelihood::Pois => d.sub(&x.mul(&d)?.div(&s.affine(1.0, eps)?)?),
        // −2(x − x̂)·d
        Likelihood::Gaus => x.sub(&s)?.mul(&d)?.affine(-2.0, 0.0),
        // −x·d/(x̂ + ε) + (1 − x)·d/(1 − x̂ + ε)
        Likelihood::Bern => {
            let a = x.mul(&d)?.div(&s.affine(1.0, eps)?)?;
            let b = x
                .affine(-1.0, 1.0)?
                .mul(&d)?
                .div(&s.affine(-1.0, 1.0 + eps)?)?;
            b.sub(&a)
        }
    }
}

/// `KL(N(mu, std²) ‖ N(0, 1))` elementwise, as Cornac writes it.
pub(crate) fn kl_terms(mu: &Tensor, std: &Tensor) -> candle_core::Result<Tensor> {
    // −0.5 · (1 + 2 log std − mu² − std²)
    std.log()?
        .affine(2.0, 1.0)?
        .sub(&mu.sqr()?)?
        .sub(&std.sqr()?)?
        .affine(-0.5, 0.0)
}

fn sum_all_f64(t: &Tensor) -> candle_core::Result<f64> {
    t.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()
}

fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    x.matmul(w)?.broadcast_add(b)
}

/// The encoder's forward pass: every hidden layer's output, then `(μ, σ-head pre-activation)`.
pub(crate) fn encoder_forward(
    enc: &GaussianEncoder<Tensor>,
    x: &Tensor,
) -> candle_core::Result<(Vec<Tensor>, Tensor, Tensor)> {
    let mut hidden: Vec<Tensor> = Vec::with_capacity(enc.hidden.len());
    for l in &enc.hidden {
        let input = hidden.last().unwrap_or(x);
        let h = activate(&linear(input, &l.w, &l.b)?, enc.act)?;
        hidden.push(h);
    }
    let h = hidden.last().unwrap_or(x);
    let mu = linear(h, &enc.mu.w, &enc.mu.b)?;
    let std_pre = linear(h, &enc.std.w, &enc.std.b)?;
    Ok((hidden, mu, std_pre))
}

/// `(loss, gradients)` of `loss_of(tracked params)` with respect to every tensor of
/// `params` (in order; zeros for one the loss does not reach), by candle's autograd. Both are
/// detached: an optimiser's moments must not hold this step's graph.
pub(crate) fn autograd(
    params: &[Tensor],
    loss_of: impl FnOnce(&[Tensor]) -> candle_core::Result<Tensor>,
) -> Result<(Tensor, Vec<Tensor>)> {
    ops(|| {
        let vars = params
            .iter()
            .map(candle_core::Var::from_tensor)
            .collect::<candle_core::Result<Vec<_>>>()?;
        let tracked: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let loss = loss_of(&tracked)?;
        let grads = loss.backward()?;
        let g = vars
            .iter()
            .map(|v| match grads.get(v.as_tensor()) {
                Some(g) => Ok(g.detach()),
                None => v.as_tensor().zeros_like(),
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok((loss.detach(), g))
    })
}

/// The flat position `row · cols + col` of a dense `· × cols` batch as a `u32` (what
/// [`densify`] indexes with), or an error when the batch is too large for that.
pub(crate) fn flat_index(row: usize, col: u32, cols: usize) -> Result<u32> {
    u32::try_from(row * cols + col as usize).map_err(|_| {
        ModelError::Data(format!(
            "row {row} of a dense batch over {cols} columns lies beyond 2^32 entries, more \
             than the candle engine indexes: lower batch_size"
        ))
    })
}

/// `rows × cols` zeros with `vals` added at the flat positions `ids` ([`flat_index`]),
/// built on `device`: a sparse batch goes to the device as its entries only.
pub(crate) fn densify(
    device: &Device,
    rows: usize,
    cols: usize,
    ids: &Tensor,
    vals: Vec<f32>,
) -> Result<Tensor> {
    ops(|| {
        let zeros = Tensor::zeros(rows * cols, DType::F32, device)?;
        let n = vals.len();
        let dense = if n == 0 {
            zeros
        } else {
            zeros.index_add(ids, &Tensor::from_vec(vals, n, device)?, 0)?
        };
        dense.reshape((rows, cols))
    })
}

/// The rows `rows` of `x` as a dense `rows.len() × cols` matrix on `device`, densified there
/// from their entries, and the positions of those entries (to densify something else over
/// the same entries, such as a mask).
pub(crate) fn dense_rows(device: &Device, x: &CsrMatrix, rows: &[u32]) -> Result<(Tensor, Tensor)> {
    let cols = x.n_cols();
    let (mut ids, mut vals) = (Vec::new(), Vec::new());
    for (j, &r) in rows.iter().enumerate() {
        let row = x.row(r as usize);
        for (&c, &v) in row.indices.iter().zip(row.values) {
            ids.push(flat_index(j, c, cols)?);
            vals.push(v);
        }
    }
    let n = ids.len();
    let ids = ops(|| Tensor::from_vec(ids, n, device))?;
    Ok((densify(device, rows.len(), cols, &ids, vals)?, ids))
}

impl CandleOps {
    fn noise(&self, eps: Vec<f32>, like: &Tensor) -> Result<Tensor> {
        let (r, c) = ops(|| like.dims2())?;
        self.upload(eps, r, c)
    }
}

impl Backend for CandleOps {
    type Mat = Tensor;
    type Batch = Tensor;
    type Decoder = Tensor;
    const KEEP_BATCHES: bool = false;

    fn upload(&self, data: Vec<f32>, rows: usize, cols: usize) -> Result<Tensor> {
        if data.len() != rows * cols {
            return Err(ModelError::Data(format!(
                "{} values cannot fill a {rows}×{cols} matrix",
                data.len()
            )));
        }
        ops(|| Tensor::from_vec(data, (rows, cols), &self.device))
    }

    fn download(&self, m: &Tensor) -> Result<Vec<f32>> {
        ops(|| m.flatten_all()?.to_vec1::<f32>())
    }

    fn shape(&self, m: &Tensor) -> (usize, usize) {
        m.dims2().expect("backend matrices are 2-D")
    }

    fn batch(&self, x: &CsrMatrix, rows: Range<usize>) -> Result<Tensor> {
        let rows: Vec<u32> = (rows.start as u32..rows.end as u32).collect();
        Ok(dense_rows(&self.device, x, &rows)?.0)
    }

    fn decoder(&self, other: &Tensor) -> Result<Tensor> {
        Ok(other.clone())
    }

    fn gradients(
        &self,
        enc: &GaussianEncoder<Tensor>,
        x: &Tensor,
        eps: Vec<f32>,
        other: &Tensor,
        spec: StepSpec,
    ) -> Result<StepResult<Tensor>> {
        let (hidden, mu, std_pre) = ops(|| encoder_forward(enc, x))?;
        let eps = self.noise(eps, &mu)?;
        ops(|| {
            let std = candle_nn::ops::sigmoid(&std_pre)?;
            let s = mu.add(&eps.mul(&std)?)?;
            // Decoder and likelihood.
            let z = s.matmul(&other.t()?)?;
            let nll = sum_all_f64(&neg_log_likelihood(x, &z, spec.likelihood)?)?;
            let dz =
                neg_log_likelihood_grad(x, &z, spec.likelihood)?.affine(spec.scale as f64, 0.0)?;
            let ds = dz.matmul(other)?;
            // KL and the reparameterisation.
            let kl = sum_all_f64(&kl_terms(&mu, &std)?)?;
            let w = (spec.kl_weight * spec.scale) as f64;
            let d_mu = ds.add(&mu.affine(w, 0.0)?)?;
            // dL/dstd = ds·eps + w·(std − 1/std); dstd/dpre = std(1 − std).
            let d_std = ds
                .mul(&eps)?
                .add(&std.sub(&std.recip()?)?.affine(w, 0.0)?)?;
            let d_pre = d_std.mul(&std.mul(&std.affine(-1.0, 1.0)?)?)?;
            // Heads.
            let h = hidden
                .last()
                .expect("an encoder has at least one hidden layer");
            let head_grads = [
                h.t()?.matmul(&d_mu)?,
                d_mu.sum_keepdim(0)?,
                h.t()?.matmul(&d_pre)?,
                d_pre.sum_keepdim(0)?,
            ];
            let mut dh = d_mu
                .matmul(&enc.mu.w.t()?)?
                .add(&d_pre.matmul(&enc.std.w.t()?)?)?;
            // Hidden layers, last to first.
            let mut layer_grads: Vec<[Tensor; 2]> = Vec::with_capacity(hidden.len());
            for i in (0..hidden.len()).rev() {
                let d = activate_backward(&hidden[i], &dh, enc.act)?;
                let input = if i == 0 { x } else { &hidden[i - 1] };
                layer_grads.push([input.t()?.matmul(&d)?, d.sum_keepdim(0)?]);
                if i > 0 {
                    dh = d.matmul(&enc.hidden[i].w.t()?)?;
                }
            }
            let grads = layer_grads
                .into_iter()
                .rev()
                .flatten()
                .chain(head_grads)
                .collect();
            Ok(StepResult { nll, kl, grads })
        })
    }

    fn train_step(
        &self,
        enc: &mut GaussianEncoder<Tensor>,
        opt: &mut AdamSet<Tensor>,
        x: &Tensor,
        eps: Vec<f32>,
        other: &Tensor,
        spec: StepSpec,
    ) -> Result<(f64, f64)> {
        let r = self.gradients(enc, x, eps, other, spec)?;
        opt.step(self, enc.params_mut(), &r.grads)?;
        Ok((r.nll, r.kl))
    }

    fn sample(&self, enc: &GaussianEncoder<Tensor>, x: &Tensor, eps: Vec<f32>) -> Result<Tensor> {
        let (_, mu, std_pre) = ops(|| encoder_forward(enc, x))?;
        let eps = self.noise(eps, &mu)?;
        ops(|| mu.add(&eps.mul(&candle_nn::ops::sigmoid(&std_pre)?)?))
    }

    fn mean(&self, enc: &GaussianEncoder<Tensor>, x: &Tensor) -> Result<Tensor> {
        ops(|| Ok(encoder_forward(enc, x)?.1))
    }

    fn adam_step(
        &self,
        p: &mut Tensor,
        m: &mut Tensor,
        v: &mut Tensor,
        g: &Tensor,
        c: &AdamStep,
    ) -> Result<()> {
        let (b1, b2) = (c.beta1 as f64, c.beta2 as f64);
        let (p_new, m_new, v_new) = ops(|| {
            let m_new = m.add(&g.sub(m)?.affine(1.0 - b1, 0.0)?)?;
            let v_new = v.affine(b2, 0.0)?.add(&g.sqr()?.affine(1.0 - b2, 0.0)?)?;
            let denom = v_new
                .sqrt()?
                .affine(1.0 / c.bias_correction2_sqrt as f64, c.eps as f64)?;
            let p_new = p.sub(&m_new.div(&denom)?.affine(c.step_size as f64, 0.0)?)?;
            Ok((p_new, m_new, v_new))
        })?;
        *p = p_new;
        *m = m_new;
        *v = v_new;
        Ok(())
    }

    fn set_rows(&self, target: &mut Tensor, start: usize, src: &Tensor) -> Result<()> {
        let (r, c) = ops(|| src.dims2())?;
        *target = ops(|| target.slice_assign(&[start..start + r, 0..c], src))?;
        Ok(())
    }
}
