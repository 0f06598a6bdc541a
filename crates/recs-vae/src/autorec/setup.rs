//! What every AutoRec engine trains from: the rating matrix as the model reads it, the
//! validation split, the initial weights and the seeded stream after their draws; the codes
//! of a set of rows, and a model assembled from weights (to validate, and at the end).

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use recs_core::ModelError;
use recs_sparse::{CsrMatrix, DuplicatePolicy};

use super::kernels::{act_code, encode_rows};
use super::{AutoRec, AutoRecParams};
use crate::Result;
use crate::nn::HostLinear;
use crate::team;

/// The trainable state: parameters and Adam moments.
#[derive(Clone)]
pub(super) struct Weights {
    pub(super) enc_w: Vec<f32>,
    pub(super) enc_b: Vec<f32>,
    pub(super) dec_w: Vec<f32>,
    pub(super) dec_b: Vec<f32>,
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
    )
    .map_err(ModelError::model)?;
    Ok((m, val))
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
    pub(super) fn new(params: &AutoRecParams, train: &CsrMatrix) -> Result<Setup> {
        if train.nnz() == 0 {
            return Err(ModelError::Data(
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

impl AutoRec {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn assemble(
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
