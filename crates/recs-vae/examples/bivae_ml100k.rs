//! BiVAE on MovieLens 100k with the seed notebook's protocol: a 75/25 random split, k 50,
//! encoder [100], tanh, Poisson, batch 128, lr 0.001; prints training seconds and
//! MAP / NDCG@10 / P@10 / R@10 from `recs_metrics::evaluate` (MAP is Recommenders' `map`,
//! the "MAP" of the seed notebook).
//!
//! Usage: cargo run --release -p recs-vae --example bivae_ml100k -- [EPOCHS] [SEED] [DATA_DIR]
//! [DEVICE] (defaults: 500, 42; the data comes from DATA_DIR if given and not `-`, else from
//! the dataset registry (`recs_data::load_dataset`: `$RECS_DATA_DIR`, installed from
//! `$RECS_DATA_MIRROR` when missing); DEVICE is the params' `device`, default `native`, e.g.
//! `cpu` or `cuda` with `--features cuda`).

use std::path::PathBuf;
use std::time::Instant;

use recs_core::{Recommender, TrainData};
use recs_data::{Interactions, movielens, split};
use recs_metrics::EvalConfig;
use recs_sparse::DuplicatePolicy;
use recs_vae::{Activation, BiVae, BiVaeParams, Control, EpochReport, Likelihood};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let epochs: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(500);
    let seed: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(42);
    let data = load(args.get(3).filter(|d| d.as_str() != "-").map(PathBuf::from))?;
    let device = args.get(4).cloned().unwrap_or_else(|| "native".into());
    // The seed notebook's protocol: a 75/25 random split of the ratings.
    let parts = split::random(&data, 0.75, seed)?;
    let train = parts.train.to_csr(DuplicatePolicy::Error)?;
    let test = parts.test.to_csr(DuplicatePolicy::Error)?;
    println!(
        "users {} items {} train {} test {}",
        train.n_rows(),
        train.n_cols(),
        train.nnz(),
        test.nnz()
    );
    let params = BiVaeParams {
        factors: 50,
        hidden: vec![100],
        act_fn: Activation::Tanh,
        likelihood: Likelihood::Pois,
        epochs,
        batch_size: 128,
        learning_rate: 0.001,
        beta_kl: 1.0,
        seed,
        device,
    };
    let t0 = Instant::now();
    let mut last = None;
    let model = BiVae::fit(&params, &TrainData::new(&train), &mut |r: &EpochReport| {
        last = Some(r.clone());
        Control::Continue
    })?;
    let train_s = t0.elapsed().as_secs_f64();
    if let Some(r) = last {
        println!("{r}");
    }
    println!("train_s {train_s:.2}");
    // Recommenders' definitions, items seen in training ranked (as Cornac's
    // predict_ranking does), seen items excluded.
    let report = recs_metrics::evaluate(&model, &train, &test, &EvalConfig::default())?;
    let m = ["map_full@10", "ndcg@10", "precision@10", "recall@10"].map(|key| report.means[key]);
    println!(
        "MAP {:.4}\nNDCG@10 {:.4}\nP@10 {:.4}\nR@10 {:.4}",
        m[0], m[1], m[2], m[3]
    );
    Ok(())
}

fn load(dir: Option<PathBuf>) -> Result<Interactions, Box<dyn std::error::Error>> {
    if let Some(dir) = dir {
        return Ok(movielens::load_ml100k(&dir)?);
    }
    // The registry: $RECS_DATA_DIR, installing from $RECS_DATA_MIRROR when missing.
    Ok(recs_data::load_dataset("ml-100k")?)
}
