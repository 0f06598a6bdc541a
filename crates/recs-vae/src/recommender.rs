//! The [`Recommender`] impls of the crate's models: how the registry fits, saves, loads and
//! asks each for its capabilities.
//!
//! - [`BiVae`] (`bivae`): ranking; item vectors (the items' latent means).
//! - [`AutoRec`] (`autorec`): ranking and rating prediction; item vectors when item-based
//!   (each item's code).
//! - [`MultVaeModel`] (`multvae`) and [`MultDaeModel`] (`multdae`): a Mult-VAE/DAE network
//!   with its training users' rows (it scores a user by encoding their row), and fold-in of
//!   a user it never saw from their items.

use recs_core::Capabilities;
use recs_core::schema::{ParamSpec, Scale};

/// The activations the encoders offer.
const ACTIVATIONS: &[&str] = &["sigmoid", "tanh", "elu", "relu", "relu6"];

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{
    FoldIn, ItemVectors, ModelError, ModelParams, ParamError, Progress, RatingPredictor,
    Recommender, ScoreError, Scorer, TrainData,
};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

use crate::autorec::{AutoRec, AutoRecParams};
use crate::bivae::{BiVae, BiVaeParams};
use crate::error::VaeError;
use crate::multvae::{MultVae, MultVaeData, MultVaeParams};

fn err(e: VaeError) -> ModelError {
    match e {
        VaeError::Param(p) => ModelError::Param(p),
        VaeError::File(f) => ModelError::File(f),
        e => ModelError::model(e),
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
            ParamSpec::choice("act_fn", ACTIVATIONS, "encoder activation"),
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

impl ModelParams for AutoRecParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::int(
            "factors",
            1,
            65_536,
            "hidden units: the size of each row's code",
        )
        .tuned(50.0, 1000.0, Scale::LogInt),
        ParamSpec::bool(
            "item_based",
            "I-AutoRec (rows are items) rather than U-AutoRec",
        ),
        ParamSpec::choice("hidden_activation", ACTIVATIONS, "hidden layer activation"),
        ParamSpec::choice(
            "output_activation",
            ACTIVATIONS,
            "output activation (none: identity)",
        )
        .or_none(),
        ParamSpec::float("reg", 0.0, 1e30, "L2 weight λ on the weights").tuned(
            0.1,
            1000.0,
            Scale::Log,
        ),
        ParamSpec::int("epochs", 1, 100_000, "passes over the rows").tuned(
            20.0,
            500.0,
            Scale::LogInt,
        ),
        ParamSpec::int("batch_size", 1, u64::MAX, "rows per batch").tuned(
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
            "validation_fraction",
            0.0,
            0.5,
            "training ratings held out to pick the best epoch",
        ),
        ParamSpec::optional_int(
            "patience",
            1,
            u64::MAX,
            "stop after this many epochs without improvement (none: run every epoch)",
        ),
        ParamSpec::other(
            "unseen",
            "global_mean or {\"constant\": a finite number}",
            "prediction for a user or item without training ratings",
        ),
        ParamSpec::optional_range(
            "rating_range",
            "clip predictions to [lo, hi] (none: no clipping)",
        ),
        ParamSpec::seed(),
        ParamSpec::threads(),
        ParamSpec::device(),
    ];

    fn relations(&self) -> Result<(), ParamError> {
        match self.unseen {
            crate::autorec::Unseen::Constant(v) if !v.is_finite() => {
                Err(ParamError::new("unseen", v, "a finite constant"))
            }
            _ => Ok(()),
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

impl Recommender for BiVae {
    const KIND: &'static str = "bivae";
    const CAPABILITIES: Capabilities = Capabilities {
        item_vectors: true,
        user_vectors: true,
        batch_scoring: true,
        ..Capabilities::NONE
    };
    type Params = BiVaeParams;

    fn fit(
        params: &BiVaeParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        BiVae::fit(params, data.matrix, progress).map_err(err)
    }

    fn params(&self) -> &BiVaeParams {
        BiVae::params(self)
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        self.write_into(out).map_err(err)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        BiVae::read_from(file).map_err(err)
    }

    fn item_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: self.item_embeddings(),
            dim: self.factors(),
        })
    }

    fn user_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: self.user_embeddings(),
            dim: self.factors(),
        })
    }
}

impl Recommender for AutoRec {
    const KIND: &'static str = "autorec";
    const CAPABILITIES: Capabilities = Capabilities {
        rating_prediction: true,
        item_vectors: true,
        ..Capabilities::NONE
    };
    type Params = AutoRecParams;

    fn fit(
        params: &AutoRecParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        AutoRec::fit(params, data.matrix, progress).map_err(err)
    }

    fn params(&self) -> &AutoRecParams {
        AutoRec::params(self)
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        self.write_into(out).map_err(err)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        AutoRec::read_from(file).map_err(err)
    }

    fn rating_predictor(&self) -> Option<&dyn RatingPredictor> {
        Some(self)
    }

    fn item_vectors(&self) -> Option<ItemVectors<'_>> {
        self.params().item_based.then(|| ItemVectors {
            data: self.row_codes(),
            dim: self.params().factors,
        })
    }
}

/// A Mult-VAE (or, in [`MultDaeModel`], Mult-DAE) with the rows of the users it was trained
/// on: a known user is scored by encoding their row, a new one by encoding their items.
#[derive(Debug)]
pub struct MultVaeModel {
    net: MultVae,
    rows: CsrMatrix,
    /// The decoder's output weights per item (`similar` and Python's `item_factors`).
    item_vectors: (Vec<f32>, usize),
}

/// Mult-DAE: the same network without the variational layer (`variational = false`).
#[derive(Debug)]
pub struct MultDaeModel(MultVaeModel);

impl MultVaeModel {
    fn new(net: MultVae, rows: CsrMatrix) -> Self {
        let item_vectors = net.output_item_vectors();
        Self {
            net,
            rows,
            item_vectors,
        }
    }

    /// The network.
    pub fn net(&self) -> &MultVae {
        &self.net
    }

    /// The training users' rows (binarized).
    pub fn rows(&self) -> &CsrMatrix {
        &self.rows
    }

    fn fit_rows(
        params: &MultVaeParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        let rows = data.matrix.binarize();
        let net = MultVae::fit(params, &MultVaeData::new(&rows), progress).map_err(err)?;
        Ok(Self::new(net, rows))
    }

    fn write<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        self.net.write_into(out).map_err(err)?;
        out.seen(&self.rows)?;
        Ok(())
    }

    fn read(file: &ModelReader, variational: bool) -> Result<Self, ModelError> {
        let net = MultVae::read_from(file).map_err(err)?;
        if net.params().variational != variational {
            return Err(file
                .error("params.variational does not match the model kind")
                .into());
        }
        let n_users = file
            .shape(recs_core::modelfile::SEEN_INDPTR)
            .and_then(|s| s.first())
            .map_or(0, |n| n.saturating_sub(1));
        let rows = file
            .seen(n_users, net.n_items())?
            .ok_or_else(|| file.error("a Mult-VAE/DAE file needs its users' rows (data.seen.*)"))?;
        Ok(Self::new(net, rows))
    }
}

impl Scorer for MultVaeModel {
    fn n_users(&self) -> usize {
        self.rows.n_rows()
    }

    fn n_items(&self) -> usize {
        self.net.n_items()
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        self.net.scorer(&self.rows).score_user(user, out)
    }

    fn score_users(&self, users: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        self.net.scorer(&self.rows).score_users(users, out)
    }
}

impl FoldIn for MultVaeModel {
    fn score_items(&self, items: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        let n = self.net.n_items();
        if let Some(&bad) = items.iter().find(|&&i| i as usize >= n) {
            return Err(ScoreError::Model(format!(
                "item index {bad} is out of range: the model knows {n} items"
            )));
        }
        let row = CsrMatrix::from_triplets(
            1,
            n,
            &vec![0; items.len()],
            items,
            &vec![1.0; items.len()],
            DuplicatePolicy::KeepLast,
        )
        .map_err(|e| ScoreError::Model(e.to_string()))?;
        self.net.scorer(&row).score_user(0, out)
    }
}

impl Recommender for MultVaeModel {
    const KIND: &'static str = "multvae";
    const CAPABILITIES: Capabilities = Capabilities {
        item_vectors: true,
        fold_in: true,
        batch_scoring: true,
        ..Capabilities::NONE
    };
    type Params = MultVaeParams;

    fn fit(
        params: &MultVaeParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        if !params.variational {
            return Err(ParamError::new(
                "variational",
                false,
                "true for multvae (multdae is the denoising one)",
            )
            .into());
        }
        Self::fit_rows(params, data, progress)
    }

    fn params(&self) -> &MultVaeParams {
        self.net.params()
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        self.write(out)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        Self::read(file, true)
    }

    fn fold_in(&self) -> Option<&dyn FoldIn> {
        Some(self)
    }

    fn item_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: &self.item_vectors.0,
            dim: self.item_vectors.1,
        })
    }
}

impl Scorer for MultDaeModel {
    fn n_users(&self) -> usize {
        self.0.n_users()
    }

    fn n_items(&self) -> usize {
        self.0.n_items()
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        self.0.score_user(user, out)
    }

    fn score_users(&self, users: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        self.0.score_users(users, out)
    }
}

impl Recommender for MultDaeModel {
    const KIND: &'static str = "multdae";
    const CAPABILITIES: Capabilities = Capabilities {
        item_vectors: true,
        fold_in: true,
        batch_scoring: true,
        ..Capabilities::NONE
    };
    type Params = MultVaeParams;

    fn fit(
        params: &MultVaeParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        if params.variational {
            return Err(ParamError::new(
                "variational",
                true,
                "false for multdae (multvae is the variational one)",
            )
            .into());
        }
        MultVaeModel::fit_rows(params, data, progress).map(MultDaeModel)
    }

    fn params(&self) -> &MultVaeParams {
        self.0.net.params()
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        self.0.write(out)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        MultVaeModel::read(file, false).map(MultDaeModel)
    }

    fn fold_in(&self) -> Option<&dyn FoldIn> {
        Some(&self.0)
    }

    fn item_vectors(&self) -> Option<ItemVectors<'_>> {
        Recommender::item_vectors(&self.0)
    }
}
