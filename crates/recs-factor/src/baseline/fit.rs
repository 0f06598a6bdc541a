//! Fitting: the alternating bias sweeps of `BaselineOnly`, and the mean.

use std::time::Instant;

use recs_core::{ModelError, ModelParams as _, Progress};
use recs_sparse::CsrMatrix;

use super::model::{BaselineOnly, GlobalMean};
use super::params::BaselineParams;
use crate::common::{check_loss, report_epoch};
use crate::data::Triples;

/// Fits the biases on the ratings of `x` (users × items); see
/// [`Recommender::fit`](recs_core::Recommender::fit) on [`BaselineOnly`].
pub(super) fn fit_biases(
    params: &BaselineParams,
    x: &CsrMatrix,
    progress: &mut dyn Progress,
) -> Result<BaselineOnly, ModelError> {
    let started = Instant::now();
    params.validate()?;
    let data = Triples::of(x, None)?;
    let mu = data.mean();
    let (users, items, values) = (data.users(), data.items(), data.values());
    let (nu_c, ni_c) = (data.user_counts(), data.item_counts());
    let mut bu = vec![0f64; data.n_users()];
    let mut bi = vec![0f64; data.n_items()];
    let mut acc_i = vec![0f64; data.n_items()];
    let mut acc_u = vec![0f64; data.n_users()];
    let mut trained = 0;
    for epoch in 1..=params.epochs {
        let t0 = Instant::now();
        acc_i.iter_mut().for_each(|a| *a = 0.0);
        for ((&u, &i), &r) in users.iter().zip(items).zip(values) {
            acc_i[i as usize] += f64::from(r) - mu - bu[u as usize];
        }
        for ((b, a), &c) in bi.iter_mut().zip(&acc_i).zip(&ni_c) {
            *b = a / (params.reg_i + f64::from(c));
        }
        acc_u.iter_mut().for_each(|a| *a = 0.0);
        for ((&u, &i), &r) in users.iter().zip(items).zip(values) {
            acc_u[u as usize] += f64::from(r) - mu - bi[i as usize];
        }
        for ((b, a), &c) in bu.iter_mut().zip(&acc_u).zip(&nu_c) {
            *b = if c == 0 && params.reg_u == 0.0 {
                0.0
            } else {
                a / (params.reg_u + f64::from(c))
            };
        }
        for b in bi.iter_mut().chain(bu.iter_mut()) {
            if b.is_nan() {
                *b = 0.0; // 0 / 0: no rating and no regularization
            }
        }
        let sse: f64 = users
            .iter()
            .zip(items)
            .zip(values)
            .map(|((&u, &i), &r)| {
                let e = f64::from(r) - mu - bu[u as usize] - bi[i as usize];
                e * e
            })
            .sum();
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
    Ok(BaselineOnly {
        params: BaselineParams {
            epochs: trained,
            ..params.clone()
        },
        global_mean: mu as f32,
        clip: params.rating_range.unwrap_or_else(|| data.range()),
        user_bias: bu.into_iter().map(|b| b as f32).collect(),
        item_bias: bi.into_iter().map(|b| b as f32).collect(),
    })
}

/// The mean of `x`'s values; an error when it has none.
pub(super) fn fit_mean(x: &CsrMatrix) -> Result<GlobalMean, ModelError> {
    let data = Triples::of(x, None)?;
    Ok(GlobalMean {
        mean: data.mean() as f32,
        n_users: data.n_users(),
        n_items: data.n_items(),
    })
}
