//! Project automation, one module per task:
//! `cargo xtask download <dataset>`, `cargo xtask reproduce <experiment>` and
//! `cargo xtask golden [--pin]`.

use clap::{Parser, Subcommand};

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
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Download(a) => download::run(a),
        Task::Reproduce(a) => reproduce::run(a),
        Task::Golden(a) => golden::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
