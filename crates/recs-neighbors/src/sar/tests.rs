//! Unit tests: each similarity against a dense co-occurrence written from the formulas, the
//! threshold, the time decay (and its refusal without times), the popularity fallback,
//! rated fold-in, the model file with a decay.

use recs_core::{
    ModelError, NoProgress, Recommender as _, Scorer as _, SimilarItems as _, TrainData, load_path,
    save_path,
};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

use super::model::Sar;
use super::params::{SarParams, Similarity};

fn fit(p: &SarParams, x: &CsrMatrix) -> Result<Sar, ModelError> {
    Sar::fit(p, &TrainData::new(x), &mut NoProgress)
}

/// Seeded cells with values 1–5 (about a third of the grid), item 5 empty.
fn sample(n_users: usize, n_items: usize, seed: u64) -> CsrMatrix {
    crate::testing::sample(n_users, n_items, seed, 5, 5)
}

const ALL: [Similarity; 7] = [
    Similarity::Jaccard,
    Similarity::Lift,
    Similarity::Counts,
    Similarity::Cosine,
    Similarity::InclusionIndex,
    Similarity::MutualInformation,
    Similarity::LexicographersMutualInformation,
];

/// The dense co-occurrence of the binarized `x`.
fn cooccurrence(x: &CsrMatrix) -> Vec<Vec<f64>> {
    let (nu, ni) = x.shape();
    let mut c = vec![vec![0.0; ni]; ni];
    for (i, ci) in c.iter_mut().enumerate() {
        for (j, cij) in ci.iter_mut().enumerate() {
            *cij = (0..nu)
                .filter(|&u| x.contains(u, i) && x.contains(u, j))
                .count() as f64;
        }
    }
    c
}

#[test]
fn every_similarity_equals_its_formula_on_the_pairs_that_co_occur() {
    let x = sample(40, 12, 5);
    let c = cooccurrence(&x);
    let n = (0..12).filter(|&i| c[i][i] > 0.0).count() as f64;
    let mut row = vec![0.0; 12];
    for kind in ALL {
        let p = SarParams {
            similarity: kind,
            ..Default::default()
        };
        let m = fit(&p, &x).unwrap();
        for i in 0..12 {
            m.similarity_row(i as u32, &mut row).unwrap();
            for j in 0..12 {
                let (cij, di, dj) = (c[i][j], c[i][i], c[j][j]);
                let want = match kind {
                    _ if cij == 0.0 => 0.0,
                    Similarity::Counts => cij,
                    Similarity::Jaccard => cij / (di + dj - cij),
                    Similarity::Lift => cij / (di * dj),
                    Similarity::Cosine => cij / (di * dj).sqrt(),
                    Similarity::InclusionIndex => cij / di.min(dj),
                    Similarity::MutualInformation => (n * cij / (di * dj)).log2(),
                    Similarity::LexicographersMutualInformation => {
                        cij * (n * cij / (di * dj)).log2()
                    }
                };
                assert!(
                    (f64::from(row[j]) - want).abs() < 1e-5 * want.abs().max(1.0),
                    "{kind:?} S[{i},{j}] = {} want {want}",
                    row[j]
                );
            }
        }
    }
}

#[test]
fn scores_are_affinities_times_similarity_and_fold_in_counts_one_per_item() {
    let x = sample(30, 10, 9);
    let m = fit(&SarParams::default(), &x).unwrap();
    let mut got = vec![0.0; 10];
    let mut rated = vec![0.0; 10];
    let mut col = vec![0.0; 10];
    for u in 0..30u32 {
        m.score_user(u, &mut got).unwrap();
        let r = x.row(u as usize);
        if r.indices.is_empty() {
            continue;
        }
        let fold = m.fold_in().unwrap();
        fold.score_rated(r.indices, r.values, None, &mut rated)
            .unwrap();
        assert_eq!(
            got, rated,
            "user {u}: rated fold-in differs from the known user"
        );
        for j in 0..10 {
            let mut want = 0.0f64;
            for (&i, &a) in r.indices.iter().zip(r.values) {
                m.similarity_row(i, &mut col).unwrap();
                want += f64::from(a) * f64::from(col[j]);
            }
            assert!((f64::from(got[j]) - want).abs() < 1e-4, "user {u} item {j}");
        }
    }
    // Items given twice sum their affinities; with value 1 each, rated = items.
    let f = m.fold_in().unwrap();
    f.score_rated(&[1, 3, 1], &[2.0, 1.0, 1.0], None, &mut got)
        .unwrap();
    f.score_rated(&[3, 1], &[1.0, 3.0], None, &mut rated)
        .unwrap();
    assert_eq!(got, rated);
    f.score_items(&[4, 2, 4], &mut got).unwrap();
    f.score_rated(&[2, 4], &[1.0, 1.0], None, &mut rated)
        .unwrap();
    assert_eq!(got, rated);
}

#[test]
fn users_without_history_get_the_popularity() {
    // User 2 has no training interaction.
    let x = CsrMatrix::from_triplets(
        3,
        4,
        &[0, 0, 1, 1, 1],
        &[0, 1, 1, 2, 3],
        &[1.0; 5],
        DuplicatePolicy::KeepLast,
    )
    .unwrap();
    let m = fit(&SarParams::default(), &x).unwrap();
    assert_eq!(m.popularity(), &[1.0, 2.0, 1.0, 1.0]);
    let mut out = vec![0.0; 4];
    m.score_user(2, &mut out).unwrap();
    assert_eq!(out, m.popularity());
    out.fill(0.0);
    m.fold_in().unwrap().score_items(&[], &mut out).unwrap();
    assert_eq!(out, m.popularity());
}

#[test]
fn the_threshold_drops_rare_pairs_and_rare_items() {
    let x = sample(40, 12, 21);
    let c = cooccurrence(&x);
    let p = SarParams {
        similarity: Similarity::Counts,
        threshold: 5,
        ..Default::default()
    };
    let m = fit(&p, &x).unwrap();
    let mut row = vec![0.0; 12];
    for (i, ci) in c.iter().enumerate() {
        m.similarity_row(i as u32, &mut row).unwrap();
        for (j, &cij) in ci.iter().enumerate() {
            let want = if cij >= 5.0 { cij } else { 0.0 };
            assert_eq!(f64::from(row[j]), want, "C[{i},{j}]");
        }
        let pop = if ci[i] >= 5.0 { ci[i] } else { 0.0 };
        assert_eq!(f64::from(m.popularity()[i]), pop);
    }
}

#[test]
fn time_decay_halves_an_affinity_per_half_life_and_needs_times() {
    let day = 86_400i64;
    // User 0: item 0 now, item 1 30 days ago, item 2 60 days ago; user 1: items 0, 2.
    let x = CsrMatrix::from_triplets(
        2,
        3,
        &[0, 0, 0, 1, 1],
        &[0, 1, 2, 0, 2],
        &[4.0, 4.0, 4.0, 2.0, 2.0],
        DuplicatePolicy::KeepLast,
    )
    .unwrap();
    let now = 1_000 * day;
    let times = [
        now,
        now - 30 * day,
        now - 60 * day,
        now - 90 * day,
        now + day,
    ];
    let p = SarParams {
        time_decay: true,
        ..Default::default()
    };
    let e = fit(&p, &x).unwrap_err().to_string();
    assert!(e.contains("time_decay needs a time"), "{e}");
    let data = TrainData::new(&x).with_timestamps(&times).unwrap();
    // The latest time (now + 1 day) is the reference unless time_now is given.
    let p = SarParams {
        time_now: Some(now),
        ..p
    };
    let m = Sar::fit(&p, &data, &mut NoProgress).unwrap();
    assert_eq!(m.time_now(), Some(now));
    assert_eq!(m.affinity().values(), &[4.0, 2.0, 1.0, 0.25, 2.0]);
    // A new user's timed values decay the same way; untimed values are taken as given.
    let f = m.fold_in().unwrap();
    let (mut a, mut b) = (vec![0.0; 3], vec![0.0; 3]);
    f.score_rated(
        &[1, 2],
        &[4.0, 4.0],
        Some(&[now - 30 * day, now - 60 * day]),
        &mut a,
    )
    .unwrap();
    f.score_rated(&[1, 2], &[2.0, 1.0], None, &mut b).unwrap();
    assert_eq!(a, b);
    // The file keeps the reference time; a model without decay ignores times.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sar.recs");
    save_path(&m, &path).unwrap();
    let back: Sar = load_path(&path).unwrap();
    assert_eq!(back.time_now(), Some(now));
    assert_eq!(back.affinity().values(), m.affinity().values());
    let plain = Sar::fit(&SarParams::default(), &data, &mut NoProgress).unwrap();
    assert_eq!(plain.affinity().values(), x.values());
    assert_eq!(plain.time_now(), None);
}

#[test]
fn bad_params_are_refused() {
    let x = sample(5, 8, 1);
    for p in [
        SarParams {
            threshold: 0,
            ..Default::default()
        },
        SarParams {
            half_life_days: 0.0,
            ..Default::default()
        },
        SarParams {
            time_now: Some(-1),
            ..Default::default()
        },
    ] {
        assert!(matches!(fit(&p, &x), Err(ModelError::Param(_))), "{p:?}");
    }
}

/// The similarity is held dense when most pairs co-occur and sparse otherwise; both hold
/// the same values, score the same bytes (known users, fold-in, similar items) and keep
/// their form through the model file.
#[test]
fn dense_and_sparse_similarities_are_the_same_model() {
    use crate::common::ItemMatrix;
    use recs_core::FoldIn as _;
    // A third of the grid is filled: most pairs co-occur, so the fit goes dense.
    let x = sample(60, 30, 8);
    for kind in ALL {
        let p = SarParams {
            similarity: kind,
            ..Default::default()
        };
        let dense = fit(&p, &x).unwrap();
        assert!(dense.similarity().is_dense(), "{kind:?}");
        let n = dense.popularity().iter().filter(|&&d| d > 0.0).count() as f64;
        let sparse_s = super::fit::similarity(&x, &p, dense.popularity(), n, Some(false)).unwrap();
        assert!(!sparse_s.is_dense());
        for i in 0..30 {
            for j in 0..30 {
                assert_eq!(
                    dense.similarity().get(i, j).to_bits(),
                    sparse_s.get(i, j).to_bits(),
                    "{kind:?} S[{i},{j}]"
                );
            }
        }
        let sparse = Sar {
            similarity: sparse_s,
            ..dense.clone()
        };
        let users: Vec<u32> = (0..60).collect();
        let (mut a, mut b) = (vec![0.0f32; 60 * 30], vec![0.0f32; 60 * 30]);
        dense.score_users(&users, &mut a).unwrap();
        sparse.score_users(&users, &mut b).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b), "{kind:?}");
        let (mut a, mut b) = (vec![0.0f32; 30], vec![0.0f32; 30]);
        dense.score_items(&[3, 1, 17], &mut a).unwrap();
        sparse.score_items(&[3, 1, 17], &mut b).unwrap();
        assert_eq!(bits(&a), bits(&b), "{kind:?}");
        dense.similarity_row(7, &mut a).unwrap();
        sparse.similarity_row(7, &mut b).unwrap();
        assert_eq!(bits(&a), bits(&b), "{kind:?}");
        let dir = tempfile::tempdir().unwrap();
        for m in [&dense, &sparse] {
            let path = dir.path().join("sar.recs");
            save_path(m, &path).unwrap();
            let back: Sar = load_path(&path).unwrap();
            assert_eq!(back.similarity(), m.similarity());
            assert_eq!(back.affinity(), m.affinity());
        }
    }
    // Few co-occurring pairs: sparse.
    let thin = CsrMatrix::from_triplets(
        4,
        40,
        &[0, 0, 1, 2, 3],
        &[0, 1, 2, 3, 4],
        &[1.0; 5],
        DuplicatePolicy::Error,
    )
    .unwrap();
    let m = fit(&SarParams::default(), &thin).unwrap();
    assert!(matches!(m.similarity(), ItemMatrix::Sparse(_)));
    // Pairs that co-occur but fall below the threshold are not stored: they do not count.
    let high = SarParams {
        threshold: 1000,
        ..Default::default()
    };
    assert!(!fit(&high, &x).unwrap().similarity().is_dense());
}
