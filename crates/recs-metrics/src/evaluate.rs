//! The parallel evaluator: rank every candidate item for every test user, seen items
//! excluded, and average the chosen metrics.
//!
//! Users: a user with test items is *scored* when the model knows them (index below
//! `scorer.n_users()`) and they have at least one training interaction; otherwise they are
//! counted in [`EvalReport::n_skipped_unknown`] and, as in Recommenders (where such a user has
//! no predictions), score 0 in the NDCG means while the other means are over scored users
//! only. Users without test items are counted in [`EvalReport::n_skipped_no_test`].
//!
//! Items: with [`Candidates::SeenInTrain`] (the default) only items with at least one
//! training interaction are ranked — what Cornac's `predict_ranking` does, since a model
//! knows nothing of the others. Relevant test items that are not candidates still count in
//! every denominator: they can never be hit.
//!
//! Ranking: top-k by partial selection; equal scores rank the lower item index first. A
//! NaN or infinite score is an error naming the user and item.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use recs_sparse::CsrMatrix;

use crate::ranking::{Gain, Relevant, at_k, ndcg};
use crate::{MetricsError, Scorer};

/// A metric the evaluator can compute. Report keys are `<name>@<k>` for the ranking metrics
/// and `<name>` for the AUCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// `precision@k`.
    Precision,
    /// `recall@k` (denominator: all relevant items).
    Recall,
    /// `ndcg@k`, binary gains.
    Ndcg,
    /// `ndcg_raw@k`, the rating as gain.
    NdcgRaw,
    /// `ndcg_exp@k`, 2^rating − 1 as gain.
    NdcgExp,
    /// `map@k`: Recommenders' `map_at_k` (sum of precisions at hits / min(relevant, k)).
    Map,
    /// `map_full@k`: Recommenders' `map` (sum of precisions at hits / relevant), the
    /// "MAP" of results published before 2024.
    MapFull,
    /// `r_precision@k`, with Recommenders' averaging.
    RPrecision,
    /// `recall_liang@k`: Liang et al.'s Recall@R, denominator min(R, relevant).
    RecallLiang,
    /// `ndcg_liang@k`: Liang et al.'s NDCG@R (binary gains).
    NdcgLiang,
    /// `hit_rate@k`.
    HitRate,
    /// `mrr@k`.
    Mrr,
    /// `auc_sampled`: per user, each candidate test positive against one negative drawn
    /// uniformly (seeded) from the candidates the user has not interacted with; mean over users.
    AucSampled,
    /// `auc`: per user, exact AUC of the test positives against every candidate negative
    /// (ties count one half); mean over users.
    AucExact,
}

impl Metric {
    /// The key prefix in reports.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::Ndcg => "ndcg",
            Metric::NdcgRaw => "ndcg_raw",
            Metric::NdcgExp => "ndcg_exp",
            Metric::Map => "map",
            Metric::MapFull => "map_full",
            Metric::RPrecision => "r_precision",
            Metric::RecallLiang => "recall_liang",
            Metric::NdcgLiang => "ndcg_liang",
            Metric::HitRate => "hit_rate",
            Metric::Mrr => "mrr",
            Metric::AucSampled => "auc_sampled",
            Metric::AucExact => "auc",
        }
    }

    fn at_k(self) -> bool {
        !matches!(self, Metric::AucSampled | Metric::AucExact)
    }

    fn ndcg_like(self) -> bool {
        matches!(self, Metric::Ndcg | Metric::NdcgRaw | Metric::NdcgExp)
    }
}

/// Which items are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Candidates {
    /// Every item of the matrix.
    All,
    /// Items with at least one training interaction (default).
    #[default]
    SeenInTrain,
}

/// What to compute.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// Metrics (default: precision, recall, ndcg, map, map_full).
    pub metrics: Vec<Metric>,
    /// Cut-offs (default `[10]`); each at least 1.
    pub ks: Vec<usize>,
    /// Exclude each user's training items from the ranking (default true).
    pub exclude_seen: bool,
    /// Which items are ranked (default [`Candidates::SeenInTrain`]).
    pub candidates: Candidates,
    /// Also return every user's values (default false).
    pub per_user: bool,
    /// Seed of the sampled AUC's negatives (default 0).
    pub seed: u64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            metrics: vec![
                Metric::Precision,
                Metric::Recall,
                Metric::Ndcg,
                Metric::Map,
                Metric::MapFull,
            ],
            ks: vec![10],
            exclude_seen: true,
            candidates: Candidates::SeenInTrain,
            per_user: false,
            seed: 0,
        }
    }
}

/// The evaluator's answer.
#[derive(Debug, Clone)]
pub struct EvalReport {
    /// Mean of every metric, keyed `<name>@<k>` (or `<name>` for AUCs). A metric that no
    /// user could be scored on (an AUC when no user has a candidate negative) is absent.
    pub means: BTreeMap<String, f64>,
    /// Users scored.
    pub n_users: usize,
    /// Users without test items.
    pub n_skipped_no_test: usize,
    /// Users with test items whom the model does not know (no training row).
    pub n_skipped_unknown: usize,
    /// Per scored user (in user order): the user and its values, when asked for.
    pub per_user: Option<Vec<(u32, BTreeMap<String, f64>)>>,
    /// Wall-clock seconds of the evaluation.
    pub seconds: f64,
}

/// Users scored per call of [`Scorer::score_users`].
const BLOCK: usize = 32;

/// Evaluates `scorer` on `test`, excluding what `train` holds (see the module doc).
pub fn evaluate(
    scorer: &dyn Scorer,
    train: &CsrMatrix,
    test: &CsrMatrix,
    cfg: &EvalConfig,
) -> Result<EvalReport, MetricsError> {
    let started = Instant::now();
    if cfg.metrics.is_empty() {
        return Err(MetricsError::Param {
            name: "metrics",
            value: "[]".into(),
            allowed: "at least one metric",
        });
    }
    if cfg.metrics.iter().any(|m| m.at_k()) && cfg.ks.is_empty() {
        return Err(MetricsError::Param {
            name: "ks",
            value: "[]".into(),
            allowed: "at least one cut-off",
        });
    }
    if let Some(&k) = cfg.ks.iter().find(|&&k| k == 0) {
        return Err(MetricsError::Param {
            name: "k",
            value: k.to_string(),
            allowed: "at least 1",
        });
    }
    if train.shape() != test.shape() {
        return Err(MetricsError::Length {
            what: "test matrix rows",
            got: test.n_rows(),
            expected: train.n_rows(),
        });
    }
    let n_items = train.n_cols();
    if scorer.n_items() != n_items {
        return Err(MetricsError::Length {
            what: "scorer's items",
            got: scorer.n_items(),
            expected: n_items,
        });
    }
    if test.nnz() == 0 {
        return Err(MetricsError::EmptyTruth);
    }
    let candidate: Vec<bool> = match cfg.candidates {
        Candidates::All => vec![true; n_items],
        Candidates::SeenInTrain => train.col_counts().iter().map(|&c| c > 0).collect(),
    };
    let mut scored = Vec::new();
    let (mut no_test, mut unknown) = (0, 0);
    for u in 0..test.n_rows() {
        if test.row(u).is_empty() {
            no_test += 1;
        } else if u >= scorer.n_users() || train.row(u).is_empty() {
            unknown += 1;
        } else {
            scored.push(u as u32);
        }
    }
    let keys = keys(cfg);
    let max_k = cfg.ks.iter().copied().max().unwrap_or(0);
    let per_block: Vec<Vec<(u32, Vec<Option<f64>>)>> = scored
        .par_chunks(BLOCK)
        .map(|users| {
            let mut buf = vec![0f32; users.len() * n_items];
            scorer.score_users(users, &mut buf)?;
            let mut out = Vec::with_capacity(users.len());
            let mut pool: Vec<(f32, u32)> = Vec::with_capacity(n_items);
            for (&u, scores) in users.iter().zip(buf.chunks(n_items.max(1))) {
                if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
                    return Err(MetricsError::NonFiniteScore {
                        user: Some(u),
                        item: i as u32,
                        value: scores[i],
                    });
                }
                let seen = train.row(u as usize).indices;
                pool.clear();
                let mut s = 0;
                for (i, &sc) in scores.iter().enumerate() {
                    let i = i as u32;
                    if cfg.exclude_seen {
                        while s < seen.len() && seen[s] < i {
                            s += 1;
                        }
                        if s < seen.len() && seen[s] == i {
                            continue;
                        }
                    }
                    if candidate[i as usize] {
                        pool.push((sc, i));
                    }
                }
                let t = test.row(u as usize);
                let rel = Relevant {
                    items: t.indices,
                    ratings: t.values,
                };
                let values = user_values(cfg, &keys, &mut pool, max_k, rel, seen, u)?;
                out.push((u, values));
            }
            Ok(out)
        })
        .collect::<Result<_, MetricsError>>()?;

    let mut sums = vec![0f64; keys.len()];
    let mut counts = vec![0usize; keys.len()];
    let mut per_user = cfg.per_user.then(Vec::new);
    for (u, vals) in per_block.into_iter().flatten() {
        for (j, v) in vals.iter().enumerate() {
            if let Some(v) = v {
                sums[j] += v;
                counts[j] += 1;
            }
        }
        if let Some(p) = per_user.as_mut() {
            let m = keys
                .iter()
                .zip(&vals)
                .filter_map(|((k, _), v)| v.map(|v| (k.clone(), v)))
                .collect();
            p.push((u, m));
        }
    }
    let mut means = BTreeMap::new();
    for (j, (key, metric)) in keys.iter().enumerate() {
        // Recommenders averages NDCG over every truth user, unknown ones scoring 0.
        let n = if metric.ndcg_like() {
            counts[j] + unknown
        } else {
            counts[j]
        };
        // A metric no user could be scored on (e.g. an AUC without any negative) is left out.
        if n > 0 {
            means.insert(key.clone(), sums[j] / n as f64);
        }
    }
    Ok(EvalReport {
        means,
        n_users: scored.len(),
        n_skipped_no_test: no_test,
        n_skipped_unknown: unknown,
        per_user,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn keys(cfg: &EvalConfig) -> Vec<(String, Metric)> {
    let mut keys = Vec::new();
    for &m in &cfg.metrics {
        if m.at_k() {
            for &k in &cfg.ks {
                keys.push((format!("{}@{k}", m.name()), m));
            }
        } else {
            keys.push((m.name().to_string(), m));
        }
    }
    keys.dedup();
    keys
}

/// Best first; equal scores: lower item index first.
fn better(a: &(f32, u32), b: &(f32, u32)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

fn user_values(
    cfg: &EvalConfig,
    keys: &[(String, Metric)],
    pool: &mut Vec<(f32, u32)>,
    max_k: usize,
    rel: Relevant<'_>,
    seen: &[u32],
    user: u32,
) -> Result<Vec<Option<f64>>, MetricsError> {
    let needs_auc = keys.iter().any(|(_, m)| !m.at_k());
    let auc_exact = if keys.iter().any(|(_, m)| *m == Metric::AucExact) {
        exact_auc(pool, rel)
    } else {
        None
    };
    let auc_sampled = if keys.iter().any(|(_, m)| *m == Metric::AucSampled) {
        sampled_auc(pool, rel, seen, cfg.seed, user)
    } else {
        None
    };
    let _ = needs_auc;
    if max_k > 0 && pool.len() > max_k {
        pool.select_nth_unstable_by(max_k - 1, better);
        pool.truncate(max_k);
    }
    pool.sort_unstable_by(better);
    let ranked: Vec<u32> = pool.iter().map(|x| x.1).collect();
    let mut out = Vec::with_capacity(keys.len());
    let mut cache: Option<(usize, crate::ranking::UserAtK)> = None;
    for (key, m) in keys {
        let k = key
            .rsplit_once('@')
            .and_then(|(_, k)| k.parse::<usize>().ok())
            .unwrap_or(0);
        let a = match cache {
            Some((ck, a)) if ck == k => a,
            _ => {
                let a = at_k(&ranked, rel, k);
                cache = Some((k, a));
                a
            }
        };
        out.push(match m {
            Metric::Precision => Some(a.precision),
            Metric::Recall => Some(a.recall),
            Metric::Map => Some(a.map),
            Metric::MapFull => Some(a.map_full),
            Metric::RPrecision => a.r_precision,
            Metric::RecallLiang => Some(a.recall_liang),
            Metric::HitRate => Some(a.hit_rate),
            Metric::Mrr => Some(a.mrr),
            Metric::Ndcg | Metric::NdcgLiang => Some(ndcg(&ranked, rel, k, Gain::Binary)),
            Metric::NdcgRaw => Some(ndcg(&ranked, rel, k, Gain::Raw)),
            Metric::NdcgExp => Some(ndcg(&ranked, rel, k, Gain::Exp)),
            Metric::AucExact => auc_exact,
            Metric::AucSampled => auc_sampled,
        });
    }
    Ok(out)
}

/// Exact AUC of the relevant candidates against all other candidates (Mann–Whitney, ties ½).
fn exact_auc(pool: &[(f32, u32)], rel: Relevant<'_>) -> Option<f64> {
    let mut v: Vec<(f32, bool)> = pool
        .iter()
        .map(|&(s, i)| (s, rel.rating(i).is_some()))
        .collect();
    let n_pos = v.iter().filter(|x| x.1).count();
    let n_neg = v.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the positives' (average) ranks, 1-based.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j < v.len() && v[j].0 == v[i].0 {
            j += 1;
        }
        let avg = (i + 1 + j) as f64 / 2.0;
        rank_sum += avg * v[i..j].iter().filter(|x| x.1).count() as f64;
        i = j;
    }
    let u = rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some(u / (n_pos * n_neg) as f64)
}

/// Each relevant candidate against one negative drawn uniformly from the candidates the
/// user has neither seen nor holds in test.
fn sampled_auc(
    pool: &[(f32, u32)],
    rel: Relevant<'_>,
    seen: &[u32],
    seed: u64,
    user: u32,
) -> Option<f64> {
    let positives: Vec<f32> = pool
        .iter()
        .filter(|x| rel.rating(x.1).is_some())
        .map(|x| x.0)
        .collect();
    let negatives: Vec<f32> = pool
        .iter()
        .filter(|x| rel.rating(x.1).is_none() && seen.binary_search(&x.1).is_err())
        .map(|x| x.0)
        .collect();
    if positives.is_empty() || negatives.is_empty() {
        return None;
    }
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (user as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut s = 0.0;
    for &p in &positives {
        let n = negatives[rng.random_range(0..negatives.len())];
        s += if p > n {
            1.0
        } else if p == n {
            0.5
        } else {
            0.0
        };
    }
    Some(s / positives.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScoreError;
    use recs_sparse::DuplicatePolicy;

    struct Fixed(Vec<f32>, usize);
    impl Scorer for Fixed {
        fn n_users(&self) -> usize {
            self.0.len() / self.1
        }
        fn n_items(&self) -> usize {
            self.1
        }
        fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
            out.copy_from_slice(&self.0[user as usize * self.1..][..self.1]);
            Ok(())
        }
    }

    fn m(rows: &[(u32, u32)], n: usize) -> CsrMatrix {
        let (u, i): (Vec<u32>, Vec<u32>) = rows.iter().copied().unzip();
        CsrMatrix::from_triplets(2, n, &u, &i, &vec![1.0; u.len()], DuplicatePolicy::Error).unwrap()
    }

    #[test]
    fn seen_items_are_excluded_and_ties_go_to_the_lower_index() {
        // User 0 saw item 0 (top score); items 1 and 2 tie; item 2 is relevant.
        let train = m(&[(0, 0), (0, 3), (1, 1)], 4);
        let test = m(&[(0, 2)], 4);
        let s = Fixed(vec![9.0, 5.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0], 4);
        let cfg = EvalConfig {
            metrics: vec![Metric::Precision, Metric::Mrr, Metric::AucExact],
            ks: vec![1, 2],
            candidates: Candidates::All,
            ..Default::default()
        };
        let r = evaluate(&s, &train, &test, &cfg).unwrap();
        assert_eq!(r.means["precision@1"], 0.0); // item 1 wins the tie
        assert_eq!(r.means["mrr@2"], 0.5);
        assert_eq!(r.means["auc"], 0.5); // candidates 1 and 2 (3 is seen): a tie
        assert_eq!((r.n_users, r.n_skipped_no_test), (1, 1));
        // Item 2 has no training interaction: not a candidate by default, so never a hit.
        let r = evaluate(
            &s,
            &train,
            &test,
            &EvalConfig {
                candidates: Candidates::SeenInTrain,
                ..cfg
            },
        )
        .unwrap();
        assert_eq!(r.means["mrr@2"], 0.0);
    }

    #[test]
    fn bad_input_is_an_error() {
        let train = m(&[(0, 0), (1, 1)], 3);
        let test = m(&[(0, 2)], 3);
        let s = Fixed(vec![0.0, f32::NAN, 1.0, 0.0, 0.0, 0.0], 3);
        let e = evaluate(&s, &train, &test, &EvalConfig::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("user 0") && e.contains("item 1"), "{e}");
        let ok = Fixed(vec![0.0; 6], 3);
        let cfg = EvalConfig {
            ks: vec![0],
            ..Default::default()
        };
        assert!(
            evaluate(&ok, &train, &test, &cfg)
                .unwrap_err()
                .to_string()
                .contains("k = 0")
        );
        let empty = m(&[], 3);
        assert!(matches!(
            evaluate(&ok, &train, &empty, &EvalConfig::default()),
            Err(MetricsError::EmptyTruth)
        ));
        let wrong = Fixed(vec![0.0; 4], 2);
        assert!(evaluate(&wrong, &train, &test, &EvalConfig::default()).is_err());
    }
}
