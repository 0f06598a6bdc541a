//! `als-ml100k`: implicit-feedback ALS on the `bpr-ml100k` protocol, next to implicit's
//! `AlternatingLeastSquares` at the same settings.

use recs_core::{Recommender as _, TrainData};
use recs_factor::{Als, AlsParams};

use super::factor::fit_registered;
use super::{Experiment, SeedRun};
use crate::{Reference, RunOptions, protocol};

/// The registry's `als` settings (`recs_registry::defaults::als`, where they are
/// documented) with this run's seed and iterations.
pub fn als_params(seed: u64, epochs: Option<usize>) -> AlsParams {
    let defaults = recs_registry::defaults::als();
    AlsParams {
        epochs: epochs.unwrap_or(defaults.epochs),
        seed,
        ..defaults
    }
}

const IMPLICIT_ALS: &str =
    "implicit ALS (k 50, reg 0.01, 15 it, alpha 1, CG, 2 threads), implicit_peers.py";

/// ALS (k 50, λ 0.01, 15 iterations, α 1, conjugate gradient) on a random 75/25 split of
/// ml-100k, binarized training part, top 10 of every item, seen items excluded: the
/// `bpr-ml100k` protocol.
pub const ALS_ML100K: Experiment = Experiment {
    name: "als-ml100k",
    description: "ALS (k 50, reg 0.01, 15 iterations, alpha 1, CG 3 steps; implicit's settings) on ml-100k, random 75/25 split",
    datasets: &["ml-100k"],
    metrics: &[
        "map",
        "map@10",
        "ndcg@10",
        "precision@10",
        "recall@10",
        "auc",
    ],
    references: &[
        Reference {
            metric: "map",
            value: 0.1197,
            source: IMPLICIT_ALS,
        },
        Reference {
            metric: "ndcg@10",
            value: 0.3982,
            source: IMPLICIT_ALS,
        },
        Reference {
            metric: "train_seconds",
            value: 0.71,
            source: IMPLICIT_ALS,
        },
    ],
    run: |opts, seed| run_als(opts, als_params(seed, opts.epochs)),
};

fn run_als(opts: &RunOptions, params: AlsParams) -> anyhow::Result<SeedRun> {
    let data = protocol::random_split(opts, "ml-100k", 0.75, params.seed)?;
    let train = data.train.binarize();
    let (model, train_seconds) = fit_registered(opts, Als::KIND, &params, &TrainData::new(&train))?;
    let metrics = protocol::ranking_at_10_auc(model.as_scorer(), &data)?;
    // The params as trained: the iterations actually run.
    let trained: AlsParams = serde_json::from_value(model.params_json())?;
    Ok(SeedRun {
        train_seconds,
        metrics,
        params: serde_json::to_value(&trained)?,
        epochs: trained.epochs,
    })
}
