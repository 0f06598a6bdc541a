//! Training: the SGD step in Surprise's order, the epoch kernel (one build per SIMD level),
//! and the epoch loop.

use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use recs_core::{ModelError, ModelParams as _, ParamError, Progress};
use recs_sparse::CsrMatrix;

use super::model::BiasedMf;
use super::params::MfParams;
use crate::common::{check_loss, dot, report_epoch};
use crate::data::Triples;

/// One SGD update on rating `r` with Surprise's order; returns the error before the update.
///
/// `bu`, `bi` are the biases and `pu`, `qi` the factor rows of the rated pair.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn sgd_step(
    mu: f32,
    r: f32,
    bu: &mut f32,
    bi: &mut f32,
    pu: &mut [f32],
    qi: &mut [f32],
    lr: f32,
    reg: f32,
) -> f32 {
    let err = r - (mu + *bu + *bi + dot(pu, qi));
    *bu += lr * (err - reg * *bu);
    *bi += lr * (err - reg * *bi);
    for (p, q) in pu.iter_mut().zip(qi.iter_mut()) {
        let (pf, qf) = (*p, *q);
        *p += lr * (err * qf - reg * pf);
        *q += lr * (err * pf - reg * qf);
    }
    err
}

/// One SGD pass over `ratings` in their order.
struct Epoch<'a> {
    ratings: &'a [(u32, u32, f32)],
    k: usize,
    mu: f32,
    lr: f32,
    reg: f32,
}

impl Epoch<'_> {
    /// The pass, returning the sum of squared errors; `#[inline(always)]` so that it is
    /// compiled inside each SIMD build of [`mf_epoch`].
    #[inline(always)]
    fn body(&self, bu: &mut [f32], bi: &mut [f32], pu: &mut [f32], qi: &mut [f32]) -> f64 {
        let k = self.k;
        let mut sse = 0f64;
        for &(u, i, r) in self.ratings {
            let (u, i) = (u as usize, i as usize);
            let err = sgd_step(
                self.mu,
                r,
                &mut bu[u],
                &mut bi[i],
                &mut pu[u * k..(u + 1) * k],
                &mut qi[i * k..(i + 1) * k],
                self.lr,
                self.reg,
            );
            sse += f64::from(err * err);
        }
        sse
    }
}

recs_core::multiversion! {
    /// [`Epoch::body`] at the widest SIMD level [`recs_core::simd::level`] allows (no fused
    /// multiply-adds: every level computes the same numbers).
    fn mf_epoch(
        ep: &Epoch<'_>,
        bu: &mut [f32],
        bi: &mut [f32],
        pu: &mut [f32],
        qi: &mut [f32],
    ) -> f64 {
        ep.body(bu, bi, pu, qi)
    }
}

/// Trains on the ratings of `x` (users × items) in its order; see
/// [`Recommender::fit`](recs_core::Recommender::fit) on [`BiasedMf`].
pub(super) fn fit(
    params: &MfParams,
    x: &CsrMatrix,
    order: Option<&[usize]>,
    progress: &mut dyn Progress,
) -> Result<BiasedMf, ModelError> {
    let started = Instant::now();
    params.validate()?;
    let data = Triples::of(x, order)?;
    let (nu, ni, k) = (data.n_users(), data.n_items(), params.factors);
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let normal = Normal::new(params.init_mean, params.init_std)
        .map_err(|_| ParamError::new("init_std", params.init_std, ">= 0 and finite"))?;
    let mut pu: Vec<f32> = (0..nu * k).map(|_| normal.sample(&mut rng)).collect();
    let mut qi: Vec<f32> = (0..ni * k).map(|_| normal.sample(&mut rng)).collect();
    let mut bu = vec![0f32; nu];
    let mut bi = vec![0f32; ni];
    let mu = data.mean() as f32;
    let (users, items, values) = (data.users(), data.items(), data.values());
    // The ratings are shuffled in place (one contiguous array) rather than through an
    // index permutation: the same sequence of orders, read sequentially.
    let mut ratings: Vec<(u32, u32, f32)> = users
        .iter()
        .zip(items)
        .zip(values)
        .map(|((&u, &i), &r)| (u, i, r))
        .collect();
    // The loop runs in f32; the one cast keeps the values the f32 parameters had.
    let (lr, reg) = (params.learning_rate as f32, params.reg as f32);
    let mut trained = 0;
    for epoch in 1..=params.epochs {
        let t0 = Instant::now();
        if params.shuffle {
            ratings.shuffle(&mut rng);
        }
        let ep = Epoch {
            ratings: &ratings,
            k,
            mu,
            lr,
            reg,
        };
        let sse = mf_epoch(&ep, &mut bu, &mut bi, &mut pu, &mut qi);
        let loss = sse / data.len() as f64;
        check_loss(epoch, loss)?;
        trained = epoch;
        let validation = None;
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
    Ok(BiasedMf {
        params: MfParams {
            epochs: trained,
            ..params.clone()
        },
        n_users: nu,
        n_items: ni,
        global_mean: mu,
        clip: params.rating_range.unwrap_or_else(|| data.range()),
        user_bias: bu,
        item_bias: bi,
        user_factors: pu.into(),
        item_factors: qi.into(),
        user_count: data.user_counts().into_iter().map(|c| c as f32).collect(),
        item_count: data.item_counts().into_iter().map(|c| c as f32).collect(),
    })
}
