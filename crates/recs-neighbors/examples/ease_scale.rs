//! EASE's fit at scale, for `benchmarks/neighbors-scale.sh`: draws a seeded power-law
//! interaction matrix with recs-data's generator (default: ml-20m's shape after Steck's
//! filtering, 138,493 users × 20,000 items, 10M draws), binarizes it, fits EASE and prints
//! the fit's seconds and the process's peak resident memory.
//!
//! `cargo run --release -p recs-neighbors --example ease_scale -- [ITEMS] [DTYPE] [THREADS] [DRAWS]`
//! (defaults: 20000, f32, 2, 10000000).

use std::time::Instant;

use recs_core::{NoProgress, Recommender as _, TrainData};
use recs_data::synthetic::{SyntheticParams, generate};
use recs_neighbors::{Dtype, Ease, EaseParams};
use recs_sparse::DuplicatePolicy;

fn vm_hwm_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n_items: usize = args.next().map_or(Ok(20_000), |s| s.parse())?;
    let dtype: Dtype = serde_json::from_value(serde_json::Value::String(
        args.next().unwrap_or_else(|| "f32".into()),
    ))?;
    let threads: usize = args.next().map_or(Ok(2), |s| s.parse())?;
    let draws: usize = args.next().map_or(Ok(10_000_000), |s| s.parse())?;
    let t = Instant::now();
    let data = generate(&SyntheticParams {
        n_users: 138_493,
        n_items,
        n_interactions: draws,
        seed: 1,
        ..SyntheticParams::default()
    })?;
    let x = data.to_csr(DuplicatePolicy::KeepLast)?.binarize();
    drop(data);
    eprintln!(
        "generated {} users × {} items, {} distinct pairs in {:.1} s",
        x.n_rows(),
        x.n_cols(),
        x.nnz(),
        t.elapsed().as_secs_f64()
    );
    let params = EaseParams {
        dtype,
        threads,
        max_memory_gb: 64.0,
        ..EaseParams::default()
    };
    let before = vm_hwm_mib().unwrap_or(0.0);
    let t = Instant::now();
    let m = Ease::fit(&params, &TrainData::new(&x), &mut NoProgress)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "recs EASE {n_items} items {}: fit {secs:.1} s ({threads} threads), peak RSS {:.0} MiB (before the fit {:.0} MiB; two dense matrices are {:.0} MiB)",
        dtype.name(),
        vm_hwm_mib().unwrap_or(0.0),
        before,
        params.dense_bytes(n_items) as f64 / (1024.0 * 1024.0),
    );
    assert_eq!(m.weights().len(), n_items * n_items);
    Ok(())
}
