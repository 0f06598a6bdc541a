//! Seed 003's AutoRec: `autorec-ml100k` (I-AutoRec on a random 90/10 split of ml-100k) and
//! `autorec-ml1m` (the paper's setting on MovieLens 1M).

use std::time::Instant;

use anyhow::Context as _;
use recs_core::{Recommender, TrainData};
use recs_sparse::DuplicatePolicy;
use recs_vae::{AutoRec, AutoRecParams, Control, EpochReport};

use super::{Experiment, SeedRun};
use crate::{Reference, RunOptions, protocol};

/// The settings `autorec-ml100k` trains with (see the experiment's description).
pub fn ml100k_params(seed: u64, epochs: Option<usize>) -> AutoRecParams {
    let defaults = recs_registry::defaults::autorec();
    AutoRecParams {
        epochs: epochs.unwrap_or(defaults.epochs),
        seed,
        ..defaults
    }
}

/// Seed 003's experiment: random 90/10 split of the ratings, I-AutoRec with 500 sigmoid
/// hidden units, identity output, λ 100, Adam lr 0.001, batches of 256 items, 200 epochs.
pub const AUTOREC_ML100K: Experiment = Experiment {
    name: "autorec-ml100k",
    description: "I-AutoRec (500 sigmoid units, lambda 100, 200 epochs, batch 256) on ml-100k, random 90/10 split",
    datasets: &["ml-100k"],
    metrics: &["rmse", "mae"],
    references: &[
        Reference {
            metric: "rmse",
            value: 0.9207,
            source: "PyTorch I-AutoRec (autorec_torch.py, lambda 100, 200 epochs)",
        },
        Reference {
            metric: "rmse",
            value: 0.930,
            source: "Surprise SVD, factor_peers.py",
        },
        Reference {
            metric: "train_seconds",
            value: 17.8,
            source: "PyTorch I-AutoRec (autorec_torch.py, lambda 100, 200 epochs)",
        },
    ],
    run: |opts, seed| run(opts, "ml-100k", ml100k_params(seed, opts.epochs)),
};

/// The paper's MovieLens 1M setting: 90/10 split, I-AutoRec with 500 hidden units.
pub const AUTOREC_ML1M: Experiment = Experiment {
    name: "autorec-ml1m",
    description: "I-AutoRec (500 sigmoid units, lambda 100, 200 epochs, batch 256) on ml-1m, random 90/10 split",
    datasets: &["ml-1m"],
    metrics: &["rmse", "mae"],
    references: &[
        Reference {
            metric: "rmse",
            value: 0.831,
            source: "Sedhain et al. 2015, I-AutoRec",
        },
        Reference {
            metric: "rmse",
            value: 0.874,
            source: "Sedhain et al. 2015, U-AutoRec",
        },
    ],
    run: |opts, seed| run(opts, "ml-1m", ml100k_params(seed, opts.epochs)),
};

fn run(opts: &RunOptions, dataset: &str, mut params: AutoRecParams) -> anyhow::Result<SeedRun> {
    if let Some(d) = &opts.device {
        params.device = d.clone();
    }
    let data = protocol::random_rating_split(opts, dataset, 0.9, params.seed)?;
    let train = data.train.to_csr(DuplicatePolicy::Error)?;
    let mut epochs = 0;
    let mut progress = |r: &EpochReport| {
        epochs = r.epoch;
        if opts.verbose {
            eprintln!("{r}");
        }
        Control::Continue
    };
    // Through the registry, as `recs train` fits it.
    let entry = recs_registry::find(AutoRec::KIND)?;
    let json = serde_json::to_value(&params)?;
    let started = Instant::now();
    let model = entry.fit(&json, &TrainData::new(&train), &mut progress)?;
    let train_seconds = started.elapsed().as_secs_f64();
    let predictor = model
        .rating_predictor()
        .context("the autorec model predicts no ratings")?;
    Ok(SeedRun {
        train_seconds,
        metrics: protocol::rating_errors(predictor, &data.test)?,
        params: json,
        epochs,
    })
}
