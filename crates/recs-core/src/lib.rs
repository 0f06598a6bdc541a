//! The seam of recs: what every model provides and every front-end uses.
//!
//! - [`Recommender`]: the trait every model implements (kind, params, fit, save, load,
//!   optional capabilities: rating prediction, item vectors, fold-in); [`DynModel`] is its
//!   object-safe face, which the registry hands out.
//! - [`modelfile`]: the one model-file format (version 2: tensors for everything that grows
//!   with the data, a small JSON header, a checksum verified on every load).
//! - [`Scorer`] / [`RatingPredictor`]: scores over all items for a user, ratings for pairs
//!   (blanket impls for `&T`, `Box<T>` and `Arc<T>`).
//! - [`progress`]: one [`EpochReport`] and one [`Progress`] callback for every model; the
//!   callback can ask training to stop early and keep what it has.
//! - [`params`]: [`ParamError`], the one error a hyper-parameter check gives: the parameter,
//!   its value and its allowed range.
//! - [`rank`]: top-k selection and cosine neighbours, shared by every model and front-end.
//! - [`simd`]: the one run-time SIMD dispatch idiom ([`multiversion!`]) and a way for tests
//!   to force each path.
//!
//! Small and free of candle: model crates, metrics and front-ends all depend on it.
#![deny(missing_docs)]

pub mod atomic;
pub mod model;
pub mod modelfile;
pub mod params;
pub mod progress;
pub mod rank;
pub mod ranking;
pub mod schema;
pub mod scorer;
pub mod simd;
pub mod validation;

pub use model::{
    Capabilities, Capability, DynModel, FoldIn, ItemVectors, ModelError, ModelParams, Recommender,
    RowSolver, SimilarItems, TrainData, load_path, save_path,
};
pub use modelfile::{Catalog, ModelFileError, ModelMeta, ModelReader, ModelWriter};
pub use params::ParamError;
pub use progress::{Control, EpochReport, NoProgress, Progress};
pub use ranking::recommend;
pub use schema::{Kind, ParamSpec, Scale};
pub use scorer::{RatingPredictor, ScoreError, Scorer};
