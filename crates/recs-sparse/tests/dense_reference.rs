//! Every operation of `CsrMatrix` against a plain dense reference on random small matrices.

use proptest::prelude::*;
use recs_sparse::{CsrMatrix, DuplicatePolicy};

#[derive(Debug, Clone)]
struct Triplets {
    n_rows: usize,
    n_cols: usize,
    rows: Vec<u32>,
    cols: Vec<u32>,
    vals: Vec<f32>,
}

fn triplets() -> impl Strategy<Value = Triplets> {
    (1usize..12, 1usize..12).prop_flat_map(|(n_rows, n_cols)| {
        proptest::collection::vec((0..n_rows as u32, 0..n_cols as u32, -4i8..=4), 0..40).prop_map(
            move |t| Triplets {
                n_rows,
                n_cols,
                rows: t.iter().map(|x| x.0).collect(),
                cols: t.iter().map(|x| x.1).collect(),
                vals: t.iter().map(|x| x.2 as f32 * 0.5).collect(),
            },
        )
    })
}

fn dense_of(t: &Triplets, policy: DuplicatePolicy) -> Vec<f32> {
    let mut d = vec![0.0; t.n_rows * t.n_cols];
    for ((&r, &c), &v) in t.rows.iter().zip(&t.cols).zip(&t.vals) {
        let at = r as usize * t.n_cols + c as usize;
        match policy {
            DuplicatePolicy::Sum => d[at] += v,
            _ => d[at] = v,
        }
    }
    d
}

fn build(t: &Triplets, policy: DuplicatePolicy) -> CsrMatrix {
    CsrMatrix::from_triplets(t.n_rows, t.n_cols, &t.rows, &t.cols, &t.vals, policy).unwrap()
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + y.abs()))
}

proptest! {
    #[test]
    fn build_matches_dense(t in triplets()) {
        for policy in [DuplicatePolicy::Sum, DuplicatePolicy::KeepLast] {
            let m = build(&t, policy);
            prop_assert_eq!(m.to_dense(), dense_of(&t, policy));
            // Indices strictly increase within each row.
            for r in 0..m.n_rows() {
                prop_assert!(m.row(r).indices.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }

    #[test]
    fn error_policy_refuses_exactly_duplicates(t in triplets()) {
        let mut pairs: Vec<_> = t.rows.iter().zip(&t.cols).collect();
        pairs.sort();
        let has_dup = pairs.windows(2).any(|w| w[0] == w[1]);
        let r = CsrMatrix::from_triplets(t.n_rows, t.n_cols, &t.rows, &t.cols, &t.vals, DuplicatePolicy::Error);
        prop_assert_eq!(r.is_err(), has_dup);
    }

    #[test]
    fn transpose_and_counts(t in triplets()) {
        let m = build(&t, DuplicatePolicy::Sum);
        let d = m.to_dense();
        let tr = m.transpose();
        let dt = tr.to_dense();
        for r in 0..t.n_rows {
            for c in 0..t.n_cols {
                prop_assert_eq!(d[r * t.n_cols + c], dt[c * t.n_rows + r]);
            }
        }
        prop_assert_eq!(m.row_counts(), tr.col_counts());
        prop_assert_eq!(m.col_counts(), tr.row_counts());
        prop_assert_eq!(m.row_counts().iter().map(|&x| x as usize).sum::<usize>(), m.nnz());
    }

    #[test]
    fn row_batches(t in triplets(), pick in proptest::collection::vec(0usize..100, 0..8)) {
        let m = build(&t, DuplicatePolicy::Sum);
        let rows: Vec<u32> = pick.iter().map(|&p| (p % t.n_rows) as u32).collect();
        let d = m.to_dense();
        let mut out = vec![7.0; rows.len() * t.n_cols];
        m.dense_rows(&rows, &mut out).unwrap();
        let sel = m.select_rows(&rows).unwrap();
        prop_assert_eq!(&sel.to_dense(), &out);
        for (b, &r) in rows.iter().enumerate() {
            prop_assert_eq!(&out[b * t.n_cols..(b + 1) * t.n_cols], &d[r as usize * t.n_cols..(r as usize + 1) * t.n_cols]);
        }
    }

    #[test]
    fn binarize_and_normalize(t in triplets()) {
        let m = build(&t, DuplicatePolicy::Sum);
        let b = m.binarize();
        prop_assert!(b.values().iter().all(|&v| v == 1.0));
        prop_assert_eq!(b.indices(), m.indices());
        let n = m.l2_normalize_rows();
        let d = m.to_dense();
        let dn = n.to_dense();
        for r in 0..t.n_rows {
            let row = &d[r * t.n_cols..(r + 1) * t.n_cols];
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            let expect: Vec<f32> = row.iter().map(|v| if norm > 0.0 { v / norm } else { *v }).collect();
            prop_assert!(close(&dn[r * t.n_cols..(r + 1) * t.n_cols], &expect));
        }
    }

    #[test]
    fn products_match_dense(t in triplets(), k in 1usize..40, seed in 0u32..1000) {
        let m = build(&t, DuplicatePolicy::Sum);
        let d = m.to_dense();
        let dense: Vec<f32> = (0..t.n_cols * k).map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(seed)) % 17) as f32 - 8.0).collect();
        let mut out = vec![0.0; t.n_rows * k];
        m.spmm(&dense, k, &mut out).unwrap();
        let mut expect = vec![0.0; t.n_rows * k];
        for r in 0..t.n_rows { for c in 0..t.n_cols { for j in 0..k {
            expect[r * k + j] += d[r * t.n_cols + c] * dense[c * k + j];
        }}}
        prop_assert!(close(&out, &expect));

        let g: Vec<f32> = (0..t.n_rows * k).map(|i| ((i * 7 + seed as usize) % 11) as f32 - 5.0).collect();
        let mut out_t = vec![1.0; t.n_cols * k];
        m.spmm_t(&g, k, &mut out_t).unwrap();
        let mut expect_t = vec![0.0; t.n_cols * k];
        for r in 0..t.n_rows { for c in 0..t.n_cols { for j in 0..k {
            expect_t[c * k + j] += d[r * t.n_cols + c] * g[r * k + j];
        }}}
        prop_assert!(close(&out_t, &expect_t));
    }
}

/// The parallel paths only start above a work threshold: check them on a larger matrix.
#[test]
fn parallel_products_match_serial_reference() {
    let (n_rows, n_cols, k) = (300usize, 200usize, 64usize);
    let mut rows = vec![];
    let mut cols = vec![];
    let mut vals = vec![];
    let mut s = 12345u64;
    for _ in 0..6000 {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        rows.push(((s >> 33) % n_rows as u64) as u32);
        cols.push(((s >> 13) % n_cols as u64) as u32);
        vals.push(((s >> 50) % 5) as f32 + 1.0);
    }
    let m = CsrMatrix::from_triplets(n_rows, n_cols, &rows, &cols, &vals, DuplicatePolicy::Sum)
        .unwrap();
    let dense: Vec<f32> = (0..n_cols * k)
        .map(|i| (i % 13) as f32 * 0.25 - 1.5)
        .collect();
    let mut out = vec![0.0; n_rows * k];
    m.spmm(&dense, k, &mut out).unwrap();
    let mut via_t = vec![0.0; n_rows * k];
    m.transpose()
        .transpose()
        .spmm(&dense, k, &mut via_t)
        .unwrap();
    assert_eq!(out, via_t);
    let d = m.to_dense();
    for r in [0, 17, 299] {
        for j in [0, 31, 63] {
            let e: f32 = (0..n_cols)
                .map(|c| d[r * n_cols + c] * dense[c * k + j])
                .sum();
            assert!((out[r * k + j] - e).abs() < 1e-3 * (1.0 + e.abs()));
        }
    }
    let g: Vec<f32> = (0..n_rows * k).map(|i| (i % 7) as f32 - 3.0).collect();
    let mut out_t = vec![0.0; n_cols * k];
    m.spmm_t(&g, k, &mut out_t).unwrap();
    let mut via = vec![0.0; n_cols * k];
    m.transpose().spmm(&g, k, &mut via).unwrap();
    assert!(
        out_t
            .iter()
            .zip(&via)
            .all(|(a, b)| (a - b).abs() < 1e-3 * (1.0 + b.abs()))
    );
}

/// Every output element sums its terms in the same order on any number of threads, so the
/// parallel products equal the single-threaded ones exactly (uneven blocks included).
#[test]
fn parallel_products_equal_single_threaded_ones_exactly() {
    let (n_rows, n_cols, k) = (257usize, 203usize, 48usize);
    let mut rows = vec![];
    let mut cols = vec![];
    let mut vals = vec![];
    let mut s = 987654321u64;
    for _ in 0..9000 {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        rows.push(((s >> 33) % n_rows as u64) as u32);
        // skewed columns: a few popular ones
        let c = ((s >> 13) % n_cols as u64) as u32;
        cols.push(if s >> 60 < 4 { c % 7 } else { c });
        vals.push(((s >> 45) % 1000) as f32 * 0.0137 - 6.0);
    }
    let m = CsrMatrix::from_triplets(n_rows, n_cols, &rows, &cols, &vals, DuplicatePolicy::Sum)
        .unwrap();
    let dense: Vec<f32> = (0..n_cols * k)
        .map(|i| ((i * 31 % 101) as f32).sin())
        .collect();
    let g: Vec<f32> = (0..n_rows * k)
        .map(|i| ((i * 17 % 89) as f32).cos())
        .collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut out = vec![0.0; n_rows * k];
            m.spmm(&dense, k, &mut out).unwrap();
            let mut out_t = vec![f32::NAN; n_cols * k];
            m.spmm_t(&g, k, &mut out_t).unwrap();
            (out, out_t)
        })
    };
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let (one, one_t) = run(1);
    for threads in [2, 3, 8] {
        let (out, out_t) = run(threads);
        assert_eq!(bits(&out), bits(&one), "spmm, {threads} threads");
        assert_eq!(bits(&out_t), bits(&one_t), "spmm_t, {threads} threads");
    }
}
