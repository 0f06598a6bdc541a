//! Project automation, one module per task:
//! `cargo xtask download <dataset>`, `cargo xtask reproduce <experiment>`,
//! `cargo xtask golden [--pin]` and `cargo xtask bench [--compare REV]`. The alias builds
//! it lean (see [`full`]): what the main job does not run is compiled on first use.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[cfg(feature = "full")]
mod bench;
mod download;
mod full;
mod golden;
mod reproduce;

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", about = "recs project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand, Debug)]
enum Task {
    /// Download (or install from a local mirror), verify and install a dataset.
    Download(download::Args),
    /// Run a named experiment end to end and compare with the reference numbers.
    Reproduce(reproduce::Args),
    /// Check (or deliberately re-pin with --pin) every reproduction's golden numbers.
    Golden(golden::Args),
    /// Run the benchmark suite (instructions under callgrind, wall time, quality); with
    /// --compare REV, compare with REV built in a worktree and fail on a regression.
    #[cfg(feature = "full")]
    Bench(bench::Args),
    /// The measured side of `bench` (run by it, once per build).
    #[cfg(feature = "full")]
    #[command(hide = true, name = "bench-worker")]
    BenchWorker(bench::worker::Args),
}

fn main() {
    if !full::FULL {
        let args: Vec<_> = std::env::args_os().skip(1).collect();
        if let Some(why) = full::needed_for(&args) {
            full::hand_over(&why);
        }
    }
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Download(a) => download::run(a),
        Task::Reproduce(a) => reproduce::run(a),
        Task::Golden(a) => golden::run(a),
        #[cfg(feature = "full")]
        Task::Bench(a) => bench::run(a),
        #[cfg(feature = "full")]
        Task::BenchWorker(a) => bench::worker::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// The workspace root, found when xtask runs: xtask's parent directory as cargo gives it
/// (`cargo xtask`, `cargo run -p xtask`), else the workspace above the current directory (a
/// binary run directly, as CI runs the one its cached build made in another checkout), else
/// the directory xtask was compiled in.
pub(crate) fn workspace_root() -> PathBuf {
    let parent = |xtask: PathBuf| xtask.parent().map(PathBuf::from).unwrap_or(xtask);
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        return parent(PathBuf::from(dir));
    }
    if let Some(root) = std::env::current_dir()
        .ok()
        .and_then(|cwd| recs_data::registry::workspace_root_above(&cwd))
    {
        return root;
    }
    parent(PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
