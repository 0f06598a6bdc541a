//! `cargo xtask download <dataset>`. (Being built: issue 2.)

/// Arguments of `cargo xtask download`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Dataset name.
    pub name: Option<String>,
}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("download is not implemented yet")
}
