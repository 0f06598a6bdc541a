//! Ranking helpers every model and front-end shares: top-k selection and cosine neighbours.

/// The `k` best `(index, score)` pairs of `scores`, best first (ties: lower index first).
/// Indices listed in `skip` (sorted or not, duplicates allowed) and non-finite scores are
/// left out. A small `k` (the usual top-10 of a catalogue) keeps a bounded heap of the best
/// so far, O(n + k log k) without a copy of the scores; a large one a partial selection.
pub fn top_k(scores: &[f32], k: usize, skip: &[u32]) -> Vec<(u32, f32)> {
    if k == 0 {
        return Vec::new();
    }
    let mut skip_sorted: Vec<u32>;
    let skip = if skip.windows(2).all(|w| w[0] < w[1]) {
        skip
    } else {
        skip_sorted = skip.to_vec();
        skip_sorted.sort_unstable();
        skip_sorted.dedup();
        &skip_sorted[..]
    };
    let mut s = 0;
    let kept = scores.iter().enumerate().filter_map(|(i, &v)| {
        let i = i as u32;
        while s < skip.len() && skip[s] < i {
            s += 1;
        }
        ((s >= skip.len() || skip[s] != i) && v.is_finite()).then_some((i, v))
    });
    if k <= HEAP_MAX_K && k.saturating_mul(4) < scores.len() {
        let mut heap = std::collections::BinaryHeap::with_capacity(k + 1);
        // The worst kept score once the heap is full: a score below it cannot enter (for
        // finite scores `<` implies `total_cmp`'s Less), which settles most items cheaply.
        let mut floor = f32::NEG_INFINITY;
        for (i, v) in kept {
            if v < floor {
                continue;
            }
            let c = Ranked(i, v);
            if heap.len() < k {
                heap.push(c);
            } else if let Some(mut worst) = heap.peek_mut()
                && c < *worst
            {
                *worst = c;
            }
            if heap.len() == k {
                floor = heap.peek().map_or(floor, |w| w.1);
            }
        }
        let mut out: Vec<(u32, f32)> = heap.into_iter().map(|r| (r.0, r.1)).collect();
        out.sort_unstable_by(better);
        return out;
    }
    let mut cand: Vec<(u32, f32)> = kept.collect();
    if cand.len() > k {
        cand.select_nth_unstable_by(k - 1, better);
        cand.truncate(k);
    }
    cand.sort_unstable_by(better);
    cand
}

/// The largest `k` for which [`top_k`] keeps a heap rather than selecting among all scores.
const HEAP_MAX_K: usize = 64;

/// The ranking order: higher score first (`total_cmp`), then lower index.
fn better(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// An `(index, score)` pair ordered by [`better`]: the greatest is the worst, so a
/// max-heap's top is the one to replace.
struct Ranked(u32, f32);

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        better(&(self.0, self.1), &(other.0, other.1))
    }
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
            scores in proptest::collection::vec(-5i32..5, 0..400),
            k in 0usize..70,
            skip in proptest::collection::vec(0u32..400, 0..10),
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
