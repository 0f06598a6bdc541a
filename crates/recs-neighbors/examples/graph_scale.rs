//! RP3beta's or SAR's fit at scale, for `benchmarks/graph-scale.sh`: loads a
//! `user,item,rating,timestamp` CSV (the 20M-row synthetic file `load_bench` generates),
//! keeps each pair's last row, fits (RP3beta on the binarized matrix, α 1, β 0.6, K 100;
//! SAR on the ratings, Jaccard, with or without the 30-day time decay) and prints the fit's
//! seconds, the similarity's size and the process's peak resident memory. `EVERY` keeps
//! only the users whose id's number is a multiple of it (the subsample a dense peer can
//! hold).
//!
//! `cargo run --release -p recs-neighbors --example graph_scale -- FILE rp3beta|sar|sar-decay [THREADS] [EVERY]`
//! (default: 2 threads, every user).

use std::time::Instant;

use recs_core::{NoProgress, Recommender as _, TrainData};
use recs_data::{DelimitedOptions, load_delimited};
use recs_neighbors::{Rp3Beta, Rp3BetaParams, Sar, SarParams};
use recs_sparse::DuplicatePolicy;

fn vm_hwm_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: graph_scale FILE rp3beta|sar|sar-decay [THREADS] [EVERY]";
    let path = args.next().ok_or(usage)?;
    let model = args.next().ok_or(usage)?;
    let threads: usize = args.next().map_or(Ok(2), |s| s.parse())?;
    let every: Option<usize> = args.next().map(|s| s.parse()).transpose()?;
    let t = Instant::now();
    let mut data = load_delimited(
        std::path::Path::new(&path),
        &DelimitedOptions::uirt(",", true),
    )?;
    if let Some(n) = every {
        // Every n-th user by their id's number (`u123`), as the peer script picks them.
        let keep: Vec<bool> = (0..data.user_map().len() as u32)
            .map(|u| {
                let id = data.user_map().external(u);
                id.trim_start_matches(|c: char| !c.is_ascii_digit())
                    .parse::<usize>()
                    .is_ok_and(|k| k % n == 0)
            })
            .collect();
        let users = data.users().to_vec();
        data = data.filter(|k| keep[users[k] as usize]);
    }
    let (x, order, times) = data.to_csr_ordered(DuplicatePolicy::KeepLast)?;
    let times = times.ok_or("the file has no timestamp column")?;
    drop(data);
    eprintln!(
        "loaded {} users × {} items, {} distinct pairs in {:.1} s",
        x.n_rows(),
        x.n_cols(),
        x.nnz(),
        t.elapsed().as_secs_f64()
    );
    let loaded = vm_hwm_mib().unwrap_or(0.0);
    let t = Instant::now();
    let nnz = match model.as_str() {
        "rp3beta" => {
            let b = x.binarize();
            let p = Rp3BetaParams {
                threads,
                ..Rp3BetaParams::default()
            };
            Rp3Beta::fit(&p, &TrainData::new(&b), &mut NoProgress)?
                .similarity()
                .nnz()
        }
        "sar" | "sar-decay" => {
            let p = SarParams {
                time_decay: model == "sar-decay",
                threads,
                ..SarParams::default()
            };
            let d = TrainData::new(&x)
                .with_order(&order)?
                .with_timestamps(&times)?;
            Sar::fit(&p, &d, &mut NoProgress)?.similarity().nnz()
        }
        other => return Err(format!("unknown model {other}: {usage}").into()),
    };
    println!(
        "recs {model}: fit {:.2} s ({threads} threads), similarity nnz {nnz}, peak RSS {:.0} MiB (after loading {loaded:.0} MiB)",
        t.elapsed().as_secs_f64(),
        vm_hwm_mib().unwrap_or(0.0),
    );
    Ok(())
}
