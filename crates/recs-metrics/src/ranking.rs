//! Per-user ranking metrics: one ranked list against one user's relevant items.
//!
//! Conventions (k is the cut-off, `ranked` the top of the user's ranking, best first,
//! `n_rel` the number of relevant items, hits the relevant items among the first k):
//! - precision@k = hits / k (also when fewer than k items were ranked);
//! - recall@k = hits / n_rel (Recommenders' `recall_at_k`);
//! - recall_liang@k = hits / min(k, n_rel) (Liang et al. 2018);
//! - ndcg@k = DCG / IDCG with DCG = Σ_hits gain / log2(1 + rank) and IDCG the same sum over
//!   the min(k, n_rel) largest gains at ranks 1, 2, …; gain is 1 (binary, `ndcg`,
//!   `ndcg_liang`), the rating (`ndcg_raw`) or 2^rating − 1 (`ndcg_exp`);
//! - map_full@k = Σ_hits (hits so far / rank) / n_rel (Recommenders' `map`, which results
//!   published before 2024 call "MAP@k");
//! - map@k = the same sum / min(n_rel, k) (Recommenders' `map_at_k`, Spark's MAP@k);
//! - r_precision@k = (hits at ranks ≤ n_rel) / n_rel, and — Recommenders' quirk — the user is
//!   left out of the mean when that count is 0;
//! - hit_rate@k = 1 if any hit; mrr@k = 1 / rank of the first hit (0 if none).

/// A user's relevant items: sorted unique item indices and their ratings (gains).
#[derive(Debug, Clone, Copy)]
pub struct Relevant<'a> {
    /// Relevant item indices, strictly increasing.
    pub items: &'a [u32],
    /// Rating of each relevant item, aligned with `items`.
    pub ratings: &'a [f32],
}

impl Relevant<'_> {
    /// Number of relevant items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The rating of `item` if it is relevant.
    pub fn rating(&self, item: u32) -> Option<f32> {
        self.items
            .binary_search(&item)
            .ok()
            .map(|i| self.ratings[i])
    }
}

/// How NDCG turns a rating into a gain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gain {
    /// 1 for every relevant item.
    Binary,
    /// The rating itself.
    Raw,
    /// 2^rating − 1.
    Exp,
}

impl Gain {
    fn of(self, rating: f32) -> f64 {
        match self {
            Gain::Binary => 1.0,
            Gain::Raw => rating as f64,
            Gain::Exp => 2f64.powf(rating as f64) - 1.0,
        }
    }
}

/// Everything a ranked list says about one user at cut-off k, computed in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UserAtK {
    /// Hits among the first k.
    pub hits: usize,
    /// precision@k.
    pub precision: f64,
    /// recall@k (denominator n_rel).
    pub recall: f64,
    /// recall@k with denominator min(k, n_rel).
    pub recall_liang: f64,
    /// Σ over hits of (hits so far / rank).
    pub sum_precisions: f64,
    /// map_full@k.
    pub map_full: f64,
    /// map@k.
    pub map: f64,
    /// r_precision@k, `None` when the user is left out (no hit at ranks ≤ n_rel).
    pub r_precision: Option<f64>,
    /// 1 if any hit.
    pub hit_rate: f64,
    /// Reciprocal rank of the first hit.
    pub mrr: f64,
}

/// The counting metrics of one user at cut-off `k`. `ranked` may be longer than `k`
/// (only the first k count) or shorter (fewer candidates than k).
pub fn at_k(ranked: &[u32], rel: Relevant<'_>, k: usize) -> UserAtK {
    let n_rel = rel.len();
    let mut out = UserAtK::default();
    if n_rel == 0 || k == 0 {
        return out;
    }
    let mut in_r = 0usize;
    for (p, &item) in ranked.iter().take(k).enumerate() {
        if rel.rating(item).is_some() {
            out.hits += 1;
            out.sum_precisions += out.hits as f64 / (p + 1) as f64;
            if out.hits == 1 {
                out.mrr = 1.0 / (p + 1) as f64;
            }
            if p < n_rel {
                in_r += 1;
            }
        }
    }
    let hits = out.hits as f64;
    out.precision = hits / k as f64;
    out.recall = hits / n_rel as f64;
    out.recall_liang = hits / k.min(n_rel) as f64;
    out.map_full = out.sum_precisions / n_rel as f64;
    out.map = out.sum_precisions / k.min(n_rel) as f64;
    out.r_precision = (in_r > 0).then(|| in_r as f64 / n_rel as f64);
    out.hit_rate = if out.hits > 0 { 1.0 } else { 0.0 };
    out
}

/// NDCG@k of one user with the given gain (see the module doc).
pub fn ndcg(ranked: &[u32], rel: Relevant<'_>, k: usize, gain: Gain) -> f64 {
    if rel.is_empty() || k == 0 {
        return 0.0;
    }
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter_map(|(p, &i)| rel.rating(i).map(|r| gain.of(r) / ((p + 2) as f64).log2()))
        .sum();
    let mut gains: Vec<f64> = rel.ratings.iter().map(|&r| gain.of(r)).collect();
    gains.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = gains
        .iter()
        .take(k)
        .enumerate()
        .map(|(p, g)| g / ((p + 2) as f64).log2())
        .sum();
    if idcg > 0.0 { dcg / idcg } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_user() {
        // Relevant {2, 5, 9}; ranking 5, 1, 2, 7: hits at ranks 1 and 3.
        let rel = Relevant {
            items: &[2, 5, 9],
            ratings: &[3.0, 5.0, 1.0],
        };
        let m = at_k(&[5, 1, 2, 7], rel, 4);
        assert_eq!(m.hits, 2);
        assert_eq!(m.precision, 0.5);
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        let sp = 1.0 + 2.0 / 3.0;
        assert!((m.map_full - sp / 3.0).abs() < 1e-12);
        assert!((m.map - sp / 3.0).abs() < 1e-12);
        assert_eq!(m.r_precision, Some(2.0 / 3.0)); // both hits are within the first n_rel = 3 ranks
        assert_eq!(m.mrr, 1.0);
        let at2 = at_k(&[5, 1, 2, 7], rel, 2);
        assert!((at2.map - 1.0 / 2.0).abs() < 1e-12);
        assert_eq!(at2.recall_liang, 0.5);
        let n = ndcg(&[5, 1, 2, 7], rel, 4, Gain::Binary);
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!((n - (1.0 + 0.5) / idcg).abs() < 1e-12);
        let raw = ndcg(&[5, 1, 2, 7], rel, 4, Gain::Raw);
        let idcg = 5.0 + 3.0 / 3f64.log2() + 1.0 / 2.0;
        assert!((raw - (5.0 + 3.0 / 2.0) / idcg).abs() < 1e-12);
    }
}
