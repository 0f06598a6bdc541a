//! Unit tests: the reported loss against implicit's, the exact solve's normal equations,
//! CG against Cholesky, thread counts and SIMD levels, fold-in, dislikes, stopping, the
//! parameter checks, the model file.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recs_core::{
    Control, EpochReport, ModelParams as _, NoProgress, Recommender as _, Scorer as _, TrainData,
};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

use super::fit::half_iteration;
use super::model::Als;
use super::params::{AlsInit, AlsParams, AlsSolver, RegScaling};

fn random_matrix(nu: u32, ni: u32, density: f32, seed: u64, values: bool) -> CsrMatrix {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut r, mut c, mut v) = (vec![], vec![], vec![]);
    for u in 0..nu {
        for i in 0..ni {
            if rng.random::<f32>() < density {
                r.push(u);
                c.push(i);
                v.push(if values {
                    rng.random_range(1..=5) as f32
                } else {
                    1.0
                });
            }
        }
    }
    CsrMatrix::from_triplets(nu as usize, ni as usize, &r, &c, &v, DuplicatePolicy::Error).unwrap()
}

/// implicit's loss (`_als.calculate_loss`) computed directly, in f64.
fn direct_loss(m: &Als, x: &CsrMatrix) -> f64 {
    let k = m.params.factors;
    let (alpha, reg) = (m.params.alpha, m.params.reg as f32 as f64);
    let (mut loss, mut total) = (0f64, 0f64);
    for u in 0..m.n_users {
        let xu = &m.user_factors[u * k..][..k];
        for i in 0..m.n_items {
            let yi = &m.item_factors[i * k..][..k];
            let pred: f64 = xu
                .iter()
                .zip(yi)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            match x.get(u, i) {
                Some(v) => {
                    let c = f64::from(alpha as f32 * v);
                    let (p, w) = if c > 0.0 { (1.0, c) } else { (0.0, -c) };
                    loss += w * (p - pred) * (p - pred);
                    total += w;
                }
                None => {
                    loss += pred * pred;
                    total += 1.0;
                }
            }
        }
    }
    // λ's weight per row: 1, or its positive entries (at least 1) under count scaling.
    let weight = |row: &[f32]| match m.params.reg_scaling {
        RegScaling::None => 1.0,
        RegScaling::Count => row
            .iter()
            .filter(|&&v| alpha as f32 * v > 0.0)
            .count()
            .max(1) as f64,
    };
    let sq = |v: &[f32]| v.iter().map(|&a| f64::from(a) * f64::from(a)).sum::<f64>();
    let xt = x.transpose();
    let norm: f64 = (0..m.n_users)
        .map(|u| weight(x.row(u).values) * sq(&m.user_factors[u * k..][..k]))
        .chain((0..m.n_items).map(|i| weight(xt.row(i).values) * sq(&m.item_factors[i * k..][..k])))
        .sum();
    (loss + reg * norm) / total
}

#[test]
fn reported_loss_is_implicits_loss() {
    let x = random_matrix(30, 20, 0.2, 1, true);
    for solver in [AlsSolver::Cholesky, AlsSolver::Cg] {
        let p = AlsParams {
            factors: 5,
            epochs: 4,
            alpha: 0.7,
            reg: 0.1,
            solver,
            ..AlsParams::default()
        };
        let mut last = 0.0;
        let m = Als::fit(&p, &TrainData::new(&x), &mut |e: &EpochReport| {
            last = e.total_loss();
            Control::Continue
        })
        .unwrap();
        let want = direct_loss(&m, &x);
        assert!(
            (last - want).abs() < 1e-4 * want.max(1.0),
            "{solver:?}: {last} vs {want}"
        );
    }
}

/// The Cholesky half-iteration gives each row the minimiser of its weighted
/// least-squares problem: the gradient vanishes.
#[test]
fn cholesky_rows_solve_their_normal_equations() {
    let x = random_matrix(25, 15, 0.3, 2, true);
    let p = AlsParams {
        factors: 4,
        epochs: 1,
        alpha: 2.0,
        reg: 0.5,
        solver: AlsSolver::Cholesky,
        ..AlsParams::default()
    };
    let m = Als::fit(&p, &TrainData::new(&x), &mut NoProgress).unwrap();
    // After the item half, every item row is optimal given the user factors.
    assert_items_optimal(&m, &x, |_| 1.0);
}

/// Asserts that every item row of `m` zeroes the gradient of its weighted least-squares
/// problem on `x` given the user factors (confidence α·v, p = 1 on stored entries; weight
/// 1, p = 0 elsewhere), λ weighing `lambda_weight(i)` times on item `i`.
fn assert_items_optimal(m: &Als, x: &CsrMatrix, lambda_weight: impl Fn(usize) -> f64) {
    let k = m.params.factors;
    let (alpha, reg) = (m.params.alpha as f32, f64::from(m.params.reg as f32));
    for i in 0..m.n_items {
        let yi = &m.item_factors[i * k..][..k];
        let mut grad = vec![0f64; k];
        for u in 0..m.n_users {
            let xu = &m.user_factors[u * k..][..k];
            let pred: f64 = xu
                .iter()
                .zip(yi)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            let (pv, w) = match x.get(u, i) {
                Some(v) => (1.0, f64::from(alpha * v)),
                None => (0.0, 1.0),
            };
            for j in 0..k {
                grad[j] += w * (pred - pv) * f64::from(xu[j]);
            }
        }
        for j in 0..k {
            grad[j] += reg * lambda_weight(i) * f64::from(yi[j]);
            assert!(grad[j].abs() < 1e-3, "item {i} grad {grad:?}");
        }
    }
}

/// More CG steps converge to the exact solve.
#[test]
fn cg_approaches_cholesky() {
    let x = random_matrix(40, 30, 0.2, 3, false);
    let base = AlsParams {
        factors: 6,
        epochs: 6,
        reg: 0.1,
        alpha: 3.0,
        ..AlsParams::default()
    };
    let exact = Als::fit(
        &AlsParams {
            solver: AlsSolver::Cholesky,
            ..base.clone()
        },
        &TrainData::new(&x),
        &mut NoProgress,
    )
    .unwrap();
    let scores = |m: &Als| {
        let mut out = vec![0f32; 40 * 30];
        for u in 0..40 {
            m.score_user(u, &mut out[u as usize * 30..][..30]).unwrap();
        }
        out
    };
    let want = scores(&exact);
    let err = |steps| {
        let m = Als::fit(
            &AlsParams {
                cg_steps: steps,
                ..base.clone()
            },
            &TrainData::new(&x),
            &mut NoProgress,
        )
        .unwrap();
        scores(&m)
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max)
    };
    let (e1, e20) = (err(1), err(20));
    assert!(e20 < 1e-3, "20 CG steps: max score difference {e20}");
    assert!(e20 < e1, "{e20} !< {e1}");
}

#[test]
fn same_numbers_on_any_thread_count() {
    // Bit for bit, so no other test may force a SIMD level meanwhile.
    let _level = recs_core::simd::same_level();
    let x = random_matrix(300, 80, 0.05, 4, true);
    let run = |threads| {
        let p = AlsParams {
            factors: 8,
            epochs: 3,
            threads,
            ..AlsParams::default()
        };
        Als::fit(&p, &TrainData::new(&x), &mut NoProgress).unwrap()
    };
    let (a, b) = (run(1), run(3));
    assert_eq!(a.user_factors, b.user_factors);
    assert_eq!(a.item_factors, b.item_factors);
}

#[test]
fn simd_levels_agree_to_rounding() {
    let x = random_matrix(60, 40, 0.1, 5, true);
    let p = AlsParams {
        factors: 37,
        epochs: 3,
        ..AlsParams::default()
    };
    let runs = recs_core::simd::at_each_level(|_| {
        Als::fit(&p, &TrainData::new(&x), &mut NoProgress).unwrap()
    });
    let (_, first) = &runs[0];
    for (level, m) in &runs[1..] {
        for (a, b) in first.item_factors.iter().zip(&m.item_factors) {
            assert!(
                (a - b).abs() <= 1e-3 * a.abs().max(1e-2),
                "{level:?}: {a} vs {b}"
            );
        }
    }
    // the two vector paths share lanes and sum order: bit for bit
    if runs.len() == 3 {
        assert_eq!(runs[1].1.item_factors, runs[2].1.item_factors);
    }
}

#[test]
fn recalculate_user_matches_the_trained_exact_solve() {
    let x = random_matrix(20, 12, 0.3, 6, true);
    let p = AlsParams {
        factors: 3,
        epochs: 2,
        solver: AlsSolver::Cholesky,
        ..AlsParams::default()
    };
    let m = Als::fit(&p, &TrainData::new(&x), &mut NoProgress).unwrap();
    // one more user half against the final item factors = recalculate_user per user
    let mut uf = m.user_factors.to_vec();
    half_iteration(&x, &mut uf, &m.item_factors, &p).unwrap();
    for u in 0..20 {
        let row = x.row(u);
        let got = m.recalculate_user(row.indices, row.values).unwrap();
        for (a, b) in got.iter().zip(&uf[u * 3..][..3]) {
            assert!((a - b).abs() < 1e-5, "user {u}: {a} vs {b}");
        }
    }
    // repeated items count once, order does not matter
    let a = m.recalculate_user(&[3, 1, 1], &[1.0, 5.0, 2.0]).unwrap();
    let b = m.recalculate_user(&[1, 3], &[2.0, 1.0]).unwrap();
    assert_eq!(a, b);
    assert!(m.recalculate_user(&[12], &[1.0]).is_err());
    assert!(m.recalculate_user(&[1], &[]).is_err());
    assert!(m.recalculate_user(&[1], &[f32::NAN]).is_err());
}

#[test]
fn negative_values_are_dislikes() {
    // a dislike pushes the score below what no interaction gives
    let x = CsrMatrix::from_triplets(
        3,
        3,
        &[0, 0, 1, 1, 2, 2],
        &[0, 1, 0, 1, 0, 1],
        &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        DuplicatePolicy::Error,
    )
    .unwrap();
    let p = AlsParams {
        factors: 2,
        epochs: 5,
        alpha: 10.0,
        reg: 0.1,
        solver: AlsSolver::Cholesky,
        ..AlsParams::default()
    };
    let m = Als::fit(&p, &TrainData::new(&x), &mut NoProgress).unwrap();
    let like = m.recalculate_user(&[0], &[1.0]).unwrap();
    let dislike = m.recalculate_user(&[0], &[-1.0]).unwrap();
    let mut s = [0f32; 3];
    m.scores_for(&like, &mut s);
    let liked = s[0];
    m.scores_for(&dislike, &mut s);
    assert!(s[0] < 0.05 && liked > 0.5, "{liked} {}", s[0]);
}

#[test]
fn stop_keeps_the_epochs_trained_and_reg_zero_refused_by_cholesky() {
    let x = random_matrix(10, 8, 0.3, 7, false);
    let mut n = 0;
    let m = Als::fit(
        &AlsParams {
            factors: 2,
            ..AlsParams::default()
        },
        &TrainData::new(&x),
        &mut |_: &EpochReport| {
            n += 1;
            if n == 2 {
                Control::Stop
            } else {
                Control::Continue
            }
        },
    )
    .unwrap();
    assert_eq!(m.params().epochs, 2);
    // more factors than items, no regularisation: singular systems
    let p = AlsParams {
        factors: 12,
        reg: 0.0,
        solver: AlsSolver::Cholesky,
        ..AlsParams::default()
    };
    let e = Als::fit(&p, &TrainData::new(&x), &mut NoProgress).unwrap_err();
    assert!(e.to_string().contains("reg"), "{e}");
}

#[test]
fn params_check_and_deserialise() {
    let p: AlsParams = serde_json::from_str(r#"{"factors": 3, "solver": "cholesky"}"#).unwrap();
    assert_eq!(p.solver, AlsSolver::Cholesky);
    assert!(serde_json::from_str::<AlsParams>(r#"{"iterations": 3}"#).is_err());
    for (p, name) in [
        (
            AlsParams {
                factors: 0,
                ..AlsParams::default()
            },
            "factors",
        ),
        (
            AlsParams {
                epochs: 0,
                ..AlsParams::default()
            },
            "epochs",
        ),
        (
            AlsParams {
                reg: -1.0,
                ..AlsParams::default()
            },
            "reg",
        ),
        (
            AlsParams {
                alpha: 0.0,
                ..AlsParams::default()
            },
            "alpha",
        ),
        (
            AlsParams {
                alpha: f64::NAN,
                ..AlsParams::default()
            },
            "alpha",
        ),
        (
            AlsParams {
                cg_steps: 0,
                ..AlsParams::default()
            },
            "cg_steps",
        ),
        (
            AlsParams {
                threads: 2000,
                ..AlsParams::default()
            },
            "threads",
        ),
    ] {
        assert_eq!(p.validate().unwrap_err().param, name);
    }
    assert!(AlsParams::default().validate().is_ok());
}

#[test]
fn save_and_load_round_trip() {
    let x = random_matrix(10, 8, 0.3, 8, false);
    let m = Als::fit(
        &AlsParams {
            factors: 3,
            epochs: 2,
            ..AlsParams::default()
        },
        &TrainData::new(&x),
        &mut NoProgress,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.recs");
    recs_core::save_path(&m, &path).unwrap();
    let back = recs_core::load_path::<Als>(&path).unwrap();
    assert_eq!(back.user_factors, m.user_factors);
    assert_eq!(back.item_factors, m.item_factors);
    assert_eq!(back.params, m.params);
}

/// Under count scaling (ALS-WR) λ weighs n times on a row of n positive entries: the
/// reported loss is that objective, the exact solve zeroes its gradient, and CG approaches
/// the exact solve.
#[test]
fn count_scaled_reg_is_als_wr() {
    let x = random_matrix(30, 20, 0.25, 5, true);
    let base = AlsParams {
        factors: 5,
        epochs: 4,
        alpha: 0.7,
        reg: 0.3,
        reg_scaling: RegScaling::Count,
        ..AlsParams::default()
    };
    let mut last = 0.0;
    let exact = Als::fit(
        &AlsParams {
            solver: AlsSolver::Cholesky,
            ..base.clone()
        },
        &TrainData::new(&x),
        &mut |e: &EpochReport| {
            last = e.total_loss();
            Control::Continue
        },
    )
    .unwrap();
    let want = direct_loss(&exact, &x);
    assert!(
        (last - want).abs() < 1e-4 * want.max(1.0),
        "{last} vs {want}"
    );
    let xt = x.transpose();
    assert_items_optimal(&exact, &x, |i| xt.row(i).len().max(1) as f64);
    let plain = Als::fit(
        &AlsParams {
            reg_scaling: RegScaling::None,
            solver: AlsSolver::Cholesky,
            ..base.clone()
        },
        &TrainData::new(&x),
        &mut NoProgress,
    )
    .unwrap();
    assert_ne!(plain.item_factors, exact.item_factors);
    let cg = Als::fit(
        &AlsParams {
            cg_steps: 20,
            ..base.clone()
        },
        &TrainData::new(&x),
        &mut NoProgress,
    )
    .unwrap();
    let diff = cg
        .item_factors
        .iter()
        .zip(&exact.item_factors)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-3, "CG vs Cholesky: {diff}");
}

/// Blocks of rows solved apart against one Gram matrix per half-iteration give the
/// one-process fit's factors bit for bit, for both solvers and both λ scalings; the model
/// assembled from them is that fit's.
#[test]
fn blocks_solved_apart_equal_the_fit() {
    // Bit for bit, so no other test may force a SIMD level meanwhile.
    let _level = recs_core::simd::same_level();
    use super::blocks::{
        gram, gram_from_parts, gram_parts, gram_rows, initial_factors, reg_norm, solve_block,
    };
    let (n_users, n_items) = (200usize, 90usize);
    let m = random_matrix(n_users as u32, n_items as u32, 0.1, 9, true);
    for (solver, scaling, init) in [
        (AlsSolver::Cg, RegScaling::None, AlsInit::Uniform),
        (AlsSolver::Cholesky, RegScaling::Count, AlsInit::Uniform),
        (AlsSolver::Cg, RegScaling::Count, AlsInit::Normal),
    ] {
        let p = AlsParams {
            factors: 8,
            epochs: 3,
            solver,
            init,
            reg_scaling: scaling,
            reg: 0.1,
            ..AlsParams::default()
        };
        let fitted = Als::fit(&p, &TrainData::new(&m), &mut NoProgress).unwrap();
        let (mut uf, mut itf) = initial_factors(&p, n_users, n_items);
        if init == AlsInit::Normal {
            // Spark's start: every row of unit length, not all of one sign.
            for row in uf.chunks_exact(8).chain(itf.chunks_exact(8)) {
                let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                assert!((norm - 1.0).abs() < 1e-5, "{norm}");
            }
            assert!(uf.iter().any(|&x| x < 0.0));
        }
        let by_item = m.transpose();
        let k = p.factors;
        // Blocks start on multiples of each side's Gram rows; the Gram matrix of the fixed
        // side is built from its blocks' parts, as the engine's workers build it.
        assert_eq!((gram_rows(n_users), gram_rows(n_items)), (16, 16));
        let (user_cuts, item_cuts) = ([0, 48, 64, n_users], [0, 32, n_items]);
        let half = |mat: &CsrMatrix,
                    x: &mut Vec<f32>,
                    fixed: &[f32],
                    cuts: &[usize],
                    fixed_cuts: &[usize]| {
            let parts: Vec<f32> = fixed_cuts
                .windows(2)
                .flat_map(|w| gram_parts(&fixed[w[0] * k..w[1] * k], 16, &p).unwrap())
                .collect();
            let (g, norm) = gram_from_parts(&parts, &p).unwrap();
            let whole = gram(fixed, &p).unwrap();
            assert_eq!(g, whole.0);
            assert_eq!(norm.to_bits(), whole.1.to_bits());
            for w in cuts.windows(2) {
                let rows: Vec<u32> = (w[0] as u32..w[1] as u32).collect();
                let block = mat.select_rows(&rows).unwrap();
                let mut xb = x[w[0] * k..w[1] * k].to_vec();
                // The fixed side as its blocks, where they lie.
                let fixed_blocks: Vec<&[f32]> = fixed_cuts
                    .windows(2)
                    .map(|w| &fixed[w[0] * k..w[1] * k])
                    .collect();
                solve_block(&block, &mut xb, &fixed_blocks, &g, &p).unwrap();
                x[w[0] * k..w[1] * k].copy_from_slice(&xb);
            }
        };
        for _ in 0..p.epochs {
            half(&m, &mut uf, &itf, &user_cuts, &item_cuts);
            half(&by_item, &mut itf, &uf, &item_cuts, &user_cuts);
        }
        assert_eq!(uf, *fitted.user_factors);
        assert_eq!(itf, *fitted.item_factors);
        // λ's weight on a block's rows: ‖x‖², or each row's squared norm times its
        // positive entries (at least 1) under count scaling.
        let want: f64 = uf
            .chunks_exact(k)
            .enumerate()
            .map(|(u, v)| {
                let n = m.row(u).values.iter().filter(|&&c| c > 0.0).count().max(1) as f64;
                let sq: f64 = v.iter().map(|&a| f64::from(a).powi(2)).sum();
                if scaling == RegScaling::Count {
                    n * sq
                } else {
                    sq
                }
            })
            .sum();
        assert_eq!(reg_norm(&m, &uf, &p).unwrap(), want);
        assert!(reg_norm(&m, &uf[k..], &p).is_err());
        let rebuilt = Als::from_factors(p.clone(), uf, itf).unwrap();
        assert_eq!(rebuilt.n_users, n_users);
        assert_eq!(rebuilt.n_items, n_items);
        // Wrong shapes are refused, naming what is wrong.
        let (g, _) = gram(&rebuilt.item_factors, &p).unwrap();
        let mut short = vec![0f32; 3];
        let e = solve_block(&m, &mut short, &[&rebuilt.item_factors], &g, &p).unwrap_err();
        assert!(
            e.to_string().contains("the block's factors hold 3 values"),
            "{e}"
        );
        // Fixed blocks that do not start on multiples of the Gram rows are refused.
        let mut xs = vec![0f32; n_users * k];
        let f = &rebuilt.item_factors;
        let e = solve_block(&m, &mut xs, &[&f[..8 * k], &f[8 * k..]], &g, &p).unwrap_err();
        assert!(e.to_string().contains("a multiple of 16 rows"), "{e}");
        assert!(Als::from_factors(p.clone(), vec![0.0; 7], vec![]).is_err());
        assert!(Als::from_factors(p.clone(), vec![f32::NAN; 8], vec![]).is_err());
        assert!(gram_parts(&[0.0; 7], 16, &p).is_err());
        assert!(gram_parts(&[0.0; 8], 0, &p).is_err());
        assert!(gram_from_parts(&[0.0; 65], &p).is_err());
    }
}

/// A model loaded from a file reads its factors in place from the file's mapping (every
/// process that opens the file shares those pages); it scores as the model it was saved
/// from.
#[test]
fn loaded_factors_point_into_the_mapped_file() {
    use recs_core::modelfile::ModelReader;
    let m = random_matrix(40, 30, 0.2, 4, false);
    let p = AlsParams {
        factors: 8,
        epochs: 2,
        ..AlsParams::default()
    };
    let fitted = Als::fit(&p, &TrainData::new(&m), &mut NoProgress).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("als.recs");
    recs_core::save_path(&fitted, &path).unwrap();
    let file = ModelReader::open(&path).unwrap();
    let loaded = Als::load(&file).unwrap();
    assert_eq!(loaded.user_factors(), fitted.user_factors());
    assert_eq!(loaded.item_factors(), fitted.item_factors());
    if file.is_mapped() {
        assert!(loaded.user_factors.is_mapped() && loaded.item_factors.is_mapped());
    }
    drop(file);
    let (mut a, mut b) = (vec![0f32; 30], vec![0f32; 30]);
    loaded.score_user(3, &mut a).unwrap();
    fitted.score_user(3, &mut b).unwrap();
    assert_eq!(a, b);
}
