//! Training: the half-iterations (every row solved in parallel against the fixed side's Gram
//! matrix), the iteration loop, implicit's training loss.

use std::sync::OnceLock;
use std::time::Instant;

use rayon::prelude::*;
use recs_core::{ModelError, ModelParams as _, Progress};
use recs_sparse::CsrMatrix;

use super::kernels::{Fixed, Half, ROWS_PER_TASK, Scratch, gram, solve_rows};
use super::model::Als;
use super::params::{AlsInit, AlsParams, RegScaling};
use crate::common::report_epoch;

/// The initial user and item factors (`n_users × k`, `n_items × k`, row-major) that
/// the fit starts from with these params' seed and [`AlsInit`], users then items.
pub(super) fn initial_factors(
    params: &AlsParams,
    n_users: usize,
    n_items: usize,
) -> (Vec<f32>, Vec<f32>) {
    use rand::{Rng, SeedableRng};
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(params.seed);
    let k = params.factors;
    let mut side = |n: usize| -> Vec<f32> {
        match params.init {
            AlsInit::Uniform => (0..n * k).map(|_| rng.random::<f32>() * 0.01).collect(),
            AlsInit::Normal => {
                let mut v: Vec<f32> = (0..n * k)
                    .map(|_| StandardNormal.sample(&mut rng))
                    .collect();
                for row in v.chunks_exact_mut(k) {
                    let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                    if norm > 0.0 {
                        row.iter_mut().for_each(|x| *x /= norm);
                    }
                }
                v
            }
        }
    };
    let uf = side(n_users);
    let itf = side(n_items);
    (uf, itf)
}

/// Solves every row of `m` (confidences, rows × fixed rows) into `x` against `fixed`;
/// the rows' loss total and ‖fixed‖².
pub(super) fn half_iteration(
    m: &CsrMatrix,
    x: &mut [f32],
    fixed: &[f32],
    params: &AlsParams,
) -> Result<(f64, f64), ModelError> {
    let (g, fixed_norm) = gram(fixed, params.factors, params.reg as f32);
    Ok((
        solve_with_gram(m, x, Fixed::Whole(fixed), &g, params)?,
        fixed_norm,
    ))
}

/// Solves every row of `m` into `x` against `fixed` and its Gram matrix (+ λI) `g`; the
/// rows' loss total.
pub(super) fn solve_with_gram(
    m: &CsrMatrix,
    x: &mut [f32],
    fixed: Fixed<'_>,
    g: &[f32],
    params: &AlsParams,
) -> Result<f64, ModelError> {
    let k = params.factors;
    let reg = params.reg as f32;
    let half = Half {
        indptr: m.indptr(),
        indices: m.indices(),
        values: m.values(),
        alpha: params.alpha as f32,
        fixed,
        gram: g,
        k,
        solver: params.solver,
        cg_steps: params.cg_steps,
        count_reg: (params.reg_scaling == RegScaling::Count).then_some(reg),
    };
    let losses: Vec<Result<f64, usize>> = x
        .par_chunks_mut(k * ROWS_PER_TASK)
        .enumerate()
        .map(|(c, xs)| {
            let mut s = Scratch::new(k, params.solver);
            solve_rows(&half, c * ROWS_PER_TASK, xs, &mut s)
        })
        .collect();
    let mut loss = 0f64;
    for l in losses {
        loss += l.map_err(|row| {
            ModelError::Data(format!(
                "the least-squares system of row {row} is not positive definite \
                 (raise `reg` above {})",
                params.reg
            ))
        })?;
    }
    Ok(loss)
}

/// λ's weight on row `row` of `m` under count scaling (ALS-WR): its positive confidences,
/// at least 1.
pub(super) fn count_weight(m: &CsrMatrix, row: usize, alpha: f32) -> f64 {
    let r = m.row(row);
    r.values.iter().filter(|&&v| alpha * v > 0.0).count().max(1) as f64
}

/// Trains on the confidences of `train`; see
/// [`Recommender::fit`](recs_core::Recommender::fit) on [`Als`].
pub(super) fn fit(
    params: &AlsParams,
    train: &CsrMatrix,
    progress: &mut dyn Progress,
) -> Result<Als, ModelError> {
    params.validate()?;
    if train.nnz() == 0 {
        return Err(ModelError::Data("no interaction to train on".into()));
    }
    // The epoch loop runs here (the progress callback need not be `Send`); only the
    // half-iterations run on the pool.
    // A caller already on a pool of `threads` workers (e.g. the benchmark worker) runs
    // the half-iterations there rather than on a second pool of the same size.
    let pool = match params.threads {
        0 => None,
        n if rayon::current_thread_index().is_some() && rayon::current_num_threads() == n => None,
        n => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| ModelError::Model(format!("cannot start {n} threads: {e}").into()))?,
        ),
    };
    let started = Instant::now();
    let (nu, ni, k) = (train.n_rows(), train.n_cols(), params.factors);
    let (mut uf, mut itf) = initial_factors(params, nu, ni);
    let by_item = train.transpose();
    // implicit's denominator: the weight of every entry, stored or not.
    let total_weight: f64 = train
        .values()
        .iter()
        .map(|&v| f64::from((params.alpha as f32 * v).abs()))
        .sum::<f64>()
        + (nu as f64 * ni as f64 - train.nnz() as f64);
    let reg = f64::from(params.reg as f32);
    let alpha = params.alpha as f32;
    let user_counts: Option<Vec<f64>> = (params.reg_scaling == RegScaling::Count)
        .then(|| (0..nu).map(|u| count_weight(train, u, alpha)).collect());
    let mut trained = 0;
    for epoch in 1..=params.epochs {
        let t0 = Instant::now();
        let on_pool = |m: &CsrMatrix, x: &mut [f32], fixed: &[f32]| match &pool {
            Some(p) => p.install(|| half_iteration(m, x, fixed, params)),
            None => half_iteration(m, x, fixed, params),
        };
        on_pool(train, &mut uf, &itf)?;
        let (item_loss, plain_norm) = on_pool(&by_item, &mut itf, &uf)?;
        // λ's weight on the users' factors: ‖U‖², or Σ n_u ‖u‖² under count scaling.
        let user_norm = match &user_counts {
            None => plain_norm,
            Some(n) => uf
                .chunks_exact(k)
                .zip(n)
                .map(|(u, &n)| n * u.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>())
                .sum(),
        };
        let loss = (item_loss + reg * user_norm) / total_weight.max(1.0);
        if !loss.is_finite() || uf.iter().chain(&itf).any(|v| !v.is_finite()) {
            return Err(ModelError::Diverged {
                epoch,
                what: "loss",
                value: loss,
            });
        }
        trained = epoch;
        if report_epoch(progress, (epoch, params.epochs), loss, None, (t0, started)) {
            break;
        }
    }
    Ok(Als {
        params: AlsParams {
            epochs: trained,
            ..params.clone()
        },
        n_users: nu,
        n_items: ni,
        user_factors: uf.into(),
        item_factors: itf.into(),
        item_gram: OnceLock::new(),
        user_gram: OnceLock::new(),
    })
}
