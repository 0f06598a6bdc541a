//! Fitting AutoRec: the batch step (row phase, then the fused column phase), encoding and
//! the validation split.

use recs_core::ModelParams as _;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use recs_core::Progress;
use recs_sparse::{CsrMatrix, DuplicatePolicy};

use super::kernels::{act_code, adam_row, column_update, encode_rows, rows_step};
use super::{AutoRec, AutoRecParams};
use crate::Engine;
use crate::error::{Result, VaeError};
use crate::nn::HostLinear;
use crate::optim::{Adam, AdamStep};
use crate::team;
use crate::train::{EpochLoop, Epochs, Goal, shuffled_batches};

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

/// The trainable state: parameters and Adam moments.
#[derive(Clone)]
pub(super) struct Weights {
    pub(super) enc_w: Vec<f32>,
    pub(super) enc_b: Vec<f32>,
    pub(super) dec_w: Vec<f32>,
    pub(super) dec_b: Vec<f32>,
}

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

/// Codes of every row of `x` (`rows × hidden`), in parallel.
pub(super) fn encode_all(x: &CsrMatrix, w: &Weights, params: &AutoRecParams) -> Vec<f32> {
    let h = params.factors;
    let act = act_code(Some(params.hidden_activation));
    let rows: Vec<u32> = (0..x.n_rows() as u32).collect();
    let mut out = vec![0.0f32; rows.len() * h];
    let mut parts: Vec<_> = rows.chunks(64).zip(out.chunks_mut(64 * h)).collect();
    team::for_each_mut(&mut parts, |(r, o)| {
        encode_rows(x, r, &w.enc_w, &w.enc_b, act, o)
    });
    out
}

/// `(row, col, rating)` triples.
pub(super) type Entries = Vec<(u32, u32, f32)>;

fn split_validation(
    x: &CsrMatrix,
    fraction: f64,
    rng: &mut ChaCha8Rng,
) -> Result<(CsrMatrix, Entries)> {
    let mut all: Entries = Vec::with_capacity(x.nnz());
    for r in 0..x.n_rows() {
        let row = x.row(r);
        for (&c, &v) in row.indices.iter().zip(row.values) {
            all.push((r as u32, c, v));
        }
    }
    all.shuffle(rng);
    let n_val = (all.len() as f64 * fraction).round() as usize;
    let val = all[..n_val].to_vec();
    let fit = &all[n_val..];
    let (rs, cs, vs): (Vec<u32>, Vec<u32>, Vec<f32>) = fit.iter().fold(
        (Vec::new(), Vec::new(), Vec::new()),
        |(mut a, mut b, mut c), &(r, col, v)| {
            a.push(r);
            b.push(col);
            c.push(v);
            (a, b, c)
        },
    );
    let m = CsrMatrix::from_triplets(
        x.n_rows(),
        x.n_cols(),
        &rs,
        &cs,
        &vs,
        DuplicatePolicy::Error,
    )?;
    Ok((m, val))
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

/// What every engine trains from: the rows trained on and held out, the initial weights,
/// the seeded stream after the initialisation's and the validation split's draws, the rows
/// every epoch shuffles, and what a model needs besides its weights.
pub(super) struct Setup {
    /// The rating matrix as the model reads it (items × users for I-AutoRec).
    pub(super) full: CsrMatrix,
    /// Its training part (all but the validation ratings).
    pub(super) fit_x: CsrMatrix,
    pub(super) val: Option<Entries>,
    pub(super) w: Weights,
    pub(super) rng: ChaCha8Rng,
    /// The rows of `fit_x` with at least one rating.
    pub(super) order: Vec<u32>,
    pub(super) n_users: usize,
    pub(super) n_items: usize,
    pub(super) global_mean: f32,
    pub(super) clip: (f32, f32),
}

impl Setup {
    fn new(params: &AutoRecParams, train: &CsrMatrix) -> Result<Setup> {
        if train.nnz() == 0 {
            return Err(VaeError::InvalidData(
                "the training matrix holds no rating".into(),
            ));
        }
        let (n_users, n_items) = train.shape();
        let full = if params.item_based {
            train.transpose()
        } else {
            train.clone()
        };
        let (n_rows, n_cols) = full.shape();
        let values = full.values();
        let global_mean =
            (values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64) as f32;
        let clip = params.rating_range.unwrap_or_else(|| {
            values
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                })
        });
        let h = params.factors;
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        // PyTorch's nn.Linear initialisation for both layers (U(±1/√fan_in)).
        let enc = HostLinear::torch_init(n_cols, h, &mut rng);
        let dec = HostLinear::torch_init(h, n_cols, &mut rng);
        let w = Weights {
            enc_w: enc.w.0,
            enc_b: enc.b.0,
            dec_w: dec.w.0,
            dec_b: dec.b.0,
        };
        let (fit_x, val) = if params.validation_fraction > 0.0 {
            let (m, v) = split_validation(&full, params.validation_fraction, &mut rng)?;
            (m, Some(v))
        } else {
            (full.clone(), None)
        };
        let order: Vec<u32> = (0..n_rows as u32)
            .filter(|&r| !fit_x.row(r as usize).indices.is_empty())
            .collect();
        Ok(Setup {
            full,
            fit_x,
            val,
            w,
            rng,
            order,
            n_users,
            n_items,
            global_mean,
            clip,
        })
    }

    /// The validation RMSE of the weights `w`: every row of the training part encoded, the
    /// held-out ratings predicted (on the CPU, as a trained model predicts them).
    pub(super) fn validation_rmse(
        &self,
        params: &AutoRecParams,
        w: &Weights,
        val: &[(u32, u32, f32)],
    ) -> f64 {
        let codes = encode_all(&self.fit_x, w, params);
        let model = AutoRec::assemble(
            params,
            self.n_users,
            self.n_items,
            w,
            codes,
            &self.fit_x,
            self.global_mean,
            self.clip,
        );
        model.rmse_on(val)
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
    /// Trains with `params` on `train`, a users × items matrix of ratings (every stored
    /// entry is an observed rating), on the engine `params.device` names
    /// ([`Engine::from_device`]), calling `progress` after every epoch with the loss
    /// `"train_rmse"` (of the epoch's batches, before their updates) and, with validation,
    /// the measure `"validation_rmse"`. [`Control::Stop`](recs_core::Control::Stop) ends
    /// training early, keeping the best epoch's weights with validation, else the current
    /// ones.
    ///
    /// Errors when a parameter is out of range, the device cannot be used, `train` holds no
    /// rating, or the loss stops being finite (naming the epoch).
    pub fn fit(
        params: &AutoRecParams,
        train: &CsrMatrix,
        progress: &mut dyn Progress,
    ) -> Result<AutoRec> {
        params.validate()?;
        Self::fit_on(
            params,
            train,
            &Engine::from_device(&params.device)?,
            progress,
        )
    }

    /// [`AutoRec::fit`] on a chosen [`Engine`], whatever `params.device` says. Both engines
    /// train the same model from the same draws (initialisation, validation split,
    /// shuffles); [`Engine::Candle`] computes each batch's masked loss densely on its
    /// device, differentiates it with candle's autograd and keeps the weights and Adam's
    /// moments there. Validation and the final codes are computed on the CPU.
    pub fn fit_on(
        params: &AutoRecParams,
        train: &CsrMatrix,
        engine: &Engine,
        progress: &mut dyn Progress,
    ) -> Result<AutoRec> {
        params.validate()?;
        let started = Instant::now();
        let setup = Setup::new(params, train)?;
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

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        params: &AutoRecParams,
        n_users: usize,
        n_items: usize,
        w: &Weights,
        codes: Vec<f32>,
        x: &CsrMatrix,
        global_mean: f32,
        clip: (f32, f32),
    ) -> AutoRec {
        let row_seen = (0..x.n_rows())
            .map(|r| f32::from(!x.row(r).indices.is_empty()))
            .collect();
        let col_seen = x.col_counts().iter().map(|&c| f32::from(c > 0)).collect();
        AutoRec {
            params: params.clone(),
            n_users,
            n_items,
            enc_w: w.enc_w.clone(),
            enc_b: w.enc_b.clone(),
            dec_w: w.dec_w.clone(),
            dec_b: w.dec_b.clone(),
            codes,
            row_seen,
            col_seen,
            global_mean,
            clip,
            epochs_trained: 0,
            best_epoch: 0,
        }
    }
}
