//! Ranking helpers every model and front-end shares: top-k selection and cosine neighbours.

/// The `k` best `(index, score)` pairs of `scores`, best first (ties: lower index first).
/// Indices listed in `skip` (sorted or not, duplicates allowed) and non-finite scores are
/// left out. Runs in O(n + k log k) with a partial selection.
pub fn top_k(scores: &[f32], k: usize, skip: &[u32]) -> Vec<(u32, f32)> {
    let mut skip_sorted: Vec<u32>;
    let skip = if skip.windows(2).all(|w| w[0] < w[1]) {
        skip
    } else {
        skip_sorted = skip.to_vec();
        skip_sorted.sort_unstable();
        skip_sorted.dedup();
        &skip_sorted[..]
    };
    let mut cand: Vec<(u32, f32)> = Vec::with_capacity(scores.len());
    let mut s = 0;
    for (i, &v) in scores.iter().enumerate() {
        let i = i as u32;
        while s < skip.len() && skip[s] < i {
            s += 1;
        }
        if (s < skip.len() && skip[s] == i) || !v.is_finite() {
            continue;
        }
        cand.push((i, v));
    }
    let better = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if k == 0 {
        return Vec::new();
    }
    if cand.len() > k {
        cand.select_nth_unstable_by(k - 1, better);
        cand.truncate(k);
    }
    cand.sort_unstable_by(better);
    cand
}

/// Dot product with eight partial sums (so that it vectorises).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (ac, bc) = (a[..n].chunks_exact(8), b[..n].chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    let mut acc = [0f32; 8];
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

/// The `k` rows of `vectors` (`n × dim`, row-major) with the largest cosine to row `item`,
/// the item itself left out; rows of zero norm get cosine 0. `None` if `item` is not a row.
pub fn similar_by_cosine(
    vectors: &[f32],
    dim: usize,
    item: u32,
    k: usize,
) -> Option<Vec<(u32, f32)>> {
    let n = vectors.len().checked_div(dim).unwrap_or(0);
    if item as usize >= n {
        return None;
    }
    let row = |i: usize| &vectors[i * dim..(i + 1) * dim];
    let q = row(item as usize);
    let qn = dot(q, q).sqrt();
    let scores: Vec<f32> = (0..n)
        .map(|j| {
            let r = row(j);
            let d = qn * dot(r, r).sqrt();
            if d > 0.0 { dot(q, r) / d } else { 0.0 }
        })
        .collect();
    Some(top_k(&scores, k, &[item]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn top_k_orders_skips_and_breaks_ties_by_index() {
        let s = [0.5, 2.0, f32::NAN, 2.0, -1.0, 3.0];
        assert_eq!(top_k(&s, 3, &[]), [(5, 3.0), (1, 2.0), (3, 2.0)]);
        assert_eq!(top_k(&s, 3, &[5, 1, 5]), [(3, 2.0), (0, 0.5), (4, -1.0)]);
        assert_eq!(top_k(&s, 0, &[]), []);
        assert_eq!(top_k(&s, 99, &[]).len(), 5, "NaN left out");
    }

    #[test]
    fn cosine_neighbours() {
        // Rows: (1,0), (2,0), (0,1), (0,0).
        let v = [1.0, 0.0, 2.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        let r = similar_by_cosine(&v, 2, 0, 3).unwrap();
        assert_eq!(r, [(1, 1.0), (2, 0.0), (3, 0.0)]);
        assert!(similar_by_cosine(&v, 2, 4, 3).is_none());
    }

    proptest! {
        #[test]
        fn top_k_is_the_sorted_prefix(
            scores in proptest::collection::vec(-5i32..5, 0..60),
            k in 0usize..70,
            skip in proptest::collection::vec(0u32..60, 0..10),
        ) {
            let scores: Vec<f32> = scores.into_iter().map(|v| v as f32).collect();
            let mut all: Vec<(u32, f32)> = (0..scores.len() as u32)
                .filter(|i| !skip.contains(i))
                .map(|i| (i, scores[i as usize]))
                .collect();
            all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            all.truncate(k);
            prop_assert_eq!(top_k(&scores, k, &skip), all);
        }
    }
}
