//! Unit tests: `W` against a dense reference written from the formula, the top-K and
//! diagonal invariants (proptest), scores and fold-in, normalisation, refused values.

use proptest::prelude::*;
use recs_core::{
    ModelError, NoProgress, Recommender as _, Scorer as _, SimilarItems as _, TrainData,
};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

use super::model::Rp3Beta;
use super::params::Rp3BetaParams;

fn fit(p: &Rp3BetaParams, x: &CsrMatrix) -> Result<Rp3Beta, ModelError> {
    Rp3Beta::fit(p, &TrainData::new(x), &mut NoProgress)
}

/// Seeded cells with values 1–4 (about a third of the grid), item 5 empty.
fn sample(n_users: usize, n_items: usize, seed: u64) -> CsrMatrix {
    crate::testing::sample(n_users, n_items, seed, 5, 4)
}

/// `W` before the top-K cut, dense, from the formula (f64).
fn dense_walk(x: &CsrMatrix, alpha: f64, beta: f64) -> Vec<Vec<f64>> {
    let (nu, ni) = x.shape();
    let d = x.to_dense();
    let at = |u: usize, i: usize| d[u * ni + i] as f64;
    let pop: Vec<f64> = (0..ni)
        .map(|i| (0..nu).filter(|&u| x.contains(u, i)).count() as f64)
        .collect();
    let row_sum: Vec<f64> = (0..nu).map(|u| (0..ni).map(|i| at(u, i)).sum()).collect();
    let mut w = vec![vec![0.0; ni]; ni];
    for (i, wi) in w.iter_mut().enumerate() {
        for (j, wij) in wi.iter_mut().enumerate() {
            if i == j {
                continue;
            }
            let s: f64 = (0..nu)
                .filter(|&u| x.contains(u, i) && x.contains(u, j))
                .map(|u| (1.0 / pop[i]).powf(alpha) * (at(u, j) / row_sum[u]).powf(alpha))
                .sum();
            *wij = if pop[j] > 0.0 {
                s / pop[j].powf(beta)
            } else {
                0.0
            };
        }
    }
    w
}

#[test]
fn walk_equals_the_dense_formula_when_every_entry_is_kept() {
    let x = sample(30, 12, 7);
    for (alpha, beta) in [(1.0, 0.6), (0.7, 0.0), (1.3, 1.0)] {
        let p = Rp3BetaParams {
            alpha,
            beta,
            neighbours: 100,
            ..Default::default()
        };
        let m = fit(&p, &x).unwrap();
        let want = dense_walk(&x, alpha, beta);
        let mut row = vec![0.0; 12];
        for (i, wi) in want.iter().enumerate() {
            m.similarity_row(i as u32, &mut row).unwrap();
            for (j, &v) in wi.iter().enumerate() {
                assert!(
                    (f64::from(row[j]) - v).abs() <= 1e-6 * v.abs().max(1e-3),
                    "alpha {alpha} beta {beta}: W[{i},{j}] = {} want {v}",
                    row[j]
                );
            }
        }
    }
}

#[test]
fn scores_are_the_users_row_times_w_and_fold_in_matches_on_binary_data() {
    let x = sample(25, 10, 3).binarize();
    let m = fit(&Rp3BetaParams::default(), &x).unwrap();
    let w = dense_walk(&x, 1.0, 0.6);
    let mut got = vec![0.0; 10];
    let mut folded = vec![0.0; 10];
    for u in 0..25u32 {
        m.score_user(u, &mut got).unwrap();
        let row = x.row(u as usize);
        m.fold_in()
            .unwrap()
            .score_items(row.indices, &mut folded)
            .unwrap();
        assert_eq!(got, folded, "user {u}: fold-in of the same items differs");
        for j in 0..10 {
            let want: f64 = row.indices.iter().map(|&i| w[i as usize][j]).sum();
            assert!((f64::from(got[j]) - want).abs() < 1e-5, "user {u} item {j}");
        }
    }
}

#[test]
fn normalized_rows_sum_to_one_and_keep_their_order() {
    let x = sample(30, 12, 11);
    let plain = fit(&Rp3BetaParams::default(), &x).unwrap();
    let p = Rp3BetaParams {
        normalize_similarity: true,
        ..Default::default()
    };
    let m = fit(&p, &x).unwrap();
    for i in 0..12 {
        let (a, b) = (m.similarity().row(i), plain.similarity().row(i));
        assert_eq!(a.indices, b.indices);
        if !a.values.is_empty() {
            let sum: f32 = a.values.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5, "row {i} sums to {sum}");
        }
    }
}

#[test]
fn negative_values_and_bad_params_are_refused() {
    let x = CsrMatrix::from_triplets(
        2,
        2,
        &[0, 1],
        &[0, 1],
        &[1.0, -2.0],
        DuplicatePolicy::KeepLast,
    )
    .unwrap();
    let e = fit(&Rp3BetaParams::default(), &x).unwrap_err().to_string();
    assert!(e.contains("user 1, item 1 has -2"), "{e}");
    for p in [
        Rp3BetaParams {
            neighbours: 0,
            ..Default::default()
        },
        Rp3BetaParams {
            alpha: -1.0,
            ..Default::default()
        },
        Rp3BetaParams {
            beta: f64::NAN,
            ..Default::default()
        },
    ] {
        assert!(matches!(
            fit(&p, &sample(5, 8, 1)),
            Err(ModelError::Param(_))
        ));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Every row keeps at most K entries, never its own item, all positive, and they are the
    /// K largest of the uncut row.
    #[test]
    fn rows_keep_the_k_largest_off_diagonal_entries(seed in 0u64..1000, k in 1usize..8) {
        let x = sample(20, 9, seed);
        let p = Rp3BetaParams { neighbours: k, ..Default::default() };
        let m = fit(&p, &x).unwrap();
        let full = dense_walk(&x, 1.0, 0.6);
        for (i, fi) in full.iter().enumerate() {
            let r = m.similarity().row(i);
            prop_assert!(r.indices.len() <= k);
            prop_assert!(!r.indices.contains(&(i as u32)));
            prop_assert!(r.values.iter().all(|&v| v > 0.0));
            let kept_min = r.values.iter().cloned().fold(f32::INFINITY, f32::min);
            for (j, &v) in fi.iter().enumerate() {
                if !r.indices.contains(&(j as u32)) && j != i {
                    if r.indices.len() < k {
                        prop_assert!(v == 0.0, "row {} dropped a nonzero entry {}", i, j);
                    } else {
                        prop_assert!(v <= f64::from(kept_min) * (1.0 + 1e-5));
                    }
                }
            }
        }
    }
}
