//! Helpers every model shares: top-k selection, seen-item exclusion, cosine similarity.

use std::time::Instant;

use recs_core::{Control, EpochReport, ParamError, Progress};
use recs_sparse::CsrMatrix;

use crate::FactorError;

/// The `k` best `(index, score)` pairs, best first, ties to the lower index (the one top-k
/// of the workspace, in recs-core).
pub(crate) use recs_core::rank::top_k;

/// The row of `exclude` for `user` (empty when the matrix has no such row).
pub(crate) fn excluded_items(exclude: Option<&CsrMatrix>, user: u32) -> &[u32] {
    match exclude {
        Some(m) if (user as usize) < m.n_rows() => m.row(user as usize).indices,
        _ => &[],
    }
}

/// Dot product of two equal-length slices (written so it vectorises).
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let chunks = n / 8;
    for c in 0..chunks {
        for l in 0..8 {
            acc[l] += a[c * 8 + l] * b[c * 8 + l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for j in chunks * 8..n {
        s += a[j] * b[j];
    }
    s
}

/// p · (a − b) for equal-length slices (eight partial sums so it vectorises).
#[inline(always)]
pub(crate) fn dot_diff(p: &[f32], a: &[f32], b: &[f32]) -> f32 {
    let n = p.len().min(a.len()).min(b.len());
    let (p, a, b) = (&p[..n], &a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let (pc, ac, bc) = (p.chunks_exact(8), a.chunks_exact(8), b.chunks_exact(8));
    let (pr, ar, br) = (pc.remainder(), ac.remainder(), bc.remainder());
    for ((pp, aa), bb) in pc.zip(ac).zip(bc) {
        for (l, acc) in acc.iter_mut().enumerate() {
            *acc += pp[l] * (aa[l] - bb[l]);
        }
    }
    let mut s: f32 = acc.iter().sum();
    for ((x, y), z) in pr.iter().zip(ar).zip(br) {
        s += x * (y - z);
    }
    s
}

/// The `k` items whose factor rows have the largest cosine with `item`'s (the item itself
/// left out; the one cosine of the workspace, in recs-core). Rows of zero norm get cosine 0.
pub(crate) fn similar_by_cosine(
    item_factors: &[f32],
    factors: usize,
    item: u32,
    k: usize,
) -> Result<Vec<(u32, f32)>, FactorError> {
    recs_core::rank::similar_by_cosine(item_factors, factors, item, k).ok_or_else(|| {
        let n_items = item_factors.len().checked_div(factors).unwrap_or(0);
        FactorError::Data(format!(
            "item index {item} is out of range: the model knows {n_items} items"
        ))
    })
}

/// `Ok` when `lo <= value <= hi` (counts with an upper bound); the range reads `lo..=hi`.
pub(crate) fn count_in(param: &str, value: usize, lo: usize, hi: usize) -> Result<(), ParamError> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(ParamError::new(param, value, format!("{lo}..={hi}")))
    }
}

/// `Ok` when `value` is in `(0, max]` (step sizes; NaN is out).
pub(crate) fn rate_in(param: &str, value: f64, max: f64) -> Result<(), ParamError> {
    if value > 0.0 && value <= max {
        Ok(())
    } else {
        Err(ParamError::new(param, value, format!("(0, {max}]")))
    }
}

/// Checks that `user` is below `n_users` for the ranking calls.
pub(crate) fn check_user(user: u32, n_users: usize) -> Result<(), FactorError> {
    if user as usize >= n_users {
        return Err(FactorError::Data(format!(
            "user index {user} is out of range: the model knows {n_users} users"
        )));
    }
    Ok(())
}

/// Reports epoch `epoch` of `epochs` (its training `loss` and an optional validation
/// measure, timed from `epoch_start` and `started`) to `progress`; `true` when the callback
/// asks training to stop.
pub(crate) fn report_epoch(
    progress: &mut dyn Progress,
    (epoch, epochs): (usize, usize),
    loss: f64,
    validation: Option<(&'static str, f64)>,
    (epoch_start, started): (Instant, Instant),
) -> bool {
    let report = EpochReport {
        epoch,
        epochs,
        losses: vec![("loss", loss)],
        validation,
        seconds: epoch_start.elapsed().as_secs_f64(),
        elapsed_seconds: started.elapsed().as_secs_f64(),
    };
    progress.on_epoch(&report) == Control::Stop
}
