//! Mult-VAE training (no validation) on the ml-100k reference protocol's 564 training users ×
//! 1,365 items, [I-600-200-600-I], batch 100: one fit of 1 epoch and one of 6, so the
//! difference divided by 5 is an epoch without the initialisation. Without the dataset it
//! runs on a random matrix of the same shape and density, and says so.
//!
//! `cargo bench -p recs-vae --bench multvae_epoch`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recs_core::{Recommender, TrainData};
use recs_sparse::{CsrMatrix, DuplicatePolicy};
use recs_vae::{MultVaeModel, MultVaeParams, NoProgress};

fn train() -> CsrMatrix {
    // ml-100k found as users find it ($RECS_DATA_DIR, or installed from $RECS_DATA_MIRROR).
    let dir = recs_data::registry::require("ml-100k").unwrap_or_default();
    match recs_data::movielens::load_ml100k(&dir) {
        Ok(d) => recs_data::split::held_out_by_user_id(&d)
            .expect("split")
            .train
            .to_csr(DuplicatePolicy::KeepLast)
            .expect("matrix"),
        Err(e) => {
            eprintln!("{e}; benchmarking a random 564 × 1365 matrix instead");
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            let (mut r, mut c) = (vec![], vec![]);
            for _ in 0..33_000 {
                r.push(rng.random_range(0..564u32));
                c.push(rng.random_range(0..1365u32));
            }
            let v = vec![1.0; r.len()];
            CsrMatrix::from_triplets(564, 1365, &r, &c, &v, DuplicatePolicy::KeepLast)
                .expect("matrix")
        }
    }
}

fn bench(c: &mut Criterion) {
    let x = train();
    let mut g = c.benchmark_group("multvae");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for epochs in [1, 6] {
        let params = MultVaeParams {
            epochs,
            ..MultVaeParams::default()
        };
        g.bench_function(format!("ml-100k fit, {epochs} epochs"), |b| {
            b.iter(|| {
                black_box(
                    MultVaeModel::fit(&params, &TrainData::new(&x), &mut NoProgress).expect("fit"),
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
