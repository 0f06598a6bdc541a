//! Unit tests: the similarity against a dense reference, implicit's weightings by hand,
//! scores and fold-in, refused values and parameters, the top-K invariants (proptest).

use proptest::prelude::*;
use recs_core::{
    FoldIn as _, ModelError, ModelParams as _, NoProgress, Recommender as _, Scorer as _, TrainData,
};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

use super::fit::weighted_items;
use super::model::ItemKnn;
use super::params::{ItemKnnParams, Weighting};

/// Fits through the trait, as the registry does.
fn fit(p: &ItemKnnParams, x: &CsrMatrix) -> Result<ItemKnn, ModelError> {
    ItemKnn::fit(p, &TrainData::new(x), &mut NoProgress)
}

fn matrix(n_users: usize, n_items: usize, cells: &[(u32, u32, f32)]) -> CsrMatrix {
    let u: Vec<u32> = cells.iter().map(|c| c.0).collect();
    let i: Vec<u32> = cells.iter().map(|c| c.1).collect();
    let v: Vec<f32> = cells.iter().map(|c| c.2).collect();
    CsrMatrix::from_triplets(n_users, n_items, &u, &i, &v, DuplicatePolicy::KeepLast).unwrap()
}

/// Seeded cells with counts 1–4 (about a third of the grid), item 5 empty.
fn sample(n_users: usize, n_items: usize, seed: u64) -> CsrMatrix {
    crate::testing::sample(n_users, n_items, seed, 5, 4)
}

/// implicit's weighting written out densely from the formulas (items × users, f64).
fn dense_weighted(x: &CsrMatrix, p: &ItemKnnParams) -> Vec<Vec<f64>> {
    let (nu, ni) = x.shape();
    let d = x.to_dense();
    let at = |u: usize, i: usize| d[u * ni + i] as f64;
    let stored = |u: usize, i: usize| x.contains(u, i);
    let nonempty = (0..ni).filter(|&i| (0..nu).any(|u| stored(u, i))).count() as f64;
    let idf: Vec<f64> = (0..nu)
        .map(|u| (nonempty / (1.0 + (0..ni).filter(|&i| stored(u, i)).count() as f64)).ln())
        .collect();
    let sums: Vec<f64> = (0..ni).map(|i| (0..nu).map(|u| at(u, i)).sum()).collect();
    let mean = sums.iter().sum::<f64>() / nonempty;
    let mut w = vec![vec![0.0; nu]; ni];
    for (i, wi) in w.iter_mut().enumerate() {
        for (u, wiu) in wi.iter_mut().enumerate() {
            let v = at(u, i);
            *wiu = match p.weighting {
                Weighting::None | Weighting::Cosine => v,
                Weighting::Tfidf => v.sqrt() * idf[u],
                Weighting::Bm25 => {
                    let len = (1.0 - p.b) + p.b * sums[i] / mean;
                    if v == 0.0 {
                        0.0
                    } else {
                        v * (p.k1 + 1.0) / (p.k1 * len + v) * idf[u]
                    }
                }
            };
        }
        if matches!(p.weighting, Weighting::Cosine | Weighting::Tfidf) {
            let norm = wi.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm > 0.0 {
                wi.iter_mut().for_each(|v| *v /= norm);
            }
        }
    }
    w
}

/// The full dense product and which pairs share a user (the sparse candidates).
#[allow(clippy::needless_range_loop)] // a dense reference, written as the formula reads
fn dense_similarity(x: &CsrMatrix, p: &ItemKnnParams) -> (Vec<Vec<f64>>, Vec<Vec<bool>>) {
    let (nu, ni) = x.shape();
    let w = dense_weighted(x, p);
    let mut s = vec![vec![0.0; ni]; ni];
    let mut share = vec![vec![false; ni]; ni];
    for i in 0..ni {
        for j in 0..ni {
            for u in 0..nu {
                s[i][j] += w[i][u] * w[j][u];
                share[i][j] |= x.contains(u, i) && x.contains(u, j);
            }
        }
    }
    (s, share)
}

fn params(weighting: Weighting, k: usize) -> ItemKnnParams {
    ItemKnnParams {
        weighting,
        neighbours: k,
        k1: 1.2,
        b: 0.75,
        threads: 1,
    }
}

const ALL: [Weighting; 4] = [
    Weighting::Cosine,
    Weighting::Bm25,
    Weighting::Tfidf,
    Weighting::None,
];

#[test]
fn similarity_matches_a_dense_reference_when_every_neighbour_is_kept() {
    let x = sample(13, 9, 3);
    for w in ALL {
        let p = params(w, 9);
        let m = fit(&p, &x).unwrap();
        let (s, share) = dense_similarity(&x, &p);
        for i in 0..9 {
            let row = m.similarity().row(i);
            let want: Vec<u32> = (0..9u32).filter(|&j| share[i][j as usize]).collect();
            assert_eq!(row.indices, want.as_slice(), "{w:?} row {i}");
            for (&j, &v) in row.indices.iter().zip(row.values) {
                let r = s[i][j as usize];
                assert!(
                    (v as f64 - r).abs() <= 1e-5 * (1.0 + r.abs()),
                    "{w:?} {i},{j}"
                );
            }
        }
        // Cosine and TF-IDF rows are unit vectors: an item's self-similarity is 1.
        if matches!(w, Weighting::Cosine | Weighting::Tfidf) {
            for i in (0..9).filter(|&i| i != 5) {
                assert!((m.similarity().get(i, i).unwrap() - 1.0).abs() < 1e-6);
            }
        }
        assert!(
            m.similarity().row(5).is_empty(),
            "the empty item has no neighbours"
        );
    }
}

#[test]
fn bm25_and_tfidf_follow_implicits_formulas_on_a_hand_computed_case() {
    // 3 users × 2 items: user 0 has both items (counts 2, 1), user 1 item 0 (count 1),
    // user 2 item 1 (count 3). N = 2 items; n_u = 2, 1, 1.
    let x = matrix(3, 2, &[(0, 0, 2.0), (0, 1, 1.0), (1, 0, 1.0), (2, 1, 3.0)]);
    let idf = [2f64.ln() - 3f64.ln(), 2f64.ln() - 2f64.ln(), 0.0];
    let p = params(Weighting::Bm25, 2);
    let wt = weighted_items(&x, &p).unwrap();
    // Item sums 3 and 4, mean 3.5.
    let len = |s: f64| 0.25 + 0.75 * s / 3.5;
    let bm = |v: f64, s: f64, u: usize| v * 2.2 / (1.2 * len(s) + v) * idf[u];
    let want = [
        bm(2.0, 3.0, 0),
        bm(1.0, 3.0, 1),
        bm(1.0, 4.0, 0),
        bm(3.0, 4.0, 2),
    ];
    for (g, w) in wt.values().iter().zip(want) {
        assert!((*g as f64 - w).abs() < 1e-6, "{g} vs {w}");
    }
    let t = weighted_items(&x, &params(Weighting::Tfidf, 2)).unwrap();
    let item0 = [2f64.sqrt() * idf[0], idf[1]];
    let norm = (item0[0] * item0[0] + item0[1] * item0[1]).sqrt();
    assert!((t.values()[0] as f64 - item0[0] / norm).abs() < 1e-6);
    // Item 1's weights are [idf 0, idf 2 = 0]: only user 0 counts.
    assert!(
        (t.values()[2] as f64 + 1.0).abs() < 1e-6,
        "{:?}",
        t.values()
    );
}

#[test]
fn scores_are_the_user_row_times_the_similarity_and_fold_in_agrees() {
    let x = sample(11, 8, 5);
    let m = fit(&params(Weighting::Bm25, 3), &x).unwrap();
    let s = m.similarity().to_dense();
    let d = x.to_dense();
    for u in 0..11u32 {
        let mut out = vec![0.0; 8];
        m.score_user(u, &mut out).unwrap();
        for j in 0..8 {
            let want: f32 = (0..8).map(|i| d[u as usize * 8 + i] * s[i * 8 + j]).sum();
            assert!((out[j] - want).abs() < 1e-5, "user {u} item {j}");
        }
    }
    // A binary matrix: a known user's scores are the fold-in of their items.
    let b = x.binarize();
    let m = fit(&params(Weighting::Cosine, 4), &b).unwrap();
    for u in 0..11u32 {
        let mut known = vec![0.0; 8];
        m.score_user(u, &mut known).unwrap();
        let mut items = b.row(u as usize).indices.to_vec();
        items.reverse();
        items.push(items.first().copied().unwrap_or(0));
        let mut fold = vec![0.0; 8];
        m.score_items(&items, &mut fold).unwrap();
        if b.row(u as usize).is_empty() {
            continue;
        }
        assert_eq!(known, fold, "user {u}");
    }
    let mut out = vec![0.0; 8];
    assert!(m.score_items(&[8], &mut out).is_err());
    assert!(m.score_items(&[0], &mut out[..7]).is_err());
}

#[test]
fn negative_values_are_refused_where_the_weighting_needs_them_positive() {
    let x = matrix(2, 2, &[(0, 0, 1.0), (1, 1, -2.0)]);
    for w in [Weighting::Bm25, Weighting::Tfidf] {
        match fit(&params(w, 2), &x).unwrap_err() {
            ModelError::Data(e) => {
                assert!(e.contains("values >= 0") && e.contains("user 1"), "{e}")
            }
            other => panic!("expected a data error, got {other:?}"),
        }
    }
    assert!(fit(&params(Weighting::Cosine, 2), &x).is_ok());
}

#[test]
fn params_name_the_bad_value() {
    for (p, name) in [
        (
            ItemKnnParams {
                neighbours: 0,
                ..ItemKnnParams::default()
            },
            "neighbours",
        ),
        (
            ItemKnnParams {
                b: 1.5,
                ..ItemKnnParams::default()
            },
            "b",
        ),
        (
            ItemKnnParams {
                k1: f64::NAN,
                ..ItemKnnParams::default()
            },
            "k1",
        ),
        (
            ItemKnnParams {
                threads: 5000,
                ..ItemKnnParams::default()
            },
            "threads",
        ),
    ] {
        let e = p.validate().unwrap_err();
        assert_eq!(e.param, name);
    }
    let p: ItemKnnParams = serde_json::from_str(r#"{"weighting": "bm25"}"#).unwrap();
    assert_eq!(p.weighting, Weighting::Bm25);
    assert_eq!(p.neighbours, 20);
    assert!(serde_json::from_str::<ItemKnnParams>(r#"{"K": 3}"#).is_err());
    assert!(serde_json::from_str::<ItemKnnParams>(r#"{"weighting": "bm26"}"#).is_err());
}

#[test]
fn a_zero_idf_gives_zero_weight_not_a_normalised_rounding_error() {
    // Items 1 and 2 are held only by user 8, who holds 2 of the 3 non-empty items:
    // idf = ln(3 / (1 + 2)) = 0, so both items have all-zero TF-IDF weights and zero
    // similarity (found by the top-K proptest: ln 3 − ln1p 2 ≈ 1e-16, normalised to 1).
    let x = matrix(9, 7, &[(8, 2, 1.0), (0, 0, 1.0), (8, 1, 1.0)]);
    let p = params(Weighting::Tfidf, 1);
    let m = fit(&p, &x).unwrap();
    let (s, _) = dense_similarity(&x, &p);
    for i in [1, 2] {
        assert_eq!(s[i], vec![0.0; 7]);
        assert!(m.similarity().row(i).values.iter().all(|&v| v == 0.0));
    }
    assert_eq!(m.similarity().row(0).values, &[1.0]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Top-K invariants: each row keeps min(K, candidates) entries in increasing index
    /// order, with the product's values, and none dropped is better than one kept; the
    /// result does not depend on the thread count.
    #[test]
    fn top_k_rows_keep_the_best_neighbours(
        cells in prop::collection::vec((0u32..9, 0u32..7, 1u32..5), 0..50),
        k in 1usize..8,
        w in prop::sample::select(ALL.to_vec()),
    ) {
        let cells: Vec<(u32, u32, f32)> =
            cells.into_iter().map(|(u, i, v)| (u, i, v as f32)).collect();
        let x = matrix(9, 7, &cells);
        let p = params(w, k);
        let m = fit(&p, &x).unwrap();
        let (s, share) = dense_similarity(&x, &p);
        for i in 0..7 {
            let row = m.similarity().row(i);
            let cand: Vec<usize> = (0..7).filter(|&j| share[i][j]).collect();
            prop_assert_eq!(row.len(), cand.len().min(k));
            prop_assert!(row.indices.windows(2).all(|p| p[0] < p[1]));
            for (&j, &v) in row.indices.iter().zip(row.values) {
                let r = s[i][j as usize];
                prop_assert!((v as f64 - r).abs() <= 1e-5 * (1.0 + r.abs()));
            }
            let worst = row.values.iter().fold(f64::INFINITY, |a, &v| a.min(v as f64));
            for &j in cand.iter().filter(|&&j| !row.indices.contains(&(j as u32))) {
                prop_assert!(s[i][j] <= worst + 1e-5, "dropped {} > kept {}", s[i][j], worst);
            }
        }
        let many = fit(&ItemKnnParams { threads: 3, ..p }, &x).unwrap();
        prop_assert_eq!(many.similarity(), m.similarity());
    }
}
