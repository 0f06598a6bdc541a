//! BiVAE on MovieLens 100k with the seed notebook's protocol: a 75/25 random split, k 50,
//! encoder [100], tanh, Poisson, batch 128, lr 0.001; prints training seconds and
//! MAP / NDCG@10 / P@10 / R@10.
//!
//! Usage: cargo run --release -p recs-vae --example bivae_ml100k -- [EPOCHS] [SEED] [DATA_DIR]
//! (defaults: 500, 42, ../shared/datasets/ml-100k next to the workspace).

use std::collections::HashMap;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use recs_metrics::Scorer;
use recs_sparse::{CsrMatrix, DuplicatePolicy};
use recs_vae::{Activation, BiVae, BiVaeParams, Likelihood};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let epochs: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(500);
    let seed: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(42);
    let dir = args.get(3).cloned().unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/datasets/ml-100k"
        )
        .to_string()
    });
    let (train, test) = load_split(&format!("{dir}/u.data"), seed)?;
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

/// u.data → a 75/25 random split of the ratings (users and items indexed in order of first
/// appearance in the file), both with the full shape.
fn load_split(path: &str, seed: u64) -> Result<(CsrMatrix, CsrMatrix), Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)?;
    let (mut users, mut items) = (HashMap::new(), HashMap::new());
    let mut triples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 {
            return Err(format!("{path}:{}: expected user, item, rating", n + 1).into());
        }
        let nu = users.len() as u32;
        let u = *users.entry(f[0].to_string()).or_insert(nu);
        let ni = items.len() as u32;
        let i = *items.entry(f[1].to_string()).or_insert(ni);
        triples.push((u, i, f[2].parse::<f32>()?));
    }
    triples.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let cut = triples.len() * 3 / 4;
    let build = |t: &[(u32, u32, f32)]| {
        let (u, (i, r)): (Vec<u32>, (Vec<u32>, Vec<f32>)) =
            t.iter().map(|&(u, i, r)| (u, (i, r))).unzip();
        CsrMatrix::from_triplets(users.len(), items.len(), &u, &i, &r, DuplicatePolicy::Error)
    };
    Ok((build(&triples[..cut])?, build(&triples[cut..])?))
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
