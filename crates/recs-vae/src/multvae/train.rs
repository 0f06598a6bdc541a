//! Fitting Mult-VAE / Mult-DAE: initialisation, the epochs, and the fused training step
//! (each parameter block's gradient and Adam update while it is in cache).

use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use recs_core::{ModelError, ModelParams as _, Progress};
use recs_sparse::CsrMatrix;

use super::layout::{BLOCK_FLOATS, Block, blocks, layout};
use super::{MultVae, MultVaeData, MultVaeParams};
use crate::kernels;
use crate::optim::{self, Adam};
use crate::train::{EpochLoop, Epochs, Goal, shuffled_batches};
use crate::{Engine, Result};

/// Adam's state over the flat parameters.
pub(super) struct OptState {
    pub(super) adam: Adam,
    pub(super) m: Vec<f32>,
    pub(super) v: Vec<f32>,
}

/// Mult-VAE's training state, as the [`EpochLoop`] trains it.
struct Training<'a> {
    /// The model being trained; its `theta` is only filled in while validating.
    model: MultVae,
    /// The weights.
    theta: Vec<f32>,
    blocks: Vec<Block>,
    opt: OptState,
    rng: ChaCha8Rng,
    /// The users with at least one interaction, shuffled every epoch.
    order: Vec<u32>,
    /// Batches trained so far (the KL annealing's step).
    step: usize,
    data: &'a MultVaeData<'a>,
}

impl Epochs for Training<'_> {
    type Best = Vec<f32>;

    /// Seeded shuffled batches of users, one fused step each; the loss is the mean over the
    /// epoch's users of the batch-mean negative ELBO.
    fn train_epoch(&mut self, _epoch: usize) -> Result<Vec<(&'static str, f64)>> {
        let params = &self.model.params;
        let train = self.data.train;
        let mut loss_sum = 0.0f64;
        for batch in shuffled_batches(&mut self.order, &mut self.rng, params.batch_size) {
            let beta = params.kl_weight(self.step);
            let loss = self.model.train_step(
                &self.blocks,
                &mut self.opt,
                &mut self.theta,
                train,
                batch,
                beta,
                &mut self.rng,
            );
            loss_sum += loss * batch.len() as f64;
            self.step += 1;
        }
        Ok(vec![("loss", loss_sum / self.order.len() as f64)])
    }

    /// NDCG@100 of the validation users.
    fn validate(&mut self) -> Result<Option<f64>> {
        let Some((vin, vout)) = self.data.validation else {
            return Ok(None);
        };
        self.model.theta = std::mem::take(&mut self.theta);
        let ndcg = self.model.ndcg_at(vin, vout, 100);
        self.theta = std::mem::take(&mut self.model.theta);
        ndcg.map(Some)
    }

    fn keep(&self) -> Vec<f32> {
        self.theta.clone()
    }
}

/// What every engine starts from: the model (its weights not yet filled in), the initial
/// weights in layout order, and the seeded stream after the initialisation's draws.
pub(super) fn init(params: &MultVaeParams, n_items: usize) -> (MultVae, Vec<f32>, ChaCha8Rng) {
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
    let model = MultVae {
        params: params.clone(),
        n_items,
        layers,
        n_enc,
        theta: Vec::new(),
        epochs_trained: 0,
        best_epoch: 0,
    };
    (model, theta, rng)
}

/// The users with at least one interaction: what every epoch shuffles and batches.
pub(super) fn training_users(train: &CsrMatrix) -> Vec<u32> {
    (0..train.n_rows() as u32)
        .filter(|&r| !train.row(r as usize).indices.is_empty())
        .collect()
}

/// The epoch loop of a fit (with NDCG@100 validation when `data` has validation users).
pub(super) fn epoch_loop<B>(
    params: &MultVaeParams,
    data: &MultVaeData<'_>,
    started: Instant,
) -> EpochLoop<B> {
    let epochs = EpochLoop::new(params.epochs, started);
    if data.validation.is_some() {
        epochs.with_validation("validation_ndcg@100", Goal::Maximise, params.patience)
    } else {
        epochs
    }
}

/// Trains a network with `params` on `data.train` (users × items; every stored entry is a
/// count, usually 1), choosing the epoch by NDCG@100 of `data.validation` (fold-in rows,
/// held-out rows) when given, on `engine`. Reports each epoch's `"loss"` (the batch-mean
/// negative ELBO) and, with validation, the measure `"validation_ndcg@100"`.
/// [`Control::Stop`](recs_core::Control::Stop) ends training early, keeping the best epoch's
/// weights with validation, else the current ones.
///
/// Both engines train the same model from the same draws (initialisation, shuffles, dropout
/// masks, noise); `Engine::Candle` keeps the weights, the optimiser and every batch's
/// computation on its device.
pub(super) fn fit(
    params: &MultVaeParams,
    data: &MultVaeData<'_>,
    engine: &Engine,
    progress: &mut dyn Progress,
) -> Result<MultVae> {
    params.validate()?;
    let train = data.train;
    if train.nnz() == 0 {
        return Err(ModelError::Data(
            "the training matrix holds no interaction".into(),
        ));
    }
    let started = Instant::now();
    let (model, theta, rng) = init(params, train.n_cols());
    let order = training_users(train);
    let (mut model, done, last) = match engine {
        Engine::Native => {
            let n_params = theta.len();
            let blocks = blocks(&model.layers, BLOCK_FLOATS);
            let opt = OptState {
                adam: Adam::new(params.learning_rate),
                m: vec![0.0f32; n_params],
                v: vec![0.0f32; n_params],
            };
            let mut t = Training {
                model,
                theta,
                blocks,
                opt,
                rng,
                order,
                step: 0,
                data,
            };
            let done = epoch_loop(params, data, started).run(&mut t, progress)?;
            (t.model, done, t.theta)
        }
        #[cfg(feature = "candle")]
        Engine::Candle(device) => super::candle::fit(
            model,
            &theta,
            rng,
            order,
            data,
            device,
            epoch_loop(params, data, started),
            progress,
        )?,
    };
    model.epochs_trained = done.epochs_run;
    (model.best_epoch, model.theta) = match done.best {
        Some(best) => best,
        None => (done.epochs_run, last),
    };
    Ok(model)
}

impl MultVae {
    /// One training step on a batch: its gradient block by block, each block's Adam update
    /// applied while the block is in cache (blocks in parallel; no full gradient is ever
    /// stored). Returns the batch loss.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn train_step(
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
        let wd = self.params.reg as f32;
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
}
