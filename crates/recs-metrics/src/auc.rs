//! Area under the ROC curve, three ways.
//!
//! All three are the Mann–Whitney statistic: the fraction of (positive, negative) pairs in
//! which the positive scores higher, a tie counting one half, accumulated in f64.
//!
//! - [`exact_user_auc`]: one user's test positives against **every** candidate negative
//!   (`auc` in [`crate::EvalReport`]).
//! - [`sampled_user_auc`]: one user's N test positives against N negatives drawn uniformly
//!   without replacement (seeded ChaCha8) from the user's candidate negatives, all N × N pairs
//!   (`auc_sampled`). When the user has fewer than N negatives, all of them are used.
//! - [`global_auc`]: Microsoft Recommenders' `auc` — scikit-learn's `roc_auc_score` over
//!   every (user, item) row at once, labels 0/1, regardless of users.

use rand::SeedableRng;
use rand::seq::index;
use rand_chacha::ChaCha8Rng;

use crate::MetricsError;

/// Mann–Whitney AUC of `pos` against `neg` scores (ties ½); `None` if either is empty.
///
/// Sorts copies of both: O((P + N) log(P + N)).
pub fn pairwise_auc(pos: &[f64], neg: &[f64]) -> Option<f64> {
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut p = pos.to_vec();
    let mut n = neg.to_vec();
    p.sort_by(f64::total_cmp);
    n.sort_by(f64::total_cmp);
    // For each positive: negatives strictly below + ½ negatives equal.
    let (mut lo, mut hi) = (0usize, 0usize);
    let mut wins = 0.0f64;
    for &x in &p {
        while lo < n.len() && n[lo] < x {
            lo += 1;
        }
        if hi < lo {
            hi = lo;
        }
        while hi < n.len() && n[hi] <= x {
            hi += 1;
        }
        wins += lo as f64 + 0.5 * (hi - lo) as f64;
    }
    Some(wins / (p.len() as f64 * n.len() as f64))
}

/// Exact AUC of one user: `scores[j]` of candidate j, `positive[j]` whether it is a test
/// item. `None` when the user has no positive or no negative candidate.
pub fn exact_user_auc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for (&s, &p) in scores.iter().zip(positive) {
        if p { &mut pos } else { &mut neg }.push(s as f64);
    }
    pairwise_auc(&pos, &neg)
}

/// The seed of one user's negative draw: the evaluation seed mixed with the user index, so
/// every user's draw is independent of thread scheduling.
pub fn user_seed(seed: u64, user: u32) -> u64 {
    seed ^ (user as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Sampled AUC of one user: the N positive scores against N negatives drawn without
/// replacement from `negatives` with `ChaCha8Rng::seed_from_u64(seed)` (all negatives when
/// there are fewer than N). `None` when either side is empty.
pub fn sampled_user_auc(positives: &[f32], negatives: &[f32], seed: u64) -> Option<f64> {
    if positives.is_empty() || negatives.is_empty() {
        return None;
    }
    let n = positives.len().min(negatives.len());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let drawn: Vec<f64> = index::sample(&mut rng, negatives.len(), n)
        .into_iter()
        .map(|j| negatives[j] as f64)
        .collect();
    let pos: Vec<f64> = positives.iter().map(|&s| s as f64).collect();
    pairwise_auc(&pos, &drawn)
}

/// Microsoft Recommenders' `auc`: scikit-learn's `roc_auc_score(labels, scores)` over all
/// rows at once. Labels must be 0 or 1 and both must occur; scores must be finite.
pub fn global_auc(labels: &[f64], scores: &[f64]) -> Result<f64, MetricsError> {
    if labels.len() != scores.len() {
        return Err(MetricsError::Length {
            what: "scores",
            got: scores.len(),
            expected: labels.len(),
        });
    }
    if labels.is_empty() {
        return Err(MetricsError::EmptyTruth);
    }
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for (j, (&l, &s)) in labels.iter().zip(scores).enumerate() {
        if !s.is_finite() {
            return Err(MetricsError::NonFiniteScore {
                user: None,
                item: j as u32,
                value: s as f32,
            });
        }
        if l == 1.0 {
            pos.push(s);
        } else if l == 0.0 {
            neg.push(s);
        } else {
            return Err(MetricsError::Param {
                name: "label",
                value: l.to_string(),
                allowed: "0 or 1",
            });
        }
    }
    pairwise_auc(&pos, &neg).ok_or(MetricsError::Param {
        name: "labels",
        value: format!("{} positive, {} negative", pos.len(), neg.len()),
        allowed: "at least one of each (AUC is undefined otherwise)",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force over all pairs.
    fn brute(pos: &[f64], neg: &[f64]) -> f64 {
        let mut w = 0.0;
        for &p in pos {
            for &n in neg {
                w += if p > n {
                    1.0
                } else if p == n {
                    0.5
                } else {
                    0.0
                };
            }
        }
        w / (pos.len() * neg.len()) as f64
    }

    #[test]
    fn pairwise_matches_brute_force_with_ties() {
        let pos = [3.0, 1.0, 2.0, 2.0, 5.0];
        let neg = [2.0, 0.0, 2.0, 4.0, 1.0, 1.0];
        assert!((pairwise_auc(&pos, &neg).unwrap() - brute(&pos, &neg)).abs() < 1e-15);
        assert_eq!(pairwise_auc(&[1.0], &[]), None);
    }

    #[test]
    fn exact_user_auc_hand_computed() {
        // Positives 0.9 and 0.2; negatives 0.5 and 0.2: (1 + 1 + 0 + 0.5) / 4.
        let a = exact_user_auc(&[0.9, 0.5, 0.2, 0.2], &[true, false, true, false]).unwrap();
        assert_eq!(a, 0.625);
    }

    #[test]
    fn sampled_is_seeded_and_uses_n_negatives() {
        let pos = [1.0, 2.0];
        let neg: Vec<f32> = (0..100).map(|j| j as f32 / 10.0).collect();
        let a = sampled_user_auc(&pos, &neg, 7).unwrap();
        assert_eq!(a, sampled_user_auc(&pos, &neg, 7).unwrap());
        // With N = 2 of 2 pairs each, values are multiples of 1/4.
        assert_eq!((a * 4.0).fract(), 0.0);
        // Fewer negatives than positives: all of them.
        assert_eq!(sampled_user_auc(&[5.0, 6.0], &[1.0], 1), Some(1.0));
    }

    #[test]
    fn global_auc_checks_labels() {
        assert_eq!(
            global_auc(&[1.0, 0.0, 1.0], &[0.8, 0.3, 0.3]).unwrap(),
            0.75
        );
        assert!(global_auc(&[1.0, 5.0], &[0.1, 0.2]).is_err());
        assert!(global_auc(&[1.0, 1.0], &[0.1, 0.2]).is_err());
        assert!(global_auc(&[1.0, 0.0], &[f64::NAN, 0.2]).is_err());
        assert!(matches!(
            global_auc(&[], &[]),
            Err(MetricsError::EmptyTruth)
        ));
    }
}
