//! Ranking and rating metrics exactly as the reference implementations define them
//! (Microsoft Recommenders 1.2.1's `python_evaluation`, Liang et al.'s fold-in metrics), the
//! [`Scorer`] seam every model implements, and a parallel evaluator that ranks every item
//! for every test user with seen items excluded.
//!
//! Modules: [`ranking`] (per-user metrics at k, each convention named), [`auc`] (exact,
//! sampled and global AUC), [`rating`] (RMSE, MAE, MSE), [`mod@evaluate`] (the parallel
//! evaluator over a [`Scorer`]), [`table`] (scoring truth/prediction CSVs, errors naming
//! file and line).
//!
//! Depends on no model crate and not on candle: anything that can score users can be
//! evaluated.
//!
//! ```
//! use recs_metrics::{Candidates, EvalConfig, Metric, ScoreError, Scorer, evaluate};
//! use recs_sparse::{CsrMatrix, DuplicatePolicy};
//!
//! /// Scores every item by its index: item 3 first.
//! struct ByIndex;
//! impl Scorer for ByIndex {
//!     fn n_users(&self) -> usize { 1 }
//!     fn n_items(&self) -> usize { 4 }
//!     fn score_user(&self, _u: u32, out: &mut [f32]) -> Result<(), ScoreError> {
//!         for (i, s) in out.iter_mut().enumerate() { *s = i as f32; }
//!         Ok(())
//!     }
//! }
//! let train = CsrMatrix::from_triplets(1, 4, &[0, 0], &[0, 3], &[1.0, 1.0], DuplicatePolicy::Error)?;
//! let test = CsrMatrix::from_triplets(1, 4, &[0], &[2], &[1.0], DuplicatePolicy::Error)?;
//! let cfg = EvalConfig {
//!     metrics: vec![Metric::Precision, Metric::Ndcg],
//!     ks: vec![1],
//!     candidates: Candidates::All, // rank item 2 too, though no one trained on it
//!     ..Default::default()
//! };
//! let report = evaluate(&ByIndex, &train, &test, &cfg)?;
//! // Item 3 is seen, so item 2 ranks first and is a hit.
//! assert_eq!(report.means["precision@1"], 1.0);
//! assert_eq!(report.means["ndcg@1"], 1.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod auc;
mod error;
pub mod evaluate;
pub mod ranking;
pub mod rating;
pub use recs_core::scorer;
pub mod table;

pub use error::MetricsError;
pub use evaluate::{Candidates, EvalConfig, EvalReport, Metric, evaluate};
pub use rating::{RatingReport, evaluate_ratings, rating_errors};
pub use scorer::{RatingPredictor, ScoreError, Scorer};
