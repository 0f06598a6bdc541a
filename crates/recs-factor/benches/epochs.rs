//! One training epoch of biased MF and of BPR on ml-100k-sized random data
//! (943 users × 1682 items, 90 000 / 75 000 interactions).

use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recs_core::{Recommender, TrainData};
use recs_factor::{BiasedMf, Bpr, BprParams, MfParams, NoProgress};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

fn random(n: usize, seed: u64) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let u = (0..n).map(|_| rng.random_range(0..943u32)).collect();
    let i = (0..n).map(|_| rng.random_range(0..1682u32)).collect();
    let r = (0..n).map(|_| rng.random_range(1..=5u32) as f32).collect();
    (u, i, r)
}

fn epochs(c: &mut Criterion) {
    let (u, i, r) = random(90_000, 1);
    // Repeated (user, item) draws keep their last rating.
    let ratings =
        CsrMatrix::from_triplets(943, 1682, &u, &i, &r, DuplicatePolicy::KeepLast).unwrap();
    let d = TrainData::new(&ratings);
    let p = MfParams {
        epochs: 1,
        ..MfParams::default()
    };
    c.bench_function("mf_epoch_k100_90k", |b| {
        b.iter(|| BiasedMf::fit(&p, &d, &mut NoProgress).unwrap())
    });

    let (u, i, _) = random(75_000, 2);
    let x = CsrMatrix::from_triplets(
        943,
        1682,
        &u,
        &i,
        &vec![1.0; u.len()],
        DuplicatePolicy::KeepLast,
    )
    .unwrap();
    for threads in [1usize, 2] {
        let p = BprParams {
            factors: 200,
            epochs: 1,
            learning_rate: 0.01,
            reg: 0.001,
            threads,
            ..BprParams::default()
        };
        c.bench_function(&format!("bpr_epoch_k200_75k_{threads}t"), |b| {
            b.iter(|| Bpr::fit(&p, &TrainData::new(&x), &mut NoProgress).unwrap())
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = epochs
}
criterion_main!(benches);
