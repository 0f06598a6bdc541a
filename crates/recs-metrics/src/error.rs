//! The error type of recs-metrics.

use std::path::PathBuf;

use thiserror::Error;

use crate::ScoreError;

/// What can go wrong computing metrics.
#[derive(Debug, Error)]
pub enum MetricsError {
    /// A parameter is out of range (k = 0, no metric asked for, …).
    #[error("parameter {name} = {value} is out of range: {allowed}")]
    Param {
        /// Parameter name.
        name: &'static str,
        /// Value given.
        value: String,
        /// Allowed range.
        allowed: &'static str,
    },
    /// There is nothing to evaluate against.
    #[error("the truth is empty: no test interaction to evaluate against")]
    EmptyTruth,
    /// Inputs of different lengths or shapes.
    #[error("{what} has length {got}, expected {expected}")]
    Length {
        /// Which input.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length expected.
        expected: usize,
    },
    /// A score is NaN or infinite. NaN has no place in a ranking, so it is refused rather
    /// than silently ranked first or last.
    #[error("score of item {item}{} is {value}: scores must be finite", user.map(|u| format!(" for user {u}")).unwrap_or_default())]
    NonFiniteScore {
        /// The user, where known.
        user: Option<u32>,
        /// The item (or the pair's position, for rating pairs).
        item: u32,
        /// The value.
        value: f32,
    },
    /// A CSV row could not be read.
    #[error("{path}:{line}: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number (0: the file itself).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The scorer failed.
    #[error(transparent)]
    Score(#[from] ScoreError),
}
