//! The [`Recommender`] impls of the crate's models: how the registry fits, saves, loads and
//! asks each for its capabilities.
//!
//! - [`Als`] (`als`): ranking from the interactions' values as confidences; item and user
//!   vectors, fold-in (implicit's `recalculate_user`).

use recs_core::Capabilities;
use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::schema::{ParamSpec, Scale};
use recs_core::{
    FoldIn, ItemVectors, ModelError, ModelParams, Progress, Recommender, ScoreError, Scorer,
    TrainData,
};

use crate::{Als, AlsParams};

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
