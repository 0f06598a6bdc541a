//! `cargo xtask reproduce <experiment>`: runs a named experiment of `recs-experiments`,
//! prints ours beside the reference numbers and writes
//! `target/reproduce/<experiment>.json` under the workspace root.

use std::path::PathBuf;

use anyhow::Context as _;

/// Arguments of `cargo xtask reproduce`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Experiment name (see --list).
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,
    /// List the known experiments and exit.
    #[arg(long)]
    pub list: bool,
    /// Override the protocol's number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// First seed; seed i of --seeds is seed + i.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of seeds to run (the report gives mean ± sd).
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where the autoencoders train: native (hand-written CPU kernels, default), cpu (candle
    /// on the CPU), cuda or cuda:N (candle on GPU N; build with `--features cuda`). The
    /// other experiments train on the CPU whatever it says.
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
    /// Print per-epoch progress.
    #[arg(long, short)]
    pub verbose: bool,
    /// Where to write the JSON report (default: target/reproduce/<experiment>.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.list {
        for e in recs_experiments::EXPERIMENTS {
            println!("{:<18} {}", e.name, e.description);
        }
        return Ok(());
    }
    let name = args.name.as_deref().unwrap_or_default();
    let exp = recs_experiments::find(name)?;
    if let Some(t) = args.threads {
        if t == 0 {
            anyhow::bail!("--threads must be at least 1 (got 0)");
        }
        // candle's CPU kernels size their pool from RAYON_NUM_THREADS as well.
        // SAFETY: set before any other thread of this process starts.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", t.to_string()) };
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .context("configuring the thread pool")?;
    }
    let opts = recs_experiments::RunOptions {
        epochs: args.epochs,
        seed: args.seed,
        seeds: args.seeds,
        verbose: args.verbose,
        device: args.device.clone(),
        ..Default::default()
    };
    for dataset in exp.datasets {
        crate::download::ensure_installed(dataset)?;
    }
    let report = recs_experiments::run(exp, &opts)?;
    print!("{}", report.table());
    let out = args.out.unwrap_or_else(|| {
        crate::workspace_root()
            .join("target")
            .join("reproduce")
            .join(format!("{}.json", exp.name))
    });
    report.write_json(&out)?;
    println!("wrote {}", out.display());
    Ok(())
}
