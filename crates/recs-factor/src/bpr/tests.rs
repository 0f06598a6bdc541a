//! Unit tests: the step by hand and at large margins, the negative checks, the shared store
//! against the exclusive one, workers without samples, the parameter checks.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recs_core::{
    Control, EpochReport, ModelError, ModelParams as _, NoProgress, Recommender as _, TrainData,
};
use recs_sparse::CsrMatrix;

use super::fit::{BITSET_MAX_BYTES, Tuning, fit_with};
use super::kernels::bpr_step;
use super::model::Bpr;
use super::params::BprParams;

#[test]
fn bpr_step_matches_hand_computation() {
    let mut pu = [1.0f32, 0.0];
    let mut qi = [0.5f32, 1.0];
    let mut qj = [-0.5f32, 2.0];
    let (mut bi, mut bj) = (0.0f32, 0.0f32);
    let (x, loss) = bpr_step(&mut pu, &mut qi, &mut qj, &mut bi, &mut bj, 0.1, 0.0);
    // x = 1·(0.5 + 0.5) + 0 = 1; z = σ(−1); loss = ln(1 + e^−1)
    assert!((x - 1.0).abs() < 1e-6);
    assert!((loss - (1.0 + (-1f32).exp()).ln()).abs() < 1e-6);
    let z = 1.0 / (1.0 + 1f32.exp());
    assert!((pu[0] - (1.0 + 0.1 * z)).abs() < 1e-6);
    assert!((pu[1] + 0.1 * z).abs() < 1e-6);
    assert!((qi[0] - (0.5 + 0.1 * z)).abs() < 1e-6);
    assert!((qj[0] - (-0.5 - 0.1 * z)).abs() < 1e-6);
    assert!((qi[1] - 1.0).abs() < 1e-6 && (qj[1] - 2.0).abs() < 1e-6);
    assert!((bi - 0.1 * z).abs() < 1e-6 && (bj + 0.1 * z).abs() < 1e-6);
}

#[test]
fn bitset_and_binary_search_checks_agree() {
    let rows = [0u32, 0, 1, 2, 2, 2, 3];
    let cols = [1u32, 4, 0, 2, 3, 5, 1];
    let x = CsrMatrix::from_triplets(
        4,
        6,
        &rows,
        &cols,
        &[1.0; 7],
        recs_sparse::DuplicatePolicy::Error,
    )
    .unwrap();
    let p = BprParams {
        factors: 4,
        epochs: 5,
        learning_rate: 0.05,
        threads: 1,
        ..BprParams::default()
    };
    let tuning = |bitset_max_bytes| Tuning {
        bitset_max_bytes,
        always_shared: false,
    };
    let a = fit_with(&p, &x, &mut NoProgress, tuning(usize::MAX)).unwrap();
    let b = fit_with(&p, &x, &mut NoProgress, tuning(0)).unwrap();
    assert_eq!(a, b);
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The shared store (rows locked, then updated in place) computes exactly what the
/// exclusive store does when only one worker runs it.
#[test]
fn shared_store_on_one_worker_equals_exclusive_bit_for_bit() {
    let mut t = vec![];
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for u in 0..50u32 {
        for i in 0..40u32 {
            if rng.random::<f32>() < 0.2 {
                t.push((u, i));
            }
        }
    }
    let rows: Vec<u32> = t.iter().map(|p| p.0).collect();
    let cols: Vec<u32> = t.iter().map(|p| p.1).collect();
    let x = CsrMatrix::from_triplets(
        50,
        40,
        &rows,
        &cols,
        &vec![1.0; t.len()],
        recs_sparse::DuplicatePolicy::Error,
    )
    .unwrap();
    for factors in [1, 7, 16, 37] {
        let p = BprParams {
            factors,
            epochs: 4,
            learning_rate: 0.05,
            threads: 1,
            ..BprParams::default()
        };
        let run = |always_shared| {
            let tuning = Tuning {
                bitset_max_bytes: BITSET_MAX_BYTES,
                always_shared,
            };
            fit_with(&p, &x, &mut NoProgress, tuning).unwrap()
        };
        let (a, b) = (run(false), run(true));
        assert_eq!(
            bits(a.user_factors()),
            bits(b.user_factors()),
            "k {factors}"
        );
        assert_eq!(
            bits(a.item_factors()),
            bits(b.item_factors()),
            "k {factors}"
        );
        assert_eq!(bits(a.item_bias()), bits(b.item_bias()), "k {factors}");
    }
}

/// More workers than interactions: some workers draw nothing, the others one pair each.
#[test]
fn more_workers_than_interactions_still_train() {
    let rows = [0u32, 0, 1, 2, 2, 2, 3];
    let cols = [1u32, 4, 0, 2, 3, 5, 1];
    let x = CsrMatrix::from_triplets(
        4,
        6,
        &rows,
        &cols,
        &[1.0; 7],
        recs_sparse::DuplicatePolicy::Error,
    )
    .unwrap();
    let p = BprParams {
        factors: 3,
        epochs: 3,
        learning_rate: 0.05,
        threads: 9,
        ..BprParams::default()
    };
    let mut reports = 0;
    let mut cb = |e: &EpochReport| {
        assert!(e.validation.is_some());
        reports += 1;
        Control::Continue
    };
    let m = Bpr::fit(&p, &TrainData::new(&x), &mut cb).unwrap();
    assert_eq!(reports, 3);
    assert!(m.user_factors().iter().all(|v| v.is_finite()));
}

#[test]
fn params_deserialise_with_defaults_and_refuse_unknown_fields() {
    let p: BprParams = serde_json::from_str(r#"{"factors": 3, "threads": 1}"#).unwrap();
    assert_eq!(
        p,
        BprParams {
            factors: 3,
            threads: 1,
            ..BprParams::default()
        }
    );
    let e = serde_json::from_str::<BprParams>(r#"{"n_factors": 3}"#).unwrap_err();
    assert!(e.to_string().contains("n_factors"), "{e}");
    let back: BprParams = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
    assert_eq!(back, p);
}

#[test]
fn step_loss_and_gradient_are_stable_at_large_margins() {
    for (bi, want_loss, want_z) in [
        (0.0f32, 2f64.ln(), 0.5f64),
        (100.0, 0.0, 0.0),
        (-100.0, 100.0, 1.0),
    ] {
        let (mut pu, mut qi, mut qj) = ([0.0f32], [0.0f32], [0.0f32]);
        let (mut b_i, mut b_j) = (bi, 0.0f32);
        let (x, loss) = bpr_step(&mut pu, &mut qi, &mut qj, &mut b_i, &mut b_j, 1.0, 0.0);
        assert_eq!(x, bi);
        assert!(
            (f64::from(loss) - want_loss).abs() < 1e-5,
            "{bi}: loss {loss}"
        );
        // b_i moved by lr · z
        assert!(
            (f64::from(b_i - bi) - want_z).abs() < 1e-4,
            "{bi}: z {}",
            b_i - bi
        );
    }
}

#[test]
fn validate_names_the_parameter() {
    let p = BprParams {
        reg: -0.1,
        ..BprParams::default()
    };
    assert!(p.validate().unwrap_err().to_string().contains("`reg`"));
    for (p, name) in [
        (
            BprParams {
                factors: 0,
                ..BprParams::default()
            },
            "factors",
        ),
        (
            BprParams {
                epochs: 0,
                ..BprParams::default()
            },
            "epochs",
        ),
        (
            BprParams {
                learning_rate: 0.0,
                ..BprParams::default()
            },
            "learning_rate",
        ),
        (
            BprParams {
                threads: 5000,
                ..BprParams::default()
            },
            "threads",
        ),
    ] {
        assert_eq!(p.validate().unwrap_err().param, name);
    }
    assert!(BprParams::default().validate().is_ok());
    // fit checks first
    let x = CsrMatrix::from_triplets(
        2,
        2,
        &[0],
        &[0],
        &[1.0],
        recs_sparse::DuplicatePolicy::Error,
    )
    .unwrap();
    assert!(matches!(
        Bpr::fit(&p, &TrainData::new(&x), &mut NoProgress),
        Err(ModelError::Param(e)) if e.param == "reg"
    ));
}
