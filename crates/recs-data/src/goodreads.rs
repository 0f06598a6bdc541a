//! Goodreads (UCSD Book Graph) interactions: JSON lines, usually gzip-compressed
//! (`goodreads_interactions_<genre>.json.gz`), one object per line with at least `user_id`,
//! `book_id` and `rating` (0 = shelved without a rating). Other fields are ignored.

use std::path::Path;

use serde::Deserialize;

use crate::delimited::{for_each_line, open_maybe_gz};
use crate::{DataError, Interactions};

/// An id that the files write as a string or as a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Id {
    Text(String),
    Int(i64),
}

impl Id {
    fn as_string(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Id::Text(s) => std::borrow::Cow::Borrowed(s),
            Id::Int(i) => std::borrow::Cow::Owned(i.to_string()),
        }
    }
}

#[derive(Deserialize)]
struct Line {
    user_id: Id,
    book_id: Id,
    rating: f64,
}

/// Loads a Goodreads interactions file (`.json` or `.json.gz`). Errors name the file, the
/// line and what was expected.
pub fn load_goodreads(path: &Path) -> Result<Interactions, DataError> {
    let reader = open_maybe_gz(path)?;
    let mut b = Interactions::builder();
    for_each_line(path, reader, |no, text| {
        let l: Line = serde_json::from_str(text).map_err(|e| {
            DataError::parse(
                path,
                no,
                format!("expected a JSON object with user_id, book_id and a numeric rating: {e}"),
            )
        })?;
        let r = l.rating as f32;
        if !r.is_finite() {
            return Err(DataError::parse(
                path,
                no,
                format!("rating {} is not finite", l.rating),
            ));
        }
        b.push(&l.user_id.as_string(), &l.book_id.as_string(), r, None);
        Ok(())
    })?;
    if b.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(b.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_gzip_json_lines_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.json.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(
            b"{\"user_id\": \"8842281e\", \"book_id\": \"24375664\", \"review_id\": \"x\", \"is_read\": true, \"rating\": 5}\n\
              {\"user_id\": \"8842281e\", \"book_id\": 18245960, \"rating\": 0}\n\
              {\"user_id\": \"72fb0d0\", \"book_id\": \"24375664\", \"rating\": 3}\n",
        )
        .unwrap();
        std::fs::write(&p, enc.finish().unwrap()).unwrap();
        let d = load_goodreads(&p).unwrap();
        assert_eq!((d.len(), d.n_users(), d.n_items()), (3, 2, 2));
        assert_eq!(d.values(), &[5.0, 0.0, 3.0]);
        assert_eq!(d.item_map().external(1), "18245960");

        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, b"{\"user_id\": \"a\", \"book_id\": \"b\", \"rating\": 1}\n{\"user_id\": \"a\", \"rating\": 1}\n").unwrap();
        let e = load_goodreads(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.json:2") && e.contains("book_id"), "{e}");
        let not_gz = dir.path().join("plain.json.gz");
        std::fs::write(&not_gz, b"{}\n").unwrap();
        assert!(
            load_goodreads(&not_gz)
                .unwrap_err()
                .to_string()
                .contains("not gzip")
        );
    }
}
