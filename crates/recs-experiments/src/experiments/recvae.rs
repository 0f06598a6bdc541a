//! RecVAE: `recvae-ml100k` on the held-out-users protocol of `multvae-ml100k` (the same
//! split, fold-in and metrics), at Cornac's `RecVAE` defaults.

use recs_core::Recommender as _;
use recs_vae::{RecVaeModel, RecVaeParams};

use super::Experiment;
use super::multvae::{METRICS, load_ml100k, run_held_out};
use crate::Reference;

const CORNAC: &str = "Cornac 3.0.1 RecVAE, same split, best epoch by validation, seeds 1-5";

/// Cornac's defaults with the run's seed and, when asked, epochs.
pub fn ml100k_params(seed: u64, epochs: Option<usize>) -> RecVaeParams {
    let defaults = recs_registry::defaults::recvae();
    RecVaeParams {
        epochs: epochs.unwrap_or(defaults.epochs),
        seed,
        ..defaults
    }
}

/// `recvae-ml100k`.
pub const RECVAE_ML100K: Experiment = Experiment {
    name: "recvae-ml100k",
    description: "RecVAE (hidden 600, latent 200, γ 0.005, 50 epochs of 3+1 passes) on ml-100k, multvae_torch.py's held-out-users protocol",
    datasets: &["ml-100k"],
    metrics: METRICS,
    references: &[
        Reference {
            metric: "recall@20",
            value: 0.1891,
            source: CORNAC,
        },
        Reference {
            metric: "recall@50",
            value: 0.3744,
            source: CORNAC,
        },
        Reference {
            metric: "ndcg@100",
            value: 0.2445,
            source: CORNAC,
        },
        Reference {
            metric: "train_seconds",
            value: 19.3,
            source: "Cornac's training passes, 0.386 s per epoch here (its own fit: 1.10 s per epoch)",
        },
    ],
    run: |opts, seed| {
        let params = ml100k_params(seed, opts.epochs);
        run_held_out(
            opts,
            &load_ml100k(opts)?,
            RecVaeModel::KIND,
            serde_json::to_value(&params)?,
        )
    },
};
