//! Helpers every model shares: top-k selection, seen-item exclusion, cosine similarity.

use recs_core::ParamError;
use recs_sparse::CsrMatrix;

use crate::FactorError;

/// The `k` best `(index, score)` pairs of `scores`, best first (ties: lower index first).
/// Indices listed in `skip` (sorted or not) and non-finite scores are left out.
pub(crate) fn top_k(scores: &[f32], k: usize, skip: &[u32]) -> Vec<(u32, f32)> {
    let mut cand: Vec<(u32, f32)> = Vec::with_capacity(scores.len());
    let mut skip_sorted = true;
    for w in skip.windows(2) {
        if w[0] >= w[1] {
            skip_sorted = false;
            break;
        }
    }
    let mut owned;
    let skip = if skip_sorted {
        skip
    } else {
        owned = skip.to_vec();
        owned.sort_unstable();
        owned.dedup();
        &owned[..]
    };
    let mut s = 0;
    for (i, &v) in scores.iter().enumerate() {
        let i = i as u32;
        while s < skip.len() && skip[s] < i {
            s += 1;
        }
        if s < skip.len() && skip[s] == i {
            continue;
        }
        if v.is_finite() {
            cand.push((i, v));
        }
    }
    let better = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if k < cand.len() {
        cand.select_nth_unstable_by(k, better);
        cand.truncate(k);
    }
    cand.sort_unstable_by(better);
    cand
}

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
/// left out). Rows of zero norm get cosine 0.
pub(crate) fn similar_by_cosine(
    item_factors: &[f32],
    factors: usize,
    item: u32,
    k: usize,
) -> Result<Vec<(u32, f32)>, FactorError> {
    let n_items = item_factors.len().checked_div(factors).unwrap_or(0);
    if item as usize >= n_items {
        return Err(FactorError::Data(format!(
            "item index {item} is out of range: the model knows {n_items} items"
        )));
    }
    let row = |i: usize| &item_factors[i * factors..(i + 1) * factors];
    let q = row(item as usize);
    let qn = dot(q, q).sqrt();
    let scores: Vec<f32> = (0..n_items)
        .map(|j| {
            let r = row(j);
            let d = dot(q, r);
            let n = qn * dot(r, r).sqrt();
            if n > 0.0 { d / n } else { 0.0 }
        })
        .collect();
    Ok(top_k(&scores, k, &[item]))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_and_skips() {
        let s = [0.1, 0.9, 0.5, f32::NAN, 0.9, 0.3];
        assert_eq!(top_k(&s, 3, &[]), vec![(1, 0.9), (4, 0.9), (2, 0.5)]);
        assert_eq!(top_k(&s, 2, &[4, 1]), vec![(2, 0.5), (5, 0.3)]);
        assert_eq!(top_k(&s, 10, &[0, 1, 2, 4, 5]), vec![]);
    }

    proptest::proptest! {
        #[test]
        fn top_k_is_the_sorted_prefix(
            scores in proptest::collection::vec(-10f32..10.0, 0..60),
            k in 0usize..70,
            skip in proptest::collection::vec(0u32..60, 0..10),
        ) {
            let got = top_k(&scores, k, &skip);
            let mut all: Vec<(u32, f32)> = scores
                .iter()
                .enumerate()
                .filter(|(i, _)| !skip.contains(&(*i as u32)))
                .map(|(i, &v)| (i as u32, v))
                .collect();
            all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            all.truncate(k);
            proptest::prop_assert_eq!(got, all);
        }
    }

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..19).map(|x| x as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|x| 1.0 - x as f32).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }
}
