//! Unit tests: `B` against a dense reference inverse, determinism, scores and fold-in, the
//! memory check, the parameter checks.

use recs_core::{
    FoldIn as _, ModelError, ModelParams as _, NoProgress, Recommender as _, Scorer as _, TrainData,
};
use recs_sparse::CsrMatrix;

use super::model::Ease;
use super::params::{Dtype, EaseParams};

/// Fits through the trait, as the registry does.
fn fit(p: &EaseParams, x: &CsrMatrix) -> Result<Ease, ModelError> {
    Ease::fit(p, &TrainData::new(x), &mut NoProgress)
}

fn sample(n_users: usize, n_items: usize, seed: u64) -> CsrMatrix {
    crate::testing::sample(n_users, n_items, seed, 3, 5)
}

/// Gauss–Jordan inverse in f64 (the dense reference).
fn inverse(mut a: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    let n = a.len();
    let mut inv: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    for c in 0..n {
        let p = (c..n)
            .max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs()))
            .unwrap();
        a.swap(c, p);
        inv.swap(c, p);
        let d = a[c][c];
        for j in 0..n {
            a[c][j] /= d;
            inv[c][j] /= d;
        }
        for r in 0..n {
            if r != c {
                let f = a[r][c];
                for j in 0..n {
                    a[r][j] -= f * a[c][j];
                    inv[r][j] -= f * inv[c][j];
                }
            }
        }
    }
    inv
}

#[allow(clippy::needless_range_loop)] // a dense reference, written as the formula reads
fn reference_b(x: &CsrMatrix, reg: f64) -> Vec<Vec<f64>> {
    let (nu, ni) = x.shape();
    let mut g = vec![vec![0.0; ni]; ni];
    for i in 0..ni {
        for j in 0..ni {
            g[i][j] = (0..nu)
                .filter(|&u| x.contains(u, i) && x.contains(u, j))
                .count() as f64;
        }
        g[i][i] += reg;
    }
    let p = inverse(g);
    (0..ni)
        .map(|i| {
            (0..ni)
                .map(|j| if i == j { 0.0 } else { -p[i][j] / p[j][j] })
                .collect()
        })
        .collect()
}

fn params(reg: f64, dtype: Dtype, threads: usize) -> EaseParams {
    EaseParams {
        reg,
        dtype,
        threads,
        ..EaseParams::default()
    }
}

#[test]
fn b_matches_a_dense_reference_inverse_with_a_zero_diagonal() {
    // 70 items: more than one of faer's blocks, so the blocked paths run.
    let x = sample(120, 70, 9);
    for (reg, dtype, tol) in [
        (5.0, Dtype::F64, 1e-6),
        (5.0, Dtype::F32, 2e-4),
        (500.0, Dtype::F32, 1e-5),
    ] {
        for threads in [1, 2] {
            let m = fit(&params(reg, dtype, threads), &x).unwrap();
            let want = reference_b(&x, reg);
            let b = m.weights();
            for i in 0..70 {
                assert_eq!(b[i * 70 + i], 0.0, "diag");
                for j in 0..70 {
                    let r = want[i][j];
                    assert!(
                        (b[i * 70 + j] as f64 - r).abs() <= tol * (1.0 + r.abs()),
                        "{dtype:?} λ {reg} ({i}, {j}): {} vs {r}",
                        b[i * 70 + j]
                    );
                }
            }
            // Item 3 has no interaction: its row and column are 0.
            assert!((0..70).all(|j| b[3 * 70 + j] == 0.0 && b[j * 70 + 3] == 0.0));
        }
    }
}

#[test]
fn same_data_and_threads_give_the_same_b() {
    let x = sample(80, 150, 4);
    for t in [1, 2] {
        let a = fit(&params(50.0, Dtype::F32, t), &x).unwrap();
        let b = fit(&params(50.0, Dtype::F32, t), &x).unwrap();
        assert_eq!(a.weights(), b.weights());
    }
}

#[test]
fn scores_are_the_binary_row_times_b_and_fold_in_agrees() {
    let x = sample(30, 12, 2);
    let m = fit(&params(10.0, Dtype::F64, 1), &x).unwrap();
    let b = m.weights();
    for u in 0..30u32 {
        let mut out = vec![0.0; 12];
        m.score_user(u, &mut out).unwrap();
        let items = x.row(u as usize).indices;
        for j in 0..12 {
            let want: f32 = items.iter().map(|&i| b[i as usize * 12 + j]).sum();
            assert!((out[j] - want).abs() < 1e-6);
        }
        let mut fold = vec![0.0; 12];
        let mut shuffled = items.to_vec();
        shuffled.reverse();
        m.score_items(&shuffled, &mut fold).unwrap();
        assert_eq!(fold, out);
    }
    assert!(m.score_items(&[12], &mut [0.0; 12]).is_err());
    assert!(m.score_user(30, &mut [0.0; 12]).is_err());
}

#[test]
fn too_many_items_for_the_memory_limit_are_refused_before_allocating() {
    let p = EaseParams {
        max_memory_gb: 1.0,
        ..EaseParams::default()
    };
    // 20,000 items in f32: 2 × 20k² × 4 = 3.2 GB.
    let x = CsrMatrix::zeros(3, 20_000).unwrap();
    let e = fit(&p, &x).unwrap_err().to_string();
    assert!(
        e.contains("max_memory_gb") && e.contains("= 1") && e.contains(">= 3.20"),
        "{e}"
    );
    let f64p = EaseParams {
        dtype: Dtype::F64,
        max_memory_gb: 4.0,
        ..EaseParams::default()
    };
    assert!(f64p.check_memory(20_000).is_err());
    assert!(p.check_memory(10_000).is_ok());
}

#[test]
fn params_name_the_bad_value() {
    let bad = |p: EaseParams| p.validate().unwrap_err().param;
    assert_eq!(bad(params(0.0, Dtype::F32, 0)), "reg");
    assert_eq!(
        bad(EaseParams {
            max_memory_gb: -1.0,
            ..EaseParams::default()
        }),
        "max_memory_gb"
    );
    assert_eq!(bad(params(1.0, Dtype::F32, 2000)), "threads");
    let p: EaseParams = serde_json::from_str(r#"{"dtype": "float64"}"#).unwrap();
    assert_eq!(p.dtype, Dtype::F64);
    assert_eq!(serde_json::to_value(&p).unwrap()["dtype"], "f64");
    assert!(serde_json::from_str::<EaseParams>(r#"{"dtype": "f16"}"#).is_err());
    assert!(serde_json::from_str::<EaseParams>(r#"{"lambda": 3}"#).is_err());
}
