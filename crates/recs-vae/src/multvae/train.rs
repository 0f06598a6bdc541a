//! Fitting Mult-VAE / Mult-DAE: initialisation, the epochs, and the fused training step
//! (each parameter block's gradient and Adam update while it is in cache).

use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use recs_sparse::CsrMatrix;

use super::layout::{BLOCK_FLOATS, Block, blocks, layout};
use super::{MultVae, MultVaeParams};
use crate::error::{Result, VaeError};
use crate::kernels;
use crate::optim::{self, Adam};
use crate::train::{EpochReport, Progress};

/// Adam's state over the flat parameters.
pub(super) struct OptState {
    pub(super) adam: Adam,
    pub(super) m: Vec<f32>,
    pub(super) v: Vec<f32>,
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
}
