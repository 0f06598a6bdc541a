//! BiVAE's unit tests (the end-to-end ones are in `tests/bivae.rs`).

use recs_core::{NoProgress, Recommender, TrainData};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

use super::{BiVae, BiVaeParams};
use crate::nn::Likelihood;

#[test]
fn one_epoch_agrees_across_simd_paths() {
    // 40 users × 30 items in three groups, some entries counted twice.
    let (mut u, mut i, mut v) = (vec![], vec![], vec![]);
    for a in 0..40u32 {
        for b in 0..30u32 {
            if a % 3 == b % 3 && (a * 7 + b * 5) % 4 != 0 {
                u.push(a);
                i.push(b);
                v.push(1.0 + ((a + b) % 2) as f32);
            }
        }
    }
    let x = CsrMatrix::from_triplets(40, 30, &u, &i, &v, DuplicatePolicy::Sum).unwrap();
    for likelihood in Likelihood::ALL {
        let p = BiVaeParams {
            factors: 5,
            hidden: vec![24, 9],
            likelihood,
            epochs: 1,
            batch_size: 16,
            learning_rate: 0.01,
            seed: 3,
            ..Default::default()
        };
        let runs = crate::simd_paths::each_level(|_| {
            let m = BiVae::fit(&p, &TrainData::new(&x), &mut NoProgress).unwrap();
            let mut out = m.mu_theta.clone();
            for v in [&m.mu_beta, &m.theta, &m.beta] {
                out.extend(v);
            }
            out
        });
        crate::simd_paths::assert_paths_agree(&format!("BiVAE epoch ({likelihood})"), &runs, 1e-5);
    }
}
