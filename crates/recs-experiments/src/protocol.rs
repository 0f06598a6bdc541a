//! Data protocols and metric sets shared by the experiments.

use std::collections::BTreeMap;

use anyhow::Context as _;
use recs_data::{Interactions, registry};
use recs_metrics::{Candidates, EvalConfig, Metric, Scorer};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

use crate::RunOptions;

/// A user × item train / test pair over one index space.
#[derive(Debug, Clone)]
pub struct RankingData {
    /// Training interactions (values as in the file; models binarise as they need).
    pub train: CsrMatrix,
    /// Test interactions.
    pub test: CsrMatrix,
}

/// Loads `dataset` from the options' data directory, installing it from the mirror first
/// when it is missing (with full verification).
pub fn load(opts: &RunOptions, dataset: &str) -> anyhow::Result<Interactions> {
    let data_dir = opts.data_dir.clone().unwrap_or_else(registry::data_dir);
    let mirror = opts.mirror.clone().or_else(registry::mirror);
    if !registry::is_installed(dataset, &data_dir) {
        if let Some(m) = mirror {
            registry::install_from_dir(dataset, &m.join(dataset), &data_dir)
                .with_context(|| format!("installing {dataset} from the mirror {}", m.display()))?;
        }
    }
    Ok(registry::load_from(dataset, &data_dir)?)
}

/// Ratings for rating prediction: a random split over one index space.
#[derive(Debug, Clone)]
pub struct RatingData {
    /// Training ratings.
    pub train: Interactions,
    /// Test ratings.
    pub test: Interactions,
}

/// Loads `dataset` (see [`load`]) and splits its ratings at random, `train_ratio` for
/// training (Recommenders' `python_random_split` semantics), keeping the interactions.
pub fn random_rating_split(
    opts: &RunOptions,
    dataset: &str,
    train_ratio: f64,
    seed: u64,
) -> anyhow::Result<RatingData> {
    let data = load(opts, dataset).with_context(|| format!("loading {dataset}"))?;
    let split = recs_data::split::random(&data, train_ratio, seed)?;
    Ok(RatingData {
        train: split.train,
        test: split.test,
    })
}

/// RMSE and MAE of `model` on `test` ("rmse", "mae").
pub fn rating_errors(
    model: &dyn recs_metrics::RatingPredictor,
    test: &Interactions,
) -> anyhow::Result<BTreeMap<String, f64>> {
    let r = recs_metrics::evaluate_ratings(model, test.users(), test.items(), test.values())?;
    Ok(BTreeMap::from([
        ("rmse".to_string(), r.rmse),
        ("mae".to_string(), r.mae),
    ]))
}

/// Loads `dataset` (see [`load`]) and splits its ratings at random, `train_ratio` for
/// training, as Recommenders' `python_random_split`.
pub fn random_split(
    opts: &RunOptions,
    dataset: &str,
    train_ratio: f64,
    seed: u64,
) -> anyhow::Result<RankingData> {
    let data = load(opts, dataset).with_context(|| format!("loading {dataset}"))?;
    let split = recs_data::split::random(&data, train_ratio, seed)?;
    Ok(RankingData {
        train: split.train.to_csr(DuplicatePolicy::Error)?,
        test: split.test.to_csr(DuplicatePolicy::Error)?,
    })
}

/// The seed notebooks' ranking metrics at k = 10: Recommenders' `map` (reported as "map"),
/// `map_at_k` ("map@10"), NDCG@10, precision@10 and recall@10, ranking every item seen in
/// training with the user's training items excluded.
pub fn ranking_at_10(
    scorer: &dyn Scorer,
    data: &RankingData,
) -> anyhow::Result<BTreeMap<String, f64>> {
    ranking_metrics(scorer, data, false)
}

/// [`ranking_at_10`] plus seed 004's per-user sampled AUC (reported as "auc": each user's
/// test positives against as many seeded negatives, averaged over users).
pub fn ranking_at_10_auc(
    scorer: &dyn Scorer,
    data: &RankingData,
) -> anyhow::Result<BTreeMap<String, f64>> {
    ranking_metrics(scorer, data, true)
}

fn ranking_metrics(
    scorer: &dyn Scorer,
    data: &RankingData,
    with_auc: bool,
) -> anyhow::Result<BTreeMap<String, f64>> {
    let mut metrics = vec![
        Metric::MapFull,
        Metric::Map,
        Metric::Ndcg,
        Metric::Precision,
        Metric::Recall,
    ];
    if with_auc {
        metrics.push(Metric::AucSampled);
    }
    let cfg = EvalConfig {
        metrics,
        ks: vec![10],
        exclude_seen: true,
        candidates: Candidates::SeenInTrain,
        ..EvalConfig::default()
    };
    let report = recs_metrics::evaluate(scorer, &data.train, &data.test, &cfg)?;
    let mut out = BTreeMap::new();
    for (key, value) in report.means {
        let key = match key.as_str() {
            "map_full@10" => "map".to_string(),
            "auc_sampled" => "auc".to_string(),
            _ => key,
        };
        out.insert(key, value);
    }
    Ok(out)
}
