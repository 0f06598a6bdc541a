//! Mult-VAE's and Mult-DAE's hyper-parameters, their schema and the KL annealing schedule
//! they set; the data a network trains on.

use recs_core::ModelParams;
use recs_core::schema::{ParamSpec, Scale};
use recs_sparse::CsrMatrix;
use serde::{Deserialize, Serialize};

/// Hyper-parameters of [`MultVaeModel`](super::MultVaeModel) and
/// [`MultDaeModel`](super::MultDaeModel) (a [`MultVae`](super::MultVae) network), in the project's shared vocabulary (the
/// paper's latent dimension is `factors`, its L2 weight `reg`); the defaults are the paper's
/// Mult-VAE on ml-20m ([I-600-200-600-I], batch 500, 200 000 annealing steps) except the
/// batch (100) and annealing (1 000 steps), which follow the ml-100k reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MultVaeParams {
    /// `true` (default): Mult-VAE; `false`: Mult-DAE (no KL term, `z = tanh(·)`).
    pub variational: bool,
    /// Encoder hidden layers; the decoder mirrors them. Default `[600]`; allowed any number
    /// of layers (none too), each 1..=65536 wide.
    pub hidden: Vec<usize>,
    /// Latent dimension. Default 200; allowed 1..=65536.
    pub factors: usize,
    /// Dropout on the normalised input in training. Default 0.5; allowed [0, 1).
    pub dropout: f32,
    /// Epochs. Default 200; allowed 1..=100000.
    pub epochs: usize,
    /// Users per batch. Default 100; allowed ≥ 1.
    pub batch_size: usize,
    /// Adam's learning rate. Default 0.001; allowed (0, 1].
    pub learning_rate: f64,
    /// Largest β. Default 0.2; allowed finite and ≥ 0.
    pub anneal_cap: f32,
    /// β = min(cap, step / this); 0 means a fixed β = cap. Default 1000.
    pub total_anneal_steps: usize,
    /// L2 weight λ: λ · Σ‖W‖² over the weights (not biases) is added to every batch's loss,
    /// as `vae_cf` does; used as an `f32`. Default 0; allowed finite and ≥ 0.
    pub reg: f64,
    /// With validation: stop after this many epochs without a better validation NDCG@100.
    /// Default `None` (run every epoch, keep the best); allowed ≥ 1.
    pub patience: Option<usize>,
    /// Seed of the initialisation, shuffles, dropout and noise. Default 42.
    pub seed: u64,
    /// Where `fit` trains: `"native"` (default: the hand-written CPU kernels), `"cpu"`
    /// (candle on the CPU), `"cuda"` or `"cuda:N"` (candle on CUDA device 0 or `N`; needs a
    /// build with the `cuda` feature). Every engine draws the same shuffles, dropout masks
    /// and noise. Scoring always runs on the CPU.
    pub device: String,
}

impl Default for MultVaeParams {
    fn default() -> Self {
        Self {
            variational: true,
            hidden: vec![600],
            factors: 200,
            dropout: 0.5,
            epochs: 200,
            batch_size: 100,
            learning_rate: 1e-3,
            anneal_cap: 0.2,
            total_anneal_steps: 1000,
            reg: 0.0,
            patience: None,
            seed: 42,
            device: crate::device::DEFAULT.into(),
        }
    }
}

impl MultVaeParams {
    /// β of the KL term at training step `step` (from 0): `min(cap, step /
    /// total_anneal_steps)` (`cap` without annealing), 0 for the DAE.
    pub(super) fn kl_weight(&self, step: usize) -> f32 {
        if !self.variational {
            0.0
        } else if self.total_anneal_steps == 0 {
            self.anneal_cap
        } else {
            self.anneal_cap
                .min(step as f32 / self.total_anneal_steps as f32)
        }
    }
}

/// What a network trains on: the training users' rows and, optionally, validation users to
/// choose the epoch by (the models build it from their `TrainData`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MultVaeData<'a> {
    /// Users × items; every stored entry is a count (usually 1).
    pub(crate) train: &'a CsrMatrix,
    /// Validation users as `(fold-in rows, held-out rows)`, both over the training items:
    /// after every epoch the users are encoded from their fold-in rows and their held-out
    /// items ranked (NDCG@100); the best epoch's weights are kept. `None`: no validation,
    /// the last epoch's weights.
    pub(crate) validation: Option<(&'a CsrMatrix, &'a CsrMatrix)>,
}

impl<'a> MultVaeData<'a> {
    /// Training rows without validation.
    pub(crate) fn new(train: &'a CsrMatrix) -> Self {
        Self {
            train,
            validation: None,
        }
    }

    /// The same training rows, with validation users' fold-in and held-out rows.
    pub(crate) fn with_validation(self, fold_in: &'a CsrMatrix, held_out: &'a CsrMatrix) -> Self {
        Self {
            validation: Some((fold_in, held_out)),
            ..self
        }
    }
}

impl ModelParams for MultVaeParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::bool("variational", "Mult-VAE (true) or Mult-DAE (false)"),
        ParamSpec::int_list(
            "hidden",
            (0, 16),
            (1, 65_536),
            "encoder hidden layer widths (the decoder mirrors them)",
        ),
        ParamSpec::int("factors", 1, 65_536, "latent dimension").tuned(50.0, 600.0, Scale::LogInt),
        ParamSpec::float_below(
            "dropout",
            0.0,
            1.0,
            "dropout on the normalised input in training",
        )
        .tuned(0.0, 0.8, Scale::Linear),
        ParamSpec::int("epochs", 1, 100_000, "passes over the users").tuned(
            20.0,
            400.0,
            Scale::LogInt,
        ),
        ParamSpec::int("batch_size", 1, u64::MAX, "users per batch").tuned(
            32.0,
            1024.0,
            Scale::LogInt,
        ),
        ParamSpec::float_above("learning_rate", 0.0, 1.0, "Adam's learning rate").tuned(
            1e-4,
            1e-2,
            Scale::Log,
        ),
        ParamSpec::float(
            "anneal_cap",
            0.0,
            f64::INFINITY,
            "largest KL weight of the annealing schedule",
        )
        .tuned(0.05, 1.0, Scale::Linear),
        ParamSpec::int(
            "total_anneal_steps",
            0,
            u64::MAX,
            "updates over which the KL weight rises to its cap",
        ),
        ParamSpec::float("reg", 0.0, 1e30, "L2 weight on the weights"),
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
