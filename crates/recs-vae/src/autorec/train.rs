//! Fitting AutoRec: the native engine's batch step (row phase, then the fused column
//! phase) and epochs, and the fit on either engine.

use std::time::Instant;

use rand_chacha::ChaCha8Rng;
use recs_core::{ModelError, ModelParams as _, Progress, TrainData};
use recs_sparse::CsrMatrix;

use super::kernels::{act_code, adam_row, column_update, rows_step};
use super::setup::{Setup, Weights, encode_all};
use super::{AutoRec, AutoRecParams};
use crate::optim::{Adam, AdamStep};
use crate::team;
use crate::train::{EpochLoop, Epochs, Goal, shuffled_batches};
use crate::{Engine, Result};

/// Rows of one batch and the buffers of its step.
pub(super) struct BatchBuffers {
    pub(super) codes: Vec<f32>,
    pub(super) d_pre: Vec<f32>,
    pub(super) g: Vec<f32>,
    pub(super) vals: Vec<f32>,
    /// Entry offset of each batch row in `g` / `vals`.
    pub(super) offsets: Vec<usize>,
    /// Per column: start of its hits in `hits` (CSC of the batch).
    pub(super) col_start: Vec<usize>,
    pub(super) hits: Vec<(u32, u32)>,
}

/// Rows per task of the row phase and columns per task of the column phase.
const ROW_CHUNK: usize = 8;
const COL_CHUNK: usize = 16;

pub(super) struct Moments {
    pub(super) enc_w: (Vec<f32>, Vec<f32>),
    pub(super) enc_b: (Vec<f32>, Vec<f32>),
    pub(super) dec_w: (Vec<f32>, Vec<f32>),
    pub(super) dec_b: (Vec<f32>, Vec<f32>),
}

pub(super) fn zeros2(n: usize) -> (Vec<f32>, Vec<f32>) {
    (vec![0.0; n], vec![0.0; n])
}

/// One Adam step on the batch `rows` of `x`; returns the batch's summed squared error.
pub(super) fn batch_step(
    x: &CsrMatrix,
    rows: &[u32],
    w: &mut Weights,
    mom: &mut Moments,
    buf: &mut BatchBuffers,
    params: &AutoRecParams,
    step: &AdamStep,
) -> f64 {
    let h = params.factors;
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
        let lambda = params.reg as f32;
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

/// AutoRec's training state on the native engine, as the [`EpochLoop`] trains it.
struct Training<'a> {
    params: &'a AutoRecParams,
    w: Weights,
    mom: Moments,
    buf: BatchBuffers,
    opt: Adam,
    rng: ChaCha8Rng,
    /// The rows with at least one rating, shuffled every epoch.
    order: Vec<u32>,
    /// The rows trained on, the validation ratings and what a validation model needs.
    setup: &'a Setup,
}

impl Epochs for Training<'_> {
    type Best = Weights;

    /// Seeded shuffled batches, one Adam step each; the loss is the RMSE of the epoch's
    /// batches before their updates.
    fn train_epoch(&mut self, _epoch: usize) -> Result<Vec<(&'static str, f64)>> {
        let mut sse = 0.0;
        for batch in shuffled_batches(&mut self.order, &mut self.rng, self.params.batch_size) {
            let step = self.opt.next_step();
            sse += batch_step(
                &self.setup.fit_x,
                batch,
                &mut self.w,
                &mut self.mom,
                &mut self.buf,
                self.params,
                &step,
            );
        }
        Ok(vec![(
            "train_rmse",
            (sse / self.setup.fit_x.nnz() as f64).sqrt(),
        )])
    }

    /// The RMSE on the held-out ratings.
    fn validate(&mut self) -> Result<Option<f64>> {
        let Some(val) = &self.setup.val else {
            return Ok(None);
        };
        Ok(Some(self.setup.validation_rmse(self.params, &self.w, val)))
    }

    fn keep(&self) -> Weights {
        self.w.clone()
    }
}

/// The epoch loop of a fit (with RMSE validation when there are validation ratings).
pub(super) fn epoch_loop<B>(
    params: &AutoRecParams,
    validation: bool,
    started: Instant,
) -> EpochLoop<B> {
    let epochs = EpochLoop::new(params.epochs, started);
    if validation {
        epochs.with_validation("validation_rmse", Goal::Minimise, params.patience)
    } else {
        epochs
    }
}

/// The native engine's threads for `params`.
fn native_threads(params: &AutoRecParams) -> usize {
    if params.threads == 0 {
        rayon::current_num_threads().max(1)
    } else {
        params.threads
    }
}

impl AutoRec {
    /// The trait's `fit` on a chosen [`Engine`], whatever `params.device` says: trains with
    /// `params` on `data.matrix`, a users × items matrix of ratings (every stored entry is
    /// an observed rating; `data.validation` is not used: AutoRec holds out
    /// `validation_fraction` of these ratings itself), calling `progress` after every epoch
    /// with the loss `"train_rmse"` (of the epoch's batches, before their updates) and,
    /// with validation, the measure `"validation_rmse"`.
    /// [`Control::Stop`](recs_core::Control::Stop) ends training early, keeping the best
    /// epoch's weights with validation, else the current ones.
    ///
    /// Both engines train the same model from the same draws (initialisation, validation
    /// split, shuffles); `Engine::Candle` computes each batch's masked loss densely on its
    /// device, differentiates it with candle's autograd and keeps the weights and Adam's
    /// moments there. Validation and the final codes are computed on the CPU.
    ///
    /// Errors when a parameter is out of range, `data.matrix` holds no rating, or the loss
    /// stops being finite (naming the epoch).
    pub fn fit_on(
        params: &AutoRecParams,
        data: &TrainData<'_>,
        engine: &Engine,
        progress: &mut dyn Progress,
    ) -> Result<AutoRec, ModelError> {
        params.validate()?;
        let started = Instant::now();
        let setup = Setup::new(params, data.matrix)?;
        let threads = native_threads(params);
        let validation = setup.val.is_some();
        let (done, last) = match engine {
            Engine::Native => {
                let n_cols = setup.fit_x.n_cols();
                let h = params.factors;
                let mom = Moments {
                    enc_w: zeros2(n_cols * h),
                    enc_b: zeros2(h),
                    dec_w: zeros2(n_cols * h),
                    dec_b: zeros2(n_cols),
                };
                let mut t = Training {
                    params,
                    w: setup.w.clone(),
                    mom,
                    buf: BatchBuffers {
                        codes: Vec::new(),
                        d_pre: Vec::new(),
                        g: Vec::new(),
                        vals: Vec::new(),
                        offsets: Vec::new(),
                        col_start: Vec::new(),
                        hits: Vec::new(),
                    },
                    opt: Adam::new(params.learning_rate),
                    rng: setup.rng.clone(),
                    order: setup.order.clone(),
                    setup: &setup,
                };
                let epochs = epoch_loop(params, validation, started);
                let done = team::Team::run_with(threads, || epochs.run(&mut t, progress))?;
                (done, t.w)
            }
            #[cfg(feature = "candle")]
            Engine::Candle(device) => super::candle::fit(
                params,
                &setup,
                device,
                epoch_loop(params, validation, started),
                progress,
            )?,
        };
        let (best_epoch, w) = match done.best {
            Some(best) => best,
            None => (done.epochs_run, last),
        };
        let codes = team::Team::run_with(threads, || encode_all(&setup.full, &w, params));
        let mut model = Self::assemble(
            params,
            setup.n_users,
            setup.n_items,
            &w,
            codes,
            &setup.full,
            setup.global_mean,
            setup.clip,
        );
        model.epochs_trained = done.epochs_run;
        model.best_epoch = best_epoch;
        Ok(model)
    }
}
