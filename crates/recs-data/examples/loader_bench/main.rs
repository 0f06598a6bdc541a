//! Old loader vs new loader vs Parquet on the same large synthetic data (never written into
//! the repo). One measurement per process, so peak memory is that load's alone:
//!
//! ```text
//! loader_bench gen CSV PARQUET N   # write N synthetic rows as CSV and as Parquet (snappy)
//! loader_bench old CSV             # the hand-written loader this crate had before
//! loader_bench new CSV             # load_delimited (the csv crate)
//! loader_bench parquet PARQUET     # load_parquet
//! loader_bench file CSV            # load_file: new loader + repeated pairs resolved (last)
//! ```
//!
//! Every load reads user, item and rating (the timestamp column is skipped) and prints
//! seconds, rows/s, bytes per interaction of the columns, peak RSS growth per row and a
//! checksum of the result, so that the lines can be compared. `benchmarks/loader.sh` runs
//! them all.

mod old;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Float32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use recs_data::synthetic::{SyntheticParams, generate, write_csv};
use recs_data::{DelimitedOptions, Duplicates, Header, Interactions};

fn vm_hwm_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn write_parquet(d: &Interactions, path: &PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user", DataType::Utf8, false),
        Field::new("item", DataType::Utf8, false),
        Field::new("rating", DataType::Float32, false),
        Field::new("timestamp", DataType::Int64, false),
    ]));
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let tmp = path.with_extension("parquet.tmp");
    let mut w = ArrowWriter::try_new(std::fs::File::create(&tmp)?, schema.clone(), Some(props))?;
    let ts = d.timestamps().expect("synthetic data has timestamps");
    const CHUNK: usize = 1 << 20;
    for start in (0..d.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(d.len());
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                d.users()[start..end]
                    .iter()
                    .map(|&u| d.user_map().external(u)),
            )),
            Arc::new(StringArray::from_iter_values(
                d.items()[start..end]
                    .iter()
                    .map(|&i| d.item_map().external(i)),
            )),
            Arc::new(Float32Array::from(d.values()[start..end].to_vec())),
            Arc::new(Int64Array::from(ts[start..end].to_vec())),
        ];
        w.write(&RecordBatch::try_new(schema.clone(), cols)?)?;
    }
    w.close()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// FNV-1a over users, items and value bits: equal loads print equal sums.
fn checksum(d: &Interactions) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    let mut eat = |x: u32| {
        for b in x.to_le_bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
    };
    for r in 0..d.len() {
        eat(d.users()[r]);
        eat(d.items()[r]);
        eat(d.values()[r].to_bits());
    }
    h
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("");
    let path = PathBuf::from(args.get(1).ok_or("usage: loader_bench MODE FILE …")?);
    if mode == "gen" {
        let pq = PathBuf::from(args.get(2).ok_or("gen needs CSV PARQUET N")?);
        let n: usize = args.get(3).map_or(Ok(20_000_000), |s| s.parse())?;
        let t = Instant::now();
        let data = generate(&SyntheticParams {
            n_users: 138_493,
            n_items: 26_744,
            n_interactions: n,
            seed: 1,
            ..Default::default()
        })?;
        if !path.is_file() {
            write_csv(&data, &path)?;
        }
        if !pq.is_file() {
            write_parquet(&data, &pq)?;
        }
        eprintln!(
            "generated {} rows into {} and {} in {:.1}s",
            data.len(),
            path.display(),
            pq.display(),
            t.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let mut opts = DelimitedOptions::uirt(",", true);
    opts.timestamp = None;
    let before = vm_hwm_kib().unwrap_or(0);
    let t = Instant::now();
    let d = match mode {
        "old" => {
            let o = old::DelimitedOptions {
                delimiter: ",".into(),
                has_header: true,
                user: 0.into(),
                item: 1.into(),
                rating: Some(2.into()),
                timestamp: None,
                allow_extra_fields: true,
            };
            old::load_delimited(&path, &o)?
        }
        "new" => recs_data::load_delimited(&path, &opts)?,
        "parquet" => recs_data::load_parquet(&path, &opts)?,
        "file" => {
            opts.header = Header::Auto;
            let (d, rep) = recs_data::load_file(&path, None, &opts, Duplicates::Last)?;
            eprintln!(
                "  {} rows read, {} repeated pairs ({} extra rows) resolved by last",
                rep.rows_read, rep.duplicates.pairs, rep.duplicates.extra_rows
            );
            d
        }
        _ => return Err(format!("unknown mode '{mode}' (gen, old, new, parquet, file)").into()),
    };
    let secs = t.elapsed().as_secs_f64();
    let ts_bytes = d.timestamps().map_or(0, |t| t.len() * 8);
    let columns = d.len() * 12 + ts_bytes;
    let peak = vm_hwm_kib().unwrap_or(0).saturating_sub(before) * 1024;
    println!(
        "{mode:<8} rows {} users {} items {} | load {:.2} s ({:.2} M rows/s) | columns {:.1} B/row | peak RSS growth {:.1} B/row | checksum {:016x}",
        d.len(),
        d.n_users(),
        d.n_items(),
        secs,
        d.len() as f64 / secs / 1e6,
        columns as f64 / d.len() as f64,
        peak as f64 / d.len() as f64,
        checksum(&d)
    );
    Ok(())
}
