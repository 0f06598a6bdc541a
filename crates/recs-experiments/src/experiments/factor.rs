//! Seed 004's factor models: `mf-ml100k` (biased MF, rating prediction), `bpr-ml100k` and
//! `bpr-goodreads` (BPR, top-10 ranking).

use std::time::Instant;

use recs_core::{DynModel, Recommender as _, TrainData};
use recs_data::{split, transform};
use recs_factor::{BiasedMf, Bpr, BprParams, Control, EpochReport, MfParams};
use recs_sparse::DuplicatePolicy;

use super::{Experiment, SeedRun};
use crate::{Reference, RunOptions, protocol};

pub(super) fn progress(opts: &RunOptions) -> impl FnMut(&EpochReport) -> Control + '_ {
    move |r: &EpochReport| {
        if opts.verbose {
            let auc = r
                .loss("train_auc")
                .map_or(String::new(), |a| format!("  train AUC {a:.4}"));
            eprintln!(
                "epoch {:>4}  loss {:.4}{auc}  ({:.3} s)",
                r.epoch,
                r.total_loss(),
                r.seconds
            );
        }
        Control::Continue
    }
}

/// Fits the registered model `kind` with `params` on `train`, as `recs train` does (through
/// the registry), with this run's progress report; the model and the seconds its fit took.
pub(super) fn fit_registered(
    opts: &RunOptions,
    kind: &str,
    params: &impl serde::Serialize,
    train: &TrainData<'_>,
) -> anyhow::Result<(Box<dyn DynModel>, f64)> {
    let params = serde_json::to_value(params)?;
    let entry = recs_registry::find(kind)?;
    let mut cb = progress(opts);
    let started = Instant::now();
    let model = entry.fit(&params, train, &mut cb)?;
    Ok((model, started.elapsed().as_secs_f64()))
}

/// The registry's `mf` settings (`recs_registry::defaults::mf`, where they
/// are documented) with this run's seed and epochs.
pub fn mf_params(seed: u64, epochs: Option<usize>) -> MfParams {
    let defaults = recs_registry::defaults::mf();
    MfParams {
        epochs: epochs.unwrap_or(defaults.epochs),
        seed,
        ..defaults
    }
}

/// Seed 004's rating prediction: biased MF on a random 90/10 split of ml-100k.
pub const MF_ML100K: Experiment = Experiment {
    name: "mf-ml100k",
    description: "biased MF (k 50, 20 epochs, lr 0.02, reg 0.1; chosen on validation) on ml-100k, random 90/10 split",
    datasets: &["ml-100k"],
    metrics: &["rmse", "mae"],
    references: &[
        Reference {
            metric: "rmse",
            value: 0.9301,
            source: "Surprise SVD (defaults), factor_peers.py",
        },
        Reference {
            metric: "rmse",
            value: 0.9238,
            source: "Surprise SVD++, factor_peers.py",
        },
        Reference {
            metric: "rmse",
            value: 0.9425,
            source: "Surprise BaselineOnly, factor_peers.py",
        },
        Reference {
            metric: "rmse",
            value: 1.1268,
            source: "global mean, factor_peers.py",
        },
        Reference {
            metric: "train_seconds",
            value: 1.06,
            source: "Surprise SVD (defaults), factor_peers.py",
        },
    ],
    run: run_mf,
};

fn run_mf(opts: &RunOptions, seed: u64) -> anyhow::Result<SeedRun> {
    let data = protocol::random_rating_split(opts, "ml-100k", 0.9, seed)?;
    let params = mf_params(seed, opts.epochs);
    // The matrix and the order of the training rows, as `recs train` hands them to the model.
    let (train, order, _) = data.train.to_csr_ordered(DuplicatePolicy::Error)?;
    let (model, train_seconds) = fit_registered(
        opts,
        BiasedMf::KIND,
        &params,
        &TrainData::new(&train).with_order(&order)?,
    )?;
    let predictor = model
        .rating_predictor()
        .ok_or_else(|| anyhow::anyhow!("`{}` predicts no ratings", BiasedMf::KIND))?;
    Ok(SeedRun {
        train_seconds,
        metrics: protocol::rating_errors(predictor, &data.test)?,
        params: serde_json::to_value(&params)?,
        epochs: params.epochs,
    })
}

/// The registry's `bpr_cornac` settings (`recs_registry::defaults::bpr_cornac`, where they
/// are documented) with this run's seed and epochs.
pub fn bpr_cornac_params(seed: u64, epochs: Option<usize>) -> BprParams {
    let defaults = recs_registry::defaults::bpr_cornac();
    BprParams {
        epochs: epochs.unwrap_or(defaults.epochs),
        seed,
        ..defaults
    }
}

/// The registry's `bpr` settings (`recs_registry::defaults::bpr`, where they
/// are documented) with this run's seed and epochs.
pub fn bpr_params(seed: u64, epochs: Option<usize>) -> BprParams {
    let defaults = recs_registry::defaults::bpr();
    BprParams {
        epochs: epochs.unwrap_or(defaults.epochs),
        seed,
        ..defaults
    }
}

const CORNAC_BPR: &str = "Cornac BPR (k 200, 100 epochs), factor_peers.py";
const IMPLICIT_BPR: &str = "implicit BPR (k 50, 100 it, 2 threads), factor_peers.py";

const BPR_REFERENCES: &[Reference] = &[
    Reference {
        metric: "map",
        value: 0.1103,
        source: CORNAC_BPR,
    },
    Reference {
        metric: "map",
        value: 0.0775,
        source: IMPLICIT_BPR,
    },
    Reference {
        metric: "ndcg@10",
        value: 0.4070,
        source: CORNAC_BPR,
    },
    Reference {
        metric: "precision@10",
        value: 0.3599,
        source: CORNAC_BPR,
    },
    Reference {
        metric: "recall@10",
        value: 0.1835,
        source: CORNAC_BPR,
    },
    Reference {
        metric: "train_seconds",
        value: 2.38,
        source: CORNAC_BPR,
    },
    Reference {
        metric: "train_seconds",
        value: 1.63,
        source: IMPLICIT_BPR,
    },
];

/// Seed 004's ranking: BPR on a random 75/25 split of ml-100k, top 10 of every training
/// item, seen items excluded, with settings chosen on validation ([`bpr_params`]).
pub const BPR_ML100K: Experiment = Experiment {
    name: "bpr-ml100k",
    description: "BPR (k 64, 30 epochs, lr 0.05, reg 0.005; chosen on validation) on ml-100k, random 75/25 split",
    datasets: &["ml-100k"],
    metrics: &[
        "map",
        "map@10",
        "ndcg@10",
        "precision@10",
        "recall@10",
        "auc",
    ],
    references: BPR_REFERENCES,
    run: |opts, seed| run_bpr(opts, bpr_params(seed, opts.epochs)),
};

/// `bpr-ml100k` at Cornac's reference settings ([`bpr_cornac_params`]), like for like.
pub const BPR_ML100K_CORNAC: Experiment = Experiment {
    name: "bpr-ml100k-cornac",
    description: "BPR at Cornac's settings (k 200, 100 epochs, lr 0.01, reg 0.001) on ml-100k, random 75/25 split",
    datasets: &["ml-100k"],
    metrics: &[
        "map",
        "map@10",
        "ndcg@10",
        "precision@10",
        "recall@10",
        "auc",
    ],
    references: BPR_REFERENCES,
    run: |opts, seed| run_bpr(opts, bpr_cornac_params(seed, opts.epochs)),
};

fn run_bpr(opts: &RunOptions, params: BprParams) -> anyhow::Result<SeedRun> {
    let data = protocol::random_split(opts, "ml-100k", 0.75, params.seed)?;
    let train = data.train.binarize();
    let (model, train_seconds) = fit_registered(opts, Bpr::KIND, &params, &TrainData::new(&train))?;
    let metrics = protocol::ranking_at_10_auc(model.as_scorer(), &data)?;
    Ok(SeedRun {
        train_seconds,
        metrics,
        params: serde_json::to_value(&params)?,
        epochs: params.epochs,
    })
}

/// Users of `bpr-goodreads` whose rankings are scored (all would mean 256k × 258k scores).
const GOODREADS_EVAL_USERS: usize = 10_000;

/// Seed 004's Goodreads run: every review of the fantasy & paranormal shelves is a
/// positive; users and items with fewer than 5 reviews are removed (k-core); random 75/25
/// split; BPR k 50, 20 epochs, lr 0.05, λ 0.01; top 10 for 10,000 seeded test users.
pub const BPR_GOODREADS: Experiment = Experiment {
    name: "bpr-goodreads",
    description: "BPR (k 50, 20 epochs) on Goodreads fantasy/paranormal reviews (5-core), random 75/25 split, 10k test users",
    datasets: &["goodreads-fantasy"],
    metrics: &[
        "map",
        "map@10",
        "ndcg@10",
        "precision@10",
        "recall@10",
        "auc",
    ],
    references: &[],
    run: run_bpr_goodreads,
};

fn run_bpr_goodreads(opts: &RunOptions, seed: u64) -> anyhow::Result<SeedRun> {
    let all = protocol::load(opts, "goodreads-fantasy")?;
    let core = transform::k_core(&all, 5, 5);
    let s = split::random(&core, 0.75, seed)?;
    let train = s.train.to_csr(DuplicatePolicy::KeepLast)?.binarize();
    // Score a seeded sample of users: keep only their test rows.
    let mut users: Vec<u32> = (0..core.n_users() as u32).collect();
    {
        use rand::SeedableRng as _;
        use rand::seq::SliceRandom as _;
        users.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    }
    let mut keep = vec![false; core.n_users()];
    for &u in users.iter().take(GOODREADS_EVAL_USERS) {
        keep[u as usize] = true;
    }
    let test_users = s.test.users();
    let test = s.test.filter(|r| keep[test_users[r] as usize]);
    let data = protocol::RankingData {
        train: train.clone(),
        test: test.to_csr(DuplicatePolicy::KeepLast)?,
    };
    let params = BprParams {
        factors: 50,
        epochs: opts.epochs.unwrap_or(20),
        learning_rate: 0.05,
        reg: 0.01,
        seed,
        ..BprParams::default()
    };
    let (model, train_seconds) = fit_registered(opts, Bpr::KIND, &params, &TrainData::new(&train))?;
    let metrics = protocol::ranking_at_10_auc(model.as_scorer(), &data)?;
    Ok(SeedRun {
        train_seconds,
        metrics,
        params: serde_json::to_value(&params)?,
        epochs: params.epochs,
    })
}
