//! The [`Recommender`] impls of the crate's models: how the registry fits, saves, loads and
//! asks each for its capabilities.
//!
//! - [`BiasedMf`] (`mf`): ranking and rating prediction from the ratings; item vectors.
//! - [`BaselineOnly`] (`bias`) and [`GlobalMean`] (`global-mean`): rating prediction.
//! - [`Bpr`] (`bpr`): ranking from the binarized interactions; item vectors.
//! - [`Als`] (`als`): ranking from the interactions' values as confidences; item and user
//!   vectors, fold-in (implicit's `recalculate_user`).

use recs_core::Capabilities;
use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::schema::{ParamSpec, Scale};
use recs_core::{
    FoldIn, ItemVectors, ModelError, ModelParams, Progress, RatingPredictor, Recommender,
    ScoreError, Scorer, TrainData,
};
use recs_sparse::CsrMatrix;
use serde::{Deserialize, Serialize};

use crate::{
    Als, AlsParams, BaselineOnly, BaselineParams, BiasedMf, Bpr, BprParams, GlobalMean, MfParams,
    Triples,
};

/// The (user, item, value) triples of a CSR matrix, as the rating models train on them.
struct Owned {
    users: Vec<u32>,
    items: Vec<u32>,
    values: Vec<f32>,
}

impl Owned {
    fn of(x: &CsrMatrix) -> Self {
        let mut users = Vec::with_capacity(x.nnz());
        for u in 0..x.n_rows() {
            users.extend(std::iter::repeat_n(u as u32, x.row(u).indices.len()));
        }
        Self {
            users,
            items: x.indices().to_vec(),
            values: x.values().to_vec(),
        }
    }

    fn triples(&self, x: &CsrMatrix) -> Result<Triples<'_>, ModelError> {
        Triples::new(
            &self.users,
            &self.items,
            &self.values,
            x.n_rows(),
            x.n_cols(),
        )
    }
}

impl ModelParams for MfParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::int("factors", 1, 4096, "latent factors per user and item").tuned(
            8.0,
            256.0,
            Scale::LogInt,
        ),
        ParamSpec::int("epochs", 1, 100_000, "passes of SGD over the ratings").tuned(
            5.0,
            100.0,
            Scale::Int,
        ),
        ParamSpec::float_above("learning_rate", 0.0, 1.0, "SGD step size").tuned(
            1e-3,
            0.1,
            Scale::Log,
        ),
        ParamSpec::float("reg", 0.0, 100.0, "L2 weight on factors and biases").tuned(
            1e-3,
            1.0,
            Scale::Log,
        ),
        ParamSpec::float(
            "init_mean",
            f64::NEG_INFINITY,
            f64::INFINITY,
            "mean of the initial factors",
        ),
        ParamSpec::float(
            "init_std",
            0.0,
            f64::INFINITY,
            "standard deviation of the initial factors",
        ),
        ParamSpec::bool("shuffle", "shuffle the ratings before each epoch"),
        ParamSpec::seed(),
        ParamSpec::optional_range(
            "rating_range",
            "clip predictions to [lo, hi] (none: no clipping)",
        ),
    ];
}

impl ModelParams for BaselineParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::int("epochs", 1, 100_000, "ALS sweeps over the biases"),
        ParamSpec::float("reg_u", 0.0, f64::INFINITY, "shrinkage of the user biases").tuned(
            0.1,
            100.0,
            Scale::Log,
        ),
        ParamSpec::float("reg_i", 0.0, f64::INFINITY, "shrinkage of the item biases").tuned(
            0.1,
            100.0,
            Scale::Log,
        ),
        ParamSpec::optional_range(
            "rating_range",
            "clip predictions to [lo, hi] (none: no clipping)",
        ),
    ];
}

impl ModelParams for AlsParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::int("factors", 1, 4096, "latent factors per user and item").tuned(
            8.0,
            256.0,
            Scale::LogInt,
        ),
        ParamSpec::int(
            "epochs",
            1,
            100_000,
            "alternating sweeps (users, then items)",
        )
        .tuned(3.0, 50.0, Scale::Int),
        ParamSpec::float("reg", 0.0, 1e6, "L2 weight on the factors").tuned(1e-3, 10.0, Scale::Log),
        ParamSpec::float_above("alpha", 0.0, 1e6, "confidence scale: c = 1 + alpha * value").tuned(
            0.1,
            100.0,
            Scale::Log,
        ),
        ParamSpec::choice(
            "solver",
            &["cg", "cholesky"],
            "per-row solver: conjugate gradient (implicit's default) or exact Cholesky",
        ),
        ParamSpec::int(
            "cg_steps",
            1,
            1000,
            "conjugate-gradient steps per row and sweep",
        ),
        ParamSpec::threads(),
        ParamSpec::seed(),
    ];
}

impl ModelParams for BprParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::int("factors", 1, 4096, "latent factors per user and item").tuned(
            8.0,
            256.0,
            Scale::LogInt,
        ),
        ParamSpec::int("epochs", 1, 100_000, "passes over the interactions").tuned(
            10.0,
            200.0,
            Scale::Int,
        ),
        ParamSpec::float_above("learning_rate", 0.0, 10.0, "SGD step size").tuned(
            1e-3,
            0.3,
            Scale::Log,
        ),
        ParamSpec::float(
            "reg",
            0.0,
            100.0,
            "L2 weight on the factors and item biases",
        )
        .tuned(1e-4, 0.1, Scale::Log),
        ParamSpec::choice(
            "negatives",
            &["uniform", "popularity"],
            "how negative items are drawn",
        ),
        ParamSpec::int(
            "max_resample",
            0,
            100_000,
            "redraws of a negative the user has seen",
        ),
        ParamSpec::threads(),
        ParamSpec::seed(),
    ];
}

/// The global mean takes no parameters (an empty document; any key is refused).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalMeanParams {}

impl ModelParams for GlobalMeanParams {
    const SCHEMA: &'static [ParamSpec] = &[];
}

impl Recommender for BiasedMf {
    const KIND: &'static str = "mf";
    const CAPABILITIES: Capabilities = Capabilities {
        rating_prediction: true,
        item_vectors: true,
        user_vectors: true,
        ..Capabilities::NONE
    };
    type Params = MfParams;

    fn fit(
        params: &MfParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        let t = Owned::of(data.matrix);
        BiasedMf::fit(params, &t.triples(data.matrix)?, progress)
    }

    fn params(&self) -> &MfParams {
        BiasedMf::params(self)
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        self.write_into(out)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        BiasedMf::read_from(file)
    }

    fn rating_predictor(&self) -> Option<&dyn RatingPredictor> {
        Some(self)
    }

    fn item_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: self.item_factors(),
            dim: self.params().factors,
        })
    }

    fn user_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: self.user_factors(),
            dim: self.params().factors,
        })
    }
}

impl Recommender for BaselineOnly {
    const KIND: &'static str = "bias";
    const CAPABILITIES: Capabilities = Capabilities {
        rating_prediction: true,
        ..Capabilities::NONE
    };
    type Params = BaselineParams;

    fn fit(
        params: &BaselineParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        let t = Owned::of(data.matrix);
        BaselineOnly::fit(params, &t.triples(data.matrix)?, progress)
    }

    fn params(&self) -> &BaselineParams {
        BaselineOnly::params(self)
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        self.write_into(out)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        BaselineOnly::read_from(file)
    }

    fn rating_predictor(&self) -> Option<&dyn RatingPredictor> {
        Some(self)
    }
}

impl Recommender for GlobalMean {
    const KIND: &'static str = "global-mean";
    const CAPABILITIES: Capabilities = Capabilities {
        rating_prediction: true,
        ..Capabilities::NONE
    };
    type Params = GlobalMeanParams;

    fn fit(
        _params: &GlobalMeanParams,
        data: &TrainData<'_>,
        _progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        let t = Owned::of(data.matrix);
        Ok(GlobalMean::fit(&t.triples(data.matrix)?))
    }

    fn params(&self) -> &GlobalMeanParams {
        &GlobalMeanParams {}
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        self.write_into(out)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        GlobalMean::read_from(file)
    }

    fn rating_predictor(&self) -> Option<&dyn RatingPredictor> {
        Some(self)
    }
}

impl Recommender for Bpr {
    const KIND: &'static str = "bpr";
    const CAPABILITIES: Capabilities = Capabilities {
        item_vectors: true,
        user_vectors: true,
        ..Capabilities::NONE
    };
    type Params = BprParams;

    fn fit(
        params: &BprParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        Bpr::fit(params, &data.matrix.binarize(), progress)
    }

    fn params(&self) -> &BprParams {
        Bpr::params(self)
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        self.write_into(out)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        Bpr::read_from(file)
    }

    fn item_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: self.item_factors(),
            dim: self.params().factors,
        })
    }

    fn user_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: self.user_factors(),
            dim: self.params().factors,
        })
    }
}

impl FoldIn for Als {
    fn score_items(&self, items: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        if out.len() != self.n_items() {
            return Err(ScoreError::BufferLength {
                got: out.len(),
                expected: self.n_items(),
            });
        }
        let x = self
            .recalculate_user(items, &vec![1.0; items.len()])
            .map_err(|e| ScoreError::Model(e.to_string()))?;
        self.scores_for(&x, out);
        Ok(())
    }
}

impl Recommender for Als {
    const KIND: &'static str = "als";
    const CAPABILITIES: Capabilities = Capabilities {
        item_vectors: true,
        user_vectors: true,
        fold_in: true,
        ..Capabilities::NONE
    };
    type Params = AlsParams;

    fn fit(
        params: &AlsParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        Als::fit(params, data.matrix, progress)
    }

    fn params(&self) -> &AlsParams {
        Als::params(self)
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        self.write_into(out)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        Als::read_from(file)
    }

    fn item_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: self.item_factors(),
            dim: self.params().factors,
        })
    }

    fn user_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: self.user_factors(),
            dim: self.params().factors,
        })
    }

    fn fold_in(&self) -> Option<&dyn FoldIn> {
        Some(self)
    }
}
