//! What `recs train`, `recs evaluate` and `recs compare` do with any registered model:
//! split the data, fit through the registry, evaluate through the model's capabilities.
//! No model type is named here: models come from [`recs_registry`].

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context as _, bail};
use recs_core::{DynModel, EpochReport, Progress, TrainData};
use recs_data::Interactions;
use recs_metrics::{Candidates, EvalConfig, Metric};
use recs_registry::{Entry, HyperParams};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

pub use recs_data::split::SplitSpec;

/// Ranking metrics at every `k` (MAP, MAP@k, NDCG@k, precision@k, recall@k: training items
/// excluded, every item seen in training ranked), plus RMSE and MAE on the test entries for
/// models that predict ratings.
pub fn evaluate(
    model: &dyn DynModel,
    train: &CsrMatrix,
    test: &Interactions,
    ks: &[usize],
) -> anyhow::Result<BTreeMap<String, f64>> {
    Ok(evaluate_explained(model, train, test, ks)?.metrics)
}

/// What [`evaluate_explained`] found.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// Metric → value (empty when `no_ranking` says why and the model predicts no ratings).
    pub metrics: BTreeMap<String, f64>,
    /// Why there is no ranking metric, when there is none (a rating model still gives
    /// RMSE/MAE).
    pub no_ranking: Option<String>,
}

/// Why no test user could be ranked, from the evaluation's counts.
fn why_unranked(report: &recs_metrics::EvalReport, test: &Interactions) -> String {
    let unknown = report.n_skipped_unknown;
    if test.is_empty() {
        return "the split leaves no test interactions".into();
    }
    if unknown > 0 {
        return format!(
            "none of the {unknown} test users has a training interaction, so the model cannot rank for them (the split put all of each user's few interactions in test; try --split stratified:F or loo, or data with more interactions per user)"
        );
    }
    format!(
        "no test user could be scored ({} test interactions over {} items)",
        test.len(),
        test.n_items()
    )
}

/// As [`evaluate`], and why there is no ranking metric when there is none (the metrics are
/// then RMSE/MAE, or none at all: a front-end says why instead of printing an empty table).
pub fn evaluate_explained(
    model: &dyn DynModel,
    train: &CsrMatrix,
    test: &Interactions,
    ks: &[usize],
) -> anyhow::Result<Evaluated> {
    let test_m = test.to_csr(DuplicatePolicy::KeepLast)?;
    let cfg = EvalConfig {
        metrics: vec![
            Metric::MapFull,
            Metric::Map,
            Metric::Ndcg,
            Metric::Precision,
            Metric::Recall,
        ],
        ks: ks.to_vec(),
        exclude_seen: true,
        candidates: Candidates::SeenInTrain,
        ..EvalConfig::default()
    };
    let report = recs_metrics::evaluate(model.as_scorer(), train, &test_m, &cfg)?;
    let no_ranking =
        (report.n_users == 0 || report.means.is_empty()).then(|| why_unranked(&report, test));
    let mut out: BTreeMap<String, f64> = report
        .means
        .into_iter()
        .map(|(k, v)| match k.strip_prefix("map_full@") {
            Some(_) if ks.len() == 1 => ("map".to_string(), v),
            _ => (k, v),
        })
        .collect();
    if let Some(p) = model.rating_predictor() {
        let r = recs_metrics::evaluate_ratings(p, test.users(), test.items(), test.values())?;
        out.insert("rmse".into(), r.rmse);
        out.insert("mae".into(), r.mae);
    }
    Ok(Evaluated {
        metrics: out,
        no_ranking,
    })
}

/// Fits `entry` on `data` with its registered defaults and `hp` applied (a parameter the
/// model does not take is an error, unless `lenient`).
pub fn fit(
    entry: &dyn Entry,
    data: &TrainData<'_>,
    hp: &HyperParams,
    lenient: bool,
    progress: &mut dyn Progress,
) -> anyhow::Result<Box<dyn DynModel>> {
    let params = entry.params_for(hp, lenient)?;
    let model = entry
        .fit(&params, data, progress)
        .with_context(|| format!("training {}", entry.kind()))?;
    Ok(model)
}

/// One row of a comparison.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CompareRow {
    /// The model's name.
    pub model: String,
    /// Seconds spent training.
    pub train_seconds: f64,
    /// Metric → value.
    pub metrics: BTreeMap<String, f64>,
    /// Why there is no ranking metric, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_ranking: Option<String>,
}

/// Trains every model in `models` on the same split of `data` (seeded by `seed`) and
/// evaluates each, as Cornac's `Experiment` does. Shared parameters in `hp` apply to the
/// models that take them (a parameter no listed model takes is an error).
pub fn compare(
    data: &Interactions,
    split: SplitSpec,
    seed: u64,
    models: &[&dyn Entry],
    hp: &HyperParams,
    ks: &[usize],
    progress: &mut dyn FnMut(&str, &EpochReport),
) -> anyhow::Result<Vec<CompareRow>> {
    if matches!(split, SplitSpec::None) {
        bail!("compare needs a test part: use --split random:F, stratified:F, temporal:F or loo");
    }
    // Every parameter given must be taken by at least one of the models; each model gets
    // those it takes.
    for name in hp.required_names() {
        if !models.iter().any(|e| e.spec(&name).is_some()) {
            let names: Vec<&str> = models.iter().map(|e| e.kind()).collect();
            bail!(
                "none of the models compared ({}) takes `{name}`",
                names.join(", ")
            );
        }
    }
    let s = split.apply(data, seed)?;
    let (train, order, times) = s.train.to_csr_ordered(DuplicatePolicy::KeepLast)?;
    let mut data = TrainData::new(&train).with_order(&order)?;
    if let Some(t) = &times {
        data = data.with_timestamps(t)?;
    }
    let mut rows = Vec::new();
    for &entry in models {
        let started = Instant::now();
        let kind = entry.kind();
        let mut cb = |r: &EpochReport| {
            progress(kind, r);
            recs_core::Control::Continue
        };
        let model = fit(entry, &data, hp, true, &mut cb)?;
        let train_seconds = started.elapsed().as_secs_f64();
        let e = evaluate_explained(&*model, &train, &s.test, ks)?;
        rows.push(CompareRow {
            model: kind.into(),
            train_seconds,
            metrics: e.metrics,
            no_ranking: e.no_ranking,
        });
    }
    Ok(rows)
}

/// The comparison as a text table: one row per model, one column per metric.
pub fn compare_table(rows: &[CompareRow]) -> String {
    let mut keys: Vec<&String> = rows.iter().flat_map(|r| r.metrics.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = format!("{:<12} {:>9}", "model", "train_s");
    for k in &keys {
        out.push_str(&format!(" {:>12}", k));
    }
    out.push('\n');
    for r in rows {
        out.push_str(&format!("{:<12} {:>9.2}", r.model, r.train_seconds));
        for k in &keys {
            match r.metrics.get(*k) {
                Some(v) => out.push_str(&format!(" {v:>12.4}")),
                None => out.push_str(&format!(" {:>12}", "-")),
            }
        }
        out.push('\n');
    }
    out
}
