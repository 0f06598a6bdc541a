//! Project automation, one module per task:
//! `cargo xtask download <dataset>`, `cargo xtask reproduce <experiment>`,
//! `cargo xtask golden [--pin]` and `cargo xtask bench [--compare REV]`.

use clap::{Parser, Subcommand};

mod bench;
mod download;
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
    Bench(bench::Args),
    /// The measured side of `bench` (run by it, once per build).
    #[command(hide = true, name = "bench-worker")]
    BenchWorker(bench::worker::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Download(a) => download::run(a),
        Task::Reproduce(a) => reproduce::run(a),
        Task::Golden(a) => golden::run(a),
        Task::Bench(a) => bench::run(a),
        Task::BenchWorker(a) => bench::worker::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
