//! The admin token: what `POST /v1/reload` must carry (`Authorization: Bearer TOKEN`).
//!
//! The server binds loopback by default, but a web page open in a browser on the same
//! machine can still send simple requests to it; a form POST carries no `Authorization`
//! header, and a page cannot add one to a cross-origin request without the server's CORS
//! consent (which recs never gives). So reload over HTTP is off unless the server is
//! started with a token (`recs serve --admin-token-file FILE`); SIGHUP reloads either way.

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

/// The longest token file read (the token is its first line).
const MAX_FILE_BYTES: u64 = 4096;
/// The shortest token accepted.
pub const MIN_TOKEN_CHARS: usize = 16;

/// A secret compared in constant time; `Debug` never prints it.
#[derive(Clone)]
pub struct AdminToken(Arc<[u8]>);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

impl AdminToken {
    /// A token of at least [`MIN_TOKEN_CHARS`] visible ASCII characters (surrounding
    /// whitespace removed).
    pub fn new(token: &str) -> Result<Self, String> {
        let t = token.trim();
        if t.len() < MIN_TOKEN_CHARS {
            return Err(format!(
                "the admin token has {} characters: use at least {MIN_TOKEN_CHARS} (e.g. `openssl rand -hex 32`)",
                t.len()
            ));
        }
        if let Some(c) = t.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(format!(
                "the admin token holds {c:?}: use visible ASCII characters only"
            ));
        }
        Ok(Self(Arc::from(t.as_bytes())))
    }

    /// The token in the first line of `path`, a regular file of at most 4 KiB.
    pub fn read(path: &Path) -> Result<Self, String> {
        let named = |e: String| format!("--admin-token-file {}: {e}", path.display());
        let meta = std::fs::metadata(path).map_err(|e| named(e.to_string()))?;
        if !meta.is_file() {
            return Err(named("not a regular file".into()));
        }
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_string(&mut text))
            .map_err(|e| named(e.to_string()))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(named(format!(
                "longer than {MAX_FILE_BYTES} bytes: the token is its first line"
            )));
        }
        Self::new(text.lines().next().unwrap_or("")).map_err(named)
    }

    /// Whether `given` is the token. The time taken depends on the lengths only, never on
    /// where the bytes first differ (every byte is compared; the differences are OR-ed).
    pub fn matches(&self, given: &[u8]) -> bool {
        let want = &self.0;
        if given.len() != want.len() {
            return false;
        }
        let diff = given
            .iter()
            .zip(want.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }

    /// Whether an `Authorization` header value carries the token (`Bearer TOKEN`).
    pub fn authorizes(&self, header: Option<&[u8]>) -> bool {
        match header.and_then(|h| h.strip_prefix(b"Bearer ")) {
            Some(t) => self.matches(t.trim_ascii()),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_exactly_and_short_or_odd_ones_are_refused() {
        let t = AdminToken::new("  0123456789abcdef0123  \n").unwrap();
        assert!(t.matches(b"0123456789abcdef0123"));
        assert!(!t.matches(b"0123456789abcdef0124"));
        assert!(!t.matches(b"0123456789abcdef012"));
        assert!(!t.matches(b""));
        assert!(t.authorizes(Some(b"Bearer 0123456789abcdef0123")));
        assert!(!t.authorizes(Some(b"bearer 0123456789abcdef0123")));
        assert!(!t.authorizes(Some(b"0123456789abcdef0123")));
        assert!(!t.authorizes(None));
        assert!(
            AdminToken::new("short")
                .unwrap_err()
                .contains("at least 16")
        );
        assert!(AdminToken::new("0123456789 abcdef").is_err());
        assert_eq!(format!("{t:?}"), "AdminToken(…)");
    }

    #[test]
    fn the_file_is_a_regular_small_file_whose_first_line_is_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "0123456789abcdef0123\nignored\n").unwrap();
        assert!(
            AdminToken::read(&p)
                .unwrap()
                .matches(b"0123456789abcdef0123")
        );
        std::fs::write(&p, vec![b'a'; 5000]).unwrap();
        assert!(
            AdminToken::read(&p)
                .unwrap_err()
                .contains("longer than 4096")
        );
        let e = AdminToken::read(dir.path()).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let e = AdminToken::read(&dir.path().join("missing")).unwrap_err();
        assert!(e.contains("--admin-token-file"), "{e}");
    }
}
