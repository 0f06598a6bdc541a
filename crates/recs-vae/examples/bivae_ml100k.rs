//! BiVAE on MovieLens 100k with the seed notebook's protocol: a 75/25 random split, k 50,
//! encoder [100], tanh, Poisson, batch 128, lr 0.001; prints training seconds and
//! MAP / NDCG@10 / P@10 / R@10.
//!
//! Usage: cargo run --release -p recs-vae --example bivae_ml100k -- [EPOCHS] [SEED] [DATA_DIR]
//! (defaults: 500, 42; the data comes from DATA_DIR if given, else from the dataset
//! registry (`recs_data::load_dataset`), else from ../shared/datasets/ml-100k next to the
//! workspace).

use std::path::PathBuf;
use std::time::Instant;

use recs_data::{Interactions, movielens, split};
use recs_metrics::Scorer;
use recs_sparse::{CsrMatrix, DuplicatePolicy};
use recs_vae::{Activation, BiVae, BiVaeParams, Likelihood};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let epochs: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(500);
    let seed: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(42);
    let data = load(args.get(3).map(PathBuf::from))?;
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
        k: 50,
        encoder_structure: vec![100],
        act_fn: Activation::Tanh,
        likelihood: Likelihood::Pois,
        n_epochs: epochs,
        batch_size: 128,
        learning_rate: 0.001,
        beta_kl: 1.0,
        seed,
    };
    let t0 = Instant::now();
    let mut last = None;
    let model = BiVae::fit(&train, &params, Some(&mut |r| last = Some(r.clone())))?;
    let train_s = t0.elapsed().as_secs_f64();
    if let Some(r) = last {
        println!("{r}");
    }
    println!("train_s {train_s:.2}");
    let m = evaluate(&model, &train, &test, 10)?;
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
    match recs_data::load_dataset("ml-100k") {
        Ok(d) => Ok(d),
        Err(e) => {
            let shared =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/ml-100k");
            eprintln!("registry: {e}; reading {}", shared.display());
            Ok(movielens::load_ml100k(&shared)?)
        }
    }
}

/// MAP (Recommenders' `map`), NDCG@k, P@k, R@k over test users, ranking the items seen in
/// training that the user has not rated in training (as Cornac + Recommenders do).
fn evaluate(
    model: &BiVae,
    train: &CsrMatrix,
    test: &CsrMatrix,
    k: usize,
) -> Result<[f64; 4], Box<dyn std::error::Error>> {
    let known: Vec<bool> = train.col_counts().iter().map(|&c| c > 0).collect();
    let mut scores = vec![0.0; train.n_cols()];
    let (mut map, mut ndcg, mut prec, mut rec, mut n) = (0.0, 0.0, 0.0, 0.0, 0);
    for u in 0..test.n_rows() {
        let truth = test.row(u);
        if truth.is_empty() {
            continue;
        }
        model.score_user(u as u32, &mut scores)?;
        let seen = train.row(u);
        let mut cand: Vec<usize> = (0..train.n_cols())
            .filter(|&i| known[i] && seen.indices.binary_search(&(i as u32)).is_err())
            .collect();
        cand.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        let rel = |i: usize| truth.indices.binary_search(&(i as u32)).is_ok();
        let (mut hits, mut dcg, mut ap) = (0usize, 0.0, 0.0);
        for (r, &i) in cand.iter().take(k).enumerate() {
            if rel(i) {
                hits += 1;
                dcg += 1.0 / ((r + 2) as f64).log2();
                ap += hits as f64 / (r + 1) as f64;
            }
        }
        let idcg: f64 = (0..truth.len().min(k))
            .map(|r| 1.0 / ((r + 2) as f64).log2())
            .sum();
        map += ap / truth.len() as f64;
        ndcg += dcg / idcg;
        prec += hits as f64 / k as f64;
        rec += hits as f64 / truth.len() as f64;
        n += 1;
    }
    let n = n as f64;
    Ok([map / n, ndcg / n, prec / n, rec / n])
}
