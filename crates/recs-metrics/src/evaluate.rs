//! The parallel evaluator: rank every candidate item for every test user, seen items
//! excluded, and average the chosen metrics.
//!
//! Users: a user with test items is *scored* when the model knows them (index below
//! `scorer.n_users()`) and they have at least one training interaction. A test user with an
//! empty training row is not scored and is counted in [`EvalReport::n_skipped_unknown`]; a
//! user without test items is counted in [`EvalReport::n_skipped_no_test`]. Every mean is
//! over scored users only (for r_precision and the AUCs: over the scored users for whom the
//! metric is defined, see [`Metric`]). Recommenders' CSV quirk of counting users without
//! predictions as 0 in NDCG lives in [`crate::table`], not here.
//!
//! Items: with [`Candidates::SeenInTrain`] (the default) only items with at least one
//! training interaction are ranked — what Cornac's `predict_ranking` does, since a model
//! knows nothing of the others. Relevant test items that are not candidates still count in
//! every denominator (as in Recommenders: they can never be hit); they are not positives of
//! the AUCs, which compare candidates only.
//!
//! Ranking: scores come from [`Scorer::score_users`] in blocks of users, rayon-parallel over
//! blocks; top-k by partial selection (`select_nth_unstable_by`, then a sort of the k); equal
//! scores rank the lower item index first. A NaN or infinite score is an error naming the
//! user and item, never a silent place in the ranking.

use std::collections::BTreeMap;
use std::time::Instant;

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
    /// `r_precision@k`, with Recommenders' averaging: users without a hit in their first
    /// min(k, relevant) ranks are left out of the mean.
    RPrecision,
    /// `recall_liang@k`: Liang et al.'s Recall@R, denominator min(R, relevant).
    RecallLiang,
    /// `ndcg_liang@k`: Liang et al.'s NDCG@R (binary gains).
    NdcgLiang,
    /// `hit_rate@k`.
    HitRate,
    /// `mrr@k`.
    Mrr,
    /// `auc_sampled`: per user, the N candidate test positives against N negatives drawn
    /// without replacement (seeded by [`EvalConfig::seed`] and the user index) from the
    /// candidates the user has not interacted with, all N × N pairs, ties ½; mean over users
    /// with at least one positive and one negative candidate. See
    /// [`crate::auc::sampled_user_auc`].
    AucSampled,
    /// `auc`: per user, exact AUC of the candidate test positives against every candidate
    /// negative (ties ½); mean over users with at least one of each. See
    /// [`crate::auc::exact_user_auc`]. (Recommenders' global `auc` is
    /// [`crate::auc::global_auc`].)
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
        .map_init(
            // Per-thread buffers, reused from block to block.
            || (Vec::<f32>::new(), Vec::<(f32, u32)>::with_capacity(n_items)),
            |(buf, pool), users| {
                buf.clear();
                buf.resize(users.len() * n_items, 0.0);
                scorer.score_users(users, buf)?;
                let mut out = Vec::with_capacity(users.len());
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
                    let values = user_values(cfg, &keys, pool, max_k, rel, seen, u)?;
                    out.push((u, values));
                }
                Ok(out)
            },
        )
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
    for (j, (key, _)) in keys.iter().enumerate() {
        let n = counts[j];
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

/// Exact AUC of the relevant candidates against all other candidates.
fn exact_auc(pool: &[(f32, u32)], rel: Relevant<'_>) -> Option<f64> {
    let scores: Vec<f32> = pool.iter().map(|x| x.0).collect();
    let positive: Vec<bool> = pool.iter().map(|x| rel.rating(x.1).is_some()).collect();
    crate::auc::exact_user_auc(&scores, &positive)
}

/// The relevant candidates against as many negatives drawn from the candidates the user has
/// neither seen nor holds in test.
fn sampled_auc(
    pool: &[(f32, u32)],
    rel: Relevant<'_>,
    seen: &[u32],
    seed: u64,
    user: u32,
) -> Option<f64> {
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for &(s, i) in pool {
        if rel.rating(i).is_some() {
            pos.push(s);
        } else if seen.binary_search(&i).is_err() {
            neg.push(s);
        }
    }
    crate::auc::sampled_user_auc(&pos, &neg, crate::auc::user_seed(seed, user))
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
    fn unknown_users_are_counted_not_scored() {
        // User 1 has a test item but no training row: skipped, and not a 0 in any mean.
        let train = m(&[(0, 0)], 3);
        let test = m(&[(0, 1), (1, 2)], 3);
        let s = Fixed(vec![0.0, 1.0, 0.5, 0.0, 0.0, 0.0], 3);
        let cfg = EvalConfig {
            metrics: vec![Metric::Ndcg, Metric::Precision, Metric::AucSampled],
            ks: vec![1],
            candidates: Candidates::All,
            per_user: true,
            seed: 3,
            ..Default::default()
        };
        let r = evaluate(&s, &train, &test, &cfg).unwrap();
        assert_eq!(
            (r.n_users, r.n_skipped_unknown, r.n_skipped_no_test),
            (1, 1, 0)
        );
        assert_eq!(r.means["ndcg@1"], 1.0);
        assert_eq!(r.means["auc_sampled"], 1.0);
        let per = r.per_user.unwrap();
        assert_eq!(per.len(), 1);
        assert_eq!(per[0].0, 0);
        assert_eq!(per[0].1["precision@1"], 1.0);
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
        let mut short = vec![0.0; 5];
        assert!(matches!(
            ok.score_users(&[0, 1], &mut short),
            Err(ScoreError::BufferLength {
                got: 5,
                expected: 6
            })
        ));
        let wrong = Fixed(vec![0.0; 4], 2);
        assert!(evaluate(&wrong, &train, &test, &EvalConfig::default()).is_err());
    }
}
