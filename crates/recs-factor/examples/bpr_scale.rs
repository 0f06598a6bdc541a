//! BPR at scale on `recs_data::synthetic` power-law data: seconds per epoch.
//!
//! `/usr/bin/time -v cargo run --release -p recs-factor --example bpr_scale -- \
//!     [USERS] [ITEMS] [INTERACTIONS] [EPOCHS] [THREADS] [FACTORS]`
//! (defaults 1,000,000 users, 200,000 items, 50,000,000 interactions, 2 epochs, 2 threads,
//! 10 factors); `time -v` reports the peak memory.

use std::time::Instant;

use recs_core::{Recommender as _, TrainData};
use recs_data::synthetic::{SyntheticParams, generate};
use recs_factor::{Bpr, BprParams, Control, EpochReport};
use recs_sparse::DuplicatePolicy;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.replace('_', "").parse())
        .collect::<Result<_, _>>()?;
    let get = |i: usize, d: usize| a.get(i).copied().unwrap_or(d);
    let (users, items, n, epochs, threads, k) = (
        get(0, 1_000_000),
        get(1, 200_000),
        get(2, 50_000_000),
        get(3, 2),
        get(4, 2),
        get(5, 10),
    );
    let t0 = Instant::now();
    let data = generate(&SyntheticParams {
        n_users: users,
        n_items: items,
        n_interactions: n,
        ..SyntheticParams::default()
    })?;
    let x = data.to_csr(DuplicatePolicy::KeepLast)?.binarize();
    drop(data);
    println!(
        "data: {users} users × {items} items, {n} draws → {} distinct interactions in {:.1} s",
        x.nnz(),
        t0.elapsed().as_secs_f64()
    );
    let params = BprParams {
        factors: k,
        epochs,
        learning_rate: 0.01,
        reg: 0.001,
        threads,
        ..BprParams::default()
    };
    let mut cb = |e: &EpochReport| {
        println!(
            "epoch {} {:.2} s ({:.1} M pairs/s) loss {:.4} train AUC {:.4}",
            e.epoch,
            e.seconds,
            x.nnz() as f64 / e.seconds / 1e6,
            e.total_loss(),
            e.loss("train_auc").unwrap_or(f64::NAN)
        );
        Control::Continue
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let t1 = Instant::now();
    let model = pool.install(|| Bpr::fit(&params, &TrainData::new(&x), &mut cb))?;
    println!(
        "fit {:.1} s, {threads} threads, k {k}; model {} users × {} items",
        t1.elapsed().as_secs_f64(),
        recs_metrics::Scorer::n_users(&model),
        recs_metrics::Scorer::n_items(&model)
    );
    Ok(())
}
