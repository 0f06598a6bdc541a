//! Mult-VAE's (or, with `--model recvae`, RecVAE's) seconds per epoch at scale (the GPU
//! check's timing): generates an ml-20m-shaped
//! synthetic file with recs-data's generator (power-law users and items), writes it as CSV
//! (the PyTorch peer, `benchmarks/multvae_torch_scale.py`, reads the same file), loads it
//! back through the generic loader (ids in order of first appearance, as pandas' factorize
//! numbers them), binarises it (every distinct user–item pair is a 1, as implicit feedback)
//! and trains Mult-VAE [I-600-200-600-I] (or RecVAE at Cornac's defaults but the batch)
//! without validation for a few epochs on the device asked, printing each epoch's seconds
//! and loss; `--json` writes them.
//!
//! The shape defaults are ml-20m's after the Mult-VAE paper's preprocessing (136,677 users ×
//! 20,108 items, 10M draws; repeated draws of a pair collapse, so the matrix has fewer), and
//! the batch is the paper's 500 users.
//!
//! Usage: cargo run --release -p recs-vae --example multvae_scale [--features cuda] --
//! [--model multvae|recvae] [--device native|cpu|cuda[:N]] [--epochs 3] [--users 136677] [--items 20108]
//! [--interactions 10000000] [--batch 500] [--seed 0] [--csv PATH] [--json PATH]
//! (`--csv` defaults to a file in the system's temporary directory; an existing file of
//! that name is reused only when `--reuse` is given).

use std::path::PathBuf;
use std::time::Instant;

use recs_core::TrainData;
use recs_data::synthetic::{SyntheticParams, generate, write_csv};
use recs_data::{DelimitedOptions, Duplicates, load_file};
use recs_sparse::{CsrMatrix, DuplicatePolicy};
use recs_vae::{
    Control, Engine, EpochReport, MultVaeModel, MultVaeParams, RecVaeModel, RecVaeParams,
};

type Error = Box<dyn std::error::Error>;

struct Args {
    model: String,
    device: String,
    epochs: usize,
    users: usize,
    items: usize,
    interactions: usize,
    batch: usize,
    seed: u64,
    csv: PathBuf,
    reuse: bool,
    json: Option<PathBuf>,
}

fn parse_args() -> Result<Args, Error> {
    let mut a = Args {
        model: "multvae".into(),
        device: "native".into(),
        epochs: 3,
        users: 136_677,
        items: 20_108,
        interactions: 10_000_000,
        batch: 500,
        seed: 0,
        csv: std::env::temp_dir().join("recs-multvae-scale.csv"),
        reuse: false,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--reuse" {
            a.reuse = true;
            continue;
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value (see the usage in the source)"))?;
        let num = || -> Result<usize, Error> {
            value
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{flag} must be a whole number ≥ 1 (got {value:?})").into())
        };
        match flag.as_str() {
            "--device" => a.device = value.clone(),
            "--model" if value == "multvae" || value == "recvae" => a.model = value.clone(),
            "--model" => return Err(format!("--model is multvae or recvae (got {value:?})").into()),
            "--epochs" => a.epochs = num()?,
            "--users" => a.users = num()?,
            "--items" => a.items = num()?,
            "--interactions" => a.interactions = num()?,
            "--batch" => a.batch = num()?,
            "--seed" => {
                a.seed = value
                    .parse()
                    .map_err(|_| format!("--seed must be a whole number (got {value:?})"))?
            }
            "--csv" => a.csv = PathBuf::from(&value),
            "--json" => a.json = Some(PathBuf::from(&value)),
            _ => {
                return Err(
                    format!("unknown argument {flag:?} (see the usage in the source)").into(),
                );
            }
        }
    }
    Ok(a)
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("multvae_scale: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), Error> {
    let a = parse_args()?;
    // Open the device first: a missing GPU fails in a second, not after the data.
    let engine = Engine::from_device(&a.device)?;
    let t = Instant::now();
    if !(a.reuse && a.csv.exists()) {
        let data = generate(&SyntheticParams {
            n_users: a.users,
            n_items: a.items,
            n_interactions: a.interactions,
            seed: a.seed,
            ..SyntheticParams::default()
        })?;
        write_csv(&data, &a.csv)?;
    }
    let generate_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (data, _) = load_file(&a.csv, None, &DelimitedOptions::default(), Duplicates::Last)?;
    let ones = vec![1.0; data.len()];
    let x = CsrMatrix::from_triplets(
        data.n_users(),
        data.n_items(),
        data.users(),
        data.items(),
        &ones,
        DuplicatePolicy::KeepLast,
    )?;
    let load_s = t.elapsed().as_secs_f64();
    println!(
        "{}: {} users × {} items, {} pairs (generated in {generate_s:.1} s, loaded in {load_s:.1} s); \
         {}, batch {}, on {} ({})",
        a.csv.display(),
        x.n_rows(),
        x.n_cols(),
        x.nnz(),
        a.model,
        a.batch,
        a.device,
        engine.describe()
    );
    let mut epochs: Vec<(f64, f64)> = Vec::new();
    let mut progress = |r: &EpochReport| {
        let loss = r.loss("loss").unwrap_or(f64::NAN);
        println!(
            "epoch {}/{}: {:.3} s, loss {loss:.4}",
            r.epoch, r.epochs, r.seconds
        );
        epochs.push((r.seconds, loss));
        Control::Continue
    };
    let data = TrainData::new(&x);
    let t = Instant::now();
    if a.model == "recvae" {
        let params = RecVaeParams {
            epochs: a.epochs,
            batch_size: a.batch,
            device: a.device.clone(),
            ..RecVaeParams::default()
        };
        RecVaeModel::fit_on(&params, &data, &engine, &mut progress)?;
    } else {
        let params = MultVaeParams {
            epochs: a.epochs,
            batch_size: a.batch,
            // The paper's ml-20m schedule (β reaches 0.2 after 200,000 steps).
            total_anneal_steps: 200_000,
            device: a.device.clone(),
            ..MultVaeParams::default()
        };
        MultVaeModel::fit_on(&params, &data, &engine, &mut progress)?;
    }
    let fit_s = t.elapsed().as_secs_f64();
    // The first epoch carries the device's warm-up (kernel loading, allocator growth).
    let steady: Vec<f64> = epochs.iter().skip(1).map(|e| e.0).collect();
    let per_epoch = if steady.is_empty() {
        epochs[0].0
    } else {
        median(&steady)
    };
    println!("seconds per epoch (median after the first): {per_epoch:.3}; fit {fit_s:.1} s");
    if let Some(path) = &a.json {
        let report = serde_json::json!({
            "impl": "recs",
            "model": a.model,
            "device": a.device,
            "engine": engine.describe(),
            "users": x.n_rows(),
            "items": x.n_cols(),
            "nnz": x.nnz(),
            "batch_size": a.batch,
            "generate_s": generate_s,
            "load_s": load_s,
            "fit_s": fit_s,
            "epoch_s": epochs.iter().map(|e| e.0).collect::<Vec<_>>(),
            "loss": epochs.iter().map(|e| e.1).collect::<Vec<_>>(),
            "seconds_per_epoch": per_epoch,
        });
        recs_core::atomic::write_bytes(path, &serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}
