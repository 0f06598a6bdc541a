//! ALS at scale on a user,item,... CSV (the 20M-row synthetic file `recs-data`'s
//! `load_bench` example generates): seconds per iteration, side by side with
//! `implicit_peers.py --scale FILE ITERS` (see `benchmarks/als-scale.sh`).
//!
//! `/usr/bin/time -v cargo run --release -p recs-factor --example als_scale -- \
//!     FILE [ITERATIONS] [THREADS] [FACTORS...]`
//! (defaults 3 iterations, 2 threads, factors 64 and 128; λ 0.01, α 1, CG 3 steps as
//! implicit's defaults); `time -v` reports the peak memory. Repeated (user, item) pairs
//! count once and every value is 1, as `implicit_peers.py` builds its matrix.

use std::time::Instant;

use recs_data::{DelimitedOptions, load_delimited};
use recs_factor::{Als, AlsParams, Control, EpochReport, Recommender as _, TrainData};
use recs_sparse::DuplicatePolicy;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: als_scale FILE [ITERATIONS] [THREADS] [FACTORS...]")?;
    let iters: usize = args.next().map_or(Ok(3), |s| s.parse())?;
    let threads: usize = args.next().map_or(Ok(2), |s| s.parse())?;
    let mut factors: Vec<usize> = args.map(|s| s.parse()).collect::<Result<_, _>>()?;
    if factors.is_empty() {
        factors = vec![64, 128];
    }
    let t0 = Instant::now();
    let mut opts = DelimitedOptions::uirt(",", true);
    opts.timestamp = None;
    opts.allow_extra_fields = true;
    let data = load_delimited(std::path::Path::new(&path), &opts)?;
    let x = data.to_csr(DuplicatePolicy::KeepLast)?.binarize();
    drop(data);
    println!(
        "loaded {} users x {} items, nnz {} in {:.1} s",
        x.n_rows(),
        x.n_cols(),
        x.nnz(),
        t0.elapsed().as_secs_f64()
    );
    for k in factors {
        let params = AlsParams {
            factors: k,
            epochs: iters,
            reg: 0.01,
            threads,
            ..AlsParams::default()
        };
        let mut cb = |e: &EpochReport| {
            println!(
                "  iteration {} {:.2} s loss {:.6}",
                e.epoch,
                e.seconds,
                e.total_loss()
            );
            Control::Continue
        };
        let t = Instant::now();
        let model = Als::fit(&params, &TrainData::new(&x), &mut cb)?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "recs ALS factors {k}: {:.2} s/iteration ({iters} iterations, {threads} threads; {} user rows)",
            secs / iters as f64,
            model.user_factors().len() / k
        );
    }
    Ok(())
}
