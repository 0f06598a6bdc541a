//! Writing a file so that a reader never sees half of it, and a killed writer leaves nothing
//! that a later write does not clean up.
//!
//! [`write`] writes into a temporary file in the target's directory, named
//! `.recs-tmp-<pid>-<random>` (hidden, and recognisably ours), syncs it and renames it over
//! the target. The file gets the permissions the umask gives a new file (mode `0o666` less
//! the umask), like any file a shell redirection creates, not the `0o600` of a temporary
//! file. Before writing, temporary files of ours in that directory whose process is gone
//! (killed during its write) are removed; those of a live process are left alone.
//!
//! [`check_target`] is the same target check on its own, for a front-end to refuse a bad
//! output path before any work starts: a directory, a FIFO, a device or a socket is never
//! written to, and the directory must exist and take a new file.

use std::fs;
use std::io::{self, BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};

/// The name prefix of every temporary file [`write`] creates.
pub const TEMP_PREFIX: &str = ".recs-tmp-";

/// Temporary files of a process that cannot be checked (no `/proc`) count as stale after this.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn invalid(message: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidInput, message)
}

/// What kind of non-regular file `m` describes, in words.
fn file_kind(m: &fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = m.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    if m.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// The directory `path` is in (`.` for a bare name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Refuses an existing `path` that is not a regular file (a directory, FIFO, device or socket);
/// a symbolic link is followed, and the path it leads to is returned.
pub fn refuse_special(path: &Path) -> io::Result<PathBuf> {
    // `out/` names a directory whether or not it exists.
    if path
        .as_os_str()
        .to_string_lossy()
        .ends_with(std::path::is_separator)
    {
        return Err(invalid(format!(
            "{} names a directory (it ends with a separator), not a file",
            path.display()
        )));
    }
    let resolved = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).unwrap_or(path.into()),
        _ => path.to_path_buf(),
    };
    match fs::metadata(&resolved) {
        Ok(m) if !m.is_file() => Err(invalid(format!(
            "{} is {}, not a regular file",
            path.display(),
            file_kind(&m)
        ))),
        Ok(_) => Ok(resolved),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(resolved),
        Err(e) => Err(e),
    }
}

/// Checks, without writing the target, that [`write`] can write `path`: it is not a
/// directory, FIFO, device or socket, its directory exists, and a new file can be created
/// there (created and removed again: the one test that sees permissions, read-only file
/// systems and ACLs alike). Returns the path a symbolic link leads to, else `path`.
pub fn check_target(path: &Path) -> io::Result<PathBuf> {
    let resolved = refuse_special(path)?;
    let dir = parent_dir(&resolved);
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(invalid(format!("{} is not a directory", dir.display())));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(invalid(format!(
                "the directory {} does not exist",
                dir.display()
            )));
        }
        Err(e) => return Err(e),
    }
    temp_in(dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot create a file in {}: {e}", dir.display()),
        )
    })?;
    Ok(resolved)
}

fn temp_in(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    let mut b = tempfile::Builder::new();
    let prefix = format!("{TEMP_PREFIX}{}-", std::process::id());
    b.prefix(&prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Open's mode, less the umask: the permissions any new file gets.
        b.permissions(fs::Permissions::from_mode(0o666));
    }
    b.tempfile_in(dir)
}

/// Whether process `pid` is running; `None` where this cannot be told (no `/proc`).
fn alive(pid: u32) -> Option<bool> {
    if !Path::new("/proc/self").exists() {
        return None;
    }
    Some(Path::new("/proc").join(pid.to_string()).exists())
}

/// Removes temporary files of ours in `dir` left by a process that is gone (killed while
/// writing). Errors are ignored: cleaning up is a courtesy, never a reason to fail a write.
pub fn clean_stale(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let me = std::process::id();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(m) = e.metadata() else { continue };
        if pid == me || !m.is_file() {
            continue;
        }
        let stale = match alive(pid) {
            Some(alive) => !alive,
            None => m
                .modified()
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_AFTER),
        };
        if stale {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Writes `path` atomically: `fill` writes the content into a temporary file in the same
/// directory, which is synced and renamed over `path` (see the module documentation). A
/// directory, FIFO, device or socket at `path` is refused; a symbolic link is written
/// through. On any error the temporary file is removed and `path` is untouched.
pub fn write(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let target = refuse_special(path)?;
    let dir = parent_dir(&target);
    clean_stale(dir);
    let tmp = temp_in(dir)?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        fill(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| e.error)?;
    Ok(())
}

/// [`write`] of a byte string.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write(path, |w| w.write_all(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    #[test]
    fn writes_cleans_stale_and_refuses_special_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        // A file left by a writer that is gone (pid 0 is never a process we can see in /proc
        // on Linux; elsewhere it is old enough to count as stale).
        let stale = dir.path().join(format!("{TEMP_PREFIX}0-abc"));
        fs::write(&stale, b"half").unwrap();
        let old = std::time::SystemTime::now() - 2 * STALE_AFTER;
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        // One of a live process (us) is left alone.
        let live = dir
            .path()
            .join(format!("{TEMP_PREFIX}{}-xyz", std::process::id()));
        fs::write(&live, b"busy").unwrap();
        write_bytes(&p, b"hello").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        assert!(!stale.exists(), "a dead writer's temporary file is removed");
        assert!(live.exists());
        fs::remove_file(&live).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");

        assert!(write_bytes(dir.path(), b"x").is_err(), "a directory");
        assert!(check_target(dir.path()).is_err());
        assert!(check_target(&dir.path().join("no/such/dir/f")).is_err());
        let slash = format!("{}/", dir.path().join("new").display());
        assert!(
            check_target(Path::new(&slash)).is_err(),
            "a trailing separator"
        );
        assert!(check_target(&p).is_ok());
        // A failing writer leaves the target as it was, and no temporary file.
        let e = write(&p, |_| Err(io::Error::other("boom"))).unwrap_err();
        assert_eq!(e.to_string(), "boom");
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn umask_permissions_and_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        write_bytes(&p, b"x").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // The mode any new file gets under this umask, not a temporary file's 0o600.
        let plain = dir.path().join("plain");
        File::create(&plain).unwrap();
        assert_eq!(mode(&p), mode(&plain));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        write_bytes(&link, b"through").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&p).unwrap(), b"through");
    }
}
