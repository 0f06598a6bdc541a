//! Mult-VAE / Mult-DAE on candle ([`Engine::Candle`](crate::Engine::Candle)): the model of
//! the native path as candle tensor ops on any candle device, differentiated by candle's
//! autograd, with the crate's one Adam on device tensors ([`AdamSet`]).
//!
//! Each step draws exactly what the native step draws, in the same order (the batch's two
//! half streams, each's dropout masks then noise; see
//! [`halves`](super::forward::halves)), on the host; the batch goes to the device once —
//! the kept entries' positions and normalised, dropped-out values, the raw counts, and ε —
//! and is densified there (`index_add` into zeros). The forward pass, the loss
//! (`−Σ x ⊙ log_softmax(logits)` per row, `β · KL`, the batch mean, `λ Σ‖W‖²`), its
//! gradient and the Adam update then run on the device; the loss is summed there and read
//! once per epoch. Validation scores are computed on the device too, batch by batch, and
//! ranked on the host.

use candle_core::{DType, Device, Tensor};
use rand_chacha::ChaCha8Rng;
use recs_core::Progress;
use recs_sparse::CsrMatrix;

use super::forward::halves;
use super::{MultVae, MultVaeData};
use crate::Result;
use crate::backend::candle::{CandleOps, autograd, dense_rows, densify, flat_index, ops};
use crate::backend::{AdamSet, Backend};
use crate::kernels;
use crate::kernels::rows::dropped_input;
use crate::train::{EpochLoop, Epochs, Finished, shuffled_batches};

/// Rows per batch when scoring on the device.
const SCORE_ROWS: usize = 256;

/// A batch on the device.
#[derive(Debug)]
pub(super) struct DeviceBatch {
    /// The normalised, dropped-out input, `rows × n_items`.
    input: Tensor,
    /// The raw counts (the likelihood's `x`), `rows × n_items`.
    counts: Tensor,
    /// ε, `rows × factors` (the VAE in training).
    eps: Option<Tensor>,
    rows: usize,
}

impl MultVae {
    /// The batch `rows` of `x` on `device`: in training (`rng` given) with the native
    /// step's dropout masks and noise, drawn from `rng` as it draws them; at inference
    /// normalised only.
    pub(super) fn device_batch(
        &self,
        device: &Device,
        x: &CsrMatrix,
        rows: &[u32],
        rng: Option<&mut ChaCha8Rng>,
    ) -> Result<DeviceBatch> {
        let p = &self.params;
        let (b, n, k) = (rows.len(), x.n_cols(), p.factors);
        let (mut in_ids, mut in_vals) = (Vec::new(), Vec::new());
        let mut push = |input: Vec<(u32, u32, f32)>, first: u32| -> Result<()> {
            for (j, i, v) in input {
                in_ids.push(flat_index((first + j) as usize, i, n)?);
                in_vals.push(v);
            }
            Ok(())
        };
        let eps = match rng {
            Some(rng) => {
                let mut eps = Vec::new();
                for (part, first, mut r) in halves(rows, rng) {
                    if part.is_empty() {
                        continue;
                    }
                    push(dropped_input(p.dropout, x, part, Some(&mut r)), first)?;
                    if p.variational {
                        eps.extend(kernels::normals(&mut r, part.len() * k));
                    }
                }
                if p.variational {
                    Some(ops(|| Tensor::from_vec(eps, (b, k), device))?)
                } else {
                    None
                }
            }
            None => {
                push(dropped_input(p.dropout, x, rows, None), 0)?;
                None
            }
        };
        let n_in = in_ids.len();
        let in_ids = ops(|| Tensor::from_vec(in_ids, n_in, device))?;
        Ok(DeviceBatch {
            input: densify(device, b, n, &in_ids, in_vals)?,
            counts: dense_rows(device, x, rows)?.0,
            eps,
            rows: b,
        })
    }

    /// The network's parameters on `device`, `[w₀, b₀, w₁, b₁, …]` (`w` `fan_in × fan_out`,
    /// `b` `1 × fan_out`), from the flat weights `theta`.
    pub(super) fn upload_theta(&self, device: &Device, theta: &[f32]) -> Result<Vec<Tensor>> {
        ops(|| {
            let mut out = Vec::with_capacity(2 * self.layers.len());
            for l in &self.layers {
                out.push(Tensor::from_slice(
                    &theta[l.w..l.w + l.fan_in * l.fan_out],
                    (l.fan_in, l.fan_out),
                    device,
                )?);
                out.push(Tensor::from_slice(
                    &theta[l.b..l.b + l.fan_out],
                    (1, l.fan_out),
                    device,
                )?);
            }
            Ok(out)
        })
    }

    /// The flat weights from the parameters on a device (the inverse of
    /// [`MultVae::upload_theta`]).
    pub(super) fn download_theta(&self, params: &[Tensor]) -> Result<Vec<f32>> {
        let n = self.layers.last().map_or(0, |l| l.b + l.fan_out);
        let mut theta = vec![0.0f32; n];
        for (l, wb) in self.layers.iter().zip(params.chunks_exact(2)) {
            let w = ops(|| wb[0].flatten_all()?.to_vec1::<f32>())?;
            theta[l.w..l.w + w.len()].copy_from_slice(&w);
            let b = ops(|| wb[1].flatten_all()?.to_vec1::<f32>())?;
            theta[l.b..l.b + b.len()].copy_from_slice(&b);
        }
        Ok(theta)
    }

    /// The forward pass of `input` (`rows × n_items`): the logits, and for the VAE the head
    /// `(μ, log σ²)`. `eps` given (training): `z = μ + ε ⊙ σ`; else `z = μ`.
    fn device_forward(
        &self,
        params: &[Tensor],
        input: &Tensor,
        eps: Option<&Tensor>,
    ) -> candle_core::Result<(Tensor, Option<(Tensor, Tensor)>)> {
        let p = &self.params;
        let n = self.layers.len();
        let last_enc = self.n_enc - 1;
        let layer = |li: usize, x: &Tensor| -> candle_core::Result<Tensor> {
            x.matmul(&params[2 * li])?
                .broadcast_add(&params[2 * li + 1])
        };
        let mut h = input.clone();
        for li in 0..self.n_enc {
            let y = layer(li, &h)?;
            h = if p.variational && li == last_enc {
                y
            } else {
                y.tanh()?
            };
        }
        let (z, head) = if p.variational {
            let k = p.factors;
            let mu = h.narrow(1, 0, k)?;
            let log_var = h.narrow(1, k, k)?;
            let z = match eps {
                Some(e) => mu.add(&e.mul(&log_var.affine(0.5, 0.0)?.exp()?)?)?,
                None => mu.contiguous()?,
            };
            (z, Some((mu, log_var)))
        } else {
            (h, None)
        };
        let mut y = z;
        for li in self.n_enc..n {
            y = layer(li, &y)?;
            if li + 1 < n {
                y = y.tanh()?;
            }
        }
        Ok((y, head))
    }

    /// The loss of one training batch with the parameters `params`, as the native
    /// [`MultVae::batch_deltas`] + L2 computes it: `(Σ −ll + β · Σ KL) / rows + λ Σ‖W‖²`.
    fn device_loss(
        &self,
        params: &[Tensor],
        batch: &DeviceBatch,
        beta: f32,
    ) -> candle_core::Result<Tensor> {
        let (logits, head) = self.device_forward(params, &batch.input, batch.eps.as_ref())?;
        // log_softmax with the row maximum taken out (it carries no gradient).
        let m = logits.max_keepdim(1)?.detach();
        let shifted = logits.broadcast_sub(&m)?;
        let lse = shifted.exp()?.sum_keepdim(1)?.log()?;
        let log_softmax = shifted.broadcast_sub(&lse)?;
        let nll = batch.counts.mul(&log_softmax)?.sum_all()?.neg()?;
        let mut objective = nll;
        if let Some((mu, log_var)) = head {
            // KL(q ‖ N(0, I)) = −½ Σ (1 + log σ² − μ² − σ²).
            let kl = log_var
                .affine(1.0, 1.0)?
                .sub(&mu.sqr()?)?
                .sub(&log_var.exp()?)?
                .sum_all()?
                .affine(-0.5, 0.0)?;
            objective = objective.add(&kl.affine(f64::from(beta), 0.0)?)?;
        }
        let mut loss = objective.affine(1.0 / batch.rows as f64, 0.0)?;
        let wd = self.params.reg as f32;
        if wd > 0.0 {
            for w in params.iter().step_by(2) {
                loss = loss.add(&w.sqr()?.sum_all()?.affine(f64::from(wd), 0.0)?)?;
            }
        }
        Ok(loss)
    }

    /// The loss of one training batch (a device scalar) and its gradient with respect to
    /// every parameter (in the order of `params`), by candle's autograd.
    pub(super) fn device_gradient(
        &self,
        params: &[Tensor],
        batch: &DeviceBatch,
        beta: f32,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        autograd(params, |tracked| self.device_loss(tracked, batch, beta))
    }

    /// Logits of `rows` of `x` at inference, computed on `device` in batches,
    /// `rows.len() × n_items` on the host.
    pub(super) fn device_logits(
        &self,
        device: &Device,
        params: &[Tensor],
        x: &CsrMatrix,
        rows: &[u32],
    ) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(rows.len() * self.n_items);
        for chunk in rows.chunks(SCORE_ROWS) {
            let batch = self.device_batch(device, x, chunk, None)?;
            let logits = ops(|| {
                let (logits, _) = self.device_forward(params, &batch.input, None)?;
                logits.flatten_all()?.to_vec1::<f32>()
            })?;
            out.extend(logits);
        }
        Ok(out)
    }
}

/// Mult-VAE's training state on a candle device, as the [`EpochLoop`] trains it.
struct Training<'a> {
    model: MultVae,
    be: CandleOps,
    /// `[w₀, b₀, …]` on the device.
    params: Vec<Tensor>,
    opt: AdamSet<Tensor>,
    rng: ChaCha8Rng,
    order: Vec<u32>,
    step: usize,
    data: &'a MultVaeData<'a>,
}

impl Epochs for Training<'_> {
    type Best = Vec<Tensor>;

    /// The native epoch (the `train` module's), each step on the device.
    fn train_epoch(&mut self, _epoch: usize) -> Result<Vec<(&'static str, f64)>> {
        let device = self.be.device.clone();
        let batch_size = self.model.params.batch_size;
        // Σ batch loss × batch rows, summed on the device in f64 and read once.
        let mut sum = ops(|| Tensor::zeros((), DType::F64, &device))?;
        for rows in shuffled_batches(&mut self.order, &mut self.rng, batch_size) {
            let beta = self.model.params.kl_weight(self.step);
            let batch =
                self.model
                    .device_batch(&device, self.data.train, rows, Some(&mut self.rng))?;
            let (loss, grads) = self.model.device_gradient(&self.params, &batch, beta)?;
            self.opt
                .step(&self.be, self.params.iter_mut().collect(), &grads)?;
            sum = ops(|| sum.add(&loss.to_dtype(DType::F64)?.affine(rows.len() as f64, 0.0)?))?;
            self.step += 1;
        }
        let n = self.order.len();
        Ok(vec![("loss", ops(|| sum.to_scalar::<f64>())? / n as f64)])
    }

    /// NDCG@100 of the validation users, scored on the device.
    fn validate(&mut self) -> Result<Option<f64>> {
        let Some((vin, vout)) = self.data.validation else {
            return Ok(None);
        };
        let rows: Vec<u32> = (0..vin.n_rows() as u32).collect();
        let scores = self
            .model
            .device_logits(&self.be.device, &self.params, vin, &rows)?;
        recs_core::validation::ndcg_at_k(&scores, vin, vout, 100).map(Some)
    }

    fn keep(&self) -> Vec<Tensor> {
        // Adam replaces the parameter tensors rather than writing into them: a clone is a
        // snapshot.
        self.params.clone()
    }
}

/// Trains `model` from the initial weights `theta` and the seeded stream `rng` on
/// `device` (what the fit runs for [`Engine::Candle`](crate::Engine::Candle));
/// returns the model, what the loop finished with and the last weights, on the host.
#[allow(clippy::too_many_arguments)]
pub(super) fn fit(
    model: MultVae,
    theta: &[f32],
    rng: ChaCha8Rng,
    order: Vec<u32>,
    data: &MultVaeData<'_>,
    device: &Device,
    epochs: EpochLoop<Vec<Tensor>>,
    progress: &mut dyn Progress,
) -> Result<(MultVae, Finished<Vec<f32>>, Vec<f32>)> {
    let be = CandleOps {
        device: device.clone(),
    };
    let params = model.upload_theta(device, theta)?;
    let shapes: Vec<(usize, usize)> = params.iter().map(|t| be.shape(t)).collect();
    let opt = AdamSet::new(&be, model.params.learning_rate, &shapes)?;
    let mut t = Training {
        model,
        be,
        params,
        opt,
        rng,
        order,
        step: 0,
        data,
    };
    let done = epochs.run(&mut t, progress)?;
    let best = match done.best {
        Some((epoch, params)) => Some((epoch, t.model.download_theta(&params)?)),
        None => None,
    };
    let last = t.model.download_theta(&t.params)?;
    Ok((
        t.model,
        Finished {
            epochs_run: done.epochs_run,
            best,
        },
        last,
    ))
}
