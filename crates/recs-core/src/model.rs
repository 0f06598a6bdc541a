//! The model seam: the [`Recommender`] trait every model implements, its object-safe face
//! [`DynModel`], the training data every `fit` takes, and the optional capabilities a
//! front-end asks for instead of matching on the model's kind.
//!
//! A model author implements [`Recommender`] (a kind name, a [`ModelParams`] type, `fit`,
//! `save`, `load`, and whichever capabilities it has); a blanket impl makes it a
//! [`DynModel`], which is what the registry hands to the CLI, the Python package and the
//! server.

use std::fmt::Debug;

use recs_sparse::CsrMatrix;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::modelfile::{ModelFileError, ModelMeta, ModelReader, ModelWriter};
use crate::params::ParamError;
use crate::progress::Progress;
use crate::schema::ParamSpec;
use crate::scorer::{RatingPredictor, ScoreError, Scorer};

/// Everything a model's `fit`, `save` or `load` can report.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A hyper-parameter is out of its range.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The model file could not be read or written.
    #[error(transparent)]
    File(#[from] ModelFileError),
    /// Scoring failed.
    #[error(transparent)]
    Score(#[from] ScoreError),
    /// The training data cannot be used (an empty matrix, mismatched lengths, a value that
    /// is not finite).
    #[error("invalid training data: {0}")]
    Data(String),
    /// A loss became NaN or infinite: training stopped.
    #[error(
        "training diverged at epoch {epoch}: `{what}` is {value} (lower the learning rate or raise the regularisation)"
    )]
    Diverged {
        /// The epoch (1-based) in which it happened.
        epoch: usize,
        /// Which loss, by its name in the epoch's report (`loss`, `item`, `train_rmse`).
        what: &'static str,
        /// The loss value (NaN or ±inf).
        value: f64,
    },
    /// The device a model was asked to train on cannot be used (CUDA in a build without
    /// it, no such GPU).
    #[error("device `{device}` cannot be used: {reason}")]
    Device {
        /// The `device` value, as given.
        device: String,
        /// Why it cannot be used, and what to do.
        reason: String,
    },
    /// A failure inside a library the model runs on (candle, the sparse layer).
    #[error(transparent)]
    Model(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl ModelError {
    /// Wraps a library's error.
    pub fn model(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ModelError::Model(Box::new(e))
    }
}

/// Hyper-parameters of a model: serde (the model file and the registry read and write them
/// as JSON, unknown keys refused), `Default` = the documented defaults, and the
/// [schema](crate::schema) that declares each parameter's type, range and doc, from which
/// the check is derived.
pub trait ModelParams:
    Serialize + DeserializeOwned + Default + Clone + Debug + Send + Sync + 'static
{
    /// Every parameter, in the order help texts list them. Each serialised field has an
    /// entry (the conformance kit checks it).
    const SCHEMA: &'static [ParamSpec];

    /// Checks between parameters that no single range expresses (none by default); a
    /// failing check names the parameter at fault, as [`ParamError`].
    fn relations(&self) -> Result<(), ParamError> {
        Ok(())
    }

    /// `Ok` when every parameter is in its allowed range: the schema's check of each
    /// serialised field, then [`ModelParams::relations`].
    fn validate(&self) -> Result<(), ParamError> {
        let v = serde_json::to_value(self)
            .map_err(|e| ParamError::new("params", e, "values serde can write"))?;
        crate::schema::check_object(Self::SCHEMA, &v)?;
        self.relations()
    }
}

/// What a model can do beyond ranking a known user's items, declared once on its type (and
/// so known from the registry before any fit). The conformance kit checks that a fitted
/// model offers exactly what its type declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Capabilities {
    /// It predicts ratings ([`Recommender::rating_predictor`]).
    pub rating_prediction: bool,
    /// It has item vectors ([`Recommender::item_vectors`]).
    pub item_vectors: bool,
    /// It has user vectors ([`Recommender::user_vectors`]).
    pub user_vectors: bool,
    /// It scores users it never saw from their items ([`Recommender::fold_in`]).
    pub fold_in: bool,
    /// It scores many users in one batched kernel (a matrix product), not row by row.
    pub batch_scoring: bool,
    /// Its item–item similarity is a matrix ([`Recommender::similar_items`]).
    pub similar_items: bool,
    /// It solves one row with the other side fixed ([`Recommender::row_solver`]).
    pub row_solve: bool,
    /// It weighs interactions by their time ([`TrainData::timestamps`]); a model without
    /// it trains to the same model whether or not times are given.
    pub time_aware: bool,
}

/// One of the [`Capabilities`], by name: what messages and help texts list models by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// [`Capabilities::rating_prediction`].
    RatingPrediction,
    /// [`Capabilities::item_vectors`].
    ItemVectors,
    /// [`Capabilities::user_vectors`].
    UserVectors,
    /// [`Capabilities::fold_in`].
    FoldIn,
    /// [`Capabilities::batch_scoring`].
    BatchScoring,
    /// [`Capabilities::similar_items`].
    SimilarItems,
    /// [`Capabilities::row_solve`].
    RowSolve,
}

impl Capability {
    /// Every capability, in the order they are listed.
    pub const ALL: [Capability; 7] = [
        Capability::RatingPrediction,
        Capability::ItemVectors,
        Capability::UserVectors,
        Capability::FoldIn,
        Capability::BatchScoring,
        Capability::SimilarItems,
        Capability::RowSolve,
    ];

    /// How help texts name it.
    pub fn name(self) -> &'static str {
        match self {
            Capability::RatingPrediction => "rating prediction",
            Capability::ItemVectors => "item vectors",
            Capability::UserVectors => "user vectors",
            Capability::FoldIn => "fold-in",
            Capability::BatchScoring => "batch scoring",
            Capability::SimilarItems => "similar items",
            Capability::RowSolve => "row solve",
        }
    }
}

impl Capabilities {
    /// Nothing beyond ranking known users (a base for `..Capabilities::NONE`).
    pub const NONE: Capabilities = Capabilities {
        rating_prediction: false,
        item_vectors: false,
        user_vectors: false,
        fold_in: false,
        batch_scoring: false,
        similar_items: false,
        row_solve: false,
        time_aware: false,
    };

    /// Whether these include `c`.
    pub fn has(&self, c: Capability) -> bool {
        match c {
            Capability::RatingPrediction => self.rating_prediction,
            Capability::ItemVectors => self.item_vectors,
            Capability::UserVectors => self.user_vectors,
            Capability::FoldIn => self.fold_in,
            Capability::BatchScoring => self.batch_scoring,
            Capability::SimilarItems => self.similar_items,
            Capability::RowSolve => self.row_solve,
        }
    }

    /// The capabilities a fitted model offers through its optional methods (everything but
    /// batch scoring and the use of time, properties of its kernels, taken from `declared`).
    pub fn offered(model: &dyn DynModel, declared: Capabilities) -> Self {
        let batch_scoring = declared.batch_scoring;
        Self {
            time_aware: declared.time_aware,
            rating_prediction: model.rating_predictor().is_some(),
            item_vectors: model.item_vectors().is_some(),
            user_vectors: model.user_vectors().is_some(),
            fold_in: model.fold_in().is_some(),
            batch_scoring,
            similar_items: model.similar_items().is_some(),
            row_solve: model.row_solver().is_some(),
        }
    }

    /// Their names, comma-separated, in [`Capability::ALL`]'s order.
    pub fn names(&self) -> Vec<&'static str> {
        Capability::ALL
            .into_iter()
            .filter(|&c| self.has(c))
            .map(Capability::name)
            .collect()
    }
}

/// What every `fit` trains on.
#[derive(Debug, Clone, Copy)]
pub struct TrainData<'a> {
    /// Users × items, values as given: ratings, counts or 1 for implicit feedback. Models
    /// that rank from implicit feedback binarize it themselves; models that predict
    /// ratings read the values.
    pub matrix: &'a CsrMatrix,
    /// Held-out interactions of the same shape, for models that pick their best epoch on
    /// validation data (`None`: the model holds out what it needs itself, or nothing).
    pub validation: Option<&'a CsrMatrix>,
    /// When each interaction happened (seconds), one per stored entry of `matrix` in its
    /// CSR order, for models that weigh interactions by age; `None` where the data has no
    /// times. Models that do not use time ignore it.
    pub timestamps: Option<&'a [i64]>,
    /// The order the interactions were given in, as positions into `matrix`'s stored
    /// entries (a permutation of `0..nnz`), for models whose result depends on the order
    /// they visit interactions in (biased MF's SGD); `None`: the matrix's order, user by
    /// user. `recs train` and the experiments pass the source's row order.
    pub order: Option<&'a [usize]>,
}

impl<'a> TrainData<'a> {
    /// Training data with no validation part and no times.
    pub fn new(matrix: &'a CsrMatrix) -> Self {
        Self {
            matrix,
            validation: None,
            timestamps: None,
            order: None,
        }
    }

    /// The same data given in `order` (see [`TrainData::order`]); an error unless it is a
    /// permutation of the matrix's entries.
    pub fn with_order(mut self, order: &'a [usize]) -> Result<Self, ModelError> {
        let n = self.matrix.nnz();
        let mut seen = vec![false; n];
        if order.len() != n
            || order
                .iter()
                .any(|&p| p >= n || std::mem::replace(&mut seen[p], true))
        {
            return Err(ModelError::Data(format!(
                "the order of the interactions is not a permutation of the {n} entries"
            )));
        }
        self.order = Some(order);
        Ok(self)
    }

    /// The same data with a validation part.
    pub fn with_validation(mut self, validation: &'a CsrMatrix) -> Self {
        self.validation = Some(validation);
        self
    }

    /// The same data with a time for each stored entry of the matrix; an error (naming
    /// both lengths) unless there is exactly one per entry.
    pub fn with_timestamps(mut self, timestamps: &'a [i64]) -> Result<Self, ModelError> {
        if timestamps.len() != self.matrix.nnz() {
            return Err(ModelError::Data(format!(
                "{} timestamps for {} interactions: give one per stored entry",
                timestamps.len(),
                self.matrix.nnz()
            )));
        }
        self.timestamps = Some(timestamps);
        Ok(self)
    }
}

/// Item (or user) vectors for `similar`: `n × dim`, row-major.
#[derive(Debug, Clone, Copy)]
pub struct ItemVectors<'a> {
    /// The vectors, row after row.
    pub data: &'a [f32],
    /// Their dimension.
    pub dim: usize,
}

/// Scores for a user the model never saw, from the items they interacted with (Mult-VAE's
/// encoder, ALS's `recalculate_user`, an item–item model's neighbourhoods).
pub trait FoldIn: Sync {
    /// Writes the scores of a new user who interacted with `items` (item indices, any
    /// order) into `out` (length `n_items`).
    fn score_items(&self, items: &[u32], out: &mut [f32]) -> Result<(), ScoreError>;

    /// As [`FoldIn::score_items`], with each interaction's value (a rating, a count) and,
    /// where known, its time, for models whose fold-in uses them (a least-squares solve
    /// on ratings, confidence-weighted ALS, time-decayed affinities). The default ignores
    /// both: what models that fold in from the items alone do.
    fn score_rated(
        &self,
        items: &[u32],
        values: &[f32],
        timestamps: Option<&[i64]>,
        out: &mut [f32],
    ) -> Result<(), ScoreError> {
        check_rated(items, values, timestamps)?;
        self.score_items(items, out)
    }
}

/// `Ok` when `values` (and `timestamps`, if given) have one entry per item and every value
/// is finite: what [`FoldIn::score_rated`] checks first.
pub fn check_rated(
    items: &[u32],
    values: &[f32],
    timestamps: Option<&[i64]>,
) -> Result<(), ScoreError> {
    let n = items.len();
    if values.len() != n || timestamps.is_some_and(|t| t.len() != n) {
        return Err(ScoreError::Model(format!(
            "{n} items but {} values{}: give one of each per item",
            values.len(),
            timestamps.map_or(String::new(), |t| format!(" and {} timestamps", t.len()))
        )));
    }
    if let Some(v) = values.iter().find(|v| !v.is_finite()) {
        return Err(ScoreError::Model(format!(
            "a fold-in value is {v}: values must be finite"
        )));
    }
    Ok(())
}

/// Item–item similarity held as a matrix rather than vectors (ItemKNN's neighbourhoods,
/// EASE's weights): what `similar` ranks for such models.
pub trait SimilarItems: Sync {
    /// Writes the similarity of `item` to every item into `out` (length `n_items`); an
    /// item that is not a neighbour gets 0.
    fn similarity_row(&self, item: u32, out: &mut [f32]) -> Result<(), ScoreError>;
}

/// One row's least-squares (or SGD) solve with the other side held fixed: ALS's half step,
/// BPR's per-user update. Distributed training solves blocks of rows with it; incremental
/// updates (`partial_fit_users`, `partial_fit_items`) solve the rows that changed.
pub trait RowSolver: Sync {
    /// The length of each solved vector.
    fn dim(&self) -> usize;
    /// Solves the vector of a user who interacted with `items` with `values` (item vectors
    /// fixed), into `out` (length [`RowSolver::dim`]).
    fn solve_user(&self, items: &[u32], values: &[f32], out: &mut [f32]) -> Result<(), ScoreError>;
    /// Solves the vector of an item that `users` interacted with, with `values` (user
    /// vectors fixed), into `out` (length [`RowSolver::dim`]).
    fn solve_item(&self, users: &[u32], values: &[f32], out: &mut [f32]) -> Result<(), ScoreError>;
}

/// The trait a model author implements. See ARCHITECTURE.md for the checklist of what a new
/// model provides.
pub trait Recommender: Scorer + Debug + Send + Sync + Sized + 'static {
    /// The model's name in the registry, the CLI and the model file (`"bpr"`, `"multvae"`).
    const KIND: &'static str;
    /// Its hyper-parameters.
    type Params: ModelParams;
    /// What it can do beyond ranking known users (what the optional methods below return
    /// `Some` for).
    const CAPABILITIES: Capabilities;

    /// Trains on `data`, reporting each epoch to `progress` (which may stop training early;
    /// the model keeps what it has). Validates `params` first.
    fn fit(
        params: &Self::Params,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError>;

    /// The parameters it was trained with.
    fn params(&self) -> &Self::Params;

    /// Adds its tensors (and training facts, via [`ModelWriter::meta_mut`]) to `out`;
    /// the kind and params are already there.
    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError>;

    /// Rebuilds the model from a verified file of its kind (params already readable with
    /// [`ModelReader::params`]); every tensor is checked against the shapes the params
    /// imply.
    fn load(file: &ModelReader) -> Result<Self, ModelError>;

    /// The model as a rating predictor, if it predicts ratings.
    fn rating_predictor(&self) -> Option<&dyn RatingPredictor> {
        None
    }

    /// Item vectors for similarity, if the model has them.
    fn item_vectors(&self) -> Option<ItemVectors<'_>> {
        None
    }

    /// User vectors (`n_users × dim`), if the model has them: Python's `user_factors` and
    /// `similar_users`.
    fn user_vectors(&self) -> Option<ItemVectors<'_>> {
        None
    }

    /// Scoring for users the model never saw, if it can fold them in.
    fn fold_in(&self) -> Option<&dyn FoldIn> {
        None
    }

    /// Its item–item similarity matrix, if it has one (for `similar` without item vectors).
    fn similar_items(&self) -> Option<&dyn SimilarItems> {
        None
    }

    /// Its per-row solve with the other side fixed, if it has one.
    fn row_solver(&self) -> Option<&dyn RowSolver> {
        None
    }
}

/// The object-safe face of a [`Recommender`]: what the registry hands out.
pub trait DynModel: Scorer + Debug + Send + Sync {
    /// The model's kind.
    fn kind(&self) -> &'static str;
    /// What its type declares it can do.
    fn capabilities(&self) -> Capabilities;
    /// Its parameters as JSON.
    fn params_json(&self) -> serde_json::Value;
    /// A writer holding the model's metadata and tensors; the caller may add the training
    /// catalogue and `extra`, then [`ModelWriter::write`].
    fn writer(&self) -> Result<ModelWriter<'_>, ModelError>;
    /// See [`Recommender::rating_predictor`].
    fn rating_predictor(&self) -> Option<&dyn RatingPredictor>;
    /// See [`Recommender::item_vectors`].
    fn item_vectors(&self) -> Option<ItemVectors<'_>>;
    /// See [`Recommender::user_vectors`].
    fn user_vectors(&self) -> Option<ItemVectors<'_>>;
    /// See [`Recommender::fold_in`].
    fn fold_in(&self) -> Option<&dyn FoldIn>;
    /// See [`Recommender::similar_items`].
    fn similar_items(&self) -> Option<&dyn SimilarItems>;
    /// See [`Recommender::row_solver`].
    fn row_solver(&self) -> Option<&dyn RowSolver>;
    /// The model as a plain scorer.
    fn as_scorer(&self) -> &dyn Scorer;
}

impl<M: Recommender> DynModel for M {
    fn kind(&self) -> &'static str {
        M::KIND
    }
    fn capabilities(&self) -> Capabilities {
        M::CAPABILITIES
    }
    fn params_json(&self) -> serde_json::Value {
        serde_json::to_value(self.params()).unwrap_or(serde_json::Value::Null)
    }
    fn writer(&self) -> Result<ModelWriter<'_>, ModelError> {
        let meta = ModelMeta::new(M::KIND, env!("CARGO_PKG_VERSION"), self.params_json());
        let mut w = ModelWriter::new(meta);
        Recommender::save(self, &mut w)?;
        Ok(w)
    }
    fn rating_predictor(&self) -> Option<&dyn RatingPredictor> {
        Recommender::rating_predictor(self)
    }
    fn item_vectors(&self) -> Option<ItemVectors<'_>> {
        Recommender::item_vectors(self)
    }
    fn user_vectors(&self) -> Option<ItemVectors<'_>> {
        Recommender::user_vectors(self)
    }
    fn fold_in(&self) -> Option<&dyn FoldIn> {
        Recommender::fold_in(self)
    }
    fn similar_items(&self) -> Option<&dyn SimilarItems> {
        Recommender::similar_items(self)
    }
    fn row_solver(&self) -> Option<&dyn RowSolver> {
        Recommender::row_solver(self)
    }
    fn as_scorer(&self) -> &dyn Scorer {
        self
    }
}

/// Writes `model` alone (no catalogue, no `extra`) to `path`, atomically.
pub fn save_path<M: Recommender>(model: &M, path: &std::path::Path) -> Result<(), ModelError> {
    DynModel::writer(model)?.write(path)?;
    Ok(())
}

/// Reads a model of type `M` from `path` (once, verified); a file of another kind is an error
/// naming both kinds.
pub fn load_path<M: Recommender>(path: &std::path::Path) -> Result<M, ModelError> {
    let file = ModelReader::open(path)?;
    if file.kind() != M::KIND {
        return Err(file
            .error(format!(
                "it holds a `{}` model, not a `{}` model",
                file.kind(),
                M::KIND
            ))
            .into());
    }
    M::load(&file)
}
