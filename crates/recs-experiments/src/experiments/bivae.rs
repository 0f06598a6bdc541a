//! `bivae-ml100k`: seed 000's BiVAE on MovieLens 100k, the project's main job.

use std::time::Instant;

use recs_core::{Recommender, TrainData};
use recs_vae::{BiVae, BiVaeParams, Control, EpochReport};

use super::{Experiment, SeedRun};
use crate::{Reference, RunOptions, protocol};

const NOTEBOOK: &str = "seed notebook (Cornac, GPU)";
const CORNAC_CPU: &str = "Cornac 3.0.1 CPU, 2 threads, measured here";

/// Seed 000's experiment: random 75/25 split, BiVAE k 50, encoder [100], tanh, Poisson,
/// 500 epochs, batch 128, lr 0.001; all training items ranked, seen items excluded. Peers'
/// training times depend on the machine (Cornac's on whether it has AVX-512), so they are
/// left to the dated side-by-side runs in `benchmarks/`, not printed as a reference.
pub const BIVAE_ML100K: Experiment = Experiment {
    name: "bivae-ml100k",
    description: "BiVAE (k 50, [100], tanh, pois, 500 epochs) on ml-100k, random 75/25 split",
    datasets: &["ml-100k"],
    metrics: &["map", "map@10", "ndcg@10", "precision@10", "recall@10"],
    references: &[
        Reference {
            metric: "map",
            value: 0.142060,
            source: NOTEBOOK,
        },
        Reference {
            metric: "map",
            value: 0.1427,
            source: CORNAC_CPU,
        },
        Reference {
            metric: "ndcg@10",
            value: 0.465813,
            source: NOTEBOOK,
        },
        Reference {
            metric: "ndcg@10",
            value: 0.4670,
            source: CORNAC_CPU,
        },
        Reference {
            metric: "precision@10",
            value: 0.404671,
            source: NOTEBOOK,
        },
        Reference {
            metric: "precision@10",
            value: 0.4082,
            source: CORNAC_CPU,
        },
        Reference {
            metric: "recall@10",
            value: 0.222637,
            source: NOTEBOOK,
        },
        Reference {
            metric: "recall@10",
            value: 0.2222,
            source: CORNAC_CPU,
        },
    ],
    run: run_seed,
};

fn run_seed(opts: &RunOptions, seed: u64) -> anyhow::Result<SeedRun> {
    let data = protocol::random_split(opts, "ml-100k", 0.75, seed)?;
    let defaults = recs_registry::defaults::bivae();
    let params = BiVaeParams {
        epochs: opts.epochs.unwrap_or(defaults.epochs),
        seed,
        device: opts.device.clone().unwrap_or(defaults.device.clone()),
        ..defaults
    };
    let mut progress = |r: &EpochReport| {
        if opts.verbose {
            let losses: Vec<String> = r
                .losses
                .iter()
                .map(|(n, v)| format!("{n} loss {v:.4}"))
                .collect();
            eprintln!(
                "epoch {:>4}/{}  {}  ({:.3} s)",
                r.epoch,
                r.epochs,
                losses.join("  "),
                r.seconds
            );
        }
        Control::Continue
    };
    // Through the registry, as `recs train` fits it.
    let entry = recs_registry::find(BiVae::KIND)?;
    let json = serde_json::to_value(&params)?;
    let started = Instant::now();
    let model = entry.fit(&json, &TrainData::new(&data.train), &mut progress)?;
    let train_seconds = started.elapsed().as_secs_f64();
    let metrics = protocol::ranking_at_10(model.as_scorer(), &data)?;
    Ok(SeedRun {
        train_seconds,
        metrics,
        params: serde_json::to_value(&params)?,
        epochs: params.epochs,
    })
}
