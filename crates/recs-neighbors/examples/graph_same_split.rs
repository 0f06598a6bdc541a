//! RP3beta and SAR on the `bpr-ml100k` split (ml-100k, random 75/25, seed 42), written out
//! for `benchmarks/graph-same-split.sh`: the split's rows as `train.csv` and `test.csv`
//! (`userID,itemID,rating,ts`, the external ids) and, per configuration, each training
//! user's top 10 (`<name>.csv`: `userID,itemID,score,rank`; every item with a training
//! interaction is a candidate, the user's own excluded, ties to the lower item index) and
//! the median fit seconds of `REPS` fits (`fit_seconds.csv`), and the item ids in recs' index
//! order (`items.csv`), by which the peer breaks ties the same way. The peer script then fits
//! `graph_peers.py`'s RP3beta and Recommenders' SAR on the same rows and compares.
//!
//! `cargo run --release -p recs-neighbors --example graph_same_split -- DATA_DIR OUT_DIR [REPS] [THREADS]`
//! (`DATA_DIR` holds `ml-100k/`, e.g. `../shared/datasets`; defaults: 5 repetitions, 2
//! threads).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use recs_core::{NoProgress, Recommender, TrainData};
use recs_neighbors::{Rp3Beta, Rp3BetaParams, Sar, SarParams, Similarity};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

type Fit = Box<dyn Fn(&TrainData<'_>) -> Box<dyn recs_core::Scorer>>;

fn fitter<M: Recommender + 'static>(p: M::Params) -> Fit {
    Box::new(move |d| Box::new(M::fit(&p, d, &mut NoProgress).expect("fit")))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: graph_same_split DATA_DIR OUT_DIR [REPS] [THREADS]";
    let data_dir = PathBuf::from(args.next().ok_or(usage)?);
    let out = PathBuf::from(args.next().ok_or(usage)?);
    let reps: usize = args.next().map_or(Ok(5), |s| s.parse())?;
    let threads: usize = args.next().map_or(Ok(2), |s| s.parse())?;
    std::fs::create_dir_all(&out)?;
    let data = recs_data::registry::load_from("ml-100k", &data_dir)?;
    let split = recs_data::split::random(&data, 0.75, 42)?;
    for (name, part) in [("train", &split.train), ("test", &split.test)] {
        let mut w =
            std::io::BufWriter::new(std::fs::File::create(out.join(format!("{name}.csv")))?);
        writeln!(w, "userID,itemID,rating,ts")?;
        let ts = part.timestamps().ok_or("ml-100k has times")?;
        for (k, t) in ts.iter().enumerate() {
            writeln!(
                w,
                "{},{},{},{t}",
                part.user_map().external(part.users()[k]),
                part.item_map().external(part.items()[k]),
                part.values()[k],
            )?;
        }
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(out.join("items.csv"))?);
    writeln!(w, "itemID")?;
    for id in split.train.item_map().ids() {
        writeln!(w, "{id}")?;
    }
    drop(w);
    let (ratings, order, times) = split.train.to_csr_ordered(DuplicatePolicy::Error)?;
    let times = times.ok_or("ml-100k has times")?;
    let binary = ratings.binarize();
    let rp3 = |alpha, beta| Rp3BetaParams {
        alpha,
        beta,
        threads,
        ..Rp3BetaParams::default()
    };
    let sar = |similarity, time_decay| SarParams {
        similarity,
        time_decay,
        threads,
        ..SarParams::default()
    };
    let configs: Vec<(&str, bool, Fit)> = vec![
        ("rp3beta_a1_b0.6", true, fitter::<Rp3Beta>(rp3(1.0, 0.6))),
        ("rp3beta_a0.8_b0.3", true, fitter::<Rp3Beta>(rp3(0.8, 0.3))),
        (
            "sar_jaccard",
            false,
            fitter::<Sar>(sar(Similarity::Jaccard, false)),
        ),
        (
            "sar_lift",
            false,
            fitter::<Sar>(sar(Similarity::Lift, false)),
        ),
        (
            "sar_counts",
            false,
            fitter::<Sar>(sar(Similarity::Counts, false)),
        ),
        (
            "sar_jaccard_decay",
            false,
            fitter::<Sar>(sar(Similarity::Jaccard, true)),
        ),
        (
            "sar_lift_decay",
            false,
            fitter::<Sar>(sar(Similarity::Lift, true)),
        ),
        (
            "sar_counts_decay",
            false,
            fitter::<Sar>(sar(Similarity::Counts, true)),
        ),
    ];
    let mut secs = std::io::BufWriter::new(std::fs::File::create(out.join("fit_seconds.csv"))?);
    writeln!(secs, "name,fit_seconds")?;
    for (name, binarized, fit) in &configs {
        let x = if *binarized { &binary } else { &ratings };
        let d = TrainData::new(x)
            .with_order(&order)?
            .with_timestamps(&times)?;
        let mut seconds = Vec::new();
        let mut model = None;
        for _ in 0..reps.max(1) {
            let t = Instant::now();
            model = Some(fit(&d));
            seconds.push(t.elapsed().as_secs_f64());
        }
        seconds.sort_by(f64::total_cmp);
        let median = seconds[seconds.len() / 2];
        writeln!(secs, "{name},{median}")?;
        eprintln!("{name}: fit {median:.4} s (median of {})", seconds.len());
        let model = model.expect("fitted once");
        write_top10(
            &out.join(format!("{name}.csv")),
            &*model,
            &ratings,
            &split.train,
        )?;
    }
    Ok(())
}

/// Each training user's top 10 among the items with a training interaction, their own
/// left out, ties to the lower item index.
fn write_top10(
    path: &Path,
    model: &dyn recs_core::Scorer,
    train: &CsrMatrix,
    ids: &recs_data::Interactions,
) -> Result<(), Box<dyn std::error::Error>> {
    let in_train: Vec<bool> = train.col_counts().iter().map(|&c| c > 0).collect();
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(w, "userID,itemID,score,rank")?;
    let mut scores = vec![0.0f32; model.n_items()];
    for u in 0..train.n_rows() {
        let seen = train.row(u).indices;
        if seen.is_empty() {
            continue;
        }
        model.score_user(u as u32, &mut scores)?;
        let mut cand: Vec<u32> = (0..scores.len() as u32)
            .filter(|&i| in_train[i as usize] && seen.binary_search(&i).is_err())
            .collect();
        cand.sort_by(|&a, &b| {
            scores[b as usize]
                .total_cmp(&scores[a as usize])
                .then(a.cmp(&b))
        });
        for (r, &i) in cand.iter().take(10).enumerate() {
            writeln!(
                w,
                "{},{},{},{}",
                ids.user_map().external(u as u32),
                ids.item_map().external(i),
                scores[i as usize],
                r + 1
            )?;
        }
    }
    Ok(())
}
