//! AutoRec on candle ([`Engine::Candle`](crate::Engine::Candle)): the native path's batch
//! step as candle tensor ops on any candle device.
//!
//! A batch goes to the device once — the positions and values of its ratings — and is
//! densified there into the ratings `R` and the mask `M` of observed entries. The step is
//! the loss the native path minimises, written densely:
//! `Σ M ⊙ (g(V·f(W·r + b) + c) − R)² + λ/2 (‖W‖² + ‖V‖²)`, differentiated by candle's
//! autograd, then the crate's one Adam on the device tensors ([`AdamSet`], one step's
//! coefficients for all four parameters, as the native step). The batch's squared error is
//! summed on the device and read once per epoch. Validation and the final codes run on the
//! CPU from the downloaded weights, as a trained model predicts.

use candle_core::{DType, Device, Tensor, Var};
use recs_core::Progress;
use recs_sparse::CsrMatrix;

use super::AutoRecParams;
use super::setup::{Setup, Weights};
use crate::Result;
use crate::backend::candle::{CandleOps, activate, dense_rows, densify, ops};
use crate::backend::{AdamSet, Backend};
use crate::optim::AdamStep;
use crate::train::{EpochLoop, Epochs, Finished, shuffled_batches};

/// A batch on the device: the ratings and the mask of observed entries, `rows × cols`.
#[derive(Debug)]
pub(super) struct DeviceBatch {
    ratings: Tensor,
    mask: Tensor,
}

/// The batch `rows` of `x` on `device`, densified there (the ratings, then the mask over
/// the same entries).
pub(super) fn device_batch(device: &Device, x: &CsrMatrix, rows: &[u32]) -> Result<DeviceBatch> {
    let (ratings, ids) = dense_rows(device, x, rows)?;
    let ones = vec![1.0f32; ids.elem_count()];
    Ok(DeviceBatch {
        ratings,
        mask: densify(device, rows.len(), x.n_cols(), &ids, ones)?,
    })
}

/// The weights on `device`: `[W (cols × hidden), b (1 × hidden), V (cols × hidden),
/// c (1 × cols)]`, the native layout.
pub(super) fn upload(device: &Device, w: &Weights) -> Result<Vec<Tensor>> {
    let h = w.enc_b.len();
    let cols = w.dec_b.len();
    ops(|| {
        Ok(vec![
            Tensor::from_slice(&w.enc_w, (cols, h), device)?,
            Tensor::from_slice(&w.enc_b, (1, h), device)?,
            Tensor::from_slice(&w.dec_w, (cols, h), device)?,
            Tensor::from_slice(&w.dec_b, (1, cols), device)?,
        ])
    })
}

/// The weights on the host (the inverse of [`upload`]).
pub(super) fn download(w: &[Tensor]) -> Result<Weights> {
    let host = |t: &Tensor| -> Result<Vec<f32>> { ops(|| t.flatten_all()?.to_vec1::<f32>()) };
    Ok(Weights {
        enc_w: host(&w[0])?,
        enc_b: host(&w[1])?,
        dec_w: host(&w[2])?,
        dec_b: host(&w[3])?,
    })
}

/// The batch's summed squared error over its observed entries, and the loss
/// (that plus `λ/2 (‖W‖² + ‖V‖²)`).
fn batch_loss(
    params: &AutoRecParams,
    w: &[Tensor],
    batch: &DeviceBatch,
) -> candle_core::Result<(Tensor, Tensor)> {
    let code = activate(
        &batch.ratings.matmul(&w[0])?.broadcast_add(&w[1])?,
        params.hidden_activation,
    )?;
    let pre = code.matmul(&w[2].t()?)?.broadcast_add(&w[3])?;
    let out = match params.output_activation {
        Some(act) => activate(&pre, act)?,
        None => pre,
    };
    let err = out.sub(&batch.ratings)?.mul(&batch.mask)?;
    let sse = err.sqr()?.sum_all()?;
    let lambda = params.reg as f32;
    let loss = if lambda > 0.0 {
        let l2 = w[0].sqr()?.sum_all()?.add(&w[2].sqr()?.sum_all()?)?;
        sse.add(&l2.affine(f64::from(lambda) / 2.0, 0.0)?)?
    } else {
        sse.clone()
    };
    Ok((sse, loss))
}

/// One Adam step with coefficients `step` of the weights `w` (moments `moments`, in the
/// same order) on `batch`; returns the batch's summed squared error (a device scalar,
/// before the update).
pub(super) fn batch_step(
    be: &CandleOps,
    params: &AutoRecParams,
    w: &mut [Tensor],
    moments: &mut [(Tensor, Tensor)],
    batch: &DeviceBatch,
    step: &AdamStep,
) -> Result<Tensor> {
    let (vars, sse, grads) = ops(|| {
        let vars = w
            .iter()
            .map(Var::from_tensor)
            .collect::<candle_core::Result<Vec<_>>>()?;
        let tracked: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let (sse, loss) = batch_loss(params, &tracked, batch)?;
        let grads = loss.backward()?;
        Ok((vars, sse, grads))
    })?;
    for ((p, (m, v)), var) in w.iter_mut().zip(moments.iter_mut()).zip(&vars) {
        let g = match grads.get(var.as_tensor()) {
            // Detached: the moments must not hold this step's graph.
            Some(g) => g.detach(),
            None => ops(|| var.as_tensor().zeros_like())?,
        };
        be.adam_step(p, m, v, &g, step)?;
    }
    Ok(sse.detach())
}

/// AutoRec's training state on a candle device, as the [`EpochLoop`] trains it.
struct Training<'a> {
    params: &'a AutoRecParams,
    be: CandleOps,
    setup: &'a Setup,
    /// `[W, b, V, c]` on the device.
    w: Vec<Tensor>,
    opt: AdamSet<Tensor>,
    rng: rand_chacha::ChaCha8Rng,
    order: Vec<u32>,
}

impl Epochs for Training<'_> {
    type Best = Vec<Tensor>;

    /// The native epoch: seeded shuffled batches, one Adam step each; the loss is the RMSE
    /// of the epoch's batches before their updates.
    fn train_epoch(&mut self, _epoch: usize) -> Result<Vec<(&'static str, f64)>> {
        let device = self.be.device.clone();
        let mut sse = ops(|| Tensor::zeros((), DType::F64, &device))?;
        for rows in shuffled_batches(&mut self.order, &mut self.rng, self.params.batch_size) {
            let step = self.opt.next_step();
            let batch = device_batch(&device, &self.setup.fit_x, rows)?;
            let s = batch_step(
                &self.be,
                self.params,
                &mut self.w,
                self.opt.moments_mut(),
                &batch,
                &step,
            )?;
            sse = ops(|| sse.add(&s.to_dtype(DType::F64)?))?;
        }
        let sse = ops(|| sse.to_scalar::<f64>())?;
        Ok(vec![(
            "train_rmse",
            (sse / self.setup.fit_x.nnz() as f64).sqrt(),
        )])
    }

    /// The RMSE on the held-out ratings, from the weights downloaded once.
    fn validate(&mut self) -> Result<Option<f64>> {
        let Some(val) = &self.setup.val else {
            return Ok(None);
        };
        let w = download(&self.w)?;
        Ok(Some(self.setup.validation_rmse(self.params, &w, val)))
    }

    fn keep(&self) -> Vec<Tensor> {
        // Adam replaces the tensors rather than writing into them: a clone is a snapshot.
        self.w.clone()
    }
}

/// Trains from `setup` on `device` (what [`AutoRec::fit_on`](super::AutoRec::fit_on)
/// runs for [`Engine::Candle`](crate::Engine::Candle)); returns what the loop finished
/// with and the last weights, on the host.
pub(super) fn fit(
    params: &AutoRecParams,
    setup: &Setup,
    device: &Device,
    epochs: EpochLoop<Vec<Tensor>>,
    progress: &mut dyn Progress,
) -> Result<(Finished<Weights>, Weights)> {
    let be = CandleOps {
        device: device.clone(),
    };
    let w = upload(device, &setup.w)?;
    let shapes: Vec<(usize, usize)> = w.iter().map(|t| be.shape(t)).collect();
    let opt = AdamSet::new(&be, params.learning_rate, &shapes)?;
    let mut t = Training {
        params,
        be,
        setup,
        w,
        opt,
        rng: setup.rng.clone(),
        order: setup.order.clone(),
    };
    let done = epochs.run(&mut t, progress)?;
    let best = match done.best {
        Some((epoch, w)) => Some((epoch, download(&w)?)),
        None => None,
    };
    Ok((
        Finished {
            epochs_run: done.epochs_run,
            best,
        },
        download(&t.w)?,
    ))
}
