//! The one experiment runner behind both `cargo xtask reproduce <experiment>` and
//! `recs compare`: named protocols (dataset, split, model, parameters, metrics), the
//! reference numbers they are compared with, and a report that prints as a table and
//! serialises to the JSON that `target/reproduce/<experiment>.json` holds.
//!
//! An experiment is run for one or more seeds; the report holds every seed's numbers and
//! their means (and sample standard deviations).
//!
//! ```
//! use recs_experiments::{find, names};
//!
//! assert!(names().contains(&"bivae-ml100k"));
//! let exp = find("bivae-ml100k").unwrap();
//! assert_eq!(exp.name, "bivae-ml100k");
//! assert!(find("no-such-experiment").is_err());
//! ```
#![deny(missing_docs)]

mod experiments;
pub mod protocol;
mod report;
pub mod workflow;

pub use experiments::{EXPERIMENTS, Experiment, SeedRun};
pub use report::{Reference, Report, SeedResult};

use std::path::PathBuf;
use std::time::Instant;

/// How to run an experiment; every field has a default that reproduces the published protocol.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Override the experiment's number of epochs (default: the protocol's).
    pub epochs: Option<usize>,
    /// First seed (default 42); seed `i` of `seeds` is `seed + i`.
    pub seed: u64,
    /// How many seeds to run (default 1); the report gives their mean ± sd.
    pub seeds: usize,
    /// Print per-epoch progress to stderr (default false).
    pub verbose: bool,
    /// Where datasets are installed (default: `recs_data::registry::data_dir()`, i.e.
    /// `$RECS_DATA_DIR` or the per-user cache).
    pub data_dir: Option<PathBuf>,
    /// A local mirror to install missing datasets from, laid out as `MIRROR/<name>/`
    /// (default: `$RECS_DATA_MIRROR`, if set).
    pub mirror: Option<PathBuf>,
    /// Where the autoencoder experiments train (`native`, `cpu`, `cuda`, `cuda:N`; see
    /// `recs_vae::Engine::from_device`); default: each model's own (`native`). The other
    /// experiments train on the CPU whatever it says.
    pub device: Option<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            epochs: None,
            seed: 42,
            seeds: 1,
            verbose: false,
            data_dir: None,
            mirror: None,
            device: None,
        }
    }
}

/// Names of every known experiment, in registry order.
pub fn names() -> Vec<&'static str> {
    EXPERIMENTS.iter().map(|e| e.name).collect()
}

/// The experiment called `name`, or an error listing the known ones.
pub fn find(name: &str) -> anyhow::Result<&'static Experiment> {
    EXPERIMENTS.iter().find(|e| e.name == name).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown experiment '{name}'; known experiments: {}",
            names().join(", ")
        )
    })
}

/// Runs `exp` for `opts.seeds` seeds and returns the report (nothing is written to disk).
pub fn run(exp: &Experiment, opts: &RunOptions) -> anyhow::Result<Report> {
    if opts.seeds == 0 {
        anyhow::bail!("seeds must be at least 1 (got 0)");
    }
    if opts.epochs == Some(0) {
        anyhow::bail!("epochs must be at least 1 (got 0)");
    }
    let mut per_seed = Vec::with_capacity(opts.seeds);
    let mut params = serde_json::Value::Null;
    let mut epochs = 0;
    for i in 0..opts.seeds {
        let seed = opts.seed + i as u64;
        let started = Instant::now();
        let out = (exp.run)(opts, seed)?;
        if opts.verbose {
            eprintln!(
                "{}: seed {seed} done in {:.1} s (train {:.2} s)",
                exp.name,
                started.elapsed().as_secs_f64(),
                out.train_seconds
            );
        }
        params = out.params;
        epochs = out.epochs;
        per_seed.push(SeedResult {
            seed,
            train_seconds: out.train_seconds,
            metrics: out.metrics,
        });
    }
    Ok(Report::new(exp, opts.seed, epochs, params, per_seed))
}
