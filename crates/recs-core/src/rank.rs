//! Ranking primitives every model and front-end shares: top-k selection and the dot
//! product. Front-ends rank through `ranking`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

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
        let mut top = TopK::new(k);
        for (i, v) in kept {
            top.push(i, v);
        }
        return top.take_best_first();
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
fn better<S: Score>(a: &(u32, S), b: &(u32, S)) -> Ordering {
    b.1.total_order(&a.1).then(a.0.cmp(&b.0))
}

/// A score [`TopK`] ranks: `f32` or `f64`, compared by `total_cmp`.
pub trait Score: Copy + PartialOrd {
    /// The lowest value, below every finite score.
    const LOWEST: Self;
    /// `total_cmp` of the float type.
    fn total_order(&self, other: &Self) -> Ordering;
}

impl Score for f32 {
    const LOWEST: Self = f32::NEG_INFINITY;
    fn total_order(&self, other: &Self) -> Ordering {
        self.total_cmp(other)
    }
}

impl Score for f64 {
    const LOWEST: Self = f64::NEG_INFINITY;
    fn total_order(&self, other: &Self) -> Ordering {
        self.total_cmp(other)
    }
}

/// The best `k` of a stream of `(index, score)` pairs (higher score first, ties to the lower
/// index), in a bounded heap: O(n + k log k) for n pushes, and once `k` are held a score
/// below the k-th best so far is settled by one comparison. Reusable: the taking methods
/// leave it empty with its allocation, for the next stream.
///
/// Scores must be finite (a NaN would enter below the floor's reach); [`top_k`] filters them
/// out before pushing.
#[derive(Debug, Clone)]
pub struct TopK<S: Score> {
    k: usize,
    heap: BinaryHeap<Ranked<S>>,
    /// The worst kept score once the heap is full (for finite scores `<` implies
    /// `total_cmp`'s Less, so a score below it cannot enter).
    floor: S,
}

impl<S: Score> TopK<S> {
    /// An empty selection of the best `k`.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
            floor: S::LOWEST,
        }
    }

    /// Offers `(index, score)`.
    #[inline]
    pub fn push(&mut self, index: u32, score: S) {
        if score < self.floor || self.k == 0 {
            return;
        }
        let c = Ranked(index, score);
        if self.heap.len() < self.k {
            self.heap.push(c);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && c < *worst
        {
            *worst = c;
        }
        if self.heap.len() == self.k {
            self.floor = self.heap.peek().map_or(self.floor, |w| w.1);
        }
    }

    /// The kept pairs, best first; leaves the selection empty.
    pub fn take_best_first(&mut self) -> Vec<(u32, S)> {
        let mut out = self.drain();
        out.sort_unstable_by(better);
        out
    }

    /// The kept pairs in increasing index order; leaves the selection empty.
    pub fn take_by_index(&mut self) -> Vec<(u32, S)> {
        let mut out = self.drain();
        out.sort_unstable_by_key(|&(i, _)| i);
        out
    }

    fn drain(&mut self) -> Vec<(u32, S)> {
        self.floor = S::LOWEST;
        self.heap.drain().map(|r| (r.0, r.1)).collect()
    }
}

/// An `(index, score)` pair ordered by [`better`]: the greatest is the worst, so a
/// max-heap's top is the one to replace.
#[derive(Debug, Clone, Copy)]
struct Ranked<S>(u32, S);

impl<S: Score> PartialEq for Ranked<S> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl<S: Score> Eq for Ranked<S> {}
impl<S: Score> PartialOrd for Ranked<S> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<S: Score> Ord for Ranked<S> {
    fn cmp(&self, other: &Self) -> Ordering {
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

        #[test]
        fn a_reused_top_k_selects_each_stream_alone(
            streams in proptest::collection::vec(proptest::collection::vec(-4i32..4, 0..120), 1..4),
            k in 0usize..20,
        ) {
            // One selection over several f64 streams (as ItemKNN reuses one per task): each
            // take gives that stream's best k alone, by index or best first.
            let mut top = TopK::<f64>::new(k);
            for s in &streams {
                let mut all: Vec<(u32, f64)> =
                    s.iter().enumerate().map(|(i, &v)| (i as u32, f64::from(v))).collect();
                all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                all.truncate(k);
                for (i, &v) in s.iter().enumerate().rev() {
                    top.push(i as u32, f64::from(v));
                }
                prop_assert_eq!(top.take_best_first(), all.clone());
                for (i, &v) in s.iter().enumerate() {
                    top.push(i as u32, f64::from(v));
                }
                all.sort_by_key(|&(i, _)| i);
                prop_assert_eq!(top.take_by_index(), all);
            }
        }
    }
}
