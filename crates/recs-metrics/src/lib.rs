//! Ranking and rating metrics exactly as the reference implementations define them, the
//! [`Scorer`] seam every model implements, and a parallel evaluator. (Metrics and evaluator
//! being built: see issue 3.)
#![deny(missing_docs)]

pub mod scorer;

pub use scorer::{RatingPredictor, ScoreError, Scorer};
