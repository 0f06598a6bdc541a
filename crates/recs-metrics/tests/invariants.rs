//! Invariants of the evaluator on random data.

use proptest::prelude::*;
use recs_metrics::{Candidates, EvalConfig, Metric, ScoreError, Scorer, evaluate};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

struct Dense {
    scores: Vec<f32>,
    n_items: usize,
}

impl Scorer for Dense {
    fn n_users(&self) -> usize {
        self.scores.len() / self.n_items
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        out.copy_from_slice(&self.scores[user as usize * self.n_items..][..self.n_items]);
        Ok(())
    }
}

const ALL: [Metric; 14] = [
    Metric::Precision,
    Metric::Recall,
    Metric::Ndcg,
    Metric::NdcgRaw,
    Metric::NdcgExp,
    Metric::Map,
    Metric::MapFull,
    Metric::RPrecision,
    Metric::RecallLiang,
    Metric::NdcgLiang,
    Metric::HitRate,
    Metric::Mrr,
    Metric::AucSampled,
    Metric::AucExact,
];

/// Random (train, test, scores) with every user having a train and a test item.
fn case() -> impl Strategy<Value = (usize, usize, Vec<u8>, Vec<f32>)> {
    (2usize..8, 4usize..16).prop_flat_map(|(nu, ni)| {
        (
            Just(nu),
            Just(ni),
            proptest::collection::vec(0u8..4, nu * ni),
            proptest::collection::vec(-10f32..10.0, nu * ni),
        )
    })
}

/// 0: nothing, 1: train, 2 and 3: test with ratings 2 and 5. Column 0 is train for all,
/// column 1 test for all, so every user is evaluated.
fn matrices(nu: usize, ni: usize, cells: &[u8]) -> (CsrMatrix, CsrMatrix) {
    let (mut tr, mut te) = ((vec![], vec![], vec![]), (vec![], vec![], vec![]));
    for u in 0..nu {
        for i in 0..ni {
            let c = if i == 0 {
                1
            } else if i == 1 {
                2
            } else {
                cells[u * ni + i]
            };
            match c {
                1 => {
                    tr.0.push(u as u32);
                    tr.1.push(i as u32);
                    tr.2.push(1.0);
                }
                2 | 3 => {
                    te.0.push(u as u32);
                    te.1.push(i as u32);
                    te.2.push(if c == 2 { 2.0 } else { 5.0 });
                }
                _ => {}
            }
        }
    }
    let m = |t: (Vec<u32>, Vec<u32>, Vec<f32>)| {
        CsrMatrix::from_triplets(nu, ni, &t.0, &t.1, &t.2, DuplicatePolicy::Error).unwrap()
    };
    (m(tr), m(te))
}

fn cfg(ks: Vec<usize>) -> EvalConfig {
    EvalConfig {
        metrics: ALL.to_vec(),
        ks,
        candidates: Candidates::All,
        ..Default::default()
    }
}

proptest! {
    #[test]
    fn every_metric_is_in_unit_interval((nu, ni, cells, scores) in case(), k in 1usize..20) {
        let (train, test) = matrices(nu, ni, &cells);
        let r = evaluate(&Dense { scores, n_items: ni }, &train, &test, &cfg(vec![k])).unwrap();
        for (key, v) in &r.means {
            prop_assert!((0.0..=1.0).contains(v), "{key} = {v}");
        }
    }

    #[test]
    fn a_perfect_ranking_scores_one((nu, ni, cells, _s) in case(), k in 1usize..20) {
        let (train, test) = matrices(nu, ni, &cells);
        // Relevant items first, by rating.
        let scores: Vec<f32> = (0..nu * ni).map(|x| test.get(x / ni, x % ni).unwrap_or(0.0)).collect();
        let r = evaluate(&Dense { scores, n_items: ni }, &train, &test, &cfg(vec![k])).unwrap();
        for key in ["ndcg", "ndcg_raw", "ndcg_exp", "map", "recall_liang", "ndcg_liang", "hit_rate", "mrr"] {
            let v = r.means[&format!("{key}@{k}")];
            prop_assert!((v - 1.0).abs() < 1e-12, "{key}@{k} = {v}");
        }
        for key in ["auc", "auc_sampled"] {
            if let Some(auc) = r.means.get(key) {
                prop_assert!((auc - 1.0).abs() < 1e-12, "{key} = {auc}");
            }
        }
    }

    #[test]
    fn relabelling_items_changes_nothing((nu, ni, cells, scores) in case(), shift in 1usize..16) {
        let (train, test) = matrices(nu, ni, &cells);
        let perm = |i: usize| (i + shift) % ni;
        let relabel = |m: &CsrMatrix| {
            let (mut r, mut c, mut v) = (vec![], vec![], vec![]);
            for u in 0..nu {
                let row = m.row(u);
                for (&i, &x) in row.indices.iter().zip(row.values) {
                    r.push(u as u32);
                    c.push(perm(i as usize) as u32);
                    v.push(x);
                }
            }
            CsrMatrix::from_triplets(nu, ni, &r, &c, &v, DuplicatePolicy::Error).unwrap()
        };
        // Distinct scores, so that tie-breaking by index cannot differ.
        let scores: Vec<f32> = scores.iter().enumerate().map(|(j, s)| s.round() * 1000.0 + j as f32).collect();
        let mut moved = vec![0.0; nu * ni];
        for u in 0..nu {
            for i in 0..ni {
                moved[u * ni + perm(i)] = scores[u * ni + i];
            }
        }
        let c = EvalConfig { metrics: ALL[..12].to_vec(), ..cfg(vec![1, 3, 10]) };
        let a = evaluate(&Dense { scores, n_items: ni }, &train, &test, &c).unwrap();
        let b = evaluate(&Dense { scores: moved, n_items: ni }, &relabel(&train), &relabel(&test), &c).unwrap();
        for (key, v) in &a.means {
            prop_assert!((v - b.means[key]).abs() < 1e-12, "{key}: {v} vs {}", b.means[key]);
        }
    }

    #[test]
    fn recall_at_every_item_is_one((nu, ni, cells, scores) in case()) {
        let (train, test) = matrices(nu, ni, &cells);
        let r = evaluate(&Dense { scores, n_items: ni }, &train, &test, &cfg(vec![ni])).unwrap();
        let v = r.means[&format!("recall@{}", ni)];
        prop_assert!((v - 1.0).abs() < 1e-12);
    }
}
