//! `cargo xtask download <dataset>`, `cargo xtask reproduce <experiment>`.

fn main() {
    eprintln!("xtask: no tasks yet");
    std::process::exit(2);
}
