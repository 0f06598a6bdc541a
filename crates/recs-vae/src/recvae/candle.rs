//! RecVAE on candle ([`Engine::Candle`](crate::Engine::Candle)): the native engine's model
//! as candle tensor ops on any candle device, differentiated by candle's autograd, with the
//! crate's one Adam on device tensors ([`AdamSet`]), one for the encoder and one for the
//! decoder.
//!
//! Each step takes exactly the native step's draws ([`net::draws`]: dropout masks, then
//! noise) on the host; the batch goes to the device as its entries and is densified there.
//! The loss is written as the authors write it (`log q(z|x) − log p(z)` with the composite
//! prior's log-sum-exp), not in the native engine's simplified derivative, so the two
//! engines check each other.

use candle_core::{DType, Tensor};
use rand_chacha::ChaCha8Rng;
use recs_sparse::CsrMatrix;

use super::RecVaeParams;
use super::net::{self, LAYERS, LN_EPS, Layout, MIXTURE, WIDE_LOG_VAR};
use super::steps::Steps;
use crate::Result;
use crate::backend::candle::{CandleOps, autograd, dense_rows, densify, flat_index, ops};
use crate::backend::{AdamSet, Backend};
use crate::kernels::rows::dropped_input;

/// The encoder's tensors, in [`Layout::tensors`] order: `fc{i}` weight and bias (indices
/// `2i`, `2i + 1`), layer norm `i` scale and shift (`10 + 2i`, `11 + 2i`), the heads' weight
/// and bias (20, 21). Biases, scales and shifts are `1 × width`.
fn upload_encoder(be: &CandleOps, l: &Layout, enc: &[f32]) -> Result<Vec<Tensor>> {
    l.tensors()
        .into_iter()
        .map(|(_, at, shape)| {
            let (r, c) = match shape[..] {
                [r, c] => (r, c),
                [c] => (1, c),
                _ => unreachable!("encoder tensors are 1-D or 2-D"),
            };
            be.upload(enc[at..at + r * c].to_vec(), r, c)
        })
        .collect()
}

/// The decoder's weight (`factors × n_items`) and bias (`1 × n_items`).
fn upload_decoder(be: &CandleOps, l: &Layout, dec: &[f32]) -> Result<Vec<Tensor>> {
    let kn = l.factors * l.n_items;
    Ok(vec![
        be.upload(dec[..kn].to_vec(), l.factors, l.n_items)?,
        be.upload(dec[kn..].to_vec(), 1, l.n_items)?,
    ])
}

/// The tensors' elements, concatenated on the host.
pub(super) fn download(ts: &[Tensor]) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    for t in ts {
        out.extend(ops(|| t.flatten_all()?.to_vec1::<f32>())?);
    }
    Ok(out)
}

/// `1 / (1 + e^(−x))`.
fn sigmoid(x: &Tensor) -> candle_core::Result<Tensor> {
    x.neg()?.exp()?.affine(1.0, 1.0)?.recip()
}

/// The encoder `enc` on `input` (`rows × n_items`): `[μ | log σ²]`, `rows × 2·factors`.
fn encode(enc: &[Tensor], input: &Tensor) -> candle_core::Result<Tensor> {
    let mut h = input.clone();
    let mut skip: Option<Tensor> = None;
    for i in 0..LAYERS {
        let mut a = h.matmul(&enc[2 * i])?.broadcast_add(&enc[2 * i + 1])?;
        if let Some(s) = &skip {
            a = a.add(s)?;
        }
        let u = a.mul(&sigmoid(&a)?)?;
        let centred = u.broadcast_sub(&u.mean_keepdim(1)?)?;
        let rstd = centred
            .sqr()?
            .mean_keepdim(1)?
            .affine(1.0, f64::from(LN_EPS))?
            .sqrt()?
            .recip()?;
        let out = centred
            .broadcast_mul(&rstd)?
            .broadcast_mul(&enc[10 + 2 * i])?
            .broadcast_add(&enc[11 + 2 * i])?;
        if i + 1 < LAYERS {
            skip = Some(match skip {
                None => out.clone(),
                Some(s) => s.add(&out)?,
            });
        }
        h = out;
    }
    h.matmul(&enc[20])?.broadcast_add(&enc[21])
}

/// `log N(z; m, e^lv)` elementwise, `m` and `lv` tensors of `z`'s shape.
fn log_normal(z: &Tensor, m: &Tensor, lv: &Tensor) -> candle_core::Result<Tensor> {
    let sq = z.sub(m)?.sqr()?.mul(&lv.neg()?.exp()?)?;
    lv.add(&sq)?
        .affine(-0.5, -0.5 * (2.0 * std::f64::consts::PI).ln())
}

/// `log N(z; 0, e^lv)` elementwise for a constant `lv`.
fn log_centred(z: &Tensor, lv: f32) -> candle_core::Result<Tensor> {
    let lv = f64::from(lv);
    z.sqr()?
        .affine((-lv).exp(), lv)?
        .affine(-0.5, -0.5 * (2.0 * std::f64::consts::PI).ln())
}

/// `−Σ counts ⊙ log_softmax(logits)` over the batch.
fn neg_log_likelihood(logits: &Tensor, counts: &Tensor) -> candle_core::Result<Tensor> {
    let m = logits.max_keepdim(1)?.detach();
    let shifted = logits.broadcast_sub(&m)?;
    let lse = shifted.exp()?.sum_keepdim(1)?.log()?;
    counts.mul(&shifted.broadcast_sub(&lse)?)?.sum_all()?.neg()
}

/// The candle engine's steps: the parameters, the prior's encoder and both Adams on one
/// device.
pub(super) struct Device<'a> {
    be: CandleOps,
    l: Layout,
    p: &'a RecVaeParams,
    x: &'a CsrMatrix,
    enc: Vec<Tensor>,
    /// The prior's encoder's heads on every training row, `n_rows × 2·factors`.
    prior: Tensor,
    dec: Vec<Tensor>,
    enc_opt: AdamSet<Tensor>,
    dec_opt: AdamSet<Tensor>,
}

impl<'a> Device<'a> {
    /// The initial encoder, prior encoder and decoder `nets` on `device`.
    pub(super) fn new(
        device: &candle_core::Device,
        l: Layout,
        p: &'a RecVaeParams,
        x: &'a CsrMatrix,
        nets: (Vec<f32>, Vec<f32>, Vec<f32>),
    ) -> Result<Self> {
        let be = CandleOps {
            device: device.clone(),
        };
        let enc = upload_encoder(&be, &l, &nets.0)?;
        let old = upload_encoder(&be, &l, &nets.1)?;
        let dec = upload_decoder(&be, &l, &nets.2)?;
        let prior = Self::heads(&be, &l, &old, x)?;
        let shapes = |ts: &[Tensor]| ts.iter().map(|t| be.shape(t)).collect::<Vec<_>>();
        let enc_opt = AdamSet::new(&be, p.learning_rate, &shapes(&enc))?;
        let dec_opt = AdamSet::new(&be, p.learning_rate, &shapes(&dec))?;
        Ok(Self {
            be,
            l,
            p,
            x,
            enc,
            prior,
            dec,
            enc_opt,
            dec_opt,
        })
    }

    /// The heads of the encoder `enc` on every row of `x` without dropout, on the device.
    fn heads(be: &CandleOps, l: &Layout, enc: &[Tensor], x: &CsrMatrix) -> Result<Tensor> {
        let all: Vec<u32> = (0..x.n_rows() as u32).collect();
        let mut parts = Vec::new();
        for chunk in all.chunks(recs_core::ranking::BATCH) {
            let input = Self::dense_on(be, l, chunk.len(), dropped_input(0.0, x, chunk, None))?;
            parts.push(ops(|| encode(enc, &input))?);
        }
        ops(|| Tensor::cat(&parts, 0))
    }

    /// The prior's heads of the batch `rows`.
    fn prior_of(&self, rows: &[u32]) -> Result<Tensor> {
        let device = &self.be.device;
        let ids = ops(|| Tensor::from_slice(rows, rows.len(), device))?;
        ops(|| self.prior.index_select(&ids, 0))
    }

    /// The entries `input` of a `rows`-row batch, dense on the device.
    fn dense(&self, rows: usize, input: Vec<(u32, u32, f32)>) -> Result<Tensor> {
        Self::dense_on(&self.be, &self.l, rows, input)
    }

    fn dense_on(
        be: &CandleOps,
        l: &Layout,
        rows: usize,
        input: Vec<(u32, u32, f32)>,
    ) -> Result<Tensor> {
        let n = l.n_items;
        let mut ids = Vec::with_capacity(input.len());
        let mut vals = Vec::with_capacity(input.len());
        for (j, i, v) in input {
            ids.push(flat_index(j as usize, i, n)?);
            vals.push(v);
        }
        let len = ids.len();
        let device = &be.device;
        let ids = ops(|| Tensor::from_vec(ids, len, device))?;
        densify(device, rows, n, &ids, vals)
    }

    /// `z = μ + s ⊙ σ` of a head, and `(μ, log σ²)`.
    fn sample(
        &self,
        head: &Tensor,
        noise: &Tensor,
    ) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let k = self.l.factors;
        let mu = head.narrow(1, 0, k)?;
        let lv = head.narrow(1, k, k)?;
        let z = mu.add(&noise.mul(&lv.affine(0.5, 0.0)?.exp()?)?)?;
        Ok((z, mu, lv))
    }

    /// `(loss, gradients)` of `loss_of(tracked params)` with respect to `params`, the loss
    /// read back to the host.
    fn gradient(
        params: &[Tensor],
        loss_of: impl FnOnce(&[Tensor]) -> candle_core::Result<Tensor>,
    ) -> Result<(f64, Vec<Tensor>)> {
        let (loss, g) = autograd(params, loss_of)?;
        Ok((ops(|| loss.to_dtype(DType::F64)?.to_scalar::<f64>())?, g))
    }
}

impl Device<'_> {
    /// An encoder step's loss and the encoder's gradients (in [`upload_encoder`]'s order),
    /// without the update.
    pub(super) fn encoder_gradient(
        &self,
        rows: &[u32],
        rng: &mut ChaCha8Rng,
    ) -> Result<(f64, Vec<Tensor>)> {
        let (l, p, x, b) = (self.l, self.p, self.x, rows.len());
        let device = self.be.device.clone();
        let (input, noise) = net::draws(&l, p.dropout, x, rows, rng);
        let input = self.dense(b, input)?;
        let counts = dense_rows(&device, x, rows)?.0;
        let noise = self.be.upload(noise, b, l.factors)?;
        let w = net::kl_weights(x, rows, |n| p.kl_weight(n));
        let w = self.be.upload(w, b, 1)?;
        let prior = self.prior_of(rows)?;
        let k = l.factors;
        let ln_w = MIXTURE.map(|v| f64::from(v.ln()));
        Self::gradient(&self.enc, |enc| {
            let (z, mu, lv) = self.sample(&encode(enc, &input)?, &noise)?;
            let logits = z.matmul(&self.dec[0])?.broadcast_add(&self.dec[1])?;
            let nll = neg_log_likelihood(&logits, &counts)?;
            let log_q = log_normal(&z, &mu, &lv)?;
            let comps = [
                log_centred(&z, 0.0)?.affine(1.0, ln_w[0])?,
                log_normal(&z, &prior.narrow(1, 0, k)?, &prior.narrow(1, k, k)?)?
                    .affine(1.0, ln_w[1])?,
                log_centred(&z, WIDE_LOG_VAR)?.affine(1.0, ln_w[2])?,
            ];
            let m = comps[0].maximum(&comps[1])?.maximum(&comps[2])?.detach();
            let mut sum = comps[0].sub(&m)?.exp()?;
            for c in &comps[1..] {
                sum = sum.add(&c.sub(&m)?.exp()?)?;
            }
            let log_p = m.add(&sum.log()?)?;
            let kl = log_q.sub(&log_p)?.sum_keepdim(1)?.mul(&w)?.sum_all()?;
            nll.add(&kl)?.affine(1.0 / b as f64, 0.0)
        })
    }

    /// A decoder step's loss and the decoder's gradients (weight, bias), without the update.
    pub(super) fn decoder_gradient(
        &self,
        rows: &[u32],
        rng: &mut ChaCha8Rng,
    ) -> Result<(f64, Vec<Tensor>)> {
        let (l, x, b) = (self.l, self.x, rows.len());
        let device = self.be.device.clone();
        let noise = self.be.upload(net::noise(&l, b, rng), b, l.factors)?;
        let counts = dense_rows(&device, x, rows)?.0;
        let heads = self.prior_of(rows)?;
        let (z, _, _) = ops(|| self.sample(&heads, &noise))?;
        Self::gradient(&self.dec, |dec| {
            let logits = z.matmul(&dec[0])?.broadcast_add(&dec[1])?;
            neg_log_likelihood(&logits, &counts)?.affine(1.0 / b as f64, 0.0)
        })
    }
}

impl Steps for Device<'_> {
    fn encoder_step(&mut self, rows: &[u32], rng: &mut ChaCha8Rng) -> Result<f64> {
        let (loss, grads) = self.encoder_gradient(rows, rng)?;
        self.enc_opt
            .step(&self.be, self.enc.iter_mut().collect(), &grads)?;
        Ok(loss)
    }

    fn update_prior(&mut self) -> Result<()> {
        self.prior = Self::heads(&self.be, &self.l, &self.enc, self.x)?;
        Ok(())
    }

    fn decoder_step(&mut self, rows: &[u32], rng: &mut ChaCha8Rng) -> Result<f64> {
        let (loss, grads) = self.decoder_gradient(rows, rng)?;
        self.dec_opt
            .step(&self.be, self.dec.iter_mut().collect(), &grads)?;
        Ok(loss)
    }

    fn logits(&self, x: &CsrMatrix, rows: &[u32]) -> Result<Vec<f32>> {
        let input = self.dense(rows.len(), dropped_input(0.0, x, rows, None))?;
        ops(|| {
            let head = encode(&self.enc, &input)?;
            let mu = head.narrow(1, 0, self.l.factors)?;
            mu.matmul(&self.dec[0])?
                .broadcast_add(&self.dec[1])?
                .flatten_all()?
                .to_vec1::<f32>()
        })
    }

    type Snapshot = (Vec<Tensor>, Vec<Tensor>);

    fn snapshot(&self) -> Self::Snapshot {
        // Adam replaces the parameter tensors rather than writing into them: a clone is a
        // snapshot.
        (self.enc.clone(), self.dec.clone())
    }

    fn to_host(&self, s: Self::Snapshot) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((download(&s.0)?, download(&s.1)?))
    }
}
