//! Baselines: user and item biases fitted by alternating least squares (Surprise's
//! `BaselineOnly`), and the global mean.

use recs_core::modelfile::{ModelReader, ModelWriter};
use std::path::Path;
use std::time::Instant;

use recs_core::ModelParams as _;
use recs_core::Progress;
use recs_core::{RatingPredictor, ScoreError, Scorer};
use recs_sparse::CsrMatrix;
use serde::{Deserialize, Serialize};

use crate::common::{check_user, excluded_items, report_epoch, top_k};
use crate::{ModelError, Triples, io};

/// Hyper-parameters of [`BaselineOnly`]; the defaults are Surprise's ALS baseline defaults.
/// Missing fields take their defaults when deserialised; unknown fields are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BaselineParams {
    /// Alternating passes (default 10; 1..=100000).
    pub epochs: usize,
    /// Regularization of the user biases (default 15; ≥ 0 and finite).
    pub reg_u: f64,
    /// Regularization of the item biases (default 10; ≥ 0 and finite).
    pub reg_i: f64,
    /// Predictions are clipped to this range (default `None`: the training ratings' range).
    pub rating_range: Option<(f32, f32)>,
}

impl Default for BaselineParams {
    fn default() -> Self {
        Self {
            epochs: 10,
            reg_u: 15.0,
            reg_i: 10.0,
            rating_range: None,
        }
    }
}

/// r̂(u, i) = μ + b_u + b_i with biases fitted by ALS (Surprise's `BaselineOnly`).
///
/// Each epoch sets every b_i = Σ(r − μ − b_u) / (reg_i + n_i), then every
/// b_u = Σ(r − μ − b_i) / (reg_u + n_u). A user or item without training ratings has bias 0.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineOnly {
    params: BaselineParams,
    global_mean: f32,
    clip: (f32, f32),
    user_bias: Vec<f32>,
    item_bias: Vec<f32>,
}

impl BaselineOnly {
    /// Fits the biases, reporting every epoch to `progress` (the training MSE as `"loss"`).
    /// When `progress` returns [`Control::Stop`], fitting ends after that epoch and the model
    /// is returned as it is (its params then record the epochs actually run).
    ///
    /// Errors when the parameters are out of range or the loss stops being finite.
    pub fn fit(
        params: &BaselineParams,
        data: &Triples<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        let started = Instant::now();
        params.validate()?;
        let mu = data.mean();
        let (users, items, values) = (data.users(), data.items(), data.values());
        let (nu_c, ni_c) = (data.user_counts(), data.item_counts());
        let mut bu = vec![0f64; data.n_users()];
        let mut bi = vec![0f64; data.n_items()];
        let mut acc_i = vec![0f64; data.n_items()];
        let mut acc_u = vec![0f64; data.n_users()];
        let mut trained = 0;
        for epoch in 1..=params.epochs {
            let t0 = Instant::now();
            acc_i.iter_mut().for_each(|a| *a = 0.0);
            for ((&u, &i), &r) in users.iter().zip(items).zip(values) {
                acc_i[i as usize] += f64::from(r) - mu - bu[u as usize];
            }
            for ((b, a), &c) in bi.iter_mut().zip(&acc_i).zip(&ni_c) {
                *b = a / (params.reg_i + f64::from(c));
            }
            acc_u.iter_mut().for_each(|a| *a = 0.0);
            for ((&u, &i), &r) in users.iter().zip(items).zip(values) {
                acc_u[u as usize] += f64::from(r) - mu - bi[i as usize];
            }
            for ((b, a), &c) in bu.iter_mut().zip(&acc_u).zip(&nu_c) {
                *b = if c == 0 && params.reg_u == 0.0 {
                    0.0
                } else {
                    a / (params.reg_u + f64::from(c))
                };
            }
            for b in bi.iter_mut().chain(bu.iter_mut()) {
                if b.is_nan() {
                    *b = 0.0; // 0 / 0: no rating and no regularization
                }
            }
            let sse: f64 = users
                .iter()
                .zip(items)
                .zip(values)
                .map(|((&u, &i), &r)| {
                    let e = f64::from(r) - mu - bu[u as usize] - bi[i as usize];
                    e * e
                })
                .sum();
            let loss = sse / data.len() as f64;
            if !loss.is_finite() {
                return Err(ModelError::Diverged {
                    epoch,
                    what: "loss",
                    value: loss,
                });
            }
            trained = epoch;
            let validation = None;
            if report_epoch(
                progress,
                (epoch, params.epochs),
                loss,
                validation,
                (t0, started),
            ) {
                break;
            }
        }
        Ok(Self {
            params: BaselineParams {
                epochs: trained,
                ..params.clone()
            },
            global_mean: mu as f32,
            clip: params.rating_range.unwrap_or_else(|| data.range()),
            user_bias: bu.into_iter().map(|b| b as f32).collect(),
            item_bias: bi.into_iter().map(|b| b as f32).collect(),
        })
    }

    /// The parameters the model was fitted with.
    pub fn params(&self) -> &BaselineParams {
        &self.params
    }

    /// The training ratings' mean μ.
    pub fn global_mean(&self) -> f32 {
        self.global_mean
    }

    /// User biases (length `n_users`).
    pub fn user_bias(&self) -> &[f32] {
        &self.user_bias
    }

    /// Item biases (length `n_items`).
    pub fn item_bias(&self) -> &[f32] {
        &self.item_bias
    }

    /// The unclipped estimate μ + b_u + b_i (an out-of-range index contributes 0).
    pub fn estimate(&self, user: u32, item: u32) -> f32 {
        self.global_mean
            + self.user_bias.get(user as usize).copied().unwrap_or(0.0)
            + self.item_bias.get(item as usize).copied().unwrap_or(0.0)
    }

    /// The `k` items of largest b_i for `user`, best first, leaving out the user's row of
    /// `exclude`.
    pub fn recommend(
        &self,
        user: u32,
        k: usize,
        exclude: Option<&CsrMatrix>,
    ) -> Result<Vec<(u32, f32)>, ModelError> {
        check_user(user, self.user_bias.len())?;
        let s: Vec<f32> = (0..self.item_bias.len())
            .map(|i| self.estimate(user, i as u32))
            .collect();
        Ok(top_k(&s, k, excluded_items(exclude, user)))
    }

    /// Writes the model alone to `path`, atomically (the registry's writer adds the
    /// training catalogue and provenance).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        io::save_file(path, "bias", &self.params(), |w| self.write_into(w))
    }

    /// Reads a model of this kind from `path`, verified; a corrupt or foreign file is a
    /// [`ModelError::File`] error naming the file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Self::read_from(&io::open(path, "bias")?)
    }

    /// Adds the model's tensors and facts to `w`.
    pub(crate) fn write_into<'a>(&'a self, w: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        let meta = serde_json::json!({
            "global_mean": self.global_mean,
            "clip": [self.clip.0, self.clip.1],
        });
        io::save(
            w,
            meta,
            &[
                ("user_bias", vec![self.user_bias.len()], &self.user_bias),
                ("item_bias", vec![self.item_bias.len()], &self.item_bias),
            ],
        )
    }

    /// Rebuilds the model from a verified file of its kind.
    pub(crate) fn read_from(file: &ModelReader) -> Result<Self, ModelError> {
        let f = io::load(file);
        let params: BaselineParams = f.params()?;
        let nu = f.meta_shape_len("user_bias")?;
        let ni = f.meta_shape_len("item_bias")?;
        Ok(Self {
            global_mean: f.meta_f64("global_mean")? as f32,
            clip: f.meta_clip()?,
            user_bias: f.take("user_bias", &[nu])?,
            item_bias: f.take("item_bias", &[ni])?,
            params,
        })
    }
}

impl RatingPredictor for BaselineOnly {
    fn predict(&self, user: u32, item: u32) -> f32 {
        self.estimate(user, item).clamp(self.clip.0, self.clip.1)
    }
}

impl Scorer for BaselineOnly {
    fn n_users(&self) -> usize {
        self.user_bias.len()
    }

    fn n_items(&self) -> usize {
        self.item_bias.len()
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        score_checks(user, out, self.user_bias.len(), self.item_bias.len())?;
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.estimate(user, i as u32);
        }
        Ok(())
    }
}

pub(crate) fn score_checks(
    user: u32,
    out: &[f32],
    n_users: usize,
    n_items: usize,
) -> Result<(), ScoreError> {
    if user as usize >= n_users {
        return Err(ScoreError::UnknownUser { user, n_users });
    }
    if out.len() != n_items {
        return Err(ScoreError::BufferLength {
            got: out.len(),
            expected: n_items,
        });
    }
    Ok(())
}

/// Predicts the training ratings' mean for every pair; ranks nothing above anything.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalMean {
    mean: f32,
    n_users: usize,
    n_items: usize,
}

impl GlobalMean {
    /// The mean of `data`'s values. The one model without parameters or epochs, so its `fit`
    /// takes only the data (and cannot fail: [`Triples`] always holds a finite value).
    pub fn fit(data: &Triples<'_>) -> Self {
        Self {
            mean: data.mean() as f32,
            n_users: data.n_users(),
            n_items: data.n_items(),
        }
    }

    /// The mean.
    pub fn mean(&self) -> f32 {
        self.mean
    }

    /// The first `k` items not in the user's row of `exclude`, in index order: every item
    /// scores μ, so this only exists so every model answers the same calls.
    pub fn recommend(
        &self,
        user: u32,
        k: usize,
        exclude: Option<&CsrMatrix>,
    ) -> Result<Vec<(u32, f32)>, ModelError> {
        check_user(user, self.n_users)?;
        Ok(top_k(
            &vec![self.mean; self.n_items],
            k,
            excluded_items(exclude, user),
        ))
    }

    /// Writes the model alone to `path`, atomically (the registry's writer adds the
    /// training catalogue and provenance).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        io::save_file(path, "global-mean", &crate::GlobalMeanParams {}, |w| {
            self.write_into(w)
        })
    }

    /// Reads a model of this kind from `path`, verified; a corrupt or foreign file is a
    /// [`ModelError::File`] error naming the file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Self::read_from(&io::open(path, "global-mean")?)
    }

    /// Adds the model's facts to `w`.
    pub(crate) fn write_into(&self, w: &mut ModelWriter<'_>) -> Result<(), ModelError> {
        let meta = serde_json::json!({
            "mean": self.mean,
            "n_users": self.n_users,
            "n_items": self.n_items,
        });
        io::save(w, meta, &[])
    }

    /// Rebuilds the model from a verified file of its kind.
    pub(crate) fn read_from(file: &ModelReader) -> Result<Self, ModelError> {
        let f = io::load(file);
        let mean = f.meta_f64("mean")? as f32;
        if !mean.is_finite() {
            return Err(f.bad("metadata `mean` is not finite"));
        }
        Ok(Self {
            mean,
            n_users: f.meta_size("n_users")?,
            n_items: f.meta_size("n_items")?,
        })
    }
}

impl RatingPredictor for GlobalMean {
    fn predict(&self, _user: u32, _item: u32) -> f32 {
        self.mean
    }
}

impl Scorer for GlobalMean {
    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        score_checks(user, out, self.n_users, self.n_items)?;
        out.fill(self.mean);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn als_one_epoch_by_hand() {
        // users 0,0,1 ; items 0,1,0 ; ratings 5,3,4 ; mu = 4
        let (u, i, r) = ([0u32, 0, 1], [0u32, 1, 0], [5f32, 3.0, 4.0]);
        let d = Triples::new(&u, &i, &r, 2, 2).unwrap();
        let p = BaselineParams {
            epochs: 1,
            reg_u: 1.0,
            reg_i: 1.0,
            rating_range: None,
        };
        let m = BaselineOnly::fit(&p, &d, &mut recs_core::NoProgress).unwrap();
        // b_i0 = (1 + 0) / 3 = 1/3 ; b_i1 = -1 / 2
        assert!((m.item_bias()[0] - 1.0 / 3.0).abs() < 1e-6);
        assert!((m.item_bias()[1] + 0.5).abs() < 1e-6);
        // b_u0 = ((1 - 1/3) + (-1 + 1/2)) / 3 = (1/6)/3 ; b_u1 = (0 - 1/3) / 2
        assert!((m.user_bias()[0] - 1.0 / 18.0).abs() < 1e-6);
        assert!((m.user_bias()[1] + 1.0 / 6.0).abs() < 1e-6);
        assert!(
            BaselineParams { reg_u: -1.0, ..p }
                .validate()
                .unwrap_err()
                .to_string()
                .contains("reg_u")
        );
    }
}
