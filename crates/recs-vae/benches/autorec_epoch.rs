//! One I-AutoRec training epoch on MovieLens 100k's 90 % training ratings with seed 003's
//! configuration (500 sigmoid hidden units, λ 100, batches of 256 items, Adam lr 0.001).
//! Without the dataset (found through $RECS_DATA_DIR / $RECS_DATA_MIRROR) it runs on a
//! random matrix of the same shape and density instead, and says so.
//!
//! `cargo bench -p recs-vae --bench autorec_epoch`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recs_core::{Recommender, TrainData};
use recs_sparse::{CsrMatrix, DuplicatePolicy};
use recs_vae::{AutoRec, AutoRecParams, NoProgress};

fn train() -> CsrMatrix {
    // ml-100k found as users find it ($RECS_DATA_DIR, or installed from $RECS_DATA_MIRROR).
    let dir = recs_data::registry::require("ml-100k").unwrap_or_default();
    match recs_data::movielens::load_ml100k(&dir) {
        Ok(data) => recs_data::split::random(&data, 0.9, 42)
            .expect("split")
            .train
            .to_csr(DuplicatePolicy::Error)
            .expect("matrix"),
        Err(e) => {
            eprintln!("{e}; benchmarking a random 943 × 1682 matrix instead");
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            let (mut r, mut c, mut v) = (vec![], vec![], vec![]);
            for _ in 0..90_000 {
                r.push(rng.random_range(0..943u32));
                c.push(rng.random_range(0..1682u32));
                v.push(rng.random_range(1..=5) as f32);
            }
            CsrMatrix::from_triplets(943, 1682, &r, &c, &v, DuplicatePolicy::KeepLast)
                .expect("matrix")
        }
    }
}

fn bench(c: &mut Criterion) {
    let x = train();
    let params = AutoRecParams {
        epochs: 1,
        ..AutoRecParams::default()
    };
    let mut g = c.benchmark_group("autorec");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.bench_function("i-autorec ml-100k epoch", |b| {
        b.iter(|| {
            black_box(AutoRec::fit(&params, &TrainData::new(&x), &mut NoProgress).expect("fit"))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
