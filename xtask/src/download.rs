//! `cargo xtask download <dataset>`: fetch a dataset over HTTPS (or take it from a local
//! mirror), verify every published checksum and count (saying which were known), and install it atomically into the data
//! directory. The verification and the atomic install are `recs_data::registry`'s, the same
//! that `load_dataset` uses.

#[cfg(feature = "download")]
use std::io::Write as _;
use std::path::{Path, PathBuf};

#[cfg(feature = "download")]
use anyhow::Context as _;
use recs_data::registry;

/// Arguments of `cargo xtask download`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Dataset name (see --list).
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,
    /// Take the files from a local copy laid out as DIR/<name>/ instead of the network
    /// (default: $RECS_DATA_MIRROR when set).
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// List the known datasets and which are installed.
    #[arg(long)]
    pub list: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let data_dir = registry::data_dir();
    if args.list {
        println!("data directory: {}", data_dir.display());
        for d in registry::datasets() {
            let mark = if registry::is_installed(&d.name, &data_dir) {
                "installed"
            } else {
                "-"
            };
            println!("{:<16} {:<10} {}", d.name, mark, d.description);
        }
        return Ok(());
    }
    let name = args.name.as_deref().unwrap_or_default();
    let info = registry::dataset(name)?;
    if registry::is_installed(name, &data_dir) {
        println!(
            "{name} is already installed in {}",
            registry::install_path(name, &data_dir).display()
        );
        return Ok(());
    }
    let mirror = args.from.or_else(registry::mirror);
    let dest = match mirror {
        Some(m) => registry::install_from_dir(name, &m.join(name), &data_dir)?,
        None => download(&info, &data_dir)?,
    };
    println!(
        "installed {name} in {}: {}",
        dest.display(),
        registry::verification(&info)
    );
    Ok(())
}

/// Installs `name` unless it is: from `$RECS_DATA_MIRROR` when set, else over HTTPS.
pub fn ensure_installed(name: &str) -> anyhow::Result<()> {
    if registry::is_installed(name, &registry::data_dir()) {
        return Ok(());
    }
    run(Args {
        name: Some(name.to_string()),
        from: None,
        list: false,
    })
}

/// In the lean build (no HTTPS client), a download hands over to the full build.
#[cfg(not(feature = "download"))]
fn download(info: &registry::DatasetInfo, _data_dir: &Path) -> anyhow::Result<PathBuf> {
    crate::full::hand_over(&format!("downloading {} over HTTPS", info.name))
}

/// Downloads the archive into a temporary directory inside the data directory, extracts the
/// dataset's files and installs them with full verification.
#[cfg(feature = "download")]
fn download(info: &registry::DatasetInfo, data_dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let work = tempfile::Builder::new()
        .prefix(&format!(".{}.download-", info.name))
        .tempdir_in(data_dir)?;
    let extracted = work.path().join("extracted");
    std::fs::create_dir_all(&extracted)?;
    let no_network = |e: anyhow::Error| {
        anyhow::anyhow!(
            "could not download {}: {e:#}\nWithout network access, point at a local copy laid out as DIR/{}/: \
             `cargo xtask download {} --from DIR` or RECS_DATA_MIRROR=DIR",
            info.url,
            info.name,
            info.name
        )
    };
    eprintln!("downloading {} ...", info.url);
    if info.archive == "file" {
        // The URL serves the one data file itself (e.g. Goodreads' .json.gz).
        let f = info
            .files
            .first()
            .context("the registry entry names no file")?;
        fetch(&info.url, &extracted.join(&f.name)).map_err(no_network)?;
    } else {
        let archive = work.path().join("archive.zip");
        fetch(&info.url, &archive).map_err(no_network)?;
        extract(info, &archive, &extracted)?;
    }
    // The download is removed with `work`: a failed check names the file inside the
    // archive and the URL, not the directory that is gone.
    registry::install_from_dir(&info.name, &extracted, data_dir).map_err(|e| match e {
        recs_data::DataError::Verify { .. } => {
            let prefix = format!("{}{}", extracted.display(), std::path::MAIN_SEPARATOR);
            anyhow::anyhow!(
                "{} (the file from {}; the download was removed)",
                e.to_string().replace(&prefix, ""),
                info.url
            )
        }
        other => anyhow::Error::new(other).context(format!(
            "installing {} downloaded from {}",
            info.name, info.url
        )),
    })
}

/// Extracts the dataset's files from the zip archive into `to`.
#[cfg(feature = "download")]
fn extract(info: &registry::DatasetInfo, archive: &Path, to: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::open(archive)?;
    let mut zip = zip::ZipArchive::new(file).with_context(|| {
        format!(
            "{}: the downloaded archive is not a valid zip file (truncated download?)",
            info.url
        )
    })?;
    for f in &info.files {
        let inner = format!("{}/{}", info.archive_dir, f.name);
        let mut entry = zip
            .by_name(&inner)
            .with_context(|| format!("{}: the archive has no {inner}", info.url))?;
        let mut out = std::fs::File::create(to.join(&f.name))?;
        std::io::copy(&mut entry, &mut out)
            .with_context(|| format!("{inner}: truncated or corrupt archive entry"))?;
        out.flush()?;
    }
    Ok(())
}

#[cfg(feature = "download")]
fn fetch(url: &str, to: &Path) -> anyhow::Result<()> {
    let mut res = ureq::get(url).call()?;
    let mut reader = res.body_mut().as_reader();
    let mut out = std::fs::File::create(to)?;
    std::io::copy(&mut reader, &mut out)?;
    out.flush()?;
    Ok(())
}
