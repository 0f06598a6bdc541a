//! Shared helpers of the integration tests.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recs_sparse::{CsrMatrix, DuplicatePolicy};

/// Defines a module `$name` whose tests run one body on every engine: the native CPU
/// kernels, candle on the CPU, and (with the `cuda` feature) candle on CUDA device 0.
#[macro_export]
macro_rules! test_device {
    ($(#[$m:meta])* fn $name:ident($engine:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$m])*
            fn body($engine: recs_vae::Engine) $body

            #[test]
            fn native() {
                body(recs_vae::Engine::Native)
            }

            #[test]
            fn candle_cpu() {
                body(recs_vae::Engine::Candle(recs_vae::candle_core::Device::Cpu))
            }

            #[cfg(feature = "cuda")]
            #[test]
            fn cuda() {
                body(recs_vae::Engine::cuda(0).expect("CUDA device 0"))
            }
        }
    };
}

/// A users × items matrix with `groups` blocks: users of group g like items of group g
/// with probability 0.5 and any other item with probability 0.02. Returns the training
/// part and, per user, one held-out liked item (never in training).
pub fn clustered(
    users: usize,
    items: usize,
    groups: usize,
    seed: u64,
) -> (CsrMatrix, Vec<Option<u32>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut r, mut c) = (vec![], vec![]);
    let mut held = vec![None; users];
    for (u, held_out) in held.iter_mut().enumerate() {
        let g = u % groups;
        let mut liked = vec![];
        for i in 0..items {
            let p = if i % groups == g { 0.5 } else { 0.02 };
            if rng.random_bool(p) {
                liked.push(i as u32);
            }
        }
        // Hold out one in-group item chosen at random (always the first would leave that
        // item without in-group training data).
        let in_group: Vec<usize> = (0..liked.len())
            .filter(|&p| liked[p] as usize % groups == g)
            .collect();
        if liked.len() >= 3 && !in_group.is_empty() {
            let pos = in_group[rng.random_range(0..in_group.len())];
            *held_out = Some(liked.remove(pos));
        }
        for i in liked {
            r.push(u as u32);
            c.push(i);
        }
    }
    let v = vec![1.0; r.len()];
    (
        CsrMatrix::from_triplets(users, items, &r, &c, &v, DuplicatePolicy::Error).unwrap(),
        held,
    )
}

/// Fraction of users with a held-out item whose item ranks in the top `k` of the unseen
/// items, and the fraction a random ranking would give.
pub fn hit_rate(
    scorer: &dyn recs_metrics::Scorer,
    train: &CsrMatrix,
    held: &[Option<u32>],
    k: usize,
) -> (f64, f64) {
    let n = train.n_cols();
    let mut scores = vec![0.0; n];
    let (mut hits, mut users, mut random) = (0.0, 0.0, 0.0);
    for (u, h) in held.iter().enumerate() {
        let Some(h) = *h else { continue };
        scorer.score_user(u as u32, &mut scores).unwrap();
        let seen = train.row(u);
        let target = scores[h as usize];
        let candidates: Vec<usize> = (0..n)
            .filter(|&i| seen.indices.binary_search(&(i as u32)).is_err())
            .collect();
        let better = candidates.iter().filter(|&&i| scores[i] > target).count();
        if better < k {
            hits += 1.0;
        }
        random += (k as f64 / candidates.len() as f64).min(1.0);
        users += 1.0;
    }
    (hits / users, random / users)
}

/// `top` over `bottom` (the same columns): one matrix, `top`'s rows first.
pub fn stack(top: &CsrMatrix, bottom: &CsrMatrix) -> CsrMatrix {
    assert_eq!(top.n_cols(), bottom.n_cols());
    let (mut r, mut c, mut v) = (vec![], vec![], vec![]);
    for (offset, m) in [(0, top), (top.n_rows(), bottom)] {
        for u in 0..m.n_rows() {
            let row = m.row(u);
            for (&i, &x) in row.indices.iter().zip(row.values) {
                r.push((offset + u) as u32);
                c.push(i);
                v.push(x);
            }
        }
    }
    let n = top.n_rows() + bottom.n_rows();
    CsrMatrix::from_triplets(n, top.n_cols(), &r, &c, &v, DuplicatePolicy::Error).unwrap()
}

/// Mult-VAE's training data for held-out validation users: the training users' rows over
/// the validation users' fold-in rows, and as validation the validation users' held-out
/// rows below as many empty rows as there are training users.
pub fn with_validation_users(
    train: &CsrMatrix,
    fold_in: &CsrMatrix,
    held_out: &CsrMatrix,
) -> (CsrMatrix, CsrMatrix) {
    let empty = CsrMatrix::zeros(train.n_rows(), train.n_cols()).unwrap();
    (stack(train, fold_in), stack(&empty, held_out))
}
