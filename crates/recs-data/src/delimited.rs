//! The generic delimited loader: any text file of one interaction per record, fields split
//! by a delimiter, with or without a header, user / item / rating / timestamp columns chosen
//! by header name or by position. Files whose name ends in `.gz` are decompressed on the fly.
//!
//! - A one-byte delimiter (`,`, `\t`, `;`, `|`, …) is read with the `csv` crate's parser
//!   (`csv-core`; lines without a quote are split directly, as RFC 4180 reads them): RFC 4180
//!   quoting (`"a,b"`, `""` for a quote inside a quoted field, line breaks inside quotes),
//!   `\n`, `\r\n` or `\r` line endings. Comments are off unless [`DelimitedOptions::comment`]
//!   names a byte.
//! - A longer delimiter (MovieLens 1M/10M's `::`) splits each line literally (no quoting).
//! - A UTF-8 byte-order mark at the start of the file is dropped: it never becomes part of
//!   the first header name or of the first user id. A UTF-16 file is refused, saying so.
//! - [`Header::Auto`] (the default): the first row is a header when none of its fields is a
//!   number (`user,item,rating`); a row holding a number (`196,242,3`, `alice,m1,5`) is data,
//!   so a malformed first data row (`1,10,x`) is an error, never a silently dropped row.
//!   Columns given by name need a header. [`Header::Yes`] / [`Header::No`] decide outright.
//! - Fields the loader uses are trimmed of surrounding spaces and must be UTF-8; other fields
//!   are not looked at.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::ops::ControlFlow;
use std::path::Path;

use crate::{DataError, Interactions};

/// A column chosen by header name or by 0-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// The column whose header is this name (needs a header).
    Name(String),
    /// The column at this 0-based position.
    Index(usize),
}

impl From<usize> for Column {
    fn from(i: usize) -> Self {
        Column::Index(i)
    }
}

impl From<&str> for Column {
    fn from(s: &str) -> Self {
        Column::Name(s.to_string())
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Name(n) => write!(f, "'{n}'"),
            Column::Index(i) => write!(f, "position {i}"),
        }
    }
}

/// Whether the first row of a file names the columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Header {
    /// Decide from the first row: a header when none of its fields is a number, data
    /// otherwise. Columns chosen by name always mean a header.
    #[default]
    Auto,
    /// The first row is a header.
    Yes,
    /// There is no header: the first row is data.
    No,
}

/// How to read a delimited file.
#[derive(Debug, Clone)]
pub struct DelimitedOptions {
    /// Field separator, one or more characters. Default `,`.
    pub delimiter: String,
    /// Whether the first line names the columns. Default [`Header::Auto`].
    pub header: Header,
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
    /// A byte that starts a comment line (skipped), e.g. `Some(b'#')`. Default `None`: a
    /// line starting with `#` is data like any other.
    pub comment: Option<u8>,
    /// The longest line, or quoted record over several lines, read (bytes). Default
    /// [`MAX_RECORD_BYTES`]; a longer one is an error naming the file and line, so memory
    /// stays bounded on input without line breaks (a decompression bomb, `/dev/zero`, an
    /// unclosed quote). Ids are fields of a record, so this bounds them too.
    pub max_record_bytes: usize,
}

/// The default longest line or record: 1 MiB.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

impl Default for DelimitedOptions {
    fn default() -> Self {
        Self {
            delimiter: ",".into(),
            header: Header::Auto,
            user: Column::Index(0),
            item: Column::Index(1),
            rating: Some(Column::Index(2)),
            timestamp: None,
            allow_extra_fields: true,
            comment: None,
            max_record_bytes: MAX_RECORD_BYTES,
        }
    }
}

impl DelimitedOptions {
    /// `user item rating timestamp` by position, the given delimiter, a header or not.
    pub fn uirt(delimiter: &str, has_header: bool) -> Self {
        Self {
            delimiter: delimiter.into(),
            header: if has_header { Header::Yes } else { Header::No },
            user: Column::Index(0),
            item: Column::Index(1),
            rating: Some(Column::Index(2)),
            timestamp: Some(Column::Index(3)),
            allow_extra_fields: true,
            comment: None,
            max_record_bytes: MAX_RECORD_BYTES,
        }
    }

    /// The chosen columns with their role names, in the order user, item, rating, timestamp.
    pub(crate) fn roles(&self) -> Vec<(&'static str, &Column)> {
        let mut v = vec![("user", &self.user), ("item", &self.item)];
        if let Some(r) = &self.rating {
            v.push(("rating", r));
        }
        if let Some(t) = &self.timestamp {
            v.push(("timestamp", t));
        }
        v
    }

    fn by_name(&self) -> bool {
        self.roles()
            .iter()
            .any(|(_, c)| matches!(c, Column::Name(_)))
    }

    /// Checks the options: a delimiter that is neither empty nor a line break nor a quote,
    /// names only with a header, no column given for two roles.
    pub fn validate(&self) -> Result<(), DataError> {
        if self.max_record_bytes == 0 {
            return Err(DataError::Param {
                name: "max-record-bytes",
                value: "0".into(),
                allowed: "at least 1",
            });
        }
        if self.delimiter.is_empty()
            || self.delimiter.contains(['\n', '\r'])
            || (self.delimiter.len() == 1 && self.delimiter == "\"")
        {
            return Err(DataError::Param {
                name: "delimiter",
                value: format!("{:?}", self.delimiter),
                allowed: "one or more characters, no line break, not a lone quote",
            });
        }
        let bad_comment = self.comment.filter(|&c| {
            c == b'\n' || c == b'\r' || c == b'"' || self.delimiter.as_bytes().contains(&c)
        });
        if let Some(c) = bad_comment {
            return Err(DataError::Param {
                name: "comment",
                value: format!("{:?}", c as char),
                allowed: "a byte that is not a line break, a quote or part of the delimiter",
            });
        }
        if self.by_name() && self.header == Header::No {
            return Err(DataError::Param {
                name: "column",
                value: "a column chosen by name".into(),
                allowed: "names only when the file has a header; use positions otherwise",
            });
        }
        let roles = self.roles();
        for (a, (ra, ca)) in roles.iter().enumerate() {
            for (rb, cb) in &roles[a + 1..] {
                if ca == cb {
                    return Err(DataError::Input(format!(
                        "the {ra} column and the {rb} column are both {ca}; give each column once"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Opens `path`, decompressing it when its name ends in `.gz`, and drops a UTF-8
/// byte-order mark at its start. A `.gz` that is not gzip and a UTF-16 file are refused
/// naming the file.
pub(crate) fn open_maybe_gz(path: &Path) -> Result<Box<dyn BufRead>, DataError> {
    let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(DataError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::IsADirectory, "a directory, not a file"),
        ));
    }
    let gz = path.extension().is_some_and(|e| e == "gz");
    let reader: Box<dyn BufRead> = if !gz {
        Box::new(BufReader::with_capacity(1 << 20, file))
    } else {
        let mut magic = [0u8; 2];
        let n = read_up_to(&mut file, &mut magic).map_err(|e| DataError::io(path, e))?;
        if n < 2 || magic != [0x1f, 0x8b] {
            return Err(DataError::parse(
                path,
                1,
                "the file is named .gz but is not gzip-compressed (no gzip magic bytes 1f 8b)",
            ));
        }
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, file)),
        ))
    };
    strip_bom(path, reader)
}

/// Drops a UTF-8 byte-order mark; refuses UTF-16 (either byte order). Looks at the
/// reader's buffer (no extra layer) unless it holds fewer than 3 bytes.
fn strip_bom(path: &Path, mut r: Box<dyn BufRead>) -> Result<Box<dyn BufRead>, DataError> {
    const BOM: [u8; 3] = [0xef, 0xbb, 0xbf];
    let utf16 = |h: &[u8]| h.len() >= 2 && (h[..2] == [0xff, 0xfe] || h[..2] == [0xfe, 0xff]);
    let refuse = || {
        DataError::parse(
            path,
            1,
            "the file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8",
        )
    };
    let head = r.fill_buf().map_err(|e| io_error(path, 1, e))?;
    if head.len() >= 3 || head.is_empty() {
        if utf16(head) {
            return Err(refuse());
        }
        if head.starts_with(&BOM) {
            r.consume(3);
        }
        return Ok(r);
    }
    let mut head = [0u8; 3];
    let n = read_up_to(&mut r, &mut head).map_err(|e| io_error(path, 1, e))?;
    if utf16(&head[..n]) {
        return Err(refuse());
    }
    let keep = if n == 3 && head == BOM {
        Vec::new()
    } else {
        head[..n].to_vec()
    };
    Ok(Box::new(Cursor::new(keep).chain(r)))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A read error at `line`: corrupt or truncated compressed data is a parse error naming the
/// line, anything else an I/O error naming the file.
fn io_error(path: &Path, line: usize, e: std::io::Error) -> DataError {
    match e.kind() {
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput => {
            DataError::parse(path, line, format!("the data is corrupt or truncated: {e}"))
        }
        std::io::ErrorKind::UnexpectedEof => {
            DataError::parse(path, line, "the compressed data ends early (truncated)")
        }
        _ => DataError::io(path, e),
    }
}

/// `reader.read_until(b'\n', buf)`, reading at most `max + 1` bytes: `Ok(None)` when the
/// line runs past `max` bytes (then `buf` holds its first `max + 1`), else the bytes read.
fn read_capped(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<usize>> {
    let n = (&mut *reader).take(max as u64 + 1).read_until(b'\n', buf)?;
    if n > max && buf.last() != Some(&b'\n') {
        return Ok(None);
    }
    Ok(Some(n))
}

/// The error for a line past `max` bytes.
fn too_long(path: &Path, line: usize, max: usize) -> DataError {
    DataError::parse(
        path,
        line,
        format!(
            "the line is longer than {max} bytes (a line break is missing, or this is not a \
             text file); --max-record-bytes raises the limit"
        ),
    )
}

/// Reads lines of `reader` one at a time as UTF-8, calling `f(line_no, text)` for every
/// non-empty line (line ending stripped). Invalid UTF-8 is refused naming the line.
pub(crate) fn for_each_line(
    path: &Path,
    mut reader: impl BufRead,
    mut f: impl FnMut(usize, &str) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let mut buf = Vec::with_capacity(256);
    let mut no = 0usize;
    loop {
        buf.clear();
        let n = read_capped(&mut reader, &mut buf, MAX_RECORD_BYTES)
            .map_err(|e| io_error(path, no + 1, e))?
            .ok_or_else(|| too_long(path, no + 1, MAX_RECORD_BYTES))?;
        if n == 0 {
            return Ok(());
        }
        no += 1;
        let text = std::str::from_utf8(&buf)
            .map_err(|_| DataError::parse(path, no, "the line is not valid UTF-8"))?;
        let text = text.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            continue;
        }
        f(no, text)?;
    }
}

/// Parses a rating field: a finite number.
pub(crate) fn parse_rating(path: &Path, no: usize, field: &str) -> Result<f32, DataError> {
    let v: f32 = field.trim().parse().map_err(|_| {
        DataError::parse(
            path,
            no,
            format!("rating '{field}' is not a number (expected e.g. 4 or 3.5)"),
        )
    })?;
    if !v.is_finite() {
        return Err(DataError::parse(
            path,
            no,
            format!("rating '{field}' is not finite (expected a finite number)"),
        ));
    }
    Ok(v)
}

/// Records of a file: a line number and fields as bytes.
trait Records {
    /// Moves to the next record; `false` at the end.
    fn advance(&mut self) -> Result<bool, DataError>;
    /// 1-based line where the current record starts.
    fn line(&self) -> usize;
    /// Number of fields of the current record.
    fn len(&self) -> usize;
    /// Field `i < len()` of the current record.
    fn field(&self, i: usize) -> &[u8];
    /// Field `i` as UTF-8, when the reader already knows it is (a validated line).
    fn field_str(&self, _i: usize) -> Option<&str> {
        None
    }
}

/// One-byte delimiters: RFC 4180 records with the `csv` crate's parser (`csv-core`). A line
/// holding neither a quote nor a carriage return (other than its CRLF ending) parses under
/// RFC 4180 exactly as a plain split on the delimiter, so such lines — nearly all of a
/// rating file — are split directly; any other line goes through `csv-core`, which reads
/// further lines while a quoted field is open.
struct CsvRecords<'p, R> {
    path: &'p Path,
    reader: R,
    delim: u8,
    comment: Option<u8>,
    core: csv_core::Reader,
    /// Raw bytes of the current line(s); `pos` is where the unparsed part starts.
    buf: Vec<u8>,
    pos: usize,
    /// Fields of a quick line: spans of `buf`.
    spans: Vec<(usize, usize)>,
    /// Fields of a parsed record: unquoted bytes and field ends.
    out: Vec<u8>,
    ends: Vec<usize>,
    quick: bool,
    /// Whether the quick line is valid UTF-8 (checked once for the whole line).
    utf8: bool,
    lines_read: usize,
    line: usize,
    /// The longest line or record read.
    max: usize,
}

impl<'p, R: BufRead> CsvRecords<'p, R> {
    fn new(path: &'p Path, reader: R, delim: u8, comment: Option<u8>, max: usize) -> Self {
        Self {
            path,
            reader,
            delim,
            comment,
            max,
            core: csv_core::ReaderBuilder::new()
                .delimiter(delim)
                .comment(comment)
                .build(),
            buf: Vec::with_capacity(256),
            pos: 0,
            spans: Vec::with_capacity(8),
            out: vec![0; 256],
            ends: vec![0; 16],
            quick: true,
            utf8: false,
            lines_read: 0,
            line: 0,
        }
    }

    /// Appends the next line to `buf`; `false` at the end of the input.
    fn read_line(&mut self) -> Result<bool, DataError> {
        let at = self.lines_read.saturating_add(1);
        // The buffer holds the record being read (cleared between records): it may grow to
        // `max` bytes, over every line of the record.
        let room = self.max.saturating_sub(self.buf.len());
        let n = read_capped(&mut self.reader, &mut self.buf, room)
            .map_err(|e| io_error(self.path, at, e))?;
        let Some(n) = n else {
            if self.pos > 0 || self.lines_read > self.line {
                return Err(DataError::parse(
                    self.path,
                    self.line.max(1),
                    format!(
                        "the record starting here runs past {} bytes over several lines (an \
                         unclosed quote?); --max-record-bytes raises the limit",
                        self.max
                    ),
                ));
            }
            return Err(too_long(self.path, at, self.max));
        };
        if n > 0 {
            self.lines_read += 1;
        }
        Ok(n > 0)
    }

    /// Parses a record from `buf[pos..]` with csv-core, reading more lines as needed.
    fn parse_slow(&mut self) -> Result<bool, DataError> {
        use csv_core::ReadRecordResult as R;
        let (mut nout, mut nend) = (0, 0);
        let mut eof = false;
        loop {
            let input: &[u8] = if eof { &[] } else { &self.buf[self.pos..] };
            let (res, nin, o, e) =
                self.core
                    .read_record(input, &mut self.out[nout..], &mut self.ends[nend..]);
            self.pos += nin;
            nout += o;
            nend += e;
            match res {
                R::InputEmpty => {
                    if !self.read_line()? {
                        eof = true;
                    }
                }
                R::OutputFull => {
                    let n = self.out.len();
                    self.out.resize(n * 2, 0);
                }
                R::OutputEndsFull => {
                    let n = self.ends.len();
                    self.ends.resize(n * 2, 0);
                }
                R::Record => {
                    self.spans.clear();
                    let mut start = 0;
                    for &end in &self.ends[..nend] {
                        self.spans.push((start, end));
                        start = end;
                    }
                    self.quick = false;
                    return Ok(true);
                }
                R::End => return Ok(false),
            }
        }
    }
}

impl<R: BufRead> Records for CsvRecords<'_, R> {
    fn advance(&mut self) -> Result<bool, DataError> {
        loop {
            if self.pos >= self.buf.len() {
                self.buf.clear();
                self.pos = 0;
                if !self.read_line()? {
                    return Ok(false);
                }
            }
            self.line = self.lines_read;
            let chunk = &self.buf[self.pos..];
            let mut body = chunk.len();
            if body > 0 && chunk[body - 1] == b'\n' {
                body -= 1;
                if body > 0 && chunk[body - 1] == b'\r' {
                    body -= 1;
                }
            }
            let text = &chunk[..body];
            if text.is_empty() {
                self.pos = self.buf.len();
                continue;
            }
            if self.comment.is_some_and(|c| text[0] == c) {
                self.pos = self.buf.len();
                continue;
            }
            self.spans.clear();
            let base = self.pos;
            let mut start = 0;
            // One scalar pass: rating lines are short, so a SIMD search per byte class
            // costs more in set-up than it saves.
            for (k, &b) in text.iter().enumerate() {
                if b == self.delim {
                    self.spans.push((base + start, base + k));
                    start = k + 1;
                } else if b == b'"' || b == b'\r' {
                    return self.parse_slow();
                }
            }
            self.utf8 = std::str::from_utf8(text).is_ok();
            self.spans.push((base + start, base + body));
            self.pos = self.buf.len();
            self.quick = true;
            return Ok(true);
        }
    }
    fn line(&self) -> usize {
        self.line
    }
    fn len(&self) -> usize {
        self.spans.len()
    }
    fn field(&self, i: usize) -> &[u8] {
        let (a, b) = self.spans[i];
        if self.quick {
            &self.buf[a..b]
        } else {
            &self.out[a..b]
        }
    }
    fn field_str(&self, i: usize) -> Option<&str> {
        if !(self.quick && self.utf8) {
            return None;
        }
        let (a, b) = self.spans[i];
        let f = &self.buf[a..b];
        debug_assert!(std::str::from_utf8(f).is_ok());
        // SAFETY: `utf8` says the whole line (which holds every span of a quick line) was
        // validated by `from_utf8` in `advance`, and each span starts after an ASCII
        // delimiter or at the line start and ends before one or at the line end, so it lies
        // on char boundaries: the bytes are valid UTF-8. This saves a second validation of
        // every field on the loader's hot path.
        Some(unsafe { std::str::from_utf8_unchecked(f) })
    }
}

/// Longer delimiters: each line split literally.
struct LineRecords<'p, R> {
    path: &'p Path,
    reader: R,
    delim: Vec<u8>,
    comment: Option<u8>,
    buf: Vec<u8>,
    spans: Vec<(usize, usize)>,
    line: usize,
    /// The longest line read.
    max: usize,
}

impl<R: BufRead> Records for LineRecords<'_, R> {
    fn advance(&mut self) -> Result<bool, DataError> {
        loop {
            self.buf.clear();
            let at = self.line.saturating_add(1);
            let n = read_capped(&mut self.reader, &mut self.buf, self.max)
                .map_err(|e| io_error(self.path, at, e))?
                .ok_or_else(|| too_long(self.path, at, self.max))?;
            if n == 0 {
                return Ok(false);
            }
            self.line += 1;
            while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                self.buf.pop();
            }
            if self.buf.is_empty() || self.comment.is_some_and(|c| self.buf[0] == c) {
                continue;
            }
            self.spans.clear();
            let (d, text) = (&self.delim[..], &self.buf[..]);
            let mut start = 0;
            let mut k = 0;
            while k + d.len() <= text.len() {
                if &text[k..k + d.len()] == d {
                    self.spans.push((start, k));
                    k += d.len();
                    start = k;
                } else {
                    k += 1;
                }
            }
            self.spans.push((start, text.len()));
            return Ok(true);
        }
    }
    fn line(&self) -> usize {
        self.line
    }
    fn len(&self) -> usize {
        self.spans.len()
    }
    fn field(&self, i: usize) -> &[u8] {
        let (a, b) = self.spans[i];
        &self.buf[a..b]
    }
}

/// One record as the loader sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row<'a> {
    /// 1-based line of the record.
    pub line: usize,
    pub user: &'a str,
    pub item: &'a str,
    pub rating: f32,
    pub timestamp: Option<i64>,
}

fn field_text<'a, R: Records>(
    path: &Path,
    rec: &'a R,
    i: usize,
    what: &str,
) -> Result<&'a str, DataError> {
    match rec.field_str(i) {
        Some(s) => Ok(s.trim()),
        None => text(path, rec.line(), rec.field(i), what),
    }
}

fn text<'a>(path: &Path, line: usize, f: &'a [u8], what: &str) -> Result<&'a str, DataError> {
    std::str::from_utf8(f).map(str::trim).map_err(|_| {
        DataError::parse(
            path,
            line,
            format!("the line is not valid UTF-8 (in the {what} field)"),
        )
    })
}

fn is_number(f: &[u8]) -> bool {
    std::str::from_utf8(f)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .is_some()
}

/// Column positions and the field count of the first record.
#[derive(Clone, Copy)]
struct Layout {
    u: usize,
    i: usize,
    r: Option<usize>,
    t: Option<usize>,
    n: usize,
}

fn resolve_all<R: Records>(
    path: &Path,
    opts: &DelimitedOptions,
    rec: &R,
    header: bool,
) -> Result<Layout, DataError> {
    let names: Vec<String> = if header {
        (0..rec.len())
            .map(|k| String::from_utf8_lossy(rec.field(k)).trim().to_string())
            .collect()
    } else {
        Vec::new()
    };
    let resolve = |c: &Column, what: &str| -> Result<usize, DataError> {
        match c {
            Column::Index(i) => Ok(*i),
            Column::Name(n) => names.iter().position(|f| f == n).ok_or_else(|| {
                DataError::parse(
                    path,
                    rec.line(),
                    format!(
                        "the header has no {what} column '{n}' (header: {})",
                        names.join(",")
                    ),
                )
            }),
        }
    };
    let u = resolve(&opts.user, "user")?;
    let i = resolve(&opts.item, "item")?;
    let r = opts
        .rating
        .as_ref()
        .map(|c| resolve(c, "rating"))
        .transpose()?;
    let t = opts
        .timestamp
        .as_ref()
        .map(|c| resolve(c, "timestamp"))
        .transpose()?;
    let roles = [
        ("user", Some(u)),
        ("item", Some(i)),
        ("rating", r),
        ("timestamp", t),
    ];
    for (a, (ra, pa)) in roles.iter().enumerate() {
        for (rb, pb) in &roles[a + 1..] {
            if let (Some(x), Some(y)) = (pa, pb) {
                if x != y {
                    continue;
                }
                return Err(DataError::parse(
                    path,
                    rec.line(),
                    format!(
                        "the {ra} column and the {rb} column are both position {x}; give each column once"
                    ),
                ));
            }
        }
    }
    let need = [Some(u), Some(i), r, t]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    if rec.len() < need {
        return Err(DataError::parse(
            path,
            rec.line(),
            format!(
                "expected at least {need} fields separated by {:?}, found {}",
                opts.delimiter,
                rec.len()
            ),
        ));
    }
    Ok(Layout {
        u,
        i,
        r,
        t,
        n: rec.len(),
    })
}

/// Whether the first record is a header under `opts.header`.
fn first_is_header<R: Records>(opts: &DelimitedOptions, rec: &R) -> bool {
    match opts.header {
        Header::Yes => true,
        Header::No => false,
        Header::Auto if opts.by_name() => true,
        // A header names columns: none of its fields is a number. A first row with a number
        // in it is data, so a malformed first data row is an error, never a dropped row.
        Header::Auto => !(0..rec.len()).any(|k| is_number(rec.field(k))),
    }
}

fn row<'a, R: Records>(
    path: &Path,
    rec: &'a R,
    Layout { u, i, r, t, .. }: Layout,
) -> Result<Row<'a>, DataError> {
    let line = rec.line();
    let rating = match r {
        Some(r) => parse_rating(path, line, field_text(path, rec, r, "rating")?)?,
        None => 1.0,
    };
    let timestamp = match t {
        Some(t) => {
            let f = field_text(path, rec, t, "timestamp")?;
            Some(f.parse::<i64>().map_err(|_| {
                DataError::parse(path, line, format!("timestamp '{f}' is not an integer"))
            })?)
        }
        None => None,
    };
    let user = field_text(path, rec, u, "user")?;
    let item = field_text(path, rec, i, "item")?;
    if user.is_empty() || item.is_empty() {
        return Err(DataError::parse(
            path,
            line,
            "expected a user id and an item id, found an empty field",
        ));
    }
    Ok(Row {
        line,
        user,
        item,
        rating,
        timestamp,
    })
}

fn scan_records<R: Records>(
    path: &Path,
    opts: &DelimitedOptions,
    mut rec: R,
    f: &mut dyn FnMut(Row<'_>) -> Result<ControlFlow<()>, DataError>,
) -> Result<(), DataError> {
    if !rec.advance()? {
        return Ok(());
    }
    let header = first_is_header(opts, &rec);
    let layout = resolve_all(path, opts, &rec, header)?;
    if !header && f(row(path, &rec, layout)?)?.is_break() {
        return Ok(());
    }
    let n = layout.n;
    while rec.advance()? {
        let count = rec.len();
        if count < n || (count > n && !opts.allow_extra_fields) {
            return Err(DataError::parse(
                path,
                rec.line(),
                format!(
                    "expected {n} fields separated by {:?} (as on the first line), found {count}",
                    opts.delimiter
                ),
            ));
        }
        if f(row(path, &rec, layout)?)?.is_break() {
            return Ok(());
        }
    }
    Ok(())
}

/// Calls `f` on every data record of `path` in file order (the header, blank lines and
/// comments skipped) until it breaks.
pub(crate) fn scan(
    path: &Path,
    opts: &DelimitedOptions,
    f: &mut dyn FnMut(Row<'_>) -> Result<ControlFlow<()>, DataError>,
) -> Result<(), DataError> {
    opts.validate()?;
    let reader = open_maybe_gz(path)?;
    let d = opts.delimiter.as_bytes();
    if d.len() == 1 {
        let rec = CsvRecords::new(path, reader, d[0], opts.comment, opts.max_record_bytes);
        scan_records(path, opts, rec, f)
    } else {
        let rec = LineRecords {
            path,
            reader,
            delim: d.to_vec(),
            comment: opts.comment,
            buf: Vec::with_capacity(256),
            spans: Vec::with_capacity(8),
            line: 0,
            max: opts.max_record_bytes,
        };
        scan_records(path, opts, rec, f)
    }
}

/// The 1-based line of data row `row` (0-based, in file order) of `path`, if it has one.
pub(crate) fn line_of_row(path: &Path, opts: &DelimitedOptions, row: usize) -> Option<usize> {
    let mut k = 0usize;
    let mut found = None;
    scan(path, opts, &mut |r| {
        if k == row {
            found = Some(r.line);
            return Ok(ControlFlow::Break(()));
        }
        k += 1;
        Ok(ControlFlow::Continue(()))
    })
    .ok()?;
    found
}

/// Loads a delimited file as described by `opts`. Every record must have as many fields as
/// the first (more are allowed with `allow_extra_fields`); errors name the file, the line
/// and what was expected. All rows are kept, repeated (user, item) pairs too (see
/// [`crate::transform::resolve_duplicates`] and [`crate::load_file`]).
pub fn load_delimited(path: &Path, opts: &DelimitedOptions) -> Result<Interactions, DataError> {
    let mut b = Interactions::builder();
    scan(path, opts, &mut |r| {
        b.push(r.user, r.item, r.rating, r.timestamp);
        Ok(ControlFlow::Continue(()))
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

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    #[test]
    fn columns_by_name_and_position() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "r.csv",
            b"ts,item,user,score\n10,a,u1,4.5\n11,b,u2,3\n",
        );
        let opts = DelimitedOptions {
            user: "user".into(),
            item: "item".into(),
            rating: Some("score".into()),
            timestamp: Some(0.into()),
            ..Default::default()
        };
        let d = load_delimited(&p, &opts).unwrap();
        assert_eq!(d.values(), &[4.5, 3.0]);
        assert_eq!(d.user_map().external(1), "u2");
        assert_eq!(d.timestamps(), Some(&[10, 11][..]));
        let implicit = DelimitedOptions {
            rating: None,
            ..opts.clone()
        };
        assert_eq!(load_delimited(&p, &implicit).unwrap().values(), &[1.0, 1.0]);
        let missing = DelimitedOptions {
            user: "uid".into(),
            ..opts
        };
        let e = load_delimited(&p, &missing).unwrap_err().to_string();
        assert!(e.contains("r.csv:1") && e.contains("'uid'"), "{e}");
    }

    #[test]
    fn quoting_bom_crlf_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "q.csv",
            b"\xef\xbb\xbfuser,item,rating\r\n\"u,1\",\"i \"\"x\"\"\",\"4.5\"\r\n#c,d,2\r\n\r\nu2,i2,3\r\n",
        );
        let opts = DelimitedOptions {
            user: "user".into(),
            item: "item".into(),
            rating: Some("rating".into()),
            ..Default::default()
        };
        let d = load_delimited(&p, &opts).unwrap();
        assert_eq!(d.values(), &[4.5, 2.0, 3.0]);
        assert_eq!(d.user_map().ids(), &["u,1", "#c", "u2"]);
        assert_eq!(d.item_map().external(0), "i \"x\"");
        let with_comments = DelimitedOptions {
            comment: Some(b'#'),
            ..opts
        };
        assert_eq!(load_delimited(&p, &with_comments).unwrap().len(), 2);
        // Without a header the BOM is not part of the first user id either.
        let p = write(dir.path(), "n.csv", b"\xef\xbb\xbf7,1,5\n8,1,4\n");
        let d = load_delimited(&p, &DelimitedOptions::default()).unwrap();
        assert_eq!(d.user_map().ids(), &["7", "8"]);
        let p = write(dir.path(), "u16.csv", b"\xff\xfeu\0s\0");
        let e = load_delimited(&p, &DelimitedOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("u16.csv:1") && e.contains("UTF-16"), "{e}");
        // An unterminated quote runs to the end of the file: one field, too few fields.
        let p = write(dir.path(), "open.csv", b"1,2,3\n1,\"2,3\n4,5,6\n");
        let e = load_delimited(&p, &DelimitedOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("open.csv:2") && e.contains("expected 3 fields"),
            "{e}"
        );
    }

    /// The quick split plus csv-core equals the csv crate's reader, record for record.
    fn via_csv_crate(bytes: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        r.byte_records()
            .map(|rec| rec.unwrap().iter().map(<[u8]>::to_vec).collect())
            .collect()
    }

    fn via_ours(bytes: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut rec = CsvRecords::new(Path::new("x"), bytes, b',', None, MAX_RECORD_BYTES);
        let mut out = Vec::new();
        while rec.advance().unwrap() {
            out.push((0..rec.len()).map(|k| rec.field(k).to_vec()).collect());
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn quick_path_and_csv_core_read_as_the_csv_crate(v in proptest::collection::vec(proptest::sample::select(&b"ab1,,\"\"\n\n\r "[..]), 0..120)) {
            proptest::prop_assert_eq!(via_ours(&v), via_csv_crate(&v));
        }
    }

    fn auto_again() -> DelimitedOptions {
        DelimitedOptions::default()
    }

    #[test]
    fn header_is_detected_from_the_first_row() {
        let dir = tempfile::tempdir().unwrap();
        let auto = DelimitedOptions::default();
        // All numbers: data (ml-100k's u.data keeps its first rating).
        let p = write(dir.path(), "a.csv", b"196,242,3\n186,302,3\n");
        assert_eq!(load_delimited(&p, &auto).unwrap().len(), 2);
        // String ids, numeric rating: data.
        let p = write(dir.path(), "b.csv", b"alice,m1,5\nbob,m2,4\n");
        assert_eq!(load_delimited(&p, &auto).unwrap().len(), 2);
        // Names: a header.
        let p = write(dir.path(), "c.csv", b"user,item,rating\nalice,m1,5\n");
        assert_eq!(load_delimited(&p, &auto).unwrap().len(), 1);
        // The user says so.
        let yes = DelimitedOptions {
            header: Header::Yes,
            ..auto.clone()
        };
        assert_eq!(
            load_delimited(&write(dir.path(), "d.csv", b"1,2,3\n4,5,6\n"), &yes)
                .unwrap()
                .len(),
            1
        );
        let no = DelimitedOptions {
            header: Header::No,
            ..auto
        };
        let e = load_delimited(&p, &no).unwrap_err().to_string();
        assert!(
            e.contains("c.csv:1") && e.contains("'rating' is not a number"),
            "{e}"
        );
        // A malformed first data row is an error, not a header.
        let p = write(dir.path(), "e.csv", b"1,10,x\n2,10,4\n");
        let e = load_delimited(&p, &auto_again()).unwrap_err().to_string();
        assert!(
            e.contains("e.csv:1") && e.contains("'x' is not a number"),
            "{e}"
        );
    }

    #[test]
    fn a_column_given_twice_is_refused() {
        let o = DelimitedOptions {
            item: 0.into(),
            ..Default::default()
        };
        let e = o.validate().unwrap_err().to_string();
        assert!(
            e.contains("user column") && e.contains("item column"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "h.csv", b"user,item,rating\n1,2,3\n");
        let o = DelimitedOptions {
            item: "user".into(),
            user: 0.into(),
            ..Default::default()
        };
        let e = load_delimited(&p, &o).unwrap_err().to_string();
        assert!(
            e.contains("h.csv:1") && e.contains("both position 0"),
            "{e}"
        );
    }

    #[test]
    fn bad_input_names_file_line_and_expectation() {
        let dir = tempfile::tempdir().unwrap();
        let o = DelimitedOptions::uirt("::", false);
        let p = write(dir.path(), "a.dat", b"1::2::3::4\n1::2::3\n");
        let e = load_delimited(&p, &o).unwrap_err().to_string();
        assert!(
            e.contains("a.dat:2") && e.contains("expected 4 fields"),
            "{e}"
        );
        let p = write(dir.path(), "b.dat", b"1::2::inf::4\n");
        let e = load_delimited(&p, &o).unwrap_err().to_string();
        assert!(e.contains("b.dat:1") && e.contains("not finite"), "{e}");
        let p = write(dir.path(), "c.dat", b"1::2::x::4\n");
        assert!(
            load_delimited(&p, &o)
                .unwrap_err()
                .to_string()
                .contains("'x' is not a number")
        );
        let p = write(dir.path(), "d.dat", b"1::2::3::t\n");
        assert!(
            load_delimited(&p, &o)
                .unwrap_err()
                .to_string()
                .contains("'t' is not an integer")
        );
        let p = write(dir.path(), "e.csv", b"user,item,rating\n");
        assert!(matches!(
            load_delimited(&p, &DelimitedOptions::default()),
            Err(DataError::Empty { .. })
        ));
        let p = write(dir.path(), "f.csv.gz", b"user,item,rating\n1,2,3\n");
        let e = load_delimited(&p, &DelimitedOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("f.csv.gz") && e.contains("not gzip"), "{e}");
        let p = write(dir.path(), "g.csv", b"user,item,rating\n1,\xe9,3\n");
        let e = load_delimited(&p, &DelimitedOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("g.csv:2: the line is not valid UTF-8"), "{e}");
        let bad = DelimitedOptions {
            header: Header::No,
            user: "user".into(),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn gzip_is_read_and_truncated_gzip_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for k in 0..2000 {
            writeln!(enc, "{},{},{}", k % 37, k % 101, 1 + k % 5).unwrap();
        }
        let gz = enc.finish().unwrap();
        let p = write(dir.path(), "ok.csv.gz", &gz);
        let o = DelimitedOptions {
            header: Header::No,
            ..Default::default()
        };
        let d = load_delimited(&p, &o).unwrap();
        assert_eq!((d.len(), d.n_users(), d.n_items()), (2000, 37, 101));
        let p = write(dir.path(), "cut.csv.gz", &gz[..gz.len() / 2]);
        let e = load_delimited(&p, &o).unwrap_err().to_string();
        assert!(e.contains("cut.csv.gz") && e.contains("truncated"), "{e}");
    }

    /// Input without line breaks (a long line, a decompression bomb, `/dev/zero`) or an
    /// unclosed quote is refused at the record limit, naming the file and line, instead of
    /// growing a buffer until memory runs out; the limit can be raised.
    #[test]
    fn records_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let o = DelimitedOptions {
            header: Header::No,
            ..Default::default()
        };
        let mut long = b"1,2,3\n".to_vec();
        long.extend(std::iter::repeat_n(b'7', 2 * MAX_RECORD_BYTES));
        long.extend_from_slice(b",1,1\n");
        let p = write(dir.path(), "long.csv", &long);
        let e = load_delimited(&p, &o).unwrap_err().to_string();
        assert!(
            e.contains("long.csv") && e.contains(":2") && e.contains("longer than"),
            "{e}"
        );
        // Raised, the same file loads (its second id is 2 MiB long).
        let raised = DelimitedOptions {
            max_record_bytes: 4 * MAX_RECORD_BYTES,
            ..o.clone()
        };
        assert_eq!(load_delimited(&p, &raised).unwrap().len(), 2);
        // The same through the multi-character delimiter's reader.
        let p2 = write(
            dir.path(),
            "long.dat",
            &long
                .iter()
                .map(|&b| if b == b',' { b'|' } else { b })
                .collect::<Vec<_>>(),
        );
        let pipes = DelimitedOptions {
            delimiter: "||".into(),
            ..o.clone()
        };
        assert!(load_delimited(&p2, &pipes).is_err());
        // 64 MiB of zeros gzipped to a few kilobytes, no line break.
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![b'0'; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&zeros).unwrap();
        }
        let p = write(dir.path(), "bomb.csv.gz", &enc.finish().unwrap());
        let e = load_delimited(&p, &o).unwrap_err().to_string();
        assert!(
            e.contains("bomb.csv.gz") && e.contains("longer than"),
            "{e}"
        );
        #[cfg(unix)]
        {
            let e = load_delimited(Path::new("/dev/zero"), &o)
                .unwrap_err()
                .to_string();
            assert!(e.contains("longer than"), "{e}");
        }
        // An unclosed quote, then many ordinary lines: one record runs past the limit.
        let mut text = b"u1,\"i1,4\n".to_vec();
        for k in 0..200_000 {
            text.extend_from_slice(format!("u{k},i{k},3\n").as_bytes());
        }
        let p = write(dir.path(), "quote.csv", &text);
        let e = load_delimited(&p, &o).unwrap_err().to_string();
        assert!(
            e.contains("quote.csv:1") && e.contains("unclosed quote"),
            "{e}"
        );
        let zero = DelimitedOptions {
            max_record_bytes: 0,
            ..o
        };
        assert!(zero.validate().is_err());
    }
}
