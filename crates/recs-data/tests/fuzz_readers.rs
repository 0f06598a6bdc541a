//! Byte-mutation fuzzing of the readers a user's file goes through (cargo-fuzz needs a
//! nightly toolchain; proptest drives the mutations instead): the delimited loader (csv
//! crate and literal `::` paths, plain and gzip), the Parquet reader and the Goodreads JSON
//! lines reader. Any input must give `Ok` or an error: never a panic, and never a single
//! allocation far larger than the input (a length field taken at its word).
//!
//! Each target starts from valid files, applies a handful of random mutations (bit flips,
//! inserted, deleted, repeated and truncated bytes, with a bias toward the end of the file
//! where Parquet keeps its footer) and loads the result. Bounded: `PROPTEST_CASES` (default
//! 400 per target) cases, a few seconds each target in a debug build.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use recs_data::{DelimitedOptions, Duplicates, Header};

/// The system allocator, recording the largest single request.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Largest = Largest;

/// No single allocation may exceed this while reading inputs of a few KB (the readers'
/// own fixed buffers are 1 MiB; 64 MiB leaves room for them and nothing proportional to a
/// forged length).
const ALLOC_BOUND: usize = 64 << 20;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        max_shrink_iters: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(prop::sample::Index, u8),
    FlipNearEnd(prop::sample::Index, u8),
    Insert(prop::sample::Index, Vec<u8>),
    Delete(prop::sample::Index, usize),
    Repeat(prop::sample::Index, usize, usize),
    Truncate(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let idx = any::<prop::sample::Index>;
    prop_oneof![
        3 => (idx(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        3 => (idx(), any::<u8>()).prop_map(|(i, b)| Mutation::FlipNearEnd(i, b)),
        2 => (idx(), prop::collection::vec(
                prop_oneof![any::<u8>(), Just(b','), Just(b'"'), Just(b'\n'), Just(b'\r'), Just(b':'), Just(0xff)],
                1..12,
            )).prop_map(|(i, v)| Mutation::Insert(i, v)),
        2 => (idx(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (idx(), 1usize..32, 1usize..6).prop_map(|(i, n, k)| Mutation::Repeat(i, n, k)),
        1 => idx().prop_map(Mutation::Truncate),
    ]
}

fn apply(mut b: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        if b.is_empty() {
            b.push(b'x');
        }
        let n = b.len();
        match m {
            Mutation::Flip(i, x) => b[i.index(n)] ^= x | 1,
            Mutation::FlipNearEnd(i, x) => {
                let tail = n.min(256);
                b[n - tail + i.index(tail)] ^= x | 1;
            }
            Mutation::Insert(i, v) => {
                let at = i.index(n + 1);
                b.splice(at..at, v.iter().copied());
            }
            Mutation::Delete(i, k) => {
                let at = i.index(n);
                b.drain(at..(at + k).min(n));
            }
            Mutation::Repeat(i, k, times) => {
                let at = i.index(n);
                let piece: Vec<u8> = b[at..(at + k).min(n)].to_vec();
                for _ in 0..*times {
                    b.splice(at..at, piece.iter().copied());
                }
            }
            Mutation::Truncate(i) => b.truncate(i.index(n + 1)),
        }
    }
    b
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
    p
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// Loads `path` with every loader entry point that reads it; only panics and oversized
/// allocations fail the property (errors are expected).
fn check(run: impl FnOnce()) -> Result<(), TestCaseError> {
    LARGEST.store(0, Ordering::Relaxed);
    run();
    let big = LARGEST.load(Ordering::Relaxed);
    // Other tests run in parallel threads and share the counter: all of them obey the same
    // bound, so a breach is still a breach of one of them.
    prop_assert!(big <= ALLOC_BOUND, "an allocation of {big} bytes");
    Ok(())
}

const CSV_SEEDS: &[&[u8]] = &[
    b"user,item,rating,timestamp\n1,10,4.5,100\n2,10,3,101\n1,11,5,102\n",
    b"\xef\xbb\xbfuserId,movieId,rating\r\n\"u 1\",\"m,1\",\"4\"\r\nu2,m2,2.5\r\n\"u\"\"3\",m1,1\r\n",
    b"196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n",
    b"1::1193::5::978300760\n1::661::3::978302109\n2::1357::5::978298709\n",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn delimited_reader_never_panics(seed in 0..CSV_SEEDS.len(), ms in prop::collection::vec(mutation(), 1..8), gz in any::<bool>(), by_name in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let bytes = apply(CSV_SEEDS[seed].to_vec(), &ms);
        let (name, bytes) = if gz { ("f.csv.gz", gzip(&bytes)) } else { ("f.csv", bytes) };
        let p = write(dir.path(), name, &bytes);
        let delimiter = match seed { 2 => "\t", 3 => "::", _ => "," };
        let mut opts = DelimitedOptions::uirt(delimiter, false);
        opts.header = Header::Auto;
        if by_name && seed == 1 {
            opts.user = "userId".into();
            opts.item = "movieId".into();
            opts.rating = Some("rating".into());
            opts.timestamp = None;
        }
        check(|| {
            let _ = recs_data::load_delimited(&p, &opts);
            for d in [Duplicates::Sum, Duplicates::Last, Duplicates::First, Duplicates::Error] {
                let _ = recs_data::load_file(&p, None, &opts, d);
            }
        })?;
    }

    #[test]
    fn gzip_stream_mutations_never_panic(ms in prop::collection::vec(mutation(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "g.csv.gz", &apply(gzip(CSV_SEEDS[0]), &ms));
        check(|| { let _ = recs_data::load_delimited(&p, &DelimitedOptions::default()); })?;
    }

    #[test]
    fn goodreads_reader_never_panics(ms in prop::collection::vec(mutation(), 1..8), gz in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let seed = b"{\"user_id\": \"8842281e\", \"book_id\": \"24375664\", \"rating\": 5}\n{\"user_id\": \"8842281e\", \"book_id\": 18245960, \"rating\": 0, \"x\": [1, {\"y\": null}]}\n";
        let bytes = apply(seed.to_vec(), &ms);
        let (name, bytes) = if gz { ("g.json.gz", gzip(&bytes)) } else { ("g.json", bytes) };
        let p = write(dir.path(), name, &bytes);
        check(|| { let _ = recs_data::goodreads::load_goodreads(&p); })?;
    }

    #[test]
    fn parquet_reader_never_panics(seed in 0..3usize, ms in prop::collection::vec(mutation(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "f.parquet", &apply(parquet_seed(seed), &ms));
        let mut opts = DelimitedOptions::default();
        if seed == 2 {
            opts.user = "user".into();
            opts.item = "item".into();
            opts.rating = Some("rating".into());
            opts.timestamp = Some("ts".into());
        }
        check(|| {
            let _ = recs_data::load_parquet(&p, &opts);
            let _ = recs_data::load_file(&p, None, &opts, Duplicates::Error);
        })?;
    }
}

/// Small valid Parquet files: string ids + f32 ratings (snappy), integer ids + f64 ratings
/// (zstd, two row groups), and named columns with a timestamp (uncompressed, dictionary).
fn parquet_seed(kind: usize) -> Vec<u8> {
    use arrow_array::{ArrayRef, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    let (cols, compression, group): (Vec<(&str, ArrayRef)>, Compression, usize) = match kind {
        0 => (
            vec![
                (
                    "u",
                    Arc::new(StringArray::from(vec!["a", "b", "a", "c"])) as ArrayRef,
                ),
                ("i", Arc::new(StringArray::from(vec!["x", "x", "y", "z"]))),
                ("r", Arc::new(Float32Array::from(vec![4.0, 3.5, 5.0, 1.0]))),
            ],
            Compression::SNAPPY,
            1024,
        ),
        1 => (
            vec![
                (
                    "user",
                    Arc::new(Int64Array::from(vec![1, 2, 3, 1, 2, 9])) as ArrayRef,
                ),
                ("item", Arc::new(Int64Array::from(vec![7, 7, 8, 8, 9, 7]))),
                (
                    "rating",
                    Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0, 5.0, 2.5])),
                ),
            ],
            Compression::ZSTD(ZstdLevel::default()),
            3,
        ),
        _ => (
            vec![
                (
                    "ts",
                    Arc::new(Int64Array::from(vec![100, 101, 102])) as ArrayRef,
                ),
                ("item", Arc::new(StringArray::from(vec!["m1", "m1", "m2"]))),
                ("user", Arc::new(StringArray::from(vec!["u1", "u2", "u1"]))),
                ("rating", Arc::new(Float32Array::from(vec![4.0, 2.0, 5.0]))),
            ],
            Compression::UNCOMPRESSED,
            1024,
        ),
    };
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let props = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_size(group)
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

#[test]
fn parquet_seeds_load() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "s0.parquet", &parquet_seed(0));
    let d = recs_data::load_parquet(&p, &DelimitedOptions::default()).unwrap();
    assert_eq!((d.len(), d.n_users(), d.n_items()), (4, 3, 3));
    assert_eq!(d.values(), &[4.0, 3.5, 5.0, 1.0]);
    let p = write(dir.path(), "s1.parquet", &parquet_seed(1));
    let d = recs_data::load_parquet(&p, &DelimitedOptions::default()).unwrap();
    assert_eq!(d.user_map().ids(), &["1", "2", "3", "9"]);
    assert_eq!(d.len(), 6);
    let p = write(dir.path(), "s2.parquet", &parquet_seed(2));
    let opts = DelimitedOptions {
        user: "user".into(),
        item: "item".into(),
        rating: Some("rating".into()),
        timestamp: Some("ts".into()),
        ..Default::default()
    };
    let d = recs_data::load_parquet(&p, &opts).unwrap();
    assert_eq!(d.user_map().ids(), &["u1", "u2"]);
    assert_eq!(d.timestamps(), Some(&[100, 101, 102][..]));
    // The same data as CSV gives the same interactions.
    let c = write(
        dir.path(),
        "s2.csv",
        b"ts,item,user,rating\n100,m1,u1,4\n101,m1,u2,2\n102,m2,u1,5\n",
    );
    let dc = recs_data::load_delimited(&c, &opts).unwrap();
    assert_eq!(
        (dc.users(), dc.items(), dc.values(), dc.timestamps()),
        (d.users(), d.items(), d.values(), d.timestamps())
    );
    // Errors name the file and the column or row.
    let bad = DelimitedOptions {
        user: "uid".into(),
        ..opts.clone()
    };
    let e = recs_data::load_parquet(&p, &bad).unwrap_err().to_string();
    assert!(
        e.contains("s2.parquet")
            && e.contains("'uid'")
            && e.contains("columns: ts, item, user, rating"),
        "{e}"
    );
    let twice = DelimitedOptions {
        item: "user".into(),
        ..opts
    };
    let e = recs_data::load_parquet(&p, &twice).unwrap_err().to_string();
    assert!(e.contains("the user column and the item column"), "{e}");
    let e = recs_data::load_parquet(&c, &DelimitedOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("s2.csv") && e.contains("not a readable Parquet file"),
        "{e}"
    );
}

/// What the fuzzing found, kept as a plain case: two insertions into a valid file's footer
/// made the `parquet` crate reserve a forged list length (67 MB here; up to 2^31 elements).
#[test]
fn found_by_fuzzing() {
    let ix = |raw: u128, n: usize| ((n as u128 * raw) >> 64) as usize;
    let mut b = parquet_seed(0);
    let at = ix(5338286066346815581, b.len() + 1);
    b.splice(at..at, [44u8, 241, 255, 128, 43, 0]);
    let at = ix(5382755991689475126, b.len() + 1);
    b.splice(at..at, [43u8, 0]);
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "f.parquet", &b);
    check(|| {
        let e = recs_data::load_parquet(&p, &DelimitedOptions::default()).unwrap_err();
        assert!(e.to_string().contains("f.parquet"), "{e}");
    })
    .unwrap();
    // One flipped bit in a column chunk's offset: the crate's `byte_range` asserted it
    // non-negative (a panic) before the pages were checked.
    let mut b = parquet_seed(2);
    let at = ix(9282591118953361849, b.len());
    b[at] ^= 1;
    let p = write(dir.path(), "g.parquet", &b);
    let opts = DelimitedOptions {
        user: "user".into(),
        item: "item".into(),
        rating: Some("rating".into()),
        timestamp: Some("ts".into()),
        ..Default::default()
    };
    for o in [&opts, &DelimitedOptions::default()] {
        check(|| {
            if let Err(e) = recs_data::load_parquet(&p, o) {
                assert!(e.to_string().contains("g.parquet"), "{e}");
            }
        })
        .unwrap();
    }
}

/// A Parquet file of `rows` rows whose user id is `user` on every row, items `i0`, `i1`, ….
fn parquet_of(user: &str, rows: usize, compression: parquet::basic::Compression) -> Vec<u8> {
    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    let users: ArrayRef = Arc::new(StringArray::from(vec![user; rows]));
    let items: ArrayRef = Arc::new(StringArray::from(
        (0..rows).map(|k| format!("i{k}")).collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_from_iter([("u", users), ("i", items)]).unwrap();
    let props = WriterProperties::builder()
        .set_compression(compression)
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

/// The error of a load that must fail (an `Ok` is reported by its size: its ids may be
/// megabytes long).
fn load_error(p: &Path, opts: &DelimitedOptions) -> String {
    match recs_data::load_parquet(p, opts) {
        Ok(d) => panic!("{} loaded: {} interactions", p.display(), d.len()),
        Err(e) => e.to_string(),
    }
}

/// A small file holding one value far longer than any record (a compressed run of one
/// byte) is refused from its page header, before the page is decompressed; with a page
/// limit it fits, the id itself is refused by its length.
#[test]
fn a_page_larger_than_its_limit_is_refused_before_decompressing() {
    use parquet::basic::{Compression, ZstdLevel};
    let dir = tempfile::tempdir().unwrap();
    // 20 MiB: under the fuzz targets' allocation bound, which runs beside them.
    let huge = "a".repeat(20 << 20);
    let bytes = parquet_of(&huge, 1, Compression::ZSTD(ZstdLevel::default()));
    drop(huge);
    assert!(bytes.len() < 1 << 20, "{} bytes", bytes.len());
    let p = write(dir.path(), "bomb.parquet", &bytes);
    let small = DelimitedOptions {
        rating: None,
        max_record_bytes: 256 << 10,
        ..Default::default()
    };
    check(|| {
        let e = load_error(&p, &small);
        assert!(
            e.contains("bomb.parquet")
                && e.contains("column `u`")
                && e.contains("over the limit of 16777216")
                && e.contains("--max-record-bytes"),
            "{e}"
        );
    })
    .unwrap();
    let e = load_error(
        &p,
        &DelimitedOptions {
            rating: None,
            ..Default::default()
        },
    );
    assert!(
        e.contains("row 1")
            && e.contains("the user id is 20971520 bytes, over the limit of 1048576"),
        "{e}"
    );
}

/// A dictionary page's value used on every row is shared, not copied per row: 2,000 rows
/// of one 64 KiB id read as 128 MiB of strings before.
#[test]
fn a_dictionary_value_is_not_copied_once_per_row() {
    let dir = tempfile::tempdir().unwrap();
    let user = "u".repeat(64 << 10);
    let p = write(
        dir.path(),
        "dict.parquet",
        &parquet_of(&user, 2000, parquet::basic::Compression::SNAPPY),
    );
    let opts = DelimitedOptions {
        rating: None,
        ..Default::default()
    };
    check(|| {
        let d = recs_data::load_parquet(&p, &opts).unwrap();
        assert_eq!((d.len(), d.n_users(), d.n_items()), (2000, 1, 2000));
        assert_eq!(d.user_map().ids()[0].len(), 64 << 10);
    })
    .unwrap();
}

/// Every codec the `parquet` crate reads is compiled in (lz4 and brotli files are common
/// from older Spark and Hive setups).
#[test]
fn lz4_and_brotli_files_load() {
    use parquet::basic::{BrotliLevel, Compression};
    let dir = tempfile::tempdir().unwrap();
    let opts = DelimitedOptions {
        rating: None,
        ..Default::default()
    };
    for (name, c) in [
        ("lz4.parquet", Compression::LZ4_RAW),
        ("lz4h.parquet", Compression::LZ4),
        (
            "brotli.parquet",
            Compression::BROTLI(BrotliLevel::default()),
        ),
    ] {
        let p = write(dir.path(), name, &parquet_of("x", 50, c));
        let d = recs_data::load_parquet(&p, &opts).unwrap();
        assert_eq!((d.len(), d.n_users()), (50, 1), "{name}");
    }
}

/// A Parquet file is known by its first bytes when its name does not say so.
#[test]
fn parquet_without_its_extension_is_read_as_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = parquet_seed(0);
    let named = write(dir.path(), "s0.parquet", &bytes);
    let want = recs_data::load_parquet(&named, &DelimitedOptions::default()).unwrap();
    for name in ["ratings", "ratings.csv"] {
        let p = write(dir.path(), name, &bytes);
        let (d, _) =
            recs_data::load_file(&p, None, &DelimitedOptions::default(), Duplicates::Sum).unwrap();
        assert_eq!(
            (d.users(), d.items(), d.values()),
            (want.users(), want.items(), want.values()),
            "{name}"
        );
    }
}

/// The thrift-compact varint of `v`.
fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// A page whose header declares less than its data decodes to is refused before the
/// `parquet` crate decodes it (the crate decodes gzip, brotli and zstd pages to their end,
/// and sizes a snappy page by snappy's own preamble, whatever the header says): the header
/// of a 20 MiB value rewritten to declare 1 MiB, under a 4 MiB page limit.
#[test]
fn a_page_that_decodes_to_more_than_it_declares_is_refused() {
    use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
    let dir = tempfile::tempdir().unwrap();
    let huge = "a".repeat(20 << 20);
    let opts = DelimitedOptions {
        rating: None,
        max_record_bytes: 64 << 10,
        ..Default::default()
    };
    let zz = |v: u64| v << 1;
    for (name, c) in [
        ("zstd", Compression::ZSTD(ZstdLevel::default())),
        ("snappy", Compression::SNAPPY),
        ("gzip", Compression::GZIP(GzipLevel::default())),
        ("brotli", Compression::BROTLI(BrotliLevel::default())),
    ] {
        let mut bytes = parquet_of(&huge, 1, c);
        // The first page header's uncompressed_page_size (field 2, i32) of about 20 MiB,
        // followed by field 3: rewritten to 1 MiB + 1 (a varint of the same length).
        let at = (20u64 << 20..(20 << 20) + 64)
            .find_map(|n| {
                let mut pat = vec![0x15];
                pat.extend(varint(zz(n)));
                pat.push(0x15);
                bytes.windows(pat.len()).position(|w| w == pat.as_slice())
            })
            .unwrap_or_else(|| panic!("{name}: no page header of about 20 MiB"));
        let small = varint(zz((1 << 20) + 1));
        assert_eq!(small.len(), 4);
        bytes[at + 1..at + 5].copy_from_slice(&small);
        let p = write(dir.path(), &format!("{name}.parquet"), &bytes);
        check(|| {
            let e = load_error(&p, &opts);
            assert!(
                e.contains(&format!("{name}.parquet"))
                    && e.contains("decodes to more than the 1048577 bytes its header declares"),
                "{name}: {e}"
            );
        })
        .unwrap();
    }
}
