//! `xtask bench-worker`: the measured side of `cargo xtask bench`. The orchestrator builds
//! this binary once per revision and runs it — natively for wall time and quality, under
//! callgrind for instruction counts — so that both revisions run the same protocol:
//!
//! - `bench-worker list` prints the benchmark names (JSON array);
//! - `bench-worker prepare --scratch DIR` writes the generated input files (once);
//! - `bench-worker run NAME --scratch DIR [--reps R]` sets the benchmark up, then runs its
//!   measured part `R` times inside [`bench_measured`] (callgrind counts only inside that
//!   function) and prints `{"name", "seconds": [...]}`;
//! - `bench-worker quality [--epochs E]` runs every ml-100k reproduction for `E` epochs at
//!   seed 42 and prints their metrics (JSON).
//!
//! Everything runs on one thread (a one-thread rayon pool, `RAYON_NUM_THREADS=1` for
//! candle), so counts and numbers do not depend on the machine's cores. This protocol is
//! kept stable across revisions: a newer orchestrator drives an older worker.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};
use recs_core::Control;
use recs_data::synthetic::{SyntheticParams, generate, write_csv};
use recs_data::{DelimitedOptions, Interactions};
use recs_experiments::workflow;
use recs_registry::HyperParams;
use recs_sparse::{CsrMatrix, DuplicatePolicy};

/// Arguments of `xtask bench-worker`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Print the benchmark names as a JSON array.
    List,
    /// Write the generated input files into DIR (kept when already there).
    Prepare {
        #[arg(long)]
        scratch: PathBuf,
    },
    /// Set one benchmark up and run its measured part.
    Run {
        name: String,
        #[arg(long)]
        scratch: PathBuf,
        #[arg(long, default_value_t = 1)]
        reps: usize,
    },
    /// Short seeded runs of every ml-100k reproduction; prints their metrics.
    Quality {
        #[arg(long, default_value_t = 5)]
        epochs: usize,
    },
}

/// Rows of the generated interaction file the loader benchmarks read.
const LOADER_ROWS: usize = 100_000;
/// Users of ml-100k's training part the epoch benchmarks train on (the first ones, every
/// item): a slice of an epoch, so that callgrind (≈ 50–100× slower than native) measures
/// every model within CI's budget while the slice exercises the same loops.
const EPOCH_USERS: usize = 150;
/// The seed of every draw in the suite.
const SEED: u64 = 42;

/// The measured part of every benchmark: callgrind is started with
/// `--collect-atstart=no --toggle-collect=*bench_measured*`, so only what runs inside this
/// function is counted. Never inlined, so the symbol exists.
#[inline(never)]
pub fn bench_measured(f: &mut dyn FnMut() -> anyhow::Result<()>) -> anyhow::Result<()> {
    f()
}

/// Runs the worker.
pub fn run(args: Args) -> anyhow::Result<()> {
    // SAFETY: set before any other thread of this process starts (candle sizes its pool
    // from it).
    unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()
        .context("configuring a one-thread pool")?;
    match args.what {
        What::List => {
            println!("{}", serde_json::to_string(&names())?);
            Ok(())
        }
        What::Prepare { scratch } => prepare(&scratch),
        What::Run {
            name,
            scratch,
            reps,
        } => {
            if reps == 0 {
                bail!("--reps must be at least 1");
            }
            // On the pool's one worker thread, so that rayon work inside the measured part
            // runs on the thread callgrind is counting (its toggle is per thread).
            let seconds = rayon::scope(|_| -> anyhow::Result<Vec<f64>> {
                let mut f = setup(&name, &scratch)?;
                let mut seconds = Vec::with_capacity(reps);
                for _ in 0..reps {
                    let t = Instant::now();
                    bench_measured(&mut *f)?;
                    seconds.push(t.elapsed().as_secs_f64());
                }
                Ok(seconds)
            })?;
            println!(
                "{}",
                serde_json::json!({ "name": name, "seconds": seconds })
            );
            Ok(())
        }
        What::Quality { epochs } => {
            let out = quality(epochs)?;
            println!("{}", serde_json::to_string(&out)?);
            Ok(())
        }
    }
}

/// Every benchmark: one epoch of every registered model, then the shared paths.
pub fn names() -> Vec<String> {
    let mut v: Vec<String> = recs_registry::MODELS
        .iter()
        .map(|e| format!("epoch/{}", e.kind()))
        .collect();
    for n in [
        "evaluate/top10",
        "load/csv",
        "load/parquet",
        "modelfile/read",
        "recommend/user",
    ] {
        v.push(n.to_string());
    }
    v
}

fn csv_path(scratch: &Path) -> PathBuf {
    scratch.join(format!("interactions-{LOADER_ROWS}.csv"))
}

fn parquet_path(scratch: &Path) -> PathBuf {
    scratch.join(format!("interactions-{LOADER_ROWS}.parquet"))
}

fn prepare(scratch: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let (csv, pq) = (csv_path(scratch), parquet_path(scratch));
    if csv.is_file() && pq.is_file() {
        return Ok(());
    }
    let data = generate(&SyntheticParams {
        n_users: 20_000,
        n_items: 5_000,
        n_interactions: LOADER_ROWS,
        seed: 1,
        ..Default::default()
    })?;
    write_csv(&data, &csv)?;
    write_parquet(&data, &pq)?;
    Ok(())
}

fn write_parquet(d: &Interactions, path: &Path) -> anyhow::Result<()> {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Float32Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;

    let schema = Arc::new(Schema::new(vec![
        Field::new("user", DataType::Utf8, false),
        Field::new("item", DataType::Utf8, false),
        Field::new("rating", DataType::Float32, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            d.users().iter().map(|&u| d.user_map().external(u)),
        )),
        Arc::new(StringArray::from_iter_values(
            d.items().iter().map(|&i| d.item_map().external(i)),
        )),
        Arc::new(Float32Array::from(d.values().to_vec())),
    ];
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, schema.clone(), None)?;
    w.write(&RecordBatch::try_new(schema, cols)?)?;
    w.close()?;
    recs_core::atomic::write_bytes(path, &buf)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// ml-100k's bpr-ml100k split: random 75/25, seed 42.
fn ml100k() -> anyhow::Result<(CsrMatrix, Interactions)> {
    let opts = recs_experiments::RunOptions::default();
    let data = recs_experiments::protocol::load(&opts, "ml-100k")?;
    let split = recs_data::split::random(&data, 0.75, SEED)?;
    Ok((split.train.to_csr(DuplicatePolicy::KeepLast)?, split.test))
}

fn one_epoch() -> HyperParams {
    HyperParams::new()
        .with("epochs", 1)
        .with("threads", 1)
        .with("seed", SEED)
}

fn fit_one_epoch(kind: &str, train: &CsrMatrix) -> anyhow::Result<Box<dyn recs_core::DynModel>> {
    let entry = recs_registry::find(kind)?;
    let mut quiet = |_: &recs_core::EpochReport| Control::Continue;
    workflow::fit(
        entry,
        &recs_core::TrainData::new(train),
        &one_epoch(),
        true,
        &mut quiet,
    )
}

type Measured = Box<dyn FnMut() -> anyhow::Result<()>>;

/// Sets `name` up (outside the measured part) and returns its measured part.
fn setup(name: &str, scratch: &Path) -> anyhow::Result<Measured> {
    if let Some(kind) = name.strip_prefix("epoch/") {
        let (train, _) = ml100k()?;
        let users: Vec<u32> = (0..EPOCH_USERS.min(train.n_rows()) as u32).collect();
        let train = train.select_rows(&users)?;
        let kind = recs_registry::find(kind)?.kind();
        return Ok(Box::new(move || {
            std::hint::black_box(fit_one_epoch(kind, &train)?);
            Ok(())
        }));
    }
    match name {
        "evaluate/top10" => {
            let (train, test) = ml100k()?;
            let model = fit_one_epoch("bpr", &train)?;
            Ok(Box::new(move || {
                std::hint::black_box(workflow::evaluate_explained(&*model, &train, &test, &[10])?);
                Ok(())
            }))
        }
        "load/csv" | "load/parquet" => {
            prepare(scratch)?;
            let parquet = name == "load/parquet";
            let path = if parquet {
                parquet_path(scratch)
            } else {
                csv_path(scratch)
            };
            let mut opts = DelimitedOptions::uirt(",", !parquet);
            opts.timestamp = None;
            Ok(Box::new(move || {
                let d = if parquet {
                    recs_data::load_parquet(&path, &opts)?
                } else {
                    recs_data::load_delimited(&path, &opts)?
                };
                std::hint::black_box(d);
                Ok(())
            }))
        }
        "modelfile/read" | "recommend/user" => {
            let (train, _) = ml100k()?;
            let model = fit_one_epoch("bpr", &train)?;
            std::fs::create_dir_all(scratch)?;
            let path = scratch.join(format!("bpr-{}.recs", std::process::id()));
            let catalog = recs_core::modelfile::Catalog {
                seen: Some(train.clone()),
                ..Default::default()
            };
            recs_registry::save(&*model, &catalog, serde_json::Value::Null, &path)?;
            if name == "modelfile/read" {
                return Ok(Box::new(move || {
                    let loaded = recs_registry::load(&path);
                    std::hint::black_box(loaded?);
                    Ok(())
                }));
            }
            let loaded = recs_registry::load(&path)?;
            std::fs::remove_file(&path)?;
            Ok(Box::new(move || {
                let seen = loaded.seen_row(7)?.unwrap_or_default();
                let top = recs_core::recommend(loaded.model.as_scorer(), 7, 10, &seen)?;
                std::hint::black_box(top);
                Ok(())
            }))
        }
        _ => bail!("unknown benchmark `{name}`; known: {}", names().join(", ")),
    }
}

/// Every reproduction on ml-100k alone, `epochs` epochs, seed 42: metric → value.
fn quality(epochs: usize) -> anyhow::Result<BTreeMap<String, BTreeMap<String, f64>>> {
    let mut out = BTreeMap::new();
    for exp in recs_experiments::EXPERIMENTS {
        if exp.datasets != ["ml-100k"] {
            continue;
        }
        let opts = recs_experiments::RunOptions {
            epochs: Some(epochs),
            seed: SEED,
            seeds: 1,
            ..Default::default()
        };
        let report =
            recs_experiments::run(exp, &opts).with_context(|| format!("running {}", exp.name))?;
        let metrics = report
            .metrics
            .into_iter()
            .filter(|(k, _)| !k.contains("seconds"))
            .collect();
        out.insert(exp.name.to_string(), metrics);
    }
    Ok(out)
}
