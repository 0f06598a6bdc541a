//! Top-10 ranking on MovieLens 100k, 75/25 random split (seed 42), all training items
//! ranked, seen items excluded: BPR with the settings Cornac's reference run uses (k 200,
//! 100 epochs, lr 0.01, λ 0.001), Hogwild on the given threads, plus the per-user sampled
//! AUC.
//!
//! `cargo run --release -p recs-factor --example bpr_ml100k -- [ML100K_DIR] [THREADS]`
//! (defaults: ml-100k found through `RECS_DATA_DIR` / `RECS_DATA_MIRROR`, 2).

use std::path::PathBuf;
use std::time::Instant;

use recs_core::{Recommender as _, TrainData};
use recs_data::{movielens, split};
use recs_factor::{Bpr, BprParams, Control, EpochReport};
use recs_metrics::{EvalConfig, Metric, evaluate};
use recs_sparse::DuplicatePolicy;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .map(PathBuf::from)
        .or_else(|| recs_data::registry::require("ml-100k"))
        .ok_or("ml-100k is not installed: set RECS_DATA_MIRROR or pass its directory")?;
    let threads: usize = args.next().map(|t| t.parse()).transpose()?.unwrap_or(2);
    let data = movielens::load_ml100k(&dir)?;
    let s = split::random(&data, 0.75, 42)?;
    let train = s.train.to_csr(DuplicatePolicy::KeepLast)?.binarize();
    let test = s.test.to_csr(DuplicatePolicy::KeepLast)?;
    let params = BprParams {
        factors: 200,
        epochs: 100,
        learning_rate: 0.01,
        reg: 0.001,
        threads,
        ..BprParams::default()
    };
    let mut last_auc = 0.0;
    let mut cb = |e: &EpochReport| {
        last_auc = e.loss("train_auc").unwrap_or(0.0);
        Control::Continue
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let t0 = Instant::now();
    let model = pool.install(|| Bpr::fit(&params, &TrainData::new(&train), &mut cb))?;
    let fit_s = t0.elapsed().as_secs_f64();
    let cfg = EvalConfig {
        metrics: vec![
            Metric::MapFull,
            Metric::Map,
            Metric::Ndcg,
            Metric::Precision,
            Metric::Recall,
            Metric::AucSampled,
        ],
        ..EvalConfig::default()
    };
    let rep = evaluate(&model, &train, &test, &cfg)?;
    let g = |k: &str| rep.means.get(k).copied().unwrap_or(f64::NAN);
    println!(
        "recs BPR(k=200,100ep,{threads} threads) fit_s {fit_s:.2} MAP {:.4} NDCG@10 {:.4} P@10 {:.4} R@10 {:.4} map@10 {:.4} auc_sampled {:.4} last-epoch train AUC {last_auc:.4}",
        g("map_full@10"),
        g("ndcg@10"),
        g("precision@10"),
        g("recall@10"),
        g("map@10"),
        g("auc_sampled"),
    );
    Ok(())
}
