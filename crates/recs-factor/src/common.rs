//! Helpers the models share: the dot products of their kernels, the epoch report, the
//! checks of a scoring call, and the checks of the training facts a model file records.

use std::time::Instant;

use recs_core::modelfile::ModelReader;
use recs_core::{Control, EpochReport, ModelError, ModelFileError, Progress, ScoreError};

/// Dot product of two equal-length slices: eight lane sums over chunks of 8, added in
/// order, then the tail. Chunks (not indices) so that the compiler sees their length and
/// vectorises (with `a[c * 8 + l]` every load kept its bounds check and ran scalar).
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for (l, acc) in acc.iter_mut().enumerate() {
            *acc += x[l] * y[l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

recs_core::multiversion! {
    /// `out[j] = bias[j] + p · items[j]` for the `p.len()`-wide rows `items[j]` of `items`:
    /// the scoring loop of BPR (one call per user, so the CPU dispatch happens once, not per
    /// item). Compiled for AVX2/AVX-512 where the CPU has them, with plain multiply-adds (no
    /// fusing), so every CPU gives the same bits.
    pub(crate) fn biased_scores(p: &[f32], items: &[f32], bias: &[f32], out: &mut [f32]) {
        if p.is_empty() {
            out.iter_mut().zip(bias).for_each(|(o, b)| *o = *b);
            return;
        }
        for ((o, q), b) in out.iter_mut().zip(items.chunks_exact(p.len())).zip(bias) {
            *o = b + dot(p, q);
        }
    }
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

/// `Ok` while the epoch's loss is finite; otherwise training has diverged, and the error
/// names the epoch and the value.
pub(crate) fn check_loss(epoch: usize, loss: f64) -> Result<(), ModelError> {
    if loss.is_finite() {
        Ok(())
    } else {
        Err(ModelError::Diverged {
            epoch,
            what: "loss",
            value: loss,
        })
    }
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

/// `Ok` when `out` holds one score per item.
pub(crate) fn check_len(out: &[f32], n_items: usize) -> Result<(), ScoreError> {
    if out.len() == n_items {
        Ok(())
    } else {
        Err(ScoreError::BufferLength {
            got: out.len(),
            expected: n_items,
        })
    }
}

/// `Ok` when `user` is below `n_users` and `out` holds `n_items` scores.
pub(crate) fn score_checks(
    user: u32,
    out: &[f32],
    n_users: usize,
    n_items: usize,
) -> Result<(), ScoreError> {
    if user as usize >= n_users {
        return Err(ScoreError::UnknownUser { user, n_users });
    }
    check_len(out, n_items)
}

/// The integer `training.key` of a model file.
fn meta_u64(file: &ModelReader, key: &str) -> Result<u64, ModelFileError> {
    file.meta()
        .training
        .get(key)
        .and_then(|v| v.as_u64())
        .ok_or_else(|| {
            file.error(format!(
                "metadata field `training.{key}` is missing or not an integer"
            ))
        })
}

/// A size (users, items) recorded as `training.key`: at most 2^32, the index space of users
/// and items. Loaders check it against the tensors' shapes before allocating by it.
pub(crate) fn meta_size(file: &ModelReader, key: &str) -> Result<usize, ModelFileError> {
    let n = meta_u64(file, key)?;
    if n > u32::MAX as u64 + 1 {
        return Err(file.error(format!(
            "metadata field `training.{key}` = {n} is more than 2^32 (indices are 32-bit)"
        )));
    }
    Ok(n as usize)
}

/// The finite number `training.key` of a model file.
pub(crate) fn meta_f64(file: &ModelReader, key: &str) -> Result<f64, ModelFileError> {
    file.meta()
        .training
        .get(key)
        .and_then(|v| v.as_f64())
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            file.error(format!(
                "metadata field `training.{key}` is missing or not a finite number"
            ))
        })
}

/// The clip range `[lo, hi]` of the rating estimates (`training.clip`): finite, `lo <= hi`
/// (a crafted file could hold anything, and clamping to a reversed range panics).
pub(crate) fn meta_clip(file: &ModelReader) -> Result<(f32, f32), ModelFileError> {
    let v = file
        .meta()
        .training
        .get("clip")
        .ok_or_else(|| file.error("metadata field `training.clip` is missing"))?;
    let (lo, hi): (f32, f32) = serde_json::from_value(v.clone())
        .map_err(|e| file.error(format!("metadata field `training.clip`: {e}")))?;
    if lo.is_finite() && hi.is_finite() && lo <= hi {
        Ok((lo, hi))
    } else {
        Err(file.error(format!(
            "metadata field `training.clip` = [{lo}, {hi}] is not a finite range lo <= hi"
        )))
    }
}

/// The length of the 1-D tensor `name` of a model file.
pub(crate) fn vector_len(file: &ModelReader, name: &str) -> Result<usize, ModelFileError> {
    match file.shape(name) {
        Some([n]) => Ok(*n),
        Some(s) => Err(file.error(format!("tensor `{name}` has shape {s:?}, expected 1-D"))),
        None => Err(file.error(format!("tensor `{name}` is missing"))),
    }
}

#[cfg(test)]
mod scoring_tests {
    use super::*;

    #[test]
    fn dot_keeps_the_lane_order_of_the_index_loop() {
        let a: Vec<f32> = (0..77).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..77).map(|i| (i as f32 * 0.11).cos()).collect();
        for n in [0, 1, 7, 8, 9, 16, 63, 64, 77] {
            let mut acc = [0f32; 8];
            for c in 0..n / 8 {
                for l in 0..8 {
                    acc[l] += a[c * 8 + l] * b[c * 8 + l];
                }
            }
            let mut want: f32 = acc.iter().sum();
            for j in n / 8 * 8..n {
                want += a[j] * b[j];
            }
            assert_eq!(dot(&a[..n], &b[..n]).to_bits(), want.to_bits(), "n {n}");
        }
    }

    #[test]
    fn biased_scores_give_the_bits_of_the_portable_loop_at_every_width() {
        let mut x = 0x2545_f491_u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32) - 0.5
        };
        for k in [0usize, 1, 7, 8, 9, 31, 64, 65] {
            let n = 37;
            let p: Vec<f32> = (0..k).map(|_| next()).collect();
            let items: Vec<f32> = (0..n * k).map(|_| next()).collect();
            let bias: Vec<f32> = (0..n).map(|_| next()).collect();
            let mut out = vec![f32::NAN; n];
            biased_scores(&p, &items, &bias, &mut out);
            for j in 0..n {
                let want = bias[j]
                    + if k == 0 {
                        0.0
                    } else {
                        dot(&p, &items[j * k..(j + 1) * k])
                    };
                assert_eq!(out[j].to_bits(), want.to_bits(), "k {k} item {j}");
            }
        }
    }
}
