//! Fold-in for biased MF: a new user's bias and factors solved by least squares on their
//! ratings, item biases and factors held fixed (the problem SGD minimises for one user, in
//! closed form): with `f_i = [q_i, 1]` and `t_i = r_i − μ − b_i`,
//! `[p_u, b_u] = (Σ f_i f_iᵀ + λI)⁻¹ Σ f_i t_i`, λ the model's `reg`. Items it never saw in
//! training carry no information and are skipped. Without ratings (`score_items`), each item
//! counts as rated at its own expected rating `μ + b_i`: the user is the average user, and
//! the scores are μ + b_i.

use recs_core::{FoldIn, ScoreError, Scorer};

use super::model::BiasedMf;
use crate::common::{check_len, dot};

impl BiasedMf {
    /// The solved `[p_u, b_u]` of a user with `ratings` of `items`.
    fn fold_user(&self, items: &[u32], ratings: &[f32]) -> Result<Vec<f32>, ScoreError> {
        let k = self.params.factors;
        let d = k + 1;
        let mut a = vec![0f64; d * d];
        let mut rhs = vec![0f64; d];
        for (&i, &r) in items.iter().zip(ratings) {
            if i as usize >= self.n_items {
                return Err(ScoreError::Model(format!(
                    "item index {i} is out of range: the model knows {} items",
                    self.n_items
                )));
            }
            if self.item_count[i as usize] <= 0.0 {
                continue;
            }
            let q = &self.item_factors[i as usize * k..(i as usize + 1) * k];
            let f = |j: usize| if j < k { f64::from(q[j]) } else { 1.0 };
            let t =
                f64::from(r) - f64::from(self.global_mean) - f64::from(self.item_bias[i as usize]);
            for r_ in 0..d {
                rhs[r_] += f(r_) * t;
                for c in 0..d {
                    a[r_ * d + c] += f(r_) * f(c);
                }
            }
        }
        let reg = self.params.reg.max(1e-6);
        for j in 0..d {
            a[j * d + j] += reg;
        }
        Ok(cholesky_solve(&mut a, &mut rhs, d)
            .into_iter()
            .map(|v| v as f32)
            .collect())
    }
}

/// Solves `a x = b` for a symmetric positive definite `a` (`d × d`, overwritten), by
/// Cholesky; `a` is positive definite here (a Gram matrix plus λI, λ > 0).
fn cholesky_solve(a: &mut [f64], b: &mut [f64], d: usize) -> Vec<f64> {
    for j in 0..d {
        let mut s = a[j * d + j];
        for p in 0..j {
            s -= a[j * d + p] * a[j * d + p];
        }
        let l = s.max(f64::MIN_POSITIVE).sqrt();
        a[j * d + j] = l;
        for i in j + 1..d {
            let mut s = a[i * d + j];
            for p in 0..j {
                s -= a[i * d + p] * a[j * d + p];
            }
            a[i * d + j] = s / l;
        }
    }
    for i in 0..d {
        let mut s = b[i];
        for p in 0..i {
            s -= a[i * d + p] * b[p];
        }
        b[i] = s / a[i * d + i];
    }
    for i in (0..d).rev() {
        let mut s = b[i];
        for p in i + 1..d {
            s -= a[p * d + i] * b[p];
        }
        b[i] = s / a[i * d + i];
    }
    b.to_vec()
}

impl FoldIn for BiasedMf {
    fn score_items(&self, items: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        let expected: Vec<f32> = items
            .iter()
            .map(|&i| self.global_mean + self.item_bias.get(i as usize).copied().unwrap_or(0.0))
            .collect();
        self.score_rated(items, &expected, None, out)
    }

    /// Unclipped estimates for the solved user, as `score_user` gives a known one.
    fn score_rated(
        &self,
        items: &[u32],
        values: &[f32],
        timestamps: Option<&[i64]>,
        out: &mut [f32],
    ) -> Result<(), ScoreError> {
        recs_core::model::check_rated(items, values, timestamps)?;
        check_len(out, self.n_items())?;
        let k = self.params.factors;
        let z = self.fold_user(items, values)?;
        let (p, bu) = (&z[..k], z[k]);
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.global_mean + bu;
            if self.item_count[i] > 0.0 {
                *o += self.item_bias[i] + dot(p, &self.item_factors[i * k..(i + 1) * k]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use recs_core::{FoldIn, NoProgress, Recommender, Scorer, TrainData};
    use recs_sparse::{CsrMatrix, DuplicatePolicy};

    use super::super::{BiasedMf, MfParams};

    #[test]
    fn a_folded_in_user_is_close_to_the_trained_one() {
        // Ratings with a user and an item effect; user 0 is folded in from their own row.
        let (mut u, mut i, mut v) = (Vec::new(), Vec::new(), Vec::new());
        for user in 0..30u32 {
            for item in 0..12u32 {
                if (user * 7 + item) % 3 != 0 {
                    u.push(user);
                    i.push(item);
                    v.push(1.0 + ((user % 3) + (item % 4)) as f32 * 0.6);
                }
            }
        }
        let x = CsrMatrix::from_triplets(30, 12, &u, &i, &v, DuplicatePolicy::KeepLast).unwrap();
        let p = MfParams {
            factors: 4,
            epochs: 60,
            ..MfParams::default()
        };
        let m = BiasedMf::fit(&p, &TrainData::new(&x), &mut NoProgress).unwrap();
        let row = x.row(5);
        let mut known = vec![0.0; 12];
        let mut folded = vec![0.0; 12];
        m.score_user(5, &mut known).unwrap();
        m.score_rated(row.indices, row.values, None, &mut folded)
            .unwrap();
        let err: f32 = known
            .iter()
            .zip(&folded)
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / 12.0;
        assert!(err < 0.3, "mean gap {err}: {known:?} vs {folded:?}");
        // Without ratings, the average user: μ + b_i.
        m.score_items(row.indices, &mut folded).unwrap();
        for (j, f) in folded.iter().enumerate() {
            assert!((f - (m.global_mean() + m.item_bias()[j])).abs() < 1e-4);
        }
    }
}
