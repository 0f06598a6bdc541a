//! The hand-written loader that `load_delimited` replaced (commit 5afc1b4), kept verbatim
//! but for paths, so the benchmark measures old and new in the same run.
#![allow(dead_code)]
//! (Original module doc:) The generic delimited loader: any text file of one interaction per line, fields split by
//! a delimiter (one or more characters, e.g. `,`, `\t`, `::`), with or without a header,
//! user / item / rating / timestamp columns chosen by header name or by position. Files
//! whose name ends in `.gz` are decompressed on the fly.
//!
//! Fields are split literally (no CSV quoting): rating files never quote their fields.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use recs_data::{Column, DataError, Interactions};

fn io_err(path: &Path, source: std::io::Error) -> DataError {
    DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn parse_err(path: &Path, line: usize, message: impl Into<String>) -> DataError {
    DataError::Parse {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

const MAX_FIELDS: usize = 32;

/// How to read a delimited file.
#[derive(Debug, Clone)]
pub struct DelimitedOptions {
    /// Field separator, one or more characters. Default `,`.
    pub delimiter: String,
    /// Whether the first line names the columns. Default `true`.
    pub has_header: bool,
    /// User column. Default position 0.
    pub user: Column,
    /// Item column. Default position 1.
    pub item: Column,
    /// Rating column; `None` gives every row the value 1 (implicit feedback). Default
    /// position 2.
    pub rating: Option<Column>,
    /// Timestamp column (integer), if any. Default `None`.
    pub timestamp: Option<Column>,
    /// Whether a line may have more fields than the first line (the extras are ignored).
    /// Default `true`: real files carry stray trailing fields (two lines of the 2016
    /// ml-latest-small `ratings.csv` do). Fewer fields than the first line is always an error.
    pub allow_extra_fields: bool,
}

impl Default for DelimitedOptions {
    fn default() -> Self {
        Self {
            delimiter: ",".into(),
            has_header: true,
            user: Column::Index(0),
            item: Column::Index(1),
            rating: Some(Column::Index(2)),
            timestamp: None,
            allow_extra_fields: true,
        }
    }
}

impl DelimitedOptions {
    /// `user item rating timestamp` by position, no header, the given delimiter.
    pub fn uirt(delimiter: &str, has_header: bool) -> Self {
        Self {
            delimiter: delimiter.into(),
            has_header,
            user: Column::Index(0),
            item: Column::Index(1),
            rating: Some(Column::Index(2)),
            timestamp: Some(Column::Index(3)),
            allow_extra_fields: true,
        }
    }

    /// Checks the options: a non-empty delimiter, names only with a header.
    pub fn validate(&self) -> Result<(), DataError> {
        if self.delimiter.is_empty() || self.delimiter.contains(['\n', '\r']) {
            return Err(DataError::Param {
                name: "delimiter",
                value: format!("{:?}", self.delimiter),
                allowed: "one or more characters, no line break",
            });
        }
        let by_name = [Some(&self.user), Some(&self.item)]
            .into_iter()
            .chain([self.rating.as_ref(), self.timestamp.as_ref()])
            .flatten()
            .any(|c| matches!(c, Column::Name(_)));
        if by_name && !self.has_header {
            return Err(DataError::Param {
                name: "column",
                value: "a column chosen by name".into(),
                allowed: "names only when has_header is true; use positions otherwise",
            });
        }
        Ok(())
    }
}

/// Opens `path`, decompressing it when its name ends in `.gz`. A `.gz` that is not gzip is
/// refused naming the file.
pub fn open_maybe_gz(path: &Path) -> Result<Box<dyn BufRead>, DataError> {
    let mut file = File::open(path).map_err(|e| io_err(path, e))?;
    let gz = path.extension().is_some_and(|e| e == "gz");
    if !gz {
        return Ok(Box::new(BufReader::with_capacity(1 << 20, file)));
    }
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut file, &mut magic).map_err(|e| io_err(path, e))?;
    if n < 2 || magic != [0x1f, 0x8b] {
        return Err(parse_err(
            path,
            1,
            "the file is named .gz but is not gzip-compressed (no gzip magic bytes 1f 8b)",
        ));
    }
    let file = File::open(path).map_err(|e| io_err(path, e))?;
    Ok(Box::new(BufReader::with_capacity(
        1 << 20,
        flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, file)),
    )))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Reads lines of `reader` one at a time as UTF-8, calling `f(line_no, text)` for every
/// non-empty line (line ending stripped). Invalid UTF-8 is refused naming the line.
pub fn for_each_line(
    path: &Path,
    mut reader: impl BufRead,
    mut f: impl FnMut(usize, &str) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let mut buf = Vec::with_capacity(256);
    let mut no = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput => parse_err(
                    path,
                    no + 1,
                    format!("the data is corrupt or truncated: {e}"),
                ),
                std::io::ErrorKind::UnexpectedEof => {
                    parse_err(path, no + 1, "the compressed data ends early (truncated)")
                }
                _ => io_err(path, e),
            })?;
        if n == 0 {
            return Ok(());
        }
        no += 1;
        let text = std::str::from_utf8(&buf)
            .map_err(|_| parse_err(path, no, "the line is not valid UTF-8"))?;
        let text = text.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            continue;
        }
        f(no, text)?;
    }
}

fn resolve(
    path: &Path,
    header: Option<&[&str]>,
    c: &Column,
    what: &str,
) -> Result<usize, DataError> {
    match c {
        Column::Index(i) => Ok(*i),
        Column::Name(n) => header
            .and_then(|h| h.iter().position(|f| f.trim() == n))
            .ok_or_else(|| {
                parse_err(
                    path,
                    1,
                    format!(
                        "the header has no {what} column '{n}' (header: {})",
                        header.map(|h| h.join(",")).unwrap_or_default()
                    ),
                )
            }),
    }
}

/// Parses a rating field: a finite number.
pub fn parse_rating(path: &Path, no: usize, field: &str) -> Result<f32, DataError> {
    let v: f32 = field.trim().parse().map_err(|_| {
        parse_err(
            path,
            no,
            format!("rating '{field}' is not a number (expected e.g. 4 or 3.5)"),
        )
    })?;
    if !v.is_finite() {
        return Err(parse_err(
            path,
            no,
            format!("rating '{field}' is not finite (expected a finite number)"),
        ));
    }
    Ok(v)
}

/// Column positions and the field count of the first line.
#[derive(Clone, Copy)]
struct Layout {
    u: usize,
    i: usize,
    r: Option<usize>,
    t: Option<usize>,
    n: usize,
}

/// Loads a delimited file as described by `opts`. Every line must have as many fields as
/// the first (more are allowed with `allow_extra_fields`); errors name the file, the line and what was expected.
pub fn load_delimited(path: &Path, opts: &DelimitedOptions) -> Result<Interactions, DataError> {
    opts.validate()?;
    let reader = open_maybe_gz(path)?;
    let delim = opts.delimiter.as_str();
    let mut b = Interactions::builder();
    // (user, item, rating, timestamp) positions and the field count, fixed by the first line.
    let mut layout: Option<Layout> = None;
    for_each_line(path, reader, |no, text| {
        // Up to MAX_FIELDS fields are kept (no allocation per line); more are only counted.
        let mut store = [""; MAX_FIELDS];
        let mut count = 0usize;
        for f in text.split(delim) {
            if count < MAX_FIELDS {
                store[count] = f;
            }
            count += 1;
        }
        let local = &store[..count.min(MAX_FIELDS)];
        let Some(Layout { u, i, r, t, n }) = layout else {
            let header = opts.has_header.then_some(local);
            let u = resolve(path, header, &opts.user, "user")?;
            let i = resolve(path, header, &opts.item, "item")?;
            let r = opts
                .rating
                .as_ref()
                .map(|c| resolve(path, header, c, "rating"))
                .transpose()?;
            let t = opts
                .timestamp
                .as_ref()
                .map(|c| resolve(path, header, c, "timestamp"))
                .transpose()?;
            let need = [Some(u), Some(i), r, t]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(0)
                + 1;
            if need > MAX_FIELDS {
                return Err(DataError::Param {
                    name: "column",
                    value: format!("position {}", need - 1),
                    allowed: "positions below 32",
                });
            }
            if count < need {
                return Err(parse_err(
                    path,
                    no,
                    format!(
                        "expected at least {need} fields separated by {delim:?}, found {count}"
                    ),
                ));
            }
            layout = Some(Layout {
                u,
                i,
                r,
                t,
                n: count,
            });
            if opts.has_header {
                return Ok(());
            }
            return push_row(&mut b, path, no, local, (u, i, r, t));
        };
        if count < n || (count > n && !opts.allow_extra_fields) {
            return Err(parse_err(
                path,
                no,
                format!(
                    "expected {n} fields separated by {delim:?} (as on the first line), found {count}"
                ),
            ));
        }
        push_row(&mut b, path, no, local, (u, i, r, t))
    })?;
    if b.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(b.build())
}

fn push_row(
    b: &mut recs_data::InteractionsBuilder,
    path: &Path,
    no: usize,
    f: &[&str],
    (u, i, r, t): (usize, usize, Option<usize>, Option<usize>),
) -> Result<(), DataError> {
    let rating = match r {
        Some(r) => parse_rating(path, no, f[r])?,
        None => 1.0,
    };
    let ts =
        match t {
            Some(t) => Some(f[t].trim().parse::<i64>().map_err(|_| {
                parse_err(path, no, format!("timestamp '{}' is not an integer", f[t]))
            })?),
            None => None,
        };
    let (user, item) = (f[u].trim(), f[i].trim());
    if user.is_empty() || item.is_empty() {
        return Err(parse_err(
            path,
            no,
            "expected a user id and an item id, found an empty field",
        ));
    }
    b.push(user, item, rating, ts);
    Ok(())
}
