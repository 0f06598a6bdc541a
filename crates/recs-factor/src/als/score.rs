//! Scoring: x_u · y_i for a known user; for a new user, their factors solved exactly against
//! the item factors first (implicit's `recalculate_user`: the fold-in).

use recs_core::{FoldIn, ModelError, RowSolver, ScoreError, Scorer};

use super::kernels::{Fixed, Half, Scratch, gram, scores_into, solve_rows};
use super::model::Als;
use super::params::{AlsSolver, RegScaling};
use crate::common::{check_len, score_checks};

impl Als {
    /// The factors of a user who interacted with `items` with the values `values` (one
    /// each; confidence α·value), solved exactly against the fixed item factors: implicit's
    /// `recalculate_user`. Repeated items count once (the last value).
    pub fn recalculate_user(&self, items: &[u32], values: &[f32]) -> Result<Vec<f32>, ModelError> {
        let k = self.params.factors;
        let gram = self
            .item_gram
            .get_or_init(|| gram(&self.item_factors, k, self.params.reg as f32).0);
        self.solve_against(
            &self.item_factors,
            gram,
            self.n_items,
            "item",
            items,
            values,
        )
    }

    /// The factors of an item that `users` interacted with, with `values`, solved exactly
    /// against the fixed user factors: ALS's item half step for one item.
    pub fn recalculate_item(&self, users: &[u32], values: &[f32]) -> Result<Vec<f32>, ModelError> {
        let k = self.params.factors;
        let gram = self
            .user_gram
            .get_or_init(|| gram(&self.user_factors, k, self.params.reg as f32).0);
        self.solve_against(
            &self.user_factors,
            gram,
            self.n_users,
            "user",
            users,
            values,
        )
    }

    /// One row's exact solve against `fixed` (`n_fixed × k`, Gram `gram`): the other
    /// side's indices `idx` with their values.
    fn solve_against(
        &self,
        fixed: &[f32],
        gram: &[f32],
        n_fixed: usize,
        what: &str,
        idx: &[u32],
        values: &[f32],
    ) -> Result<Vec<f32>, ModelError> {
        let k = self.params.factors;
        if idx.len() != values.len() {
            return Err(ModelError::Data(format!(
                "{} {what}s but {} values",
                idx.len(),
                values.len()
            )));
        }
        if let Some(&bad) = idx.iter().find(|&&i| i as usize >= n_fixed) {
            return Err(ModelError::Data(format!(
                "{what} index {bad} is out of range: the model knows {n_fixed} {what}s"
            )));
        }
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(ModelError::Data(format!("value {v} is not finite")));
        }
        let mut row: Vec<(u32, f32)> = idx.iter().copied().zip(values.iter().copied()).collect();
        // sort by index, keeping the last value of a repeated one
        row.reverse();
        row.sort_by_key(|&(i, _)| i);
        row.dedup_by_key(|&mut (i, _)| i);
        let (idx, vals): (Vec<u32>, Vec<f32>) = row.into_iter().unzip();
        let indptr = [0, idx.len()];
        let half = Half {
            indptr: &indptr,
            indices: &idx,
            values: &vals,
            alpha: self.params.alpha as f32,
            fixed: Fixed::Whole(fixed),
            gram,
            k,
            solver: AlsSolver::Cholesky,
            cg_steps: 0,
            count_reg: (self.params.reg_scaling == RegScaling::Count)
                .then_some(self.params.reg as f32),
        };
        let mut x = vec![0f32; k];
        solve_rows(&half, 0, &mut x, &mut Scratch::new(k, AlsSolver::Cholesky)).map_err(|_| {
            ModelError::Data(format!(
                "the {what} side's least-squares system is not positive definite (the model's reg is {})",
                self.params.reg
            ))
        })?;
        Ok(x)
    }

    /// Writes `x · y_i` for every item into `out`.
    pub(super) fn scores_for(&self, x: &[f32], out: &mut [f32]) {
        scores_into(x, &self.item_factors, out);
    }
}

impl Scorer for Als {
    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        score_checks(user, out, self.n_users, self.n_items)?;
        let k = self.params.factors;
        self.scores_for(&self.user_factors[user as usize * k..][..k], out);
        Ok(())
    }
}

impl FoldIn for Als {
    fn score_items(&self, items: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        self.score_rated(items, &vec![1.0; items.len()], None, out)
    }

    /// The user's factors solved with each item's value as its confidence (α·value), as
    /// in training; times are not used.
    fn score_rated(
        &self,
        items: &[u32],
        values: &[f32],
        timestamps: Option<&[i64]>,
        out: &mut [f32],
    ) -> Result<(), ScoreError> {
        recs_core::model::check_rated(items, values, timestamps)?;
        check_len(out, self.n_items())?;
        let x = self
            .recalculate_user(items, values)
            .map_err(|e| ScoreError::Model(e.to_string()))?;
        self.scores_for(&x, out);
        Ok(())
    }
}

/// ALS's half steps for one row: a user against the item factors, an item against the user
/// factors, each solved exactly (Cholesky).
impl RowSolver for Als {
    fn dim(&self) -> usize {
        self.params.factors
    }

    fn solve_user(&self, items: &[u32], values: &[f32], out: &mut [f32]) -> Result<(), ScoreError> {
        solved_into(self.recalculate_user(items, values), out)
    }

    fn solve_item(&self, users: &[u32], values: &[f32], out: &mut [f32]) -> Result<(), ScoreError> {
        solved_into(self.recalculate_item(users, values), out)
    }
}

/// Copies a solved row into `out` (its length checked), errors as scoring errors.
fn solved_into(x: Result<Vec<f32>, ModelError>, out: &mut [f32]) -> Result<(), ScoreError> {
    let x = x.map_err(|e| ScoreError::Model(e.to_string()))?;
    if out.len() != x.len() {
        return Err(ScoreError::BufferLength {
            got: out.len(),
            expected: x.len(),
        });
    }
    out.copy_from_slice(&x);
    Ok(())
}
