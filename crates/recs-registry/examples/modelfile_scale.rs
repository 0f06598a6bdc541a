//! Model file v2 at scale: a BPR model on `recs_data::synthetic` power-law data, written
//! with its full catalogue (every user's and item's id, every user's training items) and
//! read back through the registry, as `recs train` / `recs recommend` do.
//!
//! `/usr/bin/time -v cargo run --release -p recs-registry --example modelfile_scale -- \
//!     [USERS] [ITEMS] [INTERACTIONS] [FACTORS]`
//! (defaults 1,000,000 users, 200,000 items, 100,000,000 draws, 32 factors; one BPR epoch).
//! Prints the file size, the header size, seconds to write and to read, and the peak memory.

use std::time::Instant;

use recs_core::modelfile::{Catalog, META_KEY};
use recs_data::synthetic::{SyntheticParams, generate};
use recs_registry::HyperParams;
use recs_sparse::DuplicatePolicy;

fn vm_hwm_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_string();
            l.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |k| k / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.replace('_', "").parse())
        .collect::<Result<_, _>>()?;
    let get = |i: usize, d: usize| a.get(i).copied().unwrap_or(d);
    let (users, items, n, k) = (
        get(0, 1_000_000),
        get(1, 200_000),
        get(2, 100_000_000),
        get(3, 32),
    );
    let t0 = Instant::now();
    let data = generate(&SyntheticParams {
        n_users: users,
        n_items: items,
        n_interactions: n,
        ..SyntheticParams::default()
    })?;
    let x = data.to_csr(DuplicatePolicy::KeepLast)?.binarize();
    let catalog = Catalog {
        user_ids: Some(data.user_map().ids().to_vec()),
        item_ids: Some(data.item_map().ids().to_vec()),
        seen: Some(x.clone()),
    };
    drop(data);
    println!(
        "data: {} users × {} items, {} distinct interactions in {:.1} s",
        x.n_rows(),
        x.n_cols(),
        x.nnz(),
        t0.elapsed().as_secs_f64()
    );
    let entry = recs_registry::find("bpr")?;
    let hp = HyperParams::new().with("factors", k).with("epochs", 1);
    let t = Instant::now();
    let params = entry.params_for(&hp, false)?;
    let model = entry.fit(
        &params,
        &recs_core::TrainData::new(&x),
        &mut recs_core::NoProgress,
    )?;
    println!("fit (1 epoch): {:.1} s", t.elapsed().as_secs_f64());
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("scale.recs");
    let t = Instant::now();
    recs_registry::save(
        &*model,
        &catalog,
        serde_json::json!({"by": "modelfile_scale"}),
        &path,
    )?;
    let write_s = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path)?.len();
    let bytes = std::fs::read(&path)?;
    let header = u64::from_le_bytes(bytes[..8].try_into()?) as usize;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)?;
    let meta_len = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .map_or(0, String::len);
    drop(bytes);
    println!(
        "write: {write_s:.2} s, file {:.1} MB, safetensors header {:.1} KB (recs.meta {} bytes)",
        size as f64 / 1e6,
        header as f64 / 1e3,
        meta_len
    );
    drop(model);
    let t = Instant::now();
    let loaded = recs_registry::load(&path)?;
    let read_s = t.elapsed().as_secs_f64();
    let seen = loaded.seen()?.map_or(0, |s| s.nnz());
    assert_eq!(seen, x.nnz(), "every interaction read back");
    assert_eq!(
        loaded.catalog.user_ids.as_ref().map(Vec::len),
        Some(x.n_rows())
    );
    let mut scores = vec![0.0; loaded.model.n_items()];
    loaded.model.score_user(0, &mut scores)?;
    println!(
        "read (verified): {read_s:.2} s, {} users × {} items, {seen} seen interactions; peak RSS {:.0} MiB",
        loaded.model.n_users(),
        loaded.model.n_items(),
        vm_hwm_mib()
    );
    Ok(())
}
