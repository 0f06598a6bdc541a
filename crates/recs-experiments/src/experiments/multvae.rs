//! Seeds 001/002's Mult-VAE and Mult-DAE: `multvae-ml100k` / `multdae-ml100k` on the exact
//! held-out-users protocol of `multvae_torch.py`, and `multvae-ml20m` / `multdae-ml20m` with
//! the paper's protocol.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context as _;
use recs_core::{FoldIn, Recommender, ScoreError, Scorer, TrainData};
use recs_data::split::{self, HeldOutSplit};
use recs_metrics::{Candidates, EvalConfig, Metric};
use recs_sparse::{CsrMatrix, DuplicatePolicy};
use recs_vae::{Control, EpochReport, MultDaeModel, MultVaeModel, MultVaeParams};

use super::{Experiment, SeedRun};
use crate::{Reference, RunOptions, protocol};

const TORCH: &str = "PyTorch reference (multvae_torch.py), seed 1";
const PAPER: &str = "Liang et al. 2018, ml-20m";
pub(crate) const METRICS: &[&str] = &["recall@20", "recall@50", "ndcg@100"];

/// The ml-100k reference's settings: [I-600-200-600-I], batch 100, 200 epochs,
/// β = min(0.2, step / 1000), Adam 0.001, dropout 0.5.
pub fn ml100k_params(variational: bool, seed: u64, epochs: Option<usize>) -> MultVaeParams {
    let defaults = if variational {
        recs_registry::defaults::multvae()
    } else {
        recs_registry::defaults::multdae()
    };
    MultVaeParams {
        epochs: epochs.unwrap_or(defaults.epochs),
        seed,
        ..defaults
    }
}

/// `multvae-ml100k`.
pub const MULTVAE_ML100K: Experiment = Experiment {
    name: "multvae-ml100k",
    description: "Mult-VAE [I-600-200-600-I] on ml-100k, multvae_torch.py's held-out-users protocol",
    datasets: &["ml-100k"],
    metrics: METRICS,
    references: &[
        Reference {
            metric: "recall@20",
            value: 0.2039,
            source: TORCH,
        },
        Reference {
            metric: "recall@50",
            value: 0.3958,
            source: TORCH,
        },
        Reference {
            metric: "ndcg@100",
            value: 0.2599,
            source: TORCH,
        },
        Reference {
            metric: "train_seconds",
            value: 23.0,
            source: "PyTorch reference, 22-24 s on this kind of machine",
        },
    ],
    run: |opts, seed| run_ml100k(opts, ml100k_params(true, seed, opts.epochs)),
};

/// `multdae-ml100k`.
pub const MULTDAE_ML100K: Experiment = Experiment {
    name: "multdae-ml100k",
    description: "Mult-DAE [I-600-200-600-I] on ml-100k, multvae_torch.py's held-out-users protocol",
    datasets: &["ml-100k"],
    metrics: METRICS,
    references: &[
        Reference {
            metric: "recall@20",
            value: 0.2181,
            source: TORCH,
        },
        Reference {
            metric: "recall@50",
            value: 0.3863,
            source: TORCH,
        },
        Reference {
            metric: "ndcg@100",
            value: 0.2594,
            source: TORCH,
        },
        Reference {
            metric: "train_seconds",
            value: 23.0,
            source: "PyTorch reference, 22-24 s on this kind of machine",
        },
    ],
    run: |opts, seed| run_ml100k(opts, ml100k_params(false, seed, opts.epochs)),
};

/// `multvae-ml20m`: ratings > 3.5, 10,000 + 10,000 held-out users, batch 500, 200 epochs,
/// 200,000 annealing steps.
pub const MULTVAE_ML20M: Experiment = Experiment {
    name: "multvae-ml20m",
    description: "Mult-VAE [I-600-200-600-I] on ml-20m, the paper's protocol",
    datasets: &["ml-20m"],
    metrics: METRICS,
    references: &[
        Reference {
            metric: "recall@20",
            value: 0.395,
            source: PAPER,
        },
        Reference {
            metric: "recall@50",
            value: 0.537,
            source: PAPER,
        },
        Reference {
            metric: "ndcg@100",
            value: 0.426,
            source: PAPER,
        },
    ],
    run: |opts, seed| {
        let p = MultVaeParams {
            batch_size: 500,
            total_anneal_steps: 200_000,
            ..ml100k_params(true, seed, opts.epochs)
        };
        run_ml20m(opts, p)
    },
};

/// `multdae-ml20m`: the paper's DAE, [I-200-I] with L2 0.01 per batch.
pub const MULTDAE_ML20M: Experiment = Experiment {
    name: "multdae-ml20m",
    description: "Mult-DAE [I-200-I], L2 0.01, on ml-20m, the paper's protocol",
    datasets: &["ml-20m"],
    metrics: METRICS,
    references: &[
        Reference {
            metric: "recall@20",
            value: 0.387,
            source: PAPER,
        },
        Reference {
            metric: "recall@50",
            value: 0.524,
            source: PAPER,
        },
        Reference {
            metric: "ndcg@100",
            value: 0.419,
            source: PAPER,
        },
    ],
    run: |opts, seed| {
        let p = MultVaeParams {
            hidden: vec![],
            batch_size: 500,
            reg: 0.01,
            ..ml100k_params(false, seed, opts.epochs)
        };
        run_ml20m(opts, p)
    },
};

pub(crate) fn load_ml100k(opts: &RunOptions) -> anyhow::Result<HeldOutSplit> {
    let data = protocol::load(opts, "ml-100k")?;
    Ok(split::held_out_by_user_id(&data)?)
}

fn run_ml100k(opts: &RunOptions, params: MultVaeParams) -> anyhow::Result<SeedRun> {
    run(opts, &load_ml100k(opts)?, params)
}

fn run_ml20m(opts: &RunOptions, params: MultVaeParams) -> anyhow::Result<SeedRun> {
    let data = protocol::load(opts, "ml-20m")?;
    let s = split::held_out_random(&data, 4.0, 10_000, 0.8, params.seed)?;
    run(opts, &s, params)
}

fn run(opts: &RunOptions, s: &HeldOutSplit, params: MultVaeParams) -> anyhow::Result<SeedRun> {
    let kind = if params.variational {
        MultVaeModel::KIND
    } else {
        MultDaeModel::KIND
    };
    run_held_out(opts, s, kind, serde_json::to_value(&params)?)
}

/// Fits the registry's `kind` with the params `json` (its `device` replaced by the run's,
/// when given) on the training users of `s`, choosing the epoch by the validation users'
/// NDCG@100, and scores the test users, folded in from their items: Recall@20, Recall@50
/// and NDCG@100 as Liang et al. compute them.
pub(crate) fn run_held_out(
    opts: &RunOptions,
    s: &HeldOutSplit,
    kind: &str,
    mut json: serde_json::Value,
) -> anyhow::Result<SeedRun> {
    if let Some(d) = &opts.device {
        json["device"] = serde_json::Value::String(d.clone());
    }
    let csr = |d: &recs_data::Interactions| d.to_csr(DuplicatePolicy::KeepLast);
    let (train, vin, vout, tin, tout) = (
        csr(&s.train)?,
        csr(&s.val_in)?,
        csr(&s.val_out)?,
        csr(&s.test_in)?,
        csr(&s.test_out)?,
    );
    // The validation users' fold-in rows below the training users' rows, and their held-out
    // items as the validation part (empty rows for the training users): the model trains on
    // the training users and picks its epoch by the validation users' NDCG@100.
    let rows = stack(&train, &vin)?;
    let held_out = stack(&CsrMatrix::zeros(train.n_rows(), train.n_cols())?, &vout)?;
    let data = TrainData::new(&rows).with_validation(&held_out);
    let mut epochs = 0;
    let mut progress = |r: &EpochReport| {
        epochs = r.epoch;
        if opts.verbose {
            eprintln!("{r}");
        }
        Control::Continue
    };
    // Through the registry, as `recs train` fits it.
    let entry = recs_registry::find(kind)?;
    let started = Instant::now();
    let model = entry.fit(&json, &data, &mut progress)?;
    let train_seconds = started.elapsed().as_secs_f64();
    // The test users, never seen in training, are folded in from their items.
    let fold_in = model
        .fold_in()
        .with_context(|| format!("the {kind} model folds in no users"))?;
    let cfg = EvalConfig {
        metrics: vec![Metric::RecallLiang, Metric::NdcgLiang],
        ks: vec![20, 50, 100],
        exclude_seen: true,
        candidates: Candidates::All,
        ..EvalConfig::default()
    };
    let scorer = FoldedIn {
        fold_in,
        rows: &tin,
        n_items: model.n_items(),
    };
    let m = recs_metrics::evaluate(&scorer, &tin, &tout, &cfg)?.means;
    let metrics = BTreeMap::from([
        ("recall@20".to_string(), m["recall_liang@20"]),
        ("recall@50".to_string(), m["recall_liang@50"]),
        ("ndcg@100".to_string(), m["ndcg_liang@100"]),
    ]);
    Ok(SeedRun {
        train_seconds,
        metrics,
        params: json,
        epochs,
    })
}

/// `top`'s rows, then `bottom`'s (the same items).
fn stack(top: &CsrMatrix, bottom: &CsrMatrix) -> anyhow::Result<CsrMatrix> {
    let (mut r, mut c, mut v) = (Vec::new(), Vec::new(), Vec::new());
    for (first, m) in [(0, top), (top.n_rows(), bottom)] {
        for u in 0..m.n_rows() {
            let row = m.row(u);
            r.extend(std::iter::repeat_n((first + u) as u32, row.indices.len()));
            c.extend_from_slice(row.indices);
            v.extend_from_slice(row.values);
        }
    }
    let n_rows = top.n_rows() + bottom.n_rows();
    Ok(CsrMatrix::from_triplets(
        n_rows,
        top.n_cols(),
        &r,
        &c,
        &v,
        DuplicatePolicy::Error,
    )?)
}

/// Users the model never saw, scored from their rows of `rows` by the model's fold-in.
struct FoldedIn<'a> {
    fold_in: &'a dyn FoldIn,
    rows: &'a CsrMatrix,
    n_items: usize,
}

impl Scorer for FoldedIn<'_> {
    fn n_users(&self) -> usize {
        self.rows.n_rows()
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        if user as usize >= self.rows.n_rows() {
            return Err(ScoreError::UnknownUser {
                user,
                n_users: self.rows.n_rows(),
            });
        }
        self.fold_in
            .score_items(self.rows.row(user as usize).indices, out)
    }
}
