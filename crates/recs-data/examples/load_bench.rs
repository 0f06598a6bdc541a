//! Measures the generic loader on a large generated CSV (never written into the repo):
//! `cargo run --release -p recs-data --example load_bench -- /tmp/synthetic-20m.csv 20000000`
//! generates the file if it does not exist (power-law users and items, ml-20m-like shape),
//! then loads it and prints seconds, interactions/s and bytes per interaction. Add
//! `no-timestamps` as a third argument to load user, item and rating only.

use std::path::PathBuf;
use std::time::Instant;

use recs_data::synthetic::{SyntheticParams, generate, write_csv};
use recs_data::{DelimitedOptions, load_delimited};

fn vm_hwm_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "/tmp/synthetic-20m.csv".into()),
    );
    let n: usize = args.next().map_or(Ok(20_000_000), |s| s.parse())?;
    // A third argument `no-timestamps` loads user, item, rating only (12 bytes a row).
    let skip_timestamps = args.next().is_some_and(|a| a == "no-timestamps");
    if !path.is_file() {
        let t = Instant::now();
        let data = generate(&SyntheticParams {
            n_users: 138_493,
            n_items: 26_744,
            n_interactions: n,
            seed: 1,
            ..Default::default()
        })?;
        write_csv(&data, &path)?;
        eprintln!(
            "generated {} rows into {} in {:.1}s",
            data.len(),
            path.display(),
            t.elapsed().as_secs_f64()
        );
        return Ok(()); // measure the load in a fresh process (clean peak memory)
    }
    let before = vm_hwm_kib().unwrap_or(0);
    let t = Instant::now();
    let mut opts = DelimitedOptions::uirt(",", true);
    if skip_timestamps {
        opts.timestamp = None;
        opts.allow_extra_fields = true;
    }
    let d = load_delimited(&path, &opts)?;
    let secs = t.elapsed().as_secs_f64();
    let ts_bytes = d.timestamps().map_or(0, |t| t.len() * 8);
    let columns = d.len() * 12 + ts_bytes;
    let map_bytes: usize = [d.user_map(), d.item_map()]
        .iter()
        .map(|m| {
            m.ids()
                .iter()
                .map(|s| s.len() + 24 + 24 + 4 + 8)
                .sum::<usize>()
        })
        .sum();
    let peak = vm_hwm_kib().unwrap_or(0).saturating_sub(before) * 1024;
    println!(
        "rows {} users {} items {} | load {:.2}s ({:.1} M rows/s) | columns {:.1} B/row (users+items+values 12, timestamps {}) | id maps ~{:.1} MB | peak RSS growth {:.1} B/row",
        d.len(),
        d.n_users(),
        d.n_items(),
        secs,
        d.len() as f64 / secs / 1e6,
        columns as f64 / d.len() as f64,
        if ts_bytes > 0 { 8 } else { 0 },
        map_bytes as f64 / 1e6,
        peak as f64 / d.len() as f64
    );
    Ok(())
}
