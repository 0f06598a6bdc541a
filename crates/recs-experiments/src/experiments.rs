//! The registry of named experiments and the protocols they share.

use std::collections::BTreeMap;

use crate::{Reference, RunOptions};

mod als;
pub(crate) mod autorec;
mod bivae;
pub(crate) mod factor;
pub(crate) mod multvae;
pub(crate) mod neighbors;
mod recvae;

/// A named, reproducible experiment: data protocol, model, parameters and references.
#[derive(Debug)]
pub struct Experiment {
    /// Name used on the command line (`cargo xtask reproduce <name>`).
    pub name: &'static str,
    /// One line saying what it runs.
    pub description: &'static str,
    /// Registry names of the datasets it reads (installed before it runs).
    pub datasets: &'static [&'static str],
    /// Metric keys in the order the table prints them.
    pub metrics: &'static [&'static str],
    /// The numbers it is compared with.
    pub references: &'static [Reference],
    /// Runs one seed.
    pub run: fn(&RunOptions, u64) -> anyhow::Result<SeedRun>,
}

/// What one seed of an experiment returns to the runner.
#[derive(Debug, Clone)]
pub struct SeedRun {
    /// Seconds spent training.
    pub train_seconds: f64,
    /// Metric key → value.
    pub metrics: BTreeMap<String, f64>,
    /// Parameters as trained.
    pub params: serde_json::Value,
    /// Epochs trained.
    pub epochs: usize,
}

/// Every known experiment.
pub static EXPERIMENTS: &[Experiment] = &[
    bivae::BIVAE_ML100K,
    factor::MF_ML100K,
    factor::BPR_ML100K,
    factor::BPR_ML100K_CORNAC,
    factor::BPR_GOODREADS,
    als::ALS_ML100K,
    autorec::AUTOREC_ML100K,
    autorec::AUTOREC_ML1M,
    multvae::MULTVAE_ML100K,
    multvae::MULTDAE_ML100K,
    multvae::MULTVAE_ML20M,
    multvae::MULTDAE_ML20M,
    recvae::RECVAE_ML100K,
    neighbors::ITEMKNN_COSINE_ML100K,
    neighbors::ITEMKNN_BM25_ML100K,
    neighbors::ITEMKNN_TFIDF_ML100K,
    neighbors::EASE_ML100K,
    neighbors::RP3BETA_ML100K,
    neighbors::SAR_ML100K,
];
