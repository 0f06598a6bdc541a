//! The training loops run the same arithmetic at every SIMD level (`recs_core::simd`): same
//! lanes and sum order, and no fused multiply-adds on any path, so the factors are
//! bit-identical whichever level the dispatcher picks. (Its own test binary: forcing a level
//! caps it for the whole process.)

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recs_core::simd::{Level, at_each_level, detected};
use recs_core::{Recommender, TrainData};
use recs_factor::{BiasedMf, Bpr, BprParams, MfParams, NoProgress};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn mf_and_single_threaded_bpr_give_identical_factors_at_every_level() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let (mut u, mut i, mut r) = (vec![], vec![], vec![]);
    for x in 0..120u32 {
        for y in 0..90u32 {
            if rng.random::<f32>() < 0.15 {
                u.push(x);
                i.push(y);
                r.push(rng.random_range(1..=5u32) as f32);
            }
        }
    }
    let ratings = CsrMatrix::from_triplets(120, 90, &u, &i, &r, DuplicatePolicy::Error).unwrap();
    let x = CsrMatrix::from_triplets(120, 90, &u, &i, &vec![1.0; u.len()], DuplicatePolicy::Error)
        .unwrap();
    // factor counts that exercise the 8-lane blocks and the remainders
    for factors in [5, 16, 37] {
        let runs = at_each_level(|_| {
            let mf = BiasedMf::fit(
                &MfParams {
                    factors,
                    epochs: 5,
                    ..MfParams::default()
                },
                &TrainData::new(&ratings),
                &mut NoProgress,
            )
            .unwrap();
            let bpr = Bpr::fit(
                &BprParams {
                    factors,
                    epochs: 5,
                    learning_rate: 0.05,
                    threads: 1,
                    ..BprParams::default()
                },
                &TrainData::new(&x),
                &mut NoProgress,
            )
            .unwrap();
            [
                bits(mf.user_factors()),
                bits(mf.item_factors()),
                bits(mf.user_bias()),
                bits(mf.item_bias()),
                bits(bpr.user_factors()),
                bits(bpr.item_factors()),
                bits(bpr.item_bias()),
            ]
        });
        assert_eq!(runs[0].0, Level::Portable);
        assert_eq!(runs.last().unwrap().0, detected());
        for (level, got) in &runs[1..] {
            assert!(
                got == &runs[0].1,
                "k {factors}: {level:?} differs from portable"
            );
        }
    }
}
