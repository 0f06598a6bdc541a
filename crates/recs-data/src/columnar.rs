//! Parquet input: interactions from a `.parquet` file (what LensKit and Spark users keep
//! them in), read with the `parquet` crate's arrow reader one record batch at a time (row
//! group by row group, only the columns asked for), into the same [`Interactions`] as a
//! delimited file: 12 bytes an interaction (20 with timestamps) plus the id maps.
//!
//! Columns are chosen by name or by 0-based position among the file's top-level columns.
//! - user and item ids: any integer type, strings (UTF-8, large, view, dictionary-encoded),
//!   or binary holding UTF-8; integers become their decimal text, so a Parquet file and a
//!   CSV of the same data give the same ids;
//! - rating: any integer, float or decimal type, finite;
//! - timestamp: an integer, or an arrow timestamp (converted to whole seconds).
//!
//! A null in a used column, a value of another type, and a file that is not Parquet are
//! errors naming the file and the row (1-based, in file order).
//!
//! The `parquet` crate can panic on malformed metadata or pages (index out of bounds in its
//! Thrift decoder, found by `tests/fuzz_readers.rs`). Its calls are therefore made under
//! `catch_unwind`, with the panic message kept out of standard error for that thread only,
//! and a panic becomes an error naming the file: a damaged file never ends the process.

use std::cell::Cell;
use std::fs::File;
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::file::metadata::ParquetMetaData;

use crate::delimited::{Column, DelimitedOptions, Row};
use crate::{DataError, Interactions};

/// Rows per record batch: large enough to amortise the per-batch work, small enough that a
/// batch of string ids stays a few MB.
const BATCH_ROWS: usize = 64 * 1024;

/// The most bytes of pages a record batch's rows may span (see `scan_parquet`): files whose
/// pages hold a few bytes a value read [`BATCH_ROWS`] rows a batch; a page of one long value
/// makes the batches that short.
const BATCH_BYTES: u64 = 64 << 20;

thread_local! {
    /// Set while this thread runs a `parquet` crate call whose panics become errors.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (a call into the `parquet` crate); a panic in it becomes `Err(message)`, and is
/// not printed. Other threads' panics print as before: the hook installed once wraps the
/// previous one and stays silent only on a thread inside this function.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let out = std::panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    out.map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        format!("the Parquet reader failed on malformed data ({msg})")
    })
}

/// Checks a Parquet file's footer metadata before the `parquet` crate decodes it: every
/// list, set, map and string length it declares must fit in the bytes that remain, and
/// structs nest at most 64 deep. The crate reserves a list's declared length up front (a
/// forged count of 2^31 asks for hundreds of gigabytes, an allocation failure that ends the
/// process), so a length the data cannot hold is refused here. Files that are not plain
/// Parquet (too short, another magic, an encrypted footer) are left to the crate's errors.
fn check_footer(path: &Path, file: &mut File) -> Result<(), DataError> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    if len < 12 {
        return Ok(());
    }
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::End(-8))
        .and_then(|_| file.read_exact(&mut tail))
        .map_err(|e| DataError::io(path, e))?;
    if &tail[4..] != b"PAR1" {
        return Ok(());
    }
    let meta_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if meta_len + 8 > len {
        return Ok(());
    }
    let mut meta = vec![0u8; meta_len as usize];
    file.seek(SeekFrom::End(-8 - meta_len as i64))
        .and_then(|_| file.read_exact(&mut meta))
        .and_then(|_| file.seek(SeekFrom::Start(0)))
        .map_err(|e| DataError::io(path, e))?;
    let mut at = 0usize;
    skim(&meta, &mut at, 12, 0).map_err(|why| corrupt(path, format!("its footer metadata {why}")))
}

/// A thrift compact-protocol varint at `b[*at..]`.
fn varint(b: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let x = *b.get(*at).ok_or("ends early")?;
        *at += 1;
        v |= u64::from(x & 0x7f) << shift.min(63);
        if x & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("holds a varint longer than 10 bytes".into())
}

/// Walks one thrift compact-protocol value of type `kind` at `b[*at..]` (a struct when
/// `kind` is 12), checking declared lengths against the bytes left.
fn skim(b: &[u8], at: &mut usize, kind: u8, depth: usize) -> Result<(), String> {
    fn byte(b: &[u8], at: &mut usize) -> Result<u8, String> {
        let v = *b.get(*at).ok_or("ends early")?;
        *at += 1;
        Ok(v)
    }
    fn take(b: &[u8], at: &mut usize, n: u64) -> Result<(), String> {
        let left = (b.len() - *at) as u64;
        if n > left {
            return Err(format!("declares {n} bytes where {left} remain"));
        }
        *at += n as usize;
        Ok(())
    }
    if depth > 64 {
        return Err("nests structs more than 64 deep".into());
    }
    match kind {
        1 | 2 => Ok(()),
        3 => take(b, at, 1),
        4..=6 => varint(b, at).map(|_| ()),
        7 => take(b, at, 8),
        8 => {
            let n = varint(b, at)?;
            take(b, at, n)
        }
        9 | 10 => {
            let h = byte(b, at)?;
            let n = match h >> 4 {
                15 => varint(b, at)?,
                n => u64::from(n),
            };
            let left = (b.len() - *at) as u64;
            if n > left {
                return Err(format!(
                    "declares a list of {n} values where {left} bytes remain"
                ));
            }
            let elem = h & 0x0f;
            for _ in 0..n {
                // A bool in a list is one byte.
                if elem == 1 || elem == 2 {
                    take(b, at, 1)?
                } else {
                    skim(b, at, elem, depth + 1)?
                }
            }
            Ok(())
        }
        11 => {
            let n = varint(b, at)?;
            if n == 0 {
                return Ok(());
            }
            let left = (b.len() - *at) as u64;
            if n > left {
                return Err(format!(
                    "declares a map of {n} entries where {left} bytes remain"
                ));
            }
            let kv = byte(b, at)?;
            for _ in 0..n {
                for t in [kv >> 4, kv & 0x0f] {
                    if t == 1 || t == 2 {
                        take(b, at, 1)?
                    } else {
                        skim(b, at, t, depth + 1)?
                    }
                }
            }
            Ok(())
        }
        12 => loop {
            let h = byte(b, at)?;
            if h == 0 {
                return Ok(());
            }
            if h >> 4 == 0 {
                varint(b, at)?;
            }
            skim(b, at, h & 0x0f, depth + 1)?;
        },
        13 => take(b, at, 16),
        other => Err(format!("holds an unknown thrift type {other}")),
    }
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Format {
        path: path.to_path_buf(),
        message: format!("not a readable Parquet file: {e}"),
    }
}

fn row_error(path: &Path, row: usize, message: String) -> DataError {
    DataError::Row {
        path: path.to_path_buf(),
        row,
        message,
    }
}

/// The ids column as UTF-8 string views (a string column is read as views already, so a
/// dictionary-encoded page's values are shared, not copied once per row), each id at most
/// `max` bytes.
fn ids(
    path: &Path,
    a: &ArrayRef,
    what: &str,
    first_row: usize,
    max: usize,
) -> Result<ArrayRef, DataError> {
    let ok = matches!(
        a.data_type(),
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::Dictionary(_, _)
    );
    if !ok {
        return Err(row_error(
            path,
            first_row,
            format!(
                "the {what} column holds {} values (expected integers or strings)",
                a.data_type()
            ),
        ));
    }
    let out = if a.data_type() == &DataType::Utf8View {
        Arc::clone(a)
    } else {
        arrow_cast::cast(a, &DataType::Utf8View).map_err(|e| {
            row_error(
                path,
                first_row,
                format!("the {what} column cannot be read as ids: {e}"),
            )
        })?
    };
    no_nulls(path, &out, a, what, first_row)?;
    // A view's low 32 bits are its value's length.
    if let Some(k) = out
        .as_string_view()
        .views()
        .iter()
        .position(|&v| v as u32 as usize > max)
    {
        let len = out.as_string_view().views()[k] as u32;
        return Err(row_error(
            path,
            first_row + k,
            format!(
                "the {what} id is {len} bytes, over the limit of {max} (--max-record-bytes raises it)"
            ),
        ));
    }
    Ok(out)
}

/// `plain`'s reader metadata with the id columns (`ids`, positions among the top-level
/// columns) read as string views when they hold strings or bytes: a dictionary page's
/// values are then shared by the rows that use them (a 1 MiB id repeated on 64 Ki rows of a
/// batch stays 1 MiB, not 64 GiB). `None` when the crate cannot read them so.
fn ids_as_views(plain: &ArrowReaderMetadata, ids: &[usize]) -> Option<ArrowReaderMetadata> {
    let view = |t: &DataType| match t {
        DataType::Utf8 | DataType::LargeUtf8 => Some(DataType::Utf8View),
        DataType::Binary | DataType::LargeBinary => Some(DataType::BinaryView),
        DataType::Dictionary(_, v) => match v.as_ref() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(DataType::Utf8View),
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                Some(DataType::BinaryView)
            }
            _ => None,
        },
        _ => None,
    };
    let schema = plain.schema();
    let mut changed = false;
    let fields: Vec<arrow_schema::FieldRef> = schema
        .fields()
        .iter()
        .enumerate()
        .map(
            |(k, f)| match view(f.data_type()).filter(|_| ids.contains(&k)) {
                Some(t) => {
                    changed = true;
                    Arc::new(f.as_ref().clone().with_data_type(t))
                }
                None => Arc::clone(f),
            },
        )
        .collect();
    if !changed {
        return None;
    }
    let hinted = Arc::new(arrow_schema::Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    ));
    let options = ArrowReaderOptions::new().with_schema(hinted);
    guarded(|| ArrowReaderMetadata::try_new(Arc::clone(plain.metadata()), options))
        .ok()?
        .ok()
}

/// Checks, before any page of the columns read (`roots`, positions among the top-level
/// columns) is decompressed, that each column chunk lies inside the file and uses a codec
/// the reader has, and that each of its pages declares at most [`PAGES_PER_RECORD`] ×
/// `max_record` bytes uncompressed, a compressed size inside its chunk, and decodes to no
/// more than it declares ([`check_expansion`]): the crate allocates a page's declared size,
/// or decodes it whole, before any value is seen, so a small file holding (or declaring) a
/// gigabyte-long value is refused here. Returns the most bytes a data page spends per
/// value (what a batch of rows may hold per row).
fn check_pages(
    path: &Path,
    file: &File,
    meta: &ParquetMetaData,
    roots: &[usize],
    max_record: usize,
) -> Result<u64, DataError> {
    use parquet::basic::Compression;
    let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let mut widest = 1u64;
    let cap = (max_record as u64).saturating_mul(PAGES_PER_RECORD);
    let schema = meta.file_metadata().schema_descr();
    for (g, group) in meta.row_groups().iter().enumerate() {
        for (leaf, chunk) in group.columns().iter().enumerate() {
            if leaf >= schema.num_columns() || !roots.contains(&schema.get_column_root_idx(leaf)) {
                continue;
            }
            let column = chunk.column_path().string();
            let here = || format!("row group {g}, column `{column}`");
            if matches!(chunk.compression(), Compression::LZO) {
                return Err(corrupt(
                    path,
                    format!(
                        "{} is compressed with LZO, which recs cannot read (zstd, snappy, gzip, lz4 and brotli it can)",
                        here()
                    ),
                ));
            }
            // `byte_range` asserts what a damaged footer breaks: read the fields instead.
            let first = chunk
                .dictionary_page_offset()
                .unwrap_or_else(|| chunk.data_page_offset());
            let (Ok(start), Ok(size)) =
                (u64::try_from(first), u64::try_from(chunk.compressed_size()))
            else {
                return Err(corrupt(
                    path,
                    format!(
                        "{} declares a negative offset ({first}) or size ({})",
                        here(),
                        chunk.compressed_size()
                    ),
                ));
            };
            let end = start
                .checked_add(size)
                .filter(|&e| e <= len)
                .ok_or_else(|| {
                    corrupt(
                        path,
                        format!(
                            "{} declares bytes {start}..+{size}, beyond the file's {len} bytes",
                            here()
                        ),
                    )
                })?;
            let codec = chunk.compression();
            let mut at = start;
            while at < end {
                let page = page_header(file, at, end).map_err(|why| {
                    corrupt(path, format!("{}: the page at byte {at} {why}", here()))
                })?;
                let too_large = |what: &str, n: u64| DataError::Format {
                    path: path.to_path_buf(),
                    message: format!(
                        "{}: the page at byte {at} {what} {n} bytes, over the limit of {cap} ({PAGES_PER_RECORD} × the longest record, {max_record} bytes; --max-record-bytes raises it)",
                        here()
                    ),
                };
                if page.uncompressed > cap {
                    return Err(too_large("holds", page.uncompressed));
                }
                if page.compressed > cap + cap / 8 + (1 << 20) {
                    return Err(too_large("takes", page.compressed));
                }
                let data_at = at + page.header;
                // Only the codecs the crate decodes whole are decoded here (of a snappy page,
                // its preamble); a page stored plain, or in raw LZ4 blocks, is sized by its
                // header.
                let decoded_whole = matches!(
                    codec,
                    Compression::GZIP(_)
                        | Compression::BROTLI(_)
                        | Compression::ZSTD(_)
                        | Compression::LZ4
                );
                let needed = match codec {
                    Compression::SNAPPY => Some(page.compressed.min(page.levels + 10)),
                    _ if decoded_whole => Some(page.compressed),
                    _ => None,
                };
                if let Some(needed) =
                    needed.filter(|_| page.compressed_values && page.levels <= page.compressed)
                {
                    let data = read_at(file, data_at, needed as usize).map_err(|why| {
                        corrupt(path, format!("{}: the page at byte {at} {why}", here()))
                    })?;
                    check_expansion(codec, &data[page.levels as usize..], page.uncompressed)
                        .map_err(|why| {
                            corrupt(path, format!("{}: the page at byte {at} {why}", here()))
                        })?;
                }
                if let Some(n) = page.values.filter(|&n| n > 0) {
                    widest = widest.max(page.uncompressed.div_ceil(n));
                }
                at = data_at + page.compressed;
                if at > end {
                    return Err(corrupt(
                        path,
                        format!("{}: a page runs past its column chunk", here()),
                    ));
                }
            }
        }
    }
    Ok(widest)
}

/// How many times the longest record a page may hold uncompressed (64 MiB at the default
/// 1 MiB; writers' pages are about 1 MiB).
const PAGES_PER_RECORD: u64 = 64;

/// What [`check_pages`] reads of a page header.
struct PageInfo {
    /// The header's own length.
    header: u64,
    compressed: u64,
    uncompressed: u64,
    /// A data page's values (v1 or v2), `None` for a dictionary or index page.
    values: Option<u64>,
    /// A v2 data page's level bytes (stored uncompressed before the values), and whether
    /// its values are compressed.
    levels: u64,
    compressed_values: bool,
}

/// The page header at byte `at` of `file` (its chunk ending at `end`). Read in a growing
/// window (a header with statistics is a few hundred bytes; at most 1 MiB is read).
fn page_header(file: &File, at: u64, end: u64) -> Result<PageInfo, String> {
    let mut window = 256u64;
    loop {
        let n = window.min(end - at) as usize;
        let b = read_at(file, at, n)?;
        match page_info(&b) {
            Ok(p) => {
                if p.compressed > end - at - p.header {
                    return Err(format!(
                        "declares {} compressed bytes where {} remain in its chunk",
                        p.compressed,
                        end - at - p.header
                    ));
                }
                return Ok(p);
            }
            // A field may run past the window: read more while there is more.
            Err(_) if (n as u64) < end - at && window < 1 << 20 => {
                window *= 4;
            }
            Err(e) => return Err(format!("has a header recs does not read ({e})")),
        }
    }
}

/// `n` bytes of `file` from byte `at`.
fn read_at(file: &File, at: u64, n: usize) -> Result<Vec<u8>, String> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut b = vec![0u8; n];
    let mut f = file;
    f.seek(SeekFrom::Start(at))
        .and_then(|_| f.read_exact(&mut b))
        .map_err(|e| format!("cannot be read: {e}"))?;
    Ok(b)
}

/// A struct field's header at `b[*at..]` after the field `last`: `None` at the struct's
/// end, else its id (computed as the `parquet` crate computes it: an `i16`, a delta that
/// overflows refused) and wire type.
fn field_begin(b: &[u8], at: &mut usize, last: i16) -> Result<Option<(i16, u8)>, String> {
    let h = *b.get(*at).ok_or("ends early")?;
    *at += 1;
    let kind = h & 0x0f;
    if kind == 0 {
        return Ok(None);
    }
    let id = match h >> 4 {
        0 => {
            let v = zigzag(varint(b, at)?);
            i16::try_from(v).map_err(|_| format!("holds a field id {v}"))?
        }
        d => last
            .checked_add(i16::from(d))
            .ok_or("holds a field id past 32767")?,
    };
    Ok(Some((id, kind)))
}

/// A struct (wire type `kind`, which must be a struct) whose fields `ints` must be `i32`s
/// and `bools` booleans, each given at most once, any other field skipped: the values of
/// the `ints` given, by id. Stricter than the `parquet` crate (which reads an `i32` field
/// whatever its wire type, and keeps a repeated field's last value), so that what passes
/// here is read the same way there.
fn strict_struct(
    b: &[u8],
    at: &mut usize,
    kind: u8,
    ints: &[i16],
    bools: &[i16],
    depth: usize,
) -> Result<Vec<(i16, i64)>, String> {
    if kind != 12 {
        return Err(format!("holds a struct field of wire type {kind}"));
    }
    let (mut last, mut seen, mut out) = (0i16, Vec::new(), Vec::new());
    while let Some((id, kind)) = field_begin(b, at, last)? {
        if ints.contains(&id) || bools.contains(&id) {
            if seen.contains(&id) {
                return Err(format!("repeats field {id}"));
            }
            seen.push(id);
        }
        if ints.contains(&id) {
            if kind != 5 {
                return Err(format!("holds field {id} of wire type {kind}, not i32"));
            }
            let v = zigzag(varint(b, at)?);
            let v = i32::try_from(v).map_err(|_| format!("holds field {id} = {v}"))?;
            out.push((id, i64::from(v)));
        } else if bools.contains(&id) {
            if kind != 1 && kind != 2 {
                return Err(format!("holds field {id} of wire type {kind}, not bool"));
            }
            out.push((id, i64::from(kind == 1)));
        } else {
            skim(b, at, kind, depth + 1)?;
        }
        last = id;
    }
    Ok(out)
}

/// A thrift-compact `PageHeader` at the start of `b`, read strictly (see [`strict_struct`]):
/// its length, sizes (required, ≥ 0), a data page's value count and a v2 page's levels.
fn page_info(b: &[u8]) -> Result<PageInfo, String> {
    let get = |f: &[(i16, i64)], k: i16| f.iter().find(|x| x.0 == k).map(|x| x.1);
    let mut at = 0usize;
    let (mut last, mut seen) = (0i16, Vec::new());
    let (mut compressed, mut uncompressed, mut values) = (None, None, None);
    let (mut levels, mut compressed_values) = (0u64, true);
    while let Some((id, kind)) = field_begin(b, &mut at, last)? {
        if (1..=8).contains(&id) {
            if seen.contains(&id) {
                return Err(format!("repeats field {id}"));
            }
            seen.push(id);
        }
        match id {
            // type, uncompressed_page_size, compressed_page_size, crc
            1..=4 => {
                if kind != 5 {
                    return Err(format!("holds field {id} of wire type {kind}, not i32"));
                }
                let v = zigzag(varint(b, &mut at)?);
                let v = i32::try_from(v).map_err(|_| format!("holds field {id} = {v}"))?;
                if id == 2 || id == 3 {
                    let v = u64::try_from(v).map_err(|_| format!("declares a page size of {v}"))?;
                    *(if id == 2 {
                        &mut uncompressed
                    } else {
                        &mut compressed
                    }) = Some(v);
                }
            }
            // DataPageHeader: num_values, encodings; statistics skipped.
            5 => {
                let f = strict_struct(b, &mut at, kind, &[1, 2, 3, 4], &[], 1)?;
                values = get(&f, 1);
            }
            // IndexPageHeader: no field read.
            6 => {
                strict_struct(b, &mut at, kind, &[], &[], 1)?;
            }
            // DictionaryPageHeader: num_values, encoding, is_sorted.
            7 => {
                strict_struct(b, &mut at, kind, &[1, 2], &[3], 1)?;
            }
            // DataPageHeaderV2: num_values, nulls, rows, encoding, level lengths,
            // is_compressed; statistics skipped.
            8 => {
                let f = strict_struct(b, &mut at, kind, &[1, 2, 3, 4, 5, 6], &[7], 1)?;
                values = get(&f, 1);
                levels = (get(&f, 5).unwrap_or(0).max(0) + get(&f, 6).unwrap_or(0).max(0)) as u64;
                compressed_values = get(&f, 7).unwrap_or(1) != 0;
            }
            _ => skim(b, &mut at, kind, 1)?,
        }
        last = id;
    }
    match (compressed, uncompressed) {
        (Some(compressed), Some(uncompressed)) => Ok(PageInfo {
            header: at as u64,
            compressed,
            uncompressed,
            values: values.map(|v| v.max(0) as u64),
            levels,
            compressed_values,
        }),
        _ => Err("lacks its page sizes".into()),
    }
}

/// Checks that the page `data` (its values from byte `levels` on, compressed with `codec`)
/// decodes to at most `limit` bytes, by decoding it into a bounded sink: the `parquet`
/// crate decodes gzip, brotli, zstd and LZ4 frames to their end whatever the header
/// declares, and sizes a snappy page by the length snappy's own preamble declares. A page
/// the codec cannot decode is left to the crate's error.
fn check_expansion(
    codec: parquet::basic::Compression,
    data: &[u8],
    limit: u64,
) -> Result<(), String> {
    use parquet::basic::Compression;
    use std::io::Read;
    let bounded = |r: &mut dyn Read| -> u64 {
        let mut r = r.take(limit + 1);
        std::io::copy(&mut r, &mut std::io::sink()).unwrap_or(0)
    };
    let out = match codec {
        Compression::SNAPPY => snap::raw::decompress_len(data).map_or(0, |n| n as u64),
        Compression::GZIP(_) => bounded(&mut flate2::read::MultiGzDecoder::new(data)),
        Compression::BROTLI(_) => bounded(&mut brotli::Decompressor::new(data, 4096)),
        Compression::ZSTD(_) => match zstd::stream::read::Decoder::new(data) {
            Ok(mut d) => bounded(&mut d),
            Err(_) => 0,
        },
        // LZ4 (Hadoop's framing, then LZ4 frames, then a raw block: the crate tries them in
        // turn); Hadoop blocks and raw blocks are decoded into the declared size, frames to
        // their end.
        Compression::LZ4 => bounded(&mut lz4_flex::frame::FrameDecoder::new(data)),
        _ => 0,
    };
    if out > limit {
        return Err(format!(
            "decodes to more than the {limit} bytes its header declares"
        ));
    }
    Ok(())
}

fn zigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// Refuses nulls (in the original column, or where a cast failed).
fn no_nulls(
    path: &Path,
    cast: &ArrayRef,
    orig: &ArrayRef,
    what: &str,
    first_row: usize,
) -> Result<(), DataError> {
    if cast.null_count() == 0 {
        return Ok(());
    }
    let k = (0..cast.len()).find(|&k| cast.is_null(k)).unwrap_or(0);
    let why = if orig.is_null(k) {
        "is empty (null)".to_string()
    } else {
        format!("cannot be read as a {what}")
    };
    Err(row_error(
        path,
        first_row + k,
        format!("the {what} value {why}"),
    ))
}

fn ratings(path: &Path, a: &ArrayRef, first_row: usize) -> Result<ArrayRef, DataError> {
    let ok = a.data_type().is_numeric();
    if !ok {
        return Err(row_error(
            path,
            first_row,
            format!(
                "the rating column holds {} values (expected numbers)",
                a.data_type()
            ),
        ));
    }
    let out = arrow_cast::cast(a, &DataType::Float32)
        .map_err(|e| row_error(path, first_row, format!("the rating column: {e}")))?;
    no_nulls(path, &out, a, "rating", first_row)?;
    Ok(out)
}

fn timestamps(path: &Path, a: &ArrayRef, first_row: usize) -> Result<ArrayRef, DataError> {
    let a: ArrayRef = match a.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => Arc::clone(a),
        DataType::Timestamp(_, _) => {
            arrow_cast::cast(a, &DataType::Timestamp(TimeUnit::Second, None))
                .map_err(|e| row_error(path, first_row, format!("the timestamp column: {e}")))?
        }
        t if t.is_integer() => Arc::clone(a),
        t => {
            return Err(row_error(
                path,
                first_row,
                format!("the timestamp column holds {t} values (expected integers or timestamps)"),
            ));
        }
    };
    let out = arrow_cast::cast(&a, &DataType::Int64)
        .map_err(|e| row_error(path, first_row, format!("the timestamp column: {e}")))?;
    no_nulls(path, &out, &a, "timestamp", first_row)?;
    Ok(out)
}

/// Calls `f` on every row of a Parquet file in file order until it breaks. `line` of each
/// [`Row`] is its 1-based row number.
pub(crate) fn scan_parquet(
    path: &Path,
    opts: &DelimitedOptions,
    f: &mut dyn FnMut(Row<'_>) -> Result<ControlFlow<()>, DataError>,
) -> Result<(), DataError> {
    // Only the columns matter here: the delimiter, header and comment options do not apply.
    let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(DataError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::IsADirectory, "a directory, not a file"),
        ));
    }
    check_footer(path, &mut file)?;
    let plain = guarded(|| ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()))
        .map_err(|e| corrupt(path, e))?
        .map_err(|e| corrupt(path, e))?;
    let schema = Arc::clone(plain.schema());
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let resolve = |c: &Column, what: &str| -> Result<usize, DataError> {
        let k = match c {
            Column::Index(i) => Some(*i).filter(|&i| i < names.len()),
            Column::Name(n) => names.iter().position(|f| f == n),
        };
        k.ok_or_else(|| DataError::Format {
            path: path.to_path_buf(),
            message: format!("no {what} column {c} (columns: {})", names.join(", ")),
        })
    };
    let roles = opts.roles();
    let mut pos = Vec::with_capacity(roles.len());
    for (what, c) in &roles {
        let k = resolve(c, what)?;
        if let Some(j) = pos.iter().position(|&p| p == k) {
            let other = roles[j].0;
            return Err(DataError::Input(format!(
                "{}: the {other} column and the {what} column are both column {k} ('{}'); give each column once",
                path.display(),
                names[k]
            )));
        }
        pos.push(k);
    }
    let mut projected: Vec<usize> = pos.clone();
    projected.sort_unstable();
    let widest = guarded(|| {
        check_pages(
            path,
            &file,
            plain.metadata(),
            &projected,
            opts.max_record_bytes,
        )
    })
    .map_err(|e| corrupt(path, e))??;
    // A batch holds the pages its rows come from (string views point into them): at most
    // BATCH_BYTES of them by the widest page's bytes per value, beyond the pages it starts
    // and ends in.
    let batch_rows = (BATCH_BYTES / widest).clamp(1, BATCH_ROWS as u64) as usize;
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(
        file,
        ids_as_views(&plain, &pos[..2]).unwrap_or(plain),
    );
    // Where each role's column lands in a projected batch (columns keep file order).
    let at: Vec<usize> = pos
        .iter()
        .map(|p| projected.binary_search(p).expect("projected"))
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), projected.iter().copied());
    let mut reader = guarded(|| {
        builder
            .with_projection(mask)
            .with_batch_size(batch_rows)
            .build()
    })
    .map_err(|e| corrupt(path, e))?
    .map_err(|e| corrupt(path, e))?;
    let has_rating = opts.rating.is_some();
    let has_ts = opts.timestamp.is_some();
    let mut first_row = 1usize;
    loop {
        let next = guarded(|| reader.next()).map_err(|e| row_error(path, first_row, e))?;
        let Some(batch) = next else { break };
        let batch: RecordBatch = batch.map_err(|e| {
            row_error(
                path,
                first_row,
                format!("the data is corrupt or cannot be decoded: {e}"),
            )
        })?;
        let max = opts.max_record_bytes;
        let users = ids(path, batch.column(at[0]), "user", first_row, max)?;
        let items = ids(path, batch.column(at[1]), "item", first_row, max)?;
        let mut k = 2;
        let rs = if has_rating {
            k += 1;
            Some(ratings(path, batch.column(at[k - 1]), first_row)?)
        } else {
            None
        };
        let ts = if has_ts {
            Some(timestamps(path, batch.column(at[k]), first_row)?)
        } else {
            None
        };
        let (users, items) = (users.as_string_view(), items.as_string_view());
        let rs = rs.as_ref().map(|a| a.as_primitive::<Float32Type>());
        let ts = ts.as_ref().map(|a| a.as_primitive::<Int64Type>());
        for r in 0..batch.num_rows() {
            let line = first_row + r;
            let rating = rs.map_or(1.0, |a| a.value(r));
            if !rating.is_finite() {
                return Err(row_error(
                    path,
                    line,
                    format!("rating {rating} is not finite (expected a finite number)"),
                ));
            }
            let (user, item) = (users.value(r), items.value(r));
            if user.is_empty() || item.is_empty() {
                return Err(row_error(
                    path,
                    line,
                    "expected a user id and an item id, found an empty string".into(),
                ));
            }
            let row = Row {
                line,
                user,
                item,
                rating,
                timestamp: ts.map(|a| a.value(r)),
            };
            if f(row)?.is_break() {
                return Ok(());
            }
        }
        first_row += batch.num_rows();
    }
    Ok(())
}

/// Loads interactions from a Parquet file, the columns chosen by `opts` (by name or
/// position; its delimiter, header and comment settings do not apply). All rows are kept,
/// repeated pairs too.
pub fn load_parquet(path: &Path, opts: &DelimitedOptions) -> Result<Interactions, DataError> {
    let mut b = Interactions::builder();
    scan_parquet(path, opts, &mut |r| {
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
