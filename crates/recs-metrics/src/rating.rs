//! Rating-prediction errors: RMSE, MAE, MSE (accumulated in f64).

use crate::{MetricsError, RatingPredictor};

/// Errors of predicted ratings against the truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatingReport {
    /// Root mean squared error: sqrt(Σ (r − r̂)² / n).
    pub rmse: f64,
    /// Mean absolute error: Σ |r − r̂| / n.
    pub mae: f64,
    /// Mean squared error: Σ (r − r̂)² / n.
    pub mse: f64,
    /// Number of pairs.
    pub n: usize,
}

/// RMSE / MAE / MSE of `pred` against `truth` (same length, at least one pair, all finite).
pub fn rating_errors(truth: &[f64], pred: &[f64]) -> Result<RatingReport, MetricsError> {
    if truth.len() != pred.len() {
        return Err(MetricsError::Length {
            what: "predictions",
            got: pred.len(),
            expected: truth.len(),
        });
    }
    if truth.is_empty() {
        return Err(MetricsError::EmptyTruth);
    }
    let (mut se, mut ae) = (0.0f64, 0.0f64);
    for (i, (&t, &p)) in truth.iter().zip(pred).enumerate() {
        if !p.is_finite() {
            return Err(MetricsError::NonFiniteScore {
                user: None,
                item: i as u32,
                value: p as f32,
            });
        }
        let d = t - p;
        se += d * d;
        ae += d.abs();
    }
    let n = truth.len() as f64;
    Ok(RatingReport {
        rmse: (se / n).sqrt(),
        mae: ae / n,
        mse: se / n,
        n: truth.len(),
    })
}

/// Predicts every (user, item) pair with `model` and scores it against `ratings`.
pub fn evaluate_ratings(
    model: &dyn RatingPredictor,
    users: &[u32],
    items: &[u32],
    ratings: &[f32],
) -> Result<RatingReport, MetricsError> {
    if users.len() != items.len() || users.len() != ratings.len() {
        return Err(MetricsError::Length {
            what: "users/items/ratings",
            got: users.len(),
            expected: ratings.len(),
        });
    }
    let pred: Vec<f64> = users
        .iter()
        .zip(items)
        .map(|(&u, &i)| model.predict(u, i) as f64)
        .collect();
    if let Some(k) = pred.iter().position(|p| !p.is_finite()) {
        return Err(MetricsError::NonFiniteScore {
            user: Some(users[k]),
            item: items[k],
            value: pred[k] as f32,
        });
    }
    let truth: Vec<f64> = ratings.iter().map(|&r| r as f64).collect();
    rating_errors(&truth, &pred)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        let r = rating_errors(&[1.0, 3.0], &[2.0, 3.0]).unwrap();
        assert_eq!(r.mse, 0.5);
        assert_eq!(r.mae, 0.5);
        assert!((r.rmse - 0.5f64.sqrt()).abs() < 1e-15);
        assert!(matches!(
            rating_errors(&[], &[]),
            Err(MetricsError::EmptyTruth)
        ));
        assert!(rating_errors(&[1.0], &[f64::NAN]).is_err());
    }
}
