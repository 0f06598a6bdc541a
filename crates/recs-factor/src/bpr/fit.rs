//! Training: the epoch loop over the workers (the only worker's own buffers when
//! `threads` is 1, shared locked buffers otherwise), the membership bits for negative
//! checks, the epoch reports.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use recs_core::{ModelError, ModelParams as _, Progress};
use recs_sparse::CsrMatrix;

use super::kernels::{Exclusive, Job, Tally, run_exclusive};
use super::model::Bpr;
use super::params::BprParams;
use super::shared::{SharedFactors, run_shared};
use crate::common::report_epoch;

/// Largest user × item bitset the fit builds for checking negatives (16 MiB); larger
/// data is checked by binary search in the user's row.
pub(super) const BITSET_MAX_BYTES: usize = 16 << 20;

/// How the workers of [`fit_with`] run (tests vary what [`fit`] fixes).
#[derive(Debug, Clone, Copy)]
pub(super) struct Tuning {
    /// Largest membership bitset to build (0: always binary search).
    pub(super) bitset_max_bytes: usize,
    /// Run even a single worker on the shared (locked) buffers.
    pub(super) always_shared: bool,
}

/// Trains on the interactions of `train` (every stored entry a positive); see
/// [`Recommender::fit`](recs_core::Recommender::fit) on [`Bpr`].
pub(super) fn fit(
    params: &BprParams,
    train: &CsrMatrix,
    progress: &mut dyn Progress,
) -> Result<Bpr, ModelError> {
    let tuning = Tuning {
        bitset_max_bytes: BITSET_MAX_BYTES,
        always_shared: false,
    };
    fit_with(params, train, progress, tuning)
}

/// [`fit`] with the workers' tuning as an argument.
pub(super) fn fit_with(
    params: &BprParams,
    train: &CsrMatrix,
    progress: &mut dyn Progress,
    tuning: Tuning,
) -> Result<Bpr, ModelError> {
    let started = Instant::now();
    params.validate()?;
    let (nu, ni, k) = (train.n_rows(), train.n_cols(), params.factors);
    let nnz = train.nnz();
    if nnz == 0 {
        return Err(ModelError::Data("no interaction to train on".into()));
    }
    if nnz >= nu * ni {
        return Err(ModelError::Data(
            "every user has every item: there is no negative to sample".into(),
        ));
    }
    let mut pairs = vec![(0u32, 0u32); nnz];
    for u in 0..nu {
        let (a, b) = (train.indptr()[u], train.indptr()[u + 1]);
        for (p, &i) in pairs[a..b].iter_mut().zip(&train.indices()[a..b]) {
            *p = (u as u32, i);
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let scale = 1.0 / k as f32;
    let mut uf: Vec<f32> = (0..nu * k)
        .map(|_| (rng.random::<f32>() - 0.5) * scale)
        .collect();
    let mut itf: Vec<f32> = (0..ni * k)
        .map(|_| (rng.random::<f32>() - 0.5) * scale)
        .collect();
    let mut ib = vec![0f32; ni];
    let threads = if params.threads == 0 {
        rayon::current_num_threads().max(1)
    } else {
        params.threads
    };
    let seen = (nu * ni / 8 <= tuning.bitset_max_bytes).then(|| {
        let mut bits = vec![0u64; (nu * ni).div_ceil(64)];
        for &(u, i) in &pairs {
            let b = u as usize * ni + i as usize;
            bits[b / 64] |= 1 << (b % 64);
        }
        bits
    });
    let job = Job {
        train,
        seen: seen.as_deref(),
        pairs: &pairs,
        n_items: ni,
        negatives: params.negatives,
        max_resample: params.max_resample,
        // The loop runs in f32; the one cast keeps the values the f32 parameters had.
        lr: params.learning_rate as f32,
        reg: params.reg as f32,
    };
    let mut trained = 0;
    for epoch in 1..=params.epochs {
        let t0 = Instant::now();
        let per = nnz as u64 / threads as u64;
        let extra = nnz as u64 % threads as u64;
        let samples = |w: usize| per + u64::from((w as u64) < extra);
        let stream = |w: usize| {
            let mut r = ChaCha8Rng::seed_from_u64(params.seed);
            r.set_stream(((epoch as u64) << 16) | w as u64);
            r
        };
        let tallies: Vec<Tally> = if threads == 1 && !tuning.always_shared {
            let mut store = Exclusive {
                uf: &mut uf,
                itf: &mut itf,
                ib: &mut ib,
                k,
            };
            vec![run_exclusive(&job, &mut store, samples(0), &mut stream(0))]
        } else {
            let shared = SharedFactors::new(&mut uf, &mut itf, &mut ib, k);
            let worker = |w: usize| run_shared(&job, &shared, samples(w), &mut stream(w));
            if threads == 1 {
                vec![worker(0)]
            } else {
                (0..threads).into_par_iter().map(worker).collect()
            }
        };
        let t = tallies.iter().fold(Tally::default(), |a, b| Tally {
            pairs: a.pairs + b.pairs,
            correct: a.correct + b.correct,
            skipped: a.skipped + b.skipped,
            loss: a.loss + b.loss,
        });
        let loss = if t.pairs > 0 {
            t.loss / t.pairs as f64
        } else {
            0.0
        };
        if !loss.is_finite() || uf.iter().chain(&itf).any(|v| !v.is_finite()) {
            return Err(ModelError::Diverged {
                epoch,
                what: "loss",
                value: loss,
            });
        }
        trained = epoch;
        let validation = (t.pairs > 0).then(|| ("train_auc", t.correct as f64 / t.pairs as f64));
        if report_epoch(
            progress,
            (epoch, params.epochs),
            loss,
            validation,
            (t0, started),
        ) {
            break;
        }
    }
    Ok(Bpr {
        params: BprParams {
            epochs: trained,
            ..params.clone()
        },
        n_users: nu,
        n_items: ni,
        user_factors: uf.into(),
        item_factors: itf.into(),
        item_bias: ib,
    })
}
