//! The dataset registry (`crates/recs-data/datasets/*.toml`, embedded at build time) and verified, atomic
//! installs into the data directory.
//!
//! An install copies the files into a temporary directory inside the data directory,
//! verifies every SHA-256 the registry knows, parses the ratings and checks the expected
//! counts, and only then renames the directory into place: a failed install leaves
//! nothing behind.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{DataError, Interactions, movielens};

/// Environment variable naming the data directory (default: the per-user cache, `recs/`).
pub const DATA_DIR_ENV: &str = "RECS_DATA_DIR";
/// Environment variable naming a local mirror laid out as `MIRROR/<name>/<files>`.
pub const MIRROR_ENV: &str = "RECS_DATA_MIRROR";

const REGISTRY: &[&str] = &[
    include_str!("../datasets/ml-100k.toml"),
    include_str!("../datasets/ml-1m.toml"),
    include_str!("../datasets/ml-10m.toml"),
    include_str!("../datasets/ml-20m.toml"),
    include_str!("../datasets/ml-latest-small.toml"),
    include_str!("../datasets/goodreads-fantasy.toml"),
];

/// One dataset of the registry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetInfo {
    /// Registry name, e.g. `ml-100k`.
    pub name: String,
    /// One line about the data.
    pub description: String,
    /// Licence terms, in short.
    pub licence: String,
    /// Where the archive is downloaded from (HTTPS).
    pub url: String,
    /// What the URL serves: `zip` (an archive holding the files; the default) or `file`
    /// (the one data file itself).
    #[serde(default = "default_archive")]
    pub archive: String,
    /// The directory inside the archive that holds the files.
    pub archive_dir: String,
    /// File layout: `ml-100k`, `ml-dat`, `ml-csv` or `goodreads-json-gz`.
    pub format: String,
    /// Expected number of ratings, checked after parsing when given.
    pub ratings: Option<usize>,
    /// Expected number of users.
    pub users: Option<usize>,
    /// Expected number of items.
    pub items: Option<usize>,
    /// Files the dataset needs.
    pub files: Vec<FileInfo>,
}

/// One file of a dataset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileInfo {
    /// File name.
    pub name: String,
    /// Lower-case hex SHA-256, where known.
    pub sha256: Option<String>,
}

fn default_archive() -> String {
    "zip".into()
}

/// Every dataset the registry knows.
pub fn datasets() -> Vec<DatasetInfo> {
    REGISTRY
        .iter()
        .map(|t| toml::from_str(t).expect("the embedded registry files are valid (tested)"))
        .collect()
}

/// The registry entry called `name`.
pub fn dataset(name: &str) -> Result<DatasetInfo, DataError> {
    datasets()
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| DataError::UnknownDataset {
            name: name.to_string(),
            known: datasets()
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The data directory: `$RECS_DATA_DIR`, else `<per-user cache>/recs`, else `./recs-data`.
pub fn data_dir() -> PathBuf {
    match std::env::var_os(DATA_DIR_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => dirs::cache_dir()
            .map(|c| c.join("recs"))
            .unwrap_or_else(|| PathBuf::from("recs-data")),
    }
}

/// The local mirror named by `$RECS_DATA_MIRROR`, if set. A relative path is taken as the
/// user wrote it: against the directory the command ran in (`$PWD`, which the shell sets and
/// cargo leaves alone when it runs a test binary in its crate's directory), else against the
/// workspace root of a process that cargo runs, else against the current directory. So
/// `RECS_DATA_MIRROR=../shared/datasets cargo test --workspace` finds the same directory in
/// every test binary and every `recs` process they start.
pub fn mirror() -> Option<PathBuf> {
    let raw = PathBuf::from(std::env::var_os(MIRROR_ENV).filter(|m| !m.is_empty())?);
    let pwd = std::env::var_os("PWD").map(PathBuf::from);
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    Some(resolve_mirror(&raw, pwd.as_deref(), manifest.as_deref()))
}

/// [`mirror`]'s rule, given `$PWD` and `$CARGO_MANIFEST_DIR`.
pub fn resolve_mirror(raw: &Path, pwd: Option<&Path>, manifest_dir: Option<&Path>) -> PathBuf {
    if raw.is_absolute() {
        return raw.to_path_buf();
    }
    if let Some(pwd) = pwd.filter(|p| p.is_absolute()) {
        return pwd.join(raw);
    }
    if let Some(root) = manifest_dir
        .filter(|d| d.is_absolute())
        .and_then(workspace_root_above)
    {
        return root.join(raw);
    }
    std::env::current_dir()
        .map(|d| d.join(raw))
        .unwrap_or_else(|_| raw.to_path_buf())
}

/// The outermost directory at or above `dir` whose `Cargo.toml` declares a `[workspace]`.
pub fn workspace_root_above(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .filter(|d| {
            std::fs::read_to_string(d.join("Cargo.toml"))
                .is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
        })
        .last()
        .map(Path::to_path_buf)
}

/// Where `name` is (or would be) installed under `data_dir`.
pub fn install_path(name: &str, data_dir: &Path) -> PathBuf {
    data_dir.join(name)
}

/// Whether `name` is installed under `data_dir`.
pub fn is_installed(name: &str, data_dir: &Path) -> bool {
    install_path(name, data_dir).is_dir()
}

/// Loads the installed copy of `name` from `data_dir`.
pub fn load_from(name: &str, data_dir: &Path) -> Result<Interactions, DataError> {
    let info = dataset(name)?;
    let dir = install_path(name, data_dir);
    if !dir.is_dir() {
        return Err(DataError::NotInstalled {
            name: name.to_string(),
            data_dir: data_dir.to_path_buf(),
        });
    }
    parse(&info, &dir)
}

/// Loads dataset `name` by registry name from [`data_dir`]; when it is not installed and
/// `$RECS_DATA_MIRROR` is set, installs it from `$RECS_DATA_MIRROR/<name>` first (with full
/// verification).
pub fn load_dataset(name: &str) -> Result<Interactions, DataError> {
    let dir = data_dir();
    if !is_installed(name, &dir)
        && let Some(m) = mirror()
    {
        install_from_dir(name, &m.join(name), &dir)?;
    }
    load_from(name, &dir)
}

/// The installed directory of dataset `name`, found as users find it: under [`data_dir`]
/// (`$RECS_DATA_DIR`), else installed first from `$RECS_DATA_MIRROR/<name>` when that is
/// set; `Ok(None)` when neither has it.
pub fn locate(name: &str) -> Result<Option<PathBuf>, DataError> {
    dataset(name)?;
    // One install at a time within a process (tests run in parallel threads).
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = data_dir();
    if !is_installed(name, &dir) {
        match mirror() {
            Some(m) if m.join(name).is_dir() => {
                install_from_dir(name, &m.join(name), &dir)?;
            }
            _ => return Ok(None),
        }
    }
    Ok(Some(install_path(name, &dir)))
}

/// For tests, benches and examples that need a real dataset: its directory (see
/// [`locate`]), or `None` after saying on stderr that the caller is skipped. When the `CI`
/// environment variable is set, a missing dataset panics instead, so that a test cannot
/// pass in CI because its data is missing.
pub fn require(name: &str) -> Option<PathBuf> {
    match locate(name) {
        Ok(Some(dir)) => Some(dir),
        outcome => {
            let why = match outcome {
                Err(e) => format!("{name} could not be installed: {e}"),
                _ => format!(
                    "{name} is not installed under {} and ${MIRROR_ENV} does not have it",
                    data_dir().display()
                ),
            };
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                panic!("{why}; CI is set, so a test that needs it fails rather than skips");
            }
            eprintln!("skipping: {why} (set {MIRROR_ENV} or {DATA_DIR_ENV})");
            None
        }
    }
}

fn parse(info: &DatasetInfo, dir: &Path) -> Result<Interactions, DataError> {
    match info.format.as_str() {
        "ml-100k" => movielens::load_ml100k(dir),
        "ml-dat" => movielens::load_ml_dat(dir),
        "ml-csv" => movielens::load_ml_csv(dir),
        "goodreads-json-gz" => crate::goodreads::load_goodreads(&dir.join(&info.files[0].name)),
        other => Err(DataError::Param {
            name: "format",
            value: other.to_string(),
            allowed: "ml-100k, ml-dat, ml-csv or goodreads-json-gz",
        }),
    }
}

/// What installing `info` checks, in words for a front-end: `verified (SHA-256 and
/// counts)` when every file has a published checksum, `counts checked, no checksum known`
/// when none has, and how many otherwise. Counts are only claimed when the registry has them.
pub fn verification(info: &DatasetInfo) -> String {
    let known = info.files.iter().filter(|f| f.sha256.is_some()).count();
    let counts = info.ratings.is_some() || info.users.is_some() || info.items.is_some();
    match (known, counts) {
        (0, true) => "counts checked, no checksum known".into(),
        (0, false) => "files present, no checksum or count known".into(),
        (k, true) if k == info.files.len() => "verified (SHA-256 of every file, and counts)".into(),
        (k, false) if k == info.files.len() => "verified (SHA-256 of every file)".into(),
        (k, c) => format!(
            "SHA-256 checked for {k} of {} files, no checksum known for the rest{}",
            info.files.len(),
            if c { "; counts checked" } else { "" }
        ),
    }
}

/// Lower-case hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let mut f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks that `dir` holds every file of `info` with the registry's checksums and that the
/// ratings parse to the expected counts.
pub fn verify_dir(info: &DatasetInfo, dir: &Path) -> Result<Interactions, DataError> {
    for f in &info.files {
        let path = dir.join(&f.name);
        if !path.is_file() {
            return Err(DataError::Verify {
                path,
                message: "file is missing".into(),
            });
        }
        if let Some(expected) = &f.sha256 {
            let got = sha256_file(&path)?;
            if &got != expected {
                return Err(DataError::Verify {
                    path,
                    message: format!("SHA-256 is {got}, expected {expected}"),
                });
            }
        }
    }
    let data = parse(info, dir)?;
    let ratings_file = dir.join(&info.files[0].name);
    for (what, expected, got) in [
        ("ratings", info.ratings, data.len()),
        ("users", info.users, data.n_users()),
        ("items", info.items, data.n_items()),
    ] {
        if let Some(e) = expected {
            if e != got {
                return Err(DataError::Verify {
                    path: ratings_file,
                    message: format!("{got} {what} parsed, expected {e}"),
                });
            }
        }
    }
    Ok(data)
}

/// A failed check of the staged copy in `staged` (removed when the install fails), as an
/// error naming the source file in `from` and saying that nothing was installed.
fn in_source(e: DataError, staged: &Path, from: &Path) -> DataError {
    let source = |p: PathBuf| match p.strip_prefix(staged) {
        Ok(rest) => from.join(rest),
        Err(_) => p,
    };
    match e {
        DataError::Verify { path, message } | DataError::Format { path, message } => {
            DataError::Verify {
                path: source(path),
                message,
            }
        }
        DataError::Parse {
            path,
            line,
            message,
        } => DataError::Verify {
            path: source(path),
            message: format!("line {line}: {message}"),
        },
        DataError::Row { path, row, message } => DataError::Verify {
            path: source(path),
            message: format!("row {row}: {message}"),
        },
        DataError::Empty { path } => DataError::Verify {
            path: source(path),
            message: "the file holds no interaction".into(),
        },
        DataError::Io { path, source: err } => DataError::Verify {
            path: source(path),
            message: format!("cannot be read ({err})"),
        },
        other => other,
    }
}

/// Installs `name` from the local directory `from` (holding the dataset's files directly)
/// into `data_dir`, verifying every checksum and count first. Atomic: the files are copied
/// into a temporary directory beside the destination and renamed into place only once
/// verified. Returns the installed directory. An already installed dataset is left as is.
pub fn install_from_dir(name: &str, from: &Path, data_dir: &Path) -> Result<PathBuf, DataError> {
    let info = dataset(name)?;
    let dest = install_path(name, data_dir);
    if dest.is_dir() {
        return Ok(dest);
    }
    std::fs::create_dir_all(data_dir).map_err(|e| DataError::io(data_dir, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.partial-"))
        .tempdir_in(data_dir)
        .map_err(|e| DataError::io(data_dir, e))?;
    for f in &info.files {
        let src = from.join(&f.name);
        if !src.is_file() {
            return Err(DataError::Verify {
                path: src,
                message: "file is missing from the source".into(),
            });
        }
        std::fs::copy(&src, tmp.path().join(&f.name)).map_err(|e| DataError::io(&src, e))?;
    }
    // Keep also the documentation files shipped beside the data (README, licence).
    for extra in ["README", "README.txt", "README.html"] {
        let src = from.join(extra);
        if src.is_file() {
            std::fs::copy(&src, tmp.path().join(extra)).map_err(|e| DataError::io(&src, e))?;
        }
    }
    verify_dir(&info, tmp.path()).map_err(|e| in_source(e, tmp.path(), from))?;
    let staged = tmp.keep();
    if let Err(e) = std::fs::rename(&staged, &dest) {
        let _ = std::fs::remove_dir_all(&staged);
        if dest.is_dir() {
            return Ok(dest); // installed concurrently by another process
        }
        return Err(DataError::io(&dest, e));
    }
    Ok(dest)
}

#[cfg(test)]
mod mirror_tests {
    use super::*;

    #[test]
    fn an_absolute_mirror_is_kept() {
        let abs = std::env::temp_dir().join("m");
        assert_eq!(resolve_mirror(&abs, Some(Path::new("/x")), None), abs);
    }

    #[test]
    fn a_relative_mirror_is_resolved_against_pwd_before_the_workspace() {
        let rel = Path::new("../shared/datasets");
        let ws = tempfile::tempdir().unwrap();
        let krate = ws.path().join("crates").join("c");
        std::fs::create_dir_all(&krate).unwrap();
        std::fs::write(ws.path().join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
        std::fs::write(krate.join("Cargo.toml"), "[package]\nname = \"c\"\n").unwrap();
        // The shell's directory wins over the crate directory cargo runs a test binary in.
        let pwd = Path::new("/home/u/recs");
        assert_eq!(
            resolve_mirror(rel, Some(pwd), Some(&krate)),
            pwd.join("../shared/datasets")
        );
        // Without $PWD (or with a relative one): the workspace root above the crate.
        for p in [None, Some(Path::new("relative"))] {
            assert_eq!(
                resolve_mirror(rel, p, Some(&krate)),
                ws.path().join("../shared/datasets")
            );
        }
        // Neither: the current directory.
        assert_eq!(
            resolve_mirror(rel, None, None),
            std::env::current_dir().unwrap().join(rel)
        );
    }
}

#[cfg(test)]
mod verification_tests {
    use super::*;

    /// A cut source file (here a dataset without checksums, so its parse fails) is named
    /// in the source directory, not in the staging copy that is removed with the failure.
    #[test]
    fn a_failed_install_names_the_source_file_and_leaves_nothing() {
        let info = dataset("ml-1m").unwrap();
        let (from, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for f in &info.files {
            std::fs::write(from.path().join(&f.name), "1::1193::5::978300760\n1::661::").unwrap();
        }
        let e = install_from_dir("ml-1m", from.path(), data.path())
            .unwrap_err()
            .to_string();
        let ratings = from.path().join(&info.files[0].name);
        assert!(
            e.starts_with(&ratings.display().to_string()) && e.contains("nothing was installed"),
            "{e}"
        );
        assert!(!e.contains(".partial"), "{e}");
        let left: Vec<_> = std::fs::read_dir(data.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn only_datasets_with_checksums_are_called_verified() {
        let with = dataset("ml-100k").unwrap();
        assert!(
            verification(&with).starts_with("verified"),
            "{}",
            verification(&with)
        );
        let without = dataset("ml-1m").unwrap();
        assert_eq!(verification(&without), "counts checked, no checksum known");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_files_parse_and_names_are_unique() {
        let all = datasets();
        assert_eq!(all.len(), 6);
        for d in &all {
            assert!(d.url.starts_with("https://"), "{}", d.name);
            assert!(["zip", "file"].contains(&d.archive.as_str()), "{}", d.name);
            assert!(!d.files.is_empty(), "{}", d.name);
        }
        let mut names: Vec<_> = all.iter().map(|d| d.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        let ml = dataset("ml-100k").unwrap();
        assert_eq!(ml.files.len(), 6);
        assert!(
            ml.files
                .iter()
                .all(|f| f.sha256.as_ref().is_some_and(|s| s.len() == 64))
        );
        assert!(dataset("nope").unwrap_err().to_string().contains("ml-100k"));
    }
}
