//! BiVAE's hyper-parameters and their schema.

use recs_core::ModelParams;
use recs_core::schema::{ParamSpec, Scale};
use serde::{Deserialize, Serialize};

use crate::nn::{Activation, Likelihood};

/// BiVAE's hyper-parameters: Cornac's `BiVAECF`'s defaults, in the project's shared
/// vocabulary (Cornac's `k` is `factors`, `encoder_structure` is `hidden`, `n_epochs` is
/// `epochs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BiVaeParams {
    /// Dimension of the user and item factors θ, β (Cornac's `k`). Default 10; allowed
    /// 1..=65536.
    pub factors: usize,
    /// Hidden layer widths of both encoders (Cornac's `encoder_structure`): the user encoder
    /// is `[n_items, hidden…, factors]`, the item encoder `[n_users, …, factors]`.
    /// Default `[20]`; 1 to 16 layers, each 1..=65536 wide.
    pub hidden: Vec<usize>,
    /// Activation after each hidden layer. Default `tanh`.
    pub act_fn: Activation,
    /// Likelihood of the data given the decoder. Default `pois`.
    pub likelihood: Likelihood,
    /// Training epochs, each one item pass and one user pass (Cornac's `n_epochs`).
    /// Default 100; allowed 1..=1000000.
    pub epochs: usize,
    /// Rows per batch on both sides. Default 100; allowed 1..=1000000.
    pub batch_size: usize,
    /// Adam's learning rate for both optimisers. Default 0.001; any finite value > 0.
    pub learning_rate: f64,
    /// Weight of the KL terms (β-VAE). Default 1.0; any finite value ≥ 0.
    pub beta_kl: f64,
    /// Seed of every random draw (initialisation and reparameterisation noise). Default 0.
    pub seed: u64,
    /// Where [`BiVae`](super::BiVae)'s `fit` trains: `"native"` (default: the hand-written
    /// CPU kernels), `"cpu"` (candle on the CPU), `"cuda"` or `"cuda:N"` (candle on CUDA
    /// device 0 or `N`; needs a build with the `cuda` feature). Scoring always runs on the
    /// CPU.
    pub device: String,
}

impl Default for BiVaeParams {
    fn default() -> Self {
        Self {
            factors: 10,
            hidden: vec![20],
            act_fn: Activation::Tanh,
            likelihood: Likelihood::Pois,
            epochs: 100,
            batch_size: 100,
            learning_rate: 0.001,
            beta_kl: 1.0,
            seed: 0,
            device: crate::device::DEFAULT.into(),
        }
    }
}

impl ModelParams for BiVaeParams {
    const SCHEMA: &'static [ParamSpec] =
        &[
            ParamSpec::int("factors", 1, 65_536, "latent dimension of users and items").tuned(
                8.0,
                256.0,
                Scale::LogInt,
            ),
            ParamSpec::int_list(
                "hidden",
                (1, 16),
                (1, 65_536),
                "encoder hidden layer widths",
            ),
            ParamSpec::choice("act_fn", Activation::NAMES, "encoder activation"),
            ParamSpec::choice(
                "likelihood",
                &["bern", "gaus", "pois"],
                "likelihood of the observations",
            ),
            ParamSpec::int("epochs", 1, 1_000_000, "passes over users and items").tuned(
                50.0,
                1000.0,
                Scale::LogInt,
            ),
            ParamSpec::int("batch_size", 1, 1_000_000, "rows per batch on both sides").tuned(
                32.0,
                1024.0,
                Scale::LogInt,
            ),
            ParamSpec::float_above("learning_rate", 0.0, f64::INFINITY, "Adam's learning rate")
                .tuned(1e-4, 1e-2, Scale::Log),
            ParamSpec::float("beta_kl", 0.0, f64::INFINITY, "weight of the KL term").tuned(
                0.1,
                10.0,
                Scale::Log,
            ),
            ParamSpec::seed(),
            ParamSpec::device(),
        ];
}
