//! `cargo xtask golden [--pin]`: checks (or, with `--pin`, deliberately re-pins) the golden
//! numbers of every reproduction, `crates/recs-experiments/tests/golden.json`: a short seeded
//! run of each whose metrics must match to 1e-4. Runs the `golden` test of recs-experiments.

use anyhow::{Context as _, bail};

/// Arguments of `cargo xtask golden`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Rewrite golden.json from this build's numbers (commit it with the change that
    /// explains it)
    #[arg(long)]
    pin: bool,
}

/// Runs the golden test, pinning when asked.
pub fn run(args: Args) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args([
        "test",
        "-p",
        "recs-experiments",
        "--test",
        "golden",
        "--",
        "--nocapture",
    ]);
    if args.pin {
        cmd.env("RECS_PIN_GOLDEN", "1");
    }
    let status = cmd.status().context("running cargo test")?;
    if !status.success() {
        bail!("the golden test failed ({status})");
    }
    if args.pin {
        println!(
            "pinned crates/recs-experiments/tests/golden.json; review `git diff` and commit it"
        );
    }
    Ok(())
}
