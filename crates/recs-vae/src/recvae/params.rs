//! RecVAE's hyper-parameters and their schema.

use recs_core::ModelParams;
use recs_core::schema::{ParamSpec, Scale};
use serde::{Deserialize, Serialize};

/// Hyper-parameters of [`RecVaeModel`](super::RecVaeModel), in the project's shared
/// vocabulary where it has the idea (Cornac's `latent_dim` is `factors`, its `n_epochs`
/// `epochs`, its `lr` `learning_rate`, each taking Cornac's name as an alias) and Cornac's
/// names elsewhere (`hidden_dim`: one width for the five layers, not the shared `hidden`'s
/// list of layer sizes). The defaults
/// are Cornac's `RecVAE` (the authors' ml-20m settings but the epochs): hidden 600, latent
/// 200, batch 500, γ 0.005, Adam 5e-4, 50 epochs of 3 encoder passes and 1 decoder pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecVaeParams {
    /// Width of each of the encoder's five dense layers. Default 600; allowed 1..=65536.
    pub hidden_dim: usize,
    /// Latent dimension. Default 200; allowed 1..=65536.
    pub factors: usize,
    /// Epochs; each is `enc_epochs` encoder passes, a prior update and `dec_epochs` decoder
    /// passes over the users. Default 50; allowed 1..=100000.
    pub epochs: usize,
    /// Passes over the users updating the encoder (input dropout `dropout`) per epoch.
    /// Default 3; allowed 1..=1000.
    pub enc_epochs: usize,
    /// Passes over the users updating the decoder (no dropout) per epoch. Default 1;
    /// allowed 1..=1000.
    pub dec_epochs: usize,
    /// Users per batch. Default 500; allowed ≥ 1.
    pub batch_size: usize,
    /// Adam's learning rate (one Adam for the encoder, one for the decoder). Default 5e-4;
    /// allowed (0, 1].
    pub learning_rate: f64,
    /// γ: a user's KL weight is `γ · |x|`, `|x|` the number of their items. Default 0.005;
    /// allowed [0, 1e6]. With 0, the fixed weight `beta` is used instead.
    pub gamma: f64,
    /// The fixed KL weight β, used only when `gamma` is 0. Default 0.2; allowed [0, 1e6].
    pub beta: f64,
    /// Dropout on the normalised input in the encoder passes. Default 0.5; allowed [0, 1).
    pub dropout: f32,
    /// With validation: stop after this many epochs without a better validation NDCG@100.
    /// Default `None` (run every epoch, keep the best); allowed ≥ 1.
    pub patience: Option<usize>,
    /// Seed of the initialisation, shuffles, dropout and noise. Default 42.
    pub seed: u64,
    /// Where `fit` trains: `"native"` (default: the hand-written CPU kernels), `"cpu"`
    /// (candle on the CPU), `"cuda"` or `"cuda:N"` (candle on a CUDA device; needs a build
    /// with the `cuda` feature). Every engine draws the same shuffles, dropout masks and
    /// noise. Scoring always runs on the CPU.
    pub device: String,
}

impl Default for RecVaeParams {
    fn default() -> Self {
        Self {
            hidden_dim: 600,
            factors: 200,
            epochs: 50,
            enc_epochs: 3,
            dec_epochs: 1,
            batch_size: 500,
            learning_rate: 5e-4,
            gamma: 0.005,
            beta: 0.2,
            dropout: 0.5,
            patience: None,
            seed: 42,
            device: crate::device::DEFAULT.into(),
        }
    }
}

impl RecVaeParams {
    /// The KL weight of a user with `n` items: `γ · n`, or `β` when `γ` is 0.
    pub(super) fn kl_weight(&self, n: f32) -> f32 {
        if self.gamma > 0.0 {
            self.gamma as f32 * n
        } else {
            self.beta as f32
        }
    }
}

impl ModelParams for RecVaeParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::int(
            "hidden_dim",
            1,
            65_536,
            "width of each of the encoder's five dense layers",
        )
        .tuned(100.0, 1000.0, Scale::LogInt),
        ParamSpec::int("factors", 1, 65_536, "latent dimension")
            .alias(&["latent_dim"])
            .tuned(50.0, 400.0, Scale::LogInt),
        ParamSpec::int(
            "epochs",
            1,
            100_000,
            "epochs (encoder passes, prior update, decoder passes)",
        )
        .alias(&["n_epochs"])
        .tuned(10.0, 200.0, Scale::LogInt),
        ParamSpec::int("enc_epochs", 1, 1000, "encoder passes per epoch").alias(&["n_enc_epochs"]),
        ParamSpec::int("dec_epochs", 1, 1000, "decoder passes per epoch").alias(&["n_dec_epochs"]),
        ParamSpec::int("batch_size", 1, u64::MAX, "users per batch").tuned(
            64.0,
            1024.0,
            Scale::LogInt,
        ),
        ParamSpec::float_above("learning_rate", 0.0, 1.0, "Adam's learning rate").tuned(
            1e-4,
            1e-2,
            Scale::Log,
        ),
        ParamSpec::float(
            "gamma",
            0.0,
            1e6,
            "a user's KL weight per item (0: the fixed weight beta)",
        )
        .tuned(1e-4, 0.05, Scale::Log),
        ParamSpec::float("beta", 0.0, 1e6, "the fixed KL weight when gamma is 0"),
        ParamSpec::float_below(
            "dropout",
            0.0,
            1.0,
            "dropout on the normalised input in the encoder passes",
        )
        .tuned(0.0, 0.8, Scale::Linear),
        ParamSpec::optional_int(
            "patience",
            1,
            u64::MAX,
            "stop after this many epochs without improvement (none: run every epoch)",
        ),
        ParamSpec::seed(),
        ParamSpec::device(),
    ];
}
