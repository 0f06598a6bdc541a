//! The ranking measure a model picks its best epoch by when it validates on held-out users
//! (Mult-VAE and Mult-DAE): Liang et al.'s NDCG@k, so that a model crate needs no metrics
//! crate to validate.
//!
//! It is the arithmetic of recs-metrics' evaluator for `ndcg_liang@k` with every item a
//! candidate and each user's fold-in items excluded, step for step (the same ranking, the
//! same sums in the same order), so a model validated here picks the same epoch, and
//! reports the same numbers, as one validated there.

use recs_sparse::CsrMatrix;

use crate::model::ModelError;

/// Best first; equal scores: the lower item index first.
fn better(a: &(f32, u32), b: &(f32, u32)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// NDCG@k with binary gains of the scores `scores` (row `u` scores row `u` of `fold_in`
/// over its `n_items` columns, row-major) against the held-out items `held_out` (the same
/// shape), averaged over the rows that have both fold-in and held-out items.
///
/// Each such row ranks every item except its fold-in items, best score first and equal
/// scores to the lower index; its DCG is `Σ 1 / log2(1 + rank)` over the held-out items
/// among the first `k`, its ideal DCG the same sum over ranks `1..=min(k, held-out items)`.
///
/// Errors (as [`ModelError::Data`]): `k` is 0; the shapes or the scores' length do not
/// match; `held_out` holds nothing; no row has both fold-in and held-out items; a score
/// to rank is NaN or infinite.
pub fn ndcg_at_k(
    scores: &[f32],
    fold_in: &CsrMatrix,
    held_out: &CsrMatrix,
    k: usize,
) -> Result<f64, ModelError> {
    if k == 0 {
        return Err(ModelError::Data(
            "parameter k = 0 is out of range: at least 1".into(),
        ));
    }
    if fold_in.shape() != held_out.shape() {
        let ((a, b), (c, d)) = (held_out.shape(), fold_in.shape());
        return Err(ModelError::Data(format!(
            "the held-out rows are {a}×{b}, the fold-in rows {c}×{d}: they must be the same shape"
        )));
    }
    let n_items = fold_in.n_cols();
    if scores.len() != fold_in.n_rows() * n_items {
        return Err(ModelError::Data(format!(
            "scores has length {}, expected {} (rows × items)",
            scores.len(),
            fold_in.n_rows() * n_items
        )));
    }
    if held_out.nnz() == 0 {
        return Err(ModelError::Data(
            "the truth is empty: no held-out interaction to evaluate against".into(),
        ));
    }
    let mut sum = 0f64;
    let mut count = 0usize;
    let mut pool: Vec<(f32, u32)> = Vec::with_capacity(n_items);
    for u in 0..held_out.n_rows() {
        let truth = held_out.row(u).indices;
        let seen = fold_in.row(u).indices;
        if truth.is_empty() || seen.is_empty() {
            continue;
        }
        let row = &scores[u * n_items..(u + 1) * n_items];
        if let Some(i) = row.iter().position(|s| !s.is_finite()) {
            return Err(ModelError::Data(format!(
                "score of item {i} for user {u} is {}: scores must be finite",
                row[i]
            )));
        }
        pool.clear();
        let mut s = 0;
        for (i, &score) in row.iter().enumerate() {
            let i = i as u32;
            while s < seen.len() && seen[s] < i {
                s += 1;
            }
            if s < seen.len() && seen[s] == i {
                continue;
            }
            pool.push((score, i));
        }
        if pool.len() > k {
            pool.select_nth_unstable_by(k - 1, better);
            pool.truncate(k);
        }
        pool.sort_unstable_by(better);
        let dcg: f64 = pool
            .iter()
            .take(k)
            .enumerate()
            .filter_map(|(p, &(_, i))| {
                truth
                    .binary_search(&i)
                    .ok()
                    .map(|_| 1.0 / ((p + 2) as f64).log2())
            })
            .sum();
        let idcg: f64 = (0..truth.len().min(k))
            .map(|p| 1.0 / ((p + 2) as f64).log2())
            .sum();
        sum += if idcg > 0.0 { dcg / idcg } else { 0.0 };
        count += 1;
    }
    if count == 0 {
        return Err(ModelError::Data(
            "no validation user has both fold-in and held-out items".into(),
        ));
    }
    Ok(sum / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use recs_sparse::DuplicatePolicy;

    fn m(rows: usize, cols: usize, entries: &[(u32, u32)]) -> CsrMatrix {
        let (u, i): (Vec<u32>, Vec<u32>) = entries.iter().copied().unzip();
        CsrMatrix::from_triplets(
            rows,
            cols,
            &u,
            &i,
            &vec![1.0; u.len()],
            DuplicatePolicy::Error,
        )
        .unwrap()
    }

    #[test]
    fn hand_computed_ndcg() {
        // Three users over 6 items.
        // User 0: fold-in {0}; held out {2, 4}. Scores rank (fold-in 0 left out)
        //   5, 2, 1, 4, 3 — items 1 and 4 tie at 0.5, the lower index first.
        //   k = 3: hits at ranks 2 (item 2); DCG = 1/log2 3; IDCG = 1 + 1/log2 3.
        // User 1: fold-in {1, 3}; held out {5}. Ranking 5, 0, 2, 4: hit at rank 1 → 1.
        // User 2: no fold-in items: not scored.
        let fold_in = m(3, 6, &[(0, 0), (1, 1), (1, 3)]);
        let held_out = m(3, 6, &[(0, 2), (0, 4), (1, 5), (2, 0)]);
        #[rustfmt::skip]
        let scores = [
            9.0, 0.5, 0.8, 0.1, 0.5, 1.0,
            0.7, 9.0, 0.3, 9.0, 0.2, 0.9,
            1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        ];
        let got = ndcg_at_k(&scores, &fold_in, &held_out, 3).unwrap();
        let l3 = 3f64.log2();
        let user0 = (1.0 / l3) / (1.0 + 1.0 / l3);
        let want = (user0 + 1.0) / 2.0;
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
        // k = 1: user 0 misses (item 5 first), user 1 hits.
        assert_eq!(ndcg_at_k(&scores, &fold_in, &held_out, 1).unwrap(), 0.5);
        // k = 4: user 0's item 4 is at rank 4 (after 5, 2, 1).
        let user0 = (1.0 / l3 + 1.0 / 5f64.log2()) / (1.0 + 1.0 / l3);
        let got = ndcg_at_k(&scores, &fold_in, &held_out, 4).unwrap();
        assert!((got - (user0 + 1.0) / 2.0).abs() < 1e-15, "{got}");
    }

    #[test]
    fn bad_input_is_an_error() {
        let fold_in = m(2, 3, &[(0, 0)]);
        let held_out = m(2, 3, &[(0, 1)]);
        let scores = [0.0, 1.0, f32::NAN, 0.0, 0.0, 0.0];
        let e = ndcg_at_k(&scores, &fold_in, &held_out, 2).unwrap_err();
        assert!(e.to_string().contains("item 2 for user 0 is NaN"), "{e}");
        assert!(ndcg_at_k(&scores[..3], &fold_in, &held_out, 2).is_err());
        assert!(ndcg_at_k(&[0.0; 6], &fold_in, &held_out, 0).is_err());
        let e = ndcg_at_k(&[0.0; 6], &fold_in, &m(2, 3, &[]), 2).unwrap_err();
        assert!(e.to_string().contains("the truth is empty"), "{e}");
        let e = ndcg_at_k(&[0.0; 6], &fold_in, &m(2, 3, &[(1, 1)]), 2).unwrap_err();
        assert!(e.to_string().contains("no validation user"), "{e}");
        assert!(ndcg_at_k(&[0.0; 8], &m(2, 4, &[]), &held_out, 2).is_err());
    }
}
