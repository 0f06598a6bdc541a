//! Evaluates a seeded random scorer on ml-100k (random 75/25 split, seed 42) with
//! [`recs_metrics::evaluate`] and writes the very same predictions as CSV, so that another
//! implementation (Microsoft Recommenders' `python_evaluation`) can score them and the two
//! sets of values can be compared:
//!
//! `cargo run --release -p recs-metrics --example random_eval_csv -- OUT_DIR [DATA_DIR]`
//!
//! Writes `OUT_DIR/test.csv` (userID,itemID,rating), `OUT_DIR/pred.csv`
//! (userID,itemID,prediction: every candidate item the user has not seen in train, as
//! Recommenders' `remove_seen` rankings hold) and prints our means as one JSON object.
//! Scores are a seeded random permutation per user, so no two items tie.
//!
//! The check (run 2026-11-22: all 24 values equal to within 5e-17), with `ours.json` this
//! example's output:
//!
//! ```text
//! import json, pandas as pd
//! from recommenders.evaluation import python_evaluation as pe
//! t, p = pd.read_csv("OUT_DIR/test.csv"), pd.read_csv("OUT_DIR/pred.csv")
//! ours = json.load(open("OUT_DIR/ours.json"))
//! kw = dict(col_user="userID", col_item="itemID", col_prediction="prediction", k=10)
//! ref = {"map_full@10": pe.map(t, p, **kw), "map@10": pe.map_at_k(t, p, **kw),
//!        "ndcg@10": pe.ndcg_at_k(t, p, col_rating="rating", **kw),
//!        "precision@10": pe.precision_at_k(t, p, **kw), "recall@10": pe.recall_at_k(t, p, **kw),
//!        "r_precision@10": pe.r_precision_at_k(t, p, **kw)}
//! assert all(abs(ours[k] - v) <= 1e-9 for k, v in ref.items())
//! ```

use std::io::Write;
use std::path::PathBuf;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use recs_metrics::{EvalConfig, Metric, ScoreError, Scorer, evaluate};
use recs_sparse::DuplicatePolicy;

struct Table(Vec<f32>, usize);
impl Scorer for Table {
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(
        args.next()
            .ok_or("usage: random_eval_csv OUT_DIR [DATA_DIR]")?,
    );
    // Default: ml-100k found as users find it ($RECS_DATA_DIR, or installed from
    // $RECS_DATA_MIRROR).
    let data_dir = match args.map(PathBuf::from).next() {
        Some(d) => d,
        None => recs_data::registry::require("ml-100k")
            .ok_or("ml-100k is not installed: set RECS_DATA_MIRROR or pass DATA_DIR")?,
    };
    let data = recs_data::movielens::load_ml100k(&data_dir)?;
    let split = recs_data::split::random(&data, 0.75, 42)?;
    let train = split.train.to_csr(DuplicatePolicy::Error)?;
    let test = split.test.to_csr(DuplicatePolicy::Error)?;
    let (nu, ni) = train.shape();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut scores = Vec::with_capacity(nu * ni);
    let mut perm: Vec<u32> = (0..ni as u32).collect();
    for _ in 0..nu {
        perm.shuffle(&mut rng);
        scores.extend(perm.iter().map(|&p| p as f32));
    }
    let scorer = Table(scores, ni);
    let cfg = EvalConfig {
        metrics: vec![
            Metric::MapFull,
            Metric::Map,
            Metric::Ndcg,
            Metric::NdcgRaw,
            Metric::NdcgExp,
            Metric::Precision,
            Metric::Recall,
            Metric::RPrecision,
        ],
        ks: vec![1, 10, 20],
        ..Default::default()
    };
    let report = evaluate(&scorer, &train, &test, &cfg)?;

    std::fs::create_dir_all(&out)?;
    let mut t = std::io::BufWriter::new(std::fs::File::create(out.join("test.csv"))?);
    writeln!(t, "userID,itemID,rating")?;
    for u in 0..nu {
        let row = test.row(u);
        for (&i, &r) in row.indices.iter().zip(row.values) {
            writeln!(t, "{u},{i},{r}")?;
        }
    }
    t.flush()?;
    let candidate: Vec<bool> = train.col_counts().iter().map(|&c| c > 0).collect();
    let mut p = std::io::BufWriter::new(std::fs::File::create(out.join("pred.csv"))?);
    writeln!(p, "userID,itemID,prediction")?;
    for u in 0..nu {
        let seen = train.row(u).indices;
        if seen.is_empty() {
            continue;
        }
        for (i, &c) in candidate.iter().enumerate() {
            if c && seen.binary_search(&(i as u32)).is_err() {
                writeln!(p, "{u},{i},{}", scorer.0[u * ni + i])?;
            }
        }
    }
    p.flush()?;
    eprintln!(
        "users scored {}, skipped (no test) {}, skipped (unknown) {}",
        report.n_users, report.n_skipped_no_test, report.n_skipped_unknown
    );
    println!("{}", serde_json::to_string_pretty(&report.means)?);
    Ok(())
}
