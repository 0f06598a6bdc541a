//! The [`Recommender`] impls of the crate's models: how the registry fits, saves, loads and
//! asks each for its capabilities.
//!
//! - [`BiasedMf`] (`mf`): ranking and rating prediction from the ratings; item vectors.
//! - [`BaselineOnly`] (`bias`) and [`GlobalMean`] (`global-mean`): rating prediction.
//! - [`Bpr`] (`bpr`): ranking from the binarized interactions; item vectors.
//! - [`Als`] (`als`): ranking from the interactions' values as confidences; item and user
//!   vectors, fold-in (implicit's `recalculate_user`).

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{
    FoldIn, ItemVectors, ModelError, ModelParams, ParamError, Progress, RatingPredictor,
    Recommender, ScoreError, Scorer, TrainData,
};
use recs_sparse::CsrMatrix;
use serde::{Deserialize, Serialize};

use crate::{
    Als, AlsParams, BaselineOnly, BaselineParams, BiasedMf, Bpr, BprParams, FactorError,
    GlobalMean, MfParams, Triples,
};

fn err(e: FactorError) -> ModelError {
    match e {
        FactorError::Param(p) => ModelError::Param(p),
        FactorError::File(f) => ModelError::File(f),
        e => ModelError::model(e),
    }
}

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
        .map_err(err)
    }
}

impl ModelParams for MfParams {
    fn validate(&self) -> Result<(), ParamError> {
        MfParams::validate(self)
    }
}

impl ModelParams for BaselineParams {
    fn validate(&self) -> Result<(), ParamError> {
        BaselineParams::validate(self)
    }
}

impl ModelParams for AlsParams {
    fn validate(&self) -> Result<(), ParamError> {
        AlsParams::validate(self)
    }
}

impl ModelParams for BprParams {
    fn validate(&self) -> Result<(), ParamError> {
        BprParams::validate(self)
    }
}

/// The global mean takes no parameters (an empty document; any key is refused).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalMeanParams {}

impl ModelParams for GlobalMeanParams {
    fn validate(&self) -> Result<(), ParamError> {
        Ok(())
    }
}

impl Recommender for BiasedMf {
    const KIND: &'static str = "mf";
    type Params = MfParams;

    fn fit(
        params: &MfParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        let t = Owned::of(data.matrix);
        BiasedMf::fit(params, &t.triples(data.matrix)?, progress).map_err(err)
    }

    fn params(&self) -> &MfParams {
        BiasedMf::params(self)
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        self.write_into(out).map_err(err)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        BiasedMf::read_from(file).map_err(err)
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
    type Params = BaselineParams;

    fn fit(
        params: &BaselineParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        let t = Owned::of(data.matrix);
        BaselineOnly::fit(params, &t.triples(data.matrix)?, progress).map_err(err)
    }

    fn params(&self) -> &BaselineParams {
        BaselineOnly::params(self)
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        self.write_into(out).map_err(err)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        BaselineOnly::read_from(file).map_err(err)
    }

    fn rating_predictor(&self) -> Option<&dyn RatingPredictor> {
        Some(self)
    }
}

impl Recommender for GlobalMean {
    const KIND: &'static str = "global-mean";
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
        self.write_into(out).map_err(err)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        GlobalMean::read_from(file).map_err(err)
    }

    fn rating_predictor(&self) -> Option<&dyn RatingPredictor> {
        Some(self)
    }
}

impl Recommender for Bpr {
    const KIND: &'static str = "bpr";
    type Params = BprParams;

    fn fit(
        params: &BprParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        Bpr::fit(params, &data.matrix.binarize(), progress).map_err(err)
    }

    fn params(&self) -> &BprParams {
        Bpr::params(self)
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        self.write_into(out).map_err(err)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        Bpr::read_from(file).map_err(err)
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
    type Params = AlsParams;

    fn fit(
        params: &AlsParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        Als::fit(params, data.matrix, progress).map_err(err)
    }

    fn params(&self) -> &AlsParams {
        Als::params(self)
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        self.write_into(out).map_err(err)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        Als::read_from(file).map_err(err)
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
