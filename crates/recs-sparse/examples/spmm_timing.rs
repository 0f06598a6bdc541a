//! Times `spmm` and `spmm_t` on random matrices of Mult-VAE-like shapes (a batch of users ×
//! the items, k hidden units) on rayon's pool.
//!
//! `cargo run --release -p recs-sparse --example spmm_timing -- [ROWS] [COLS] [NNZ] [K] [REPS]`
//! (defaults 6040 × 3706, 1,000,000 stored entries, k 600, 5 repetitions: ml-1m's shape).

use std::time::Instant;

use recs_sparse::{CsrMatrix, DuplicatePolicy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.replace('_', "").parse())
        .collect::<Result<_, _>>()?;
    let get = |i: usize, d: usize| a.get(i).copied().unwrap_or(d);
    let (n_rows, n_cols, nnz, k, reps) = (
        get(0, 6040),
        get(1, 3706),
        get(2, 1_000_000),
        get(3, 600),
        get(4, 5),
    );
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s >> 17
    };
    let rows: Vec<u32> = (0..nnz).map(|_| (next() % n_rows as u64) as u32).collect();
    let cols: Vec<u32> = (0..nnz).map(|_| (next() % n_cols as u64) as u32).collect();
    let x = CsrMatrix::from_triplets(
        n_rows,
        n_cols,
        &rows,
        &cols,
        &vec![1.0; nnz],
        DuplicatePolicy::KeepLast,
    )?;
    let dense: Vec<f32> = (0..n_cols.max(n_rows) * k)
        .map(|i| (i % 13) as f32 * 0.25 - 1.5)
        .collect();
    let mut out = vec![0f32; n_rows * k];
    let mut out_t = vec![0f32; n_cols * k];
    let (mut best, mut best_t) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..reps {
        let t0 = Instant::now();
        x.spmm(&dense[..n_cols * k], k, &mut out)?;
        best = best.min(t0.elapsed().as_secs_f64());
        let t0 = Instant::now();
        x.spmm_t(&dense[..n_rows * k], k, &mut out_t)?;
        best_t = best_t.min(t0.elapsed().as_secs_f64());
    }
    let check: f64 = out_t.iter().map(|&v| f64::from(v)).sum();
    println!(
        "{n_rows} x {n_cols}, {} stored, k {k}, {} threads: spmm {:.2} ms, spmm_t {:.2} ms (best of {reps}; checksum {check})",
        x.nnz(),
        rayon::current_num_threads(),
        best * 1e3,
        best_t * 1e3
    );
    Ok(())
}
