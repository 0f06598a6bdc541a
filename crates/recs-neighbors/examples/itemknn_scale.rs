//! ItemKNN's fit at scale, for `benchmarks/neighbors-scale.sh`: loads a `user,item,...` CSV
//! (the 20M-row synthetic file `load_bench` generates), binarizes it as implicit's peer
//! script does (repeated pairs are one interaction), fits and prints the fit's seconds and
//! the process's peak resident memory.
//!
//! `cargo run --release -p recs-neighbors --example itemknn_scale -- FILE [WEIGHTING] [K] [THREADS]`
//! (defaults: bm25, 100, 2).

use std::time::Instant;

use recs_core::{NoProgress, Recommender as _, TrainData};
use recs_data::{DelimitedOptions, load_delimited};
use recs_neighbors::{ItemKnn, ItemKnnParams, Weighting};
use recs_sparse::DuplicatePolicy;

fn vm_hwm_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: itemknn_scale FILE [WEIGHTING] [K] [THREADS]")?;
    let weighting: Weighting = serde_json::from_value(serde_json::Value::String(
        args.next().unwrap_or_else(|| "bm25".into()),
    ))?;
    let neighbours: usize = args.next().map_or(Ok(100), |s| s.parse())?;
    let threads: usize = args.next().map_or(Ok(2), |s| s.parse())?;
    let t = Instant::now();
    let mut opts = DelimitedOptions::uirt(",", true);
    opts.timestamp = None;
    opts.allow_extra_fields = true;
    let data = load_delimited(std::path::Path::new(&path), &opts)?;
    let x = data.to_csr(DuplicatePolicy::KeepLast)?.binarize();
    eprintln!(
        "loaded {} users × {} items, {} distinct pairs in {:.1} s",
        x.n_rows(),
        x.n_cols(),
        x.nnz(),
        t.elapsed().as_secs_f64()
    );
    let loaded = vm_hwm_mib().unwrap_or(0.0);
    let params = ItemKnnParams {
        weighting,
        neighbours,
        threads,
        ..ItemKnnParams::default()
    };
    let t = Instant::now();
    let m = ItemKnn::fit(&params, &TrainData::new(&x), &mut NoProgress)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "recs ItemKNN {} K {neighbours}: fit {secs:.2} s ({threads} threads), similarity nnz {}, peak RSS {:.0} MiB (after loading {:.0} MiB)",
        weighting.name(),
        m.similarity().nnz(),
        vm_hwm_mib().unwrap_or(0.0),
        loaded
    );
    Ok(())
}
