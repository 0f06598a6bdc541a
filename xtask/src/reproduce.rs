//! `cargo xtask reproduce <experiment>`. (Being built.)

/// Arguments of `cargo xtask reproduce`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Experiment name.
    pub name: Option<String>,
}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("reproduce is not implemented yet")
}
