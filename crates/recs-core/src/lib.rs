//! The seam of recs: what every model provides and every front-end uses.
//!
//! - [`Scorer`] / [`RatingPredictor`]: scores over all items for a user, ratings for pairs
//!   (blanket impls for `&T`, `Box<T>` and `Arc<T>`).
//! - [`progress`]: one [`EpochReport`] and one [`Progress`] callback for every model; the
//!   callback can ask training to stop early and keep what it has.
//! - [`params`]: [`ParamError`], the one error a hyper-parameter check gives: the parameter,
//!   its value and its allowed range.
//! - [`simd`]: the one run-time SIMD dispatch idiom ([`multiversion!`]) and a way for tests
//!   to force each path.
//!
//! Small and free of candle: model crates, metrics and front-ends all depend on it.
#![deny(missing_docs)]

pub mod params;
pub mod progress;
pub mod scorer;
pub mod simd;

pub use params::ParamError;
pub use progress::{Control, EpochReport, NoProgress, Progress};
pub use scorer::{RatingPredictor, ScoreError, Scorer};
