//! MovieLens loaders: 100k (`u.data`, tab-separated, titles in latin-1 `u.item`), 1M / 10M
//! (`::`-separated `ratings.dat`, `movies.dat`), 20M and latest-small (`ratings.csv` with a
//! header, `movies.csv`).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::delimited::{DelimitedOptions, load_delimited};
use crate::{DataError, Interactions};

/// Loads MovieLens 100k's `u.data` from `dir`.
pub fn load_ml100k(dir: &Path) -> Result<Interactions, DataError> {
    load_delimited(&dir.join("u.data"), &DelimitedOptions::uirt("\t", false))
}

/// Loads MovieLens 1M or 10M's `ratings.dat` (`::`-separated) from `dir`.
pub fn load_ml_dat(dir: &Path) -> Result<Interactions, DataError> {
    load_delimited(
        &dir.join("ratings.dat"),
        &DelimitedOptions::uirt("::", false),
    )
}

/// Loads MovieLens 20M or latest-small's `ratings.csv` (with a header) from `dir`.
pub fn load_ml_csv(dir: &Path) -> Result<Interactions, DataError> {
    load_delimited(&dir.join("ratings.csv"), &DelimitedOptions::uirt(",", true))
}

/// The largest titles file [`item_titles`] reads (MovieLens 20M's `movies.csv` is 1.4 MB).
pub const TITLES_MAX_BYTES: u64 = 64 << 20;

/// External item id → title, from whichever of `u.item` (latin-1, `|`-separated),
/// `movies.dat` (`::`) or `movies.csv` (quoted CSV with a header) `dir` holds.
///
/// Only regular files are read (a pipe or a device in their place is refused, never read),
/// each at most [`TITLES_MAX_BYTES`].
pub fn item_titles(dir: &Path) -> Result<HashMap<String, String>, DataError> {
    let mut out = HashMap::new();
    let u_item = dir.join("u.item");
    let dat = dir.join("movies.dat");
    let csv_path = dir.join("movies.csv");
    for p in [&u_item, &dat, &csv_path] {
        if let Ok(m) = std::fs::metadata(p) {
            if !m.is_file() {
                return Err(DataError::parse(p, 0, "not a regular file".to_string()));
            }
            if m.len() > TITLES_MAX_BYTES {
                return Err(DataError::parse(
                    p,
                    0,
                    format!(
                        "{} bytes: a titles file is at most {TITLES_MAX_BYTES} bytes",
                        m.len()
                    ),
                ));
            }
        }
    }
    if u_item.exists() || dat.exists() {
        let (path, sep) = if u_item.exists() {
            (u_item, "|")
        } else {
            (dat, "::")
        };
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| DataError::io(&path, e))?;
        // Latin-1: every byte is the code point of the same value.
        let text: String = bytes.iter().map(|&b| b as char).collect();
        for (no, line) in text.lines().enumerate() {
            if line.is_empty() {
                continue;
            }
            let mut f = line.splitn(3, sep);
            match (f.next(), f.next()) {
                (Some(id), Some(title)) => {
                    out.insert(id.to_string(), title.to_string());
                }
                _ => {
                    return Err(DataError::parse(
                        &path,
                        no + 1,
                        format!("expected id{sep}title"),
                    ));
                }
            }
        }
    } else if csv_path.exists() {
        let mut r = csv::Reader::from_path(&csv_path)
            .map_err(|e| DataError::parse(&csv_path, 1, e.to_string()))?;
        for (no, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| DataError::parse(&csv_path, no + 2, e.to_string()))?;
            match (rec.get(0), rec.get(1)) {
                (Some(id), Some(title)) => {
                    out.insert(id.to_string(), title.to_string());
                }
                _ => {
                    return Err(DataError::parse(
                        &csv_path,
                        no + 2,
                        "expected movieId,title",
                    ));
                }
            }
        }
    } else {
        return Err(DataError::io(
            dir.join("u.item"),
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no u.item, movies.dat or movies.csv here",
            ),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn malformed_lines_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u.data");
        std::fs::File::create(&p)
            .unwrap()
            .write_all(b"1\t2\t3\t4\n1\t3\tabc\t5\n")
            .unwrap();
        let e = load_ml100k(dir.path()).unwrap_err().to_string();
        assert!(e.contains("u.data:2") && e.contains("'abc'"), "{e}");
        std::fs::File::create(&p)
            .unwrap()
            .write_all(b"1\t2\tNaN\t4\n")
            .unwrap();
        assert!(
            load_ml100k(dir.path())
                .unwrap_err()
                .to_string()
                .contains("not finite")
        );
        std::fs::File::create(&p)
            .unwrap()
            .write_all(b"1\t2\n")
            .unwrap();
        assert!(
            load_ml100k(dir.path())
                .unwrap_err()
                .to_string()
                .contains("expected at least 4 fields")
        );
        std::fs::File::create(&p).unwrap().write_all(b"").unwrap();
        assert!(
            load_ml100k(dir.path())
                .unwrap_err()
                .to_string()
                .contains("no interaction")
        );
        std::fs::File::create(&p)
            .unwrap()
            .write_all(b"1\t2\t3\t4\n\xff\t2\t3\t4\n")
            .unwrap();
        assert!(
            load_ml100k(dir.path())
                .unwrap_err()
                .to_string()
                .contains("u.data:2: the line is not valid UTF-8")
        );
        assert!(matches!(
            load_ml100k(&dir.path().join("nope")),
            Err(DataError::Io { .. })
        ));
    }
}
