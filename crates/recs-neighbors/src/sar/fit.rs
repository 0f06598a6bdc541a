//! Fitting: the affinities (decayed where asked), the co-occurrence and its similarity, on
//! the requested thread count.

use recs_core::{ModelError, ModelParams as _, TrainData};
use recs_sparse::CsrMatrix;

use super::model::Sar;
use super::params::SarParams;
use crate::common::{
    Cut, ItemMatrix, dense_product, product_is_dense, top_k_product, with_threads, with_values,
};

/// Seconds in a day: `half_life_days` is in days, the data's times in seconds.
const DAY: f64 = 86_400.0;

/// Fits on `data` with `params` (validated first).
pub(super) fn fit(params: &SarParams, data: &TrainData<'_>) -> Result<Sar, ModelError> {
    params.validate()?;
    let x = data.matrix;
    let (affinity, time_now) = if params.time_decay {
        let times = data.timestamps.ok_or_else(|| {
            ModelError::Data(
                "sar with time_decay needs a time for every interaction, and the data has none: \
                 give a timestamp column, or set time_decay false"
                    .into(),
            )
        })?;
        let now = params
            .time_now
            .or_else(|| times.iter().copied().max())
            .unwrap_or(0);
        let values = x
            .values()
            .iter()
            .zip(times)
            .map(|(&v, &t)| v * decay(now, t, params.half_life_days))
            .collect();
        (with_values(x, values)?, Some(now))
    } else {
        (x.clone(), None)
    };
    let counts = x.col_counts();
    let popularity = popularity(&counts, params.threshold);
    let n = counts.iter().filter(|&&c| c > 0).count() as f64;
    let similarity = with_threads(params.threads, || {
        similarity(x, params, &popularity, n, None)
    })??;
    Ok(Sar {
        params: params.clone(),
        affinity,
        similarity,
        popularity,
        time_now,
    })
}

/// `min(1, 0.5^((now − t) / half_life))`: Recommenders' `exponential_decay` (an interaction
/// later than `now` keeps its full value).
pub(super) fn decay(now: i64, t: i64, half_life_days: f64) -> f32 {
    let age = (now as f64 - t as f64) / (half_life_days * DAY);
    0.5f64.powf(age).min(1.0) as f32
}

/// Each item's user count, 0 where it is below `threshold` (the co-occurrence diagonal
/// after the threshold).
pub(super) fn popularity(counts: &[u32], threshold: u64) -> Vec<f32> {
    counts
        .iter()
        .map(|&c| {
            if u64::from(c) >= threshold {
                c as f32
            } else {
                0.0
            }
        })
        .collect()
}

/// The similarity from the binarized `x`'s co-occurrence, `d` the items' counts after the
/// threshold and `n` the items with a user (see the [module docs](super)); dense when `dense`
/// says so, or, for `None`, when at least half its entries co-occur (as on ml-100k, where
/// 60 % do): the same values either way.
pub(super) fn similarity(
    x: &CsrMatrix,
    params: &SarParams,
    d: &[f32],
    n: f64,
    dense: Option<bool>,
) -> Result<ItemMatrix, ModelError> {
    let b = x.binarize();
    let bt = b.transpose();
    let threshold = params.threshold as f64;
    let kind = params.similarity;
    let finish = |i: usize, j: usize, c: f64| {
        (c >= threshold).then(|| kind.of(c, f64::from(d[i]), f64::from(d[j]), n))
    };
    if dense.unwrap_or_else(|| product_is_dense(&bt, &b, threshold)) {
        Ok(ItemMatrix::Dense {
            n: bt.n_rows(),
            values: dense_product(&bt, &b, finish)?.into(),
        })
    } else {
        Ok(ItemMatrix::Sparse(top_k_product(
            &bt,
            &b,
            Cut::All,
            finish,
        )?))
    }
}
