//! Rating prediction on MovieLens 100k, 90/10 random split (seed 42): global mean,
//! BaselineOnly, biased MF with Surprise's defaults, and biased MF with settings chosen on a
//! validation split carved from the training part (the test part is never looked at while
//! choosing).
//!
//! `cargo run --release -p recs-factor --example mf_ml100k -- [ML100K_DIR]`
//! (default: ml-100k found through `RECS_DATA_DIR` / `RECS_DATA_MIRROR`).

use std::path::PathBuf;
use std::time::Instant;

use recs_core::{Recommender, TrainData};
use recs_data::{Interactions, movielens, split};
use recs_factor::{
    BaselineOnly, BaselineParams, BiasedMf, GlobalMean, GlobalMeanParams, MfParams, NoProgress,
};
use recs_metrics::{RatingPredictor, evaluate_ratings};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

fn ratings(d: &Interactions) -> CsrMatrix {
    d.to_csr(DuplicatePolicy::Error)
        .expect("one rating per (user, item)")
}

fn rmse(m: &dyn RatingPredictor, d: &Interactions) -> (f64, f64) {
    let r = evaluate_ratings(m, d.users(), d.items(), d.values()).expect("finite predictions");
    (r.rmse, r.mae)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .or_else(|| recs_data::registry::require("ml-100k"))
        .ok_or("ml-100k is not installed: set RECS_DATA_MIRROR or pass its directory")?;
    let data = movielens::load_ml100k(&dir)?;
    let s = split::random(&data, 0.9, 42)?;
    let train_m = ratings(&s.train);
    let train = TrainData::new(&train_m);

    let gm = GlobalMean::fit(&GlobalMeanParams {}, &train, &mut NoProgress)?;
    println!("global-mean RMSE {:.4}", rmse(&gm, &s.test).0);

    let t0 = Instant::now();
    let bl = BaselineOnly::fit(&BaselineParams::default(), &train, &mut NoProgress)?;
    let t_bl = t0.elapsed().as_secs_f64();
    let (r, m) = rmse(&bl, &s.test);
    println!("BaselineOnly(defaults) fit_s {t_bl:.3} RMSE {r:.4} MAE {m:.4}");

    let t0 = Instant::now();
    let mf = BiasedMf::fit(&MfParams::default(), &train, &mut NoProgress)?;
    let t_mf = t0.elapsed().as_secs_f64();
    let (r, m) = rmse(&mf, &s.test);
    println!(
        "BiasedMf(defaults: k 100, 20 epochs, lr 0.005, reg 0.02) fit_s {t_mf:.3} RMSE {r:.4} MAE {m:.4}"
    );

    // Choose settings on a validation split of the training part only.
    let inner = split::random(&s.train, 0.9, 7)?;
    let inner_m = ratings(&inner.train);
    let inner_train = TrainData::new(&inner_m);
    let mut best: Option<(f64, MfParams)> = None;
    for &epochs in &[20usize, 40, 80] {
        for &learning_rate in &[0.005f64, 0.01] {
            for &reg in &[0.02f64, 0.05, 0.1] {
                let p = MfParams {
                    epochs,
                    learning_rate,
                    reg,
                    ..MfParams::default()
                };
                let m = BiasedMf::fit(&p, &inner_train, &mut NoProgress)?;
                let v = rmse(&m, &inner.test).0;
                println!(
                    "  validation: epochs {epochs:3} lr {learning_rate:.3} reg {reg:.2} RMSE {v:.4}"
                );
                if best.as_ref().is_none_or(|(b, _)| v < *b) {
                    best = Some((v, p));
                }
            }
        }
    }
    let (v, p) = best.expect("grid is not empty");
    let t0 = Instant::now();
    let tuned = BiasedMf::fit(&p, &train, &mut NoProgress)?;
    let t_tuned = t0.elapsed().as_secs_f64();
    let (r, m) = rmse(&tuned, &s.test);
    println!(
        "BiasedMf(chosen on validation {v:.4}: k {}, {} epochs, lr {}, reg {}) fit_s {t_tuned:.3} RMSE {r:.4} MAE {m:.4}",
        p.factors, p.epochs, p.learning_rate, p.reg
    );
    Ok(())
}
