//! All 943 users × 1,682 items of ml-100k (random 75/25 split, seed 42), top-10 with seen
//! items excluded, five metrics, seeded random scores. Target: well under 50 ms on 2 cores.
//! Side by side: `python ../shared/peers/eval_speed.py ../shared/datasets/ml-100k`.

use criterion::{Criterion, criterion_group, criterion_main};
use recs_metrics::{EvalConfig, Metric, ScoreError, Scorer, evaluate};
use recs_sparse::DuplicatePolicy;

struct Random(Vec<f32>, usize);
impl Scorer for Random {
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

fn bench(c: &mut Criterion) {
    // Found as users find it: $RECS_DATA_DIR, or installed from $RECS_DATA_MIRROR.
    let Some(dir) = recs_data::registry::require("ml-100k") else {
        return;
    };
    let data = recs_data::movielens::load_ml100k(&dir).expect("an installed ml-100k loads");
    let split = recs_data::split::random(&data, 0.75, 42).unwrap();
    let train = split.train.to_csr(DuplicatePolicy::Error).unwrap();
    let test = split.test.to_csr(DuplicatePolicy::Error).unwrap();
    let (nu, ni) = train.shape();
    let mut s = 1u64;
    let scores = (0..nu * ni)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 40) as f32
        })
        .collect();
    let scorer = Random(scores, ni);
    let cfg = EvalConfig {
        metrics: vec![
            Metric::MapFull,
            Metric::Map,
            Metric::Ndcg,
            Metric::Precision,
            Metric::Recall,
        ],
        ks: vec![10],
        ..Default::default()
    };
    c.bench_function("evaluate ml-100k all users top-10, 5 metrics", |b| {
        b.iter(|| evaluate(&scorer, &train, &test, &cfg).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
