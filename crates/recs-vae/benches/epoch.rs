//! One BiVAE training epoch (an item pass and a user pass) on MovieLens 100k with the seed
//! notebook's configuration: k 50, encoder [100], tanh, Poisson, batch 128, lr 0.001.
//!
//! Trains on 75% of the ratings (every rating whose position in u.data is not 3 mod 4), as
//! the 75/25 split does. Without the dataset (found through $RECS_DATA_DIR /
//! $RECS_DATA_MIRROR) it runs on a random matrix of the same shape and density instead, and says so.
//!
//! `cargo bench -p recs-vae --bench epoch`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recs_sparse::{CsrMatrix, DuplicatePolicy};
use recs_vae::{BiVaeParams, BiVaeTrainer, Engine};

fn ml100k_train() -> CsrMatrix {
    // ml-100k found as users find it ($RECS_DATA_DIR, or installed from $RECS_DATA_MIRROR).
    let path = recs_data::registry::require("ml-100k")
        .unwrap_or_default()
        .join("u.data");
    let (mut users, mut items) = (HashMap::new(), HashMap::new());
    let (mut r, mut c) = (vec![], vec![]);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            for (n, line) in text.lines().enumerate() {
                let f: Vec<&str> = line.split('\t').collect();
                let nu = users.len() as u32;
                let u = *users.entry(f[0].to_string()).or_insert(nu);
                let ni = items.len() as u32;
                let i = *items.entry(f[1].to_string()).or_insert(ni);
                if n % 4 != 3 {
                    r.push(u);
                    c.push(i);
                }
            }
        }
        Err(e) => {
            eprintln!(
                "{}: {e}; benchmarking a random 943 × 1682 matrix instead",
                path.display()
            );
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            for _ in 0..75_000 {
                r.push(rng.random_range(0..943));
                c.push(rng.random_range(0..1682));
            }
            users.extend((0..943).map(|u| (u.to_string(), u)));
            items.extend((0..1682).map(|i| (i.to_string(), i)));
        }
    }
    let v = vec![1.0; r.len()];
    CsrMatrix::from_triplets(
        users.len(),
        items.len(),
        &r,
        &c,
        &v,
        DuplicatePolicy::KeepLast,
    )
    .expect("valid triplets")
}

fn epoch(c: &mut Criterion) {
    let train = ml100k_train();
    let params = BiVaeParams {
        factors: 50,
        hidden: vec![100],
        batch_size: 128,
        epochs: 500,
        seed: 42,
        ..Default::default()
    };
    let mut trainer =
        BiVaeTrainer::new(&params, &train, &Engine::Native).expect("valid parameters");
    let mut group = c.benchmark_group("bivae");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("epoch_ml100k_k50_h100_b128", |b| {
        b.iter(|| black_box(trainer.run_epoch().expect("finite losses")))
    });
    group.finish();
}

criterion_group!(benches, epoch);
criterion_main!(benches);
