//! Biased matrix factorization trained by SGD (Surprise's `SVD`).
//!
//! r̂(u, i) = μ + b_u + b_i + p_u · q_i, fitted by stochastic gradient descent on the
//! squared error with L2 regularization, in Surprise's update order: per rating, the error
//! with the current parameters, then b_u, b_i, then every factor pair (p_uf, q_if) from
//! their values before the update.

use recs_core::modelfile::{ModelReader, ModelWriter};
use std::path::Path;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use recs_core::ModelParams as _;
use recs_core::Progress;
use recs_core::params::ParamError;
use recs_core::{RatingPredictor, ScoreError, Scorer};
use recs_sparse::CsrMatrix;
use serde::{Deserialize, Serialize};

use crate::common::{check_user, dot, excluded_items, report_epoch, similar_by_cosine, top_k};
use crate::{ModelError, Triples, io};

/// Hyper-parameters of [`BiasedMf`]; the defaults are Surprise's `SVD` defaults. Missing
/// fields take their defaults when deserialised; unknown fields are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MfParams {
    /// Latent factors per user and item (default 100; 1..=4096).
    pub factors: usize,
    /// Passes over the ratings (default 20; 1..=100000).
    pub epochs: usize,
    /// SGD learning rate of biases and factors (default 0.005; in (0, 1]). Training uses it
    /// as an `f32`.
    pub learning_rate: f64,
    /// L2 regularization of biases and factors (default 0.02; in [0, 100]). Training uses it
    /// as an `f32`.
    pub reg: f64,
    /// Mean of the normal the factors start from (default 0; finite).
    pub init_mean: f32,
    /// Standard deviation of the normal the factors start from (default 0.1; ≥ 0, finite).
    pub init_std: f32,
    /// Visit the ratings in a fresh seeded random order each epoch (default true); false
    /// visits them in input order every epoch, as Surprise does.
    pub shuffle: bool,
    /// Seed of the initialization and the shuffles (default 42).
    pub seed: u64,
    /// Predictions are clipped to this range (default `None`: the training ratings' min and
    /// max, which is Surprise's rating scale on MovieLens).
    pub rating_range: Option<(f32, f32)>,
}

impl Default for MfParams {
    fn default() -> Self {
        Self {
            factors: 100,
            epochs: 20,
            learning_rate: 0.005,
            reg: 0.02,
            init_mean: 0.0,
            init_std: 0.1,
            shuffle: true,
            seed: 42,
            rating_range: None,
        }
    }
}

/// A trained biased matrix factorization model.
#[derive(Debug, Clone, PartialEq)]
pub struct BiasedMf {
    params: MfParams,
    n_users: usize,
    n_items: usize,
    global_mean: f32,
    clip: (f32, f32),
    user_bias: Vec<f32>,
    item_bias: Vec<f32>,
    user_factors: Vec<f32>,
    item_factors: Vec<f32>,
    user_count: Vec<f32>,
    item_count: Vec<f32>,
}

/// One SGD update on rating `r` with Surprise's order; returns the error before the update.
///
/// `bu`, `bi` are the biases and `pu`, `qi` the factor rows of the rated pair.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgd_step(
    mu: f32,
    r: f32,
    bu: &mut f32,
    bi: &mut f32,
    pu: &mut [f32],
    qi: &mut [f32],
    lr: f32,
    reg: f32,
) -> f32 {
    let err = r - (mu + *bu + *bi + dot(pu, qi));
    *bu += lr * (err - reg * *bu);
    *bi += lr * (err - reg * *bi);
    for (p, q) in pu.iter_mut().zip(qi.iter_mut()) {
        let (pf, qf) = (*p, *q);
        *p += lr * (err * qf - reg * pf);
        *q += lr * (err * pf - reg * qf);
    }
    err
}

/// One SGD pass over `ratings` in their order.
struct Epoch<'a> {
    ratings: &'a [(u32, u32, f32)],
    k: usize,
    mu: f32,
    lr: f32,
    reg: f32,
}

impl Epoch<'_> {
    /// The pass, returning the sum of squared errors; `#[inline(always)]` so that it is
    /// compiled inside each SIMD build of [`mf_epoch`].
    #[inline(always)]
    fn body(&self, bu: &mut [f32], bi: &mut [f32], pu: &mut [f32], qi: &mut [f32]) -> f64 {
        let k = self.k;
        let mut sse = 0f64;
        for &(u, i, r) in self.ratings {
            let (u, i) = (u as usize, i as usize);
            let err = sgd_step(
                self.mu,
                r,
                &mut bu[u],
                &mut bi[i],
                &mut pu[u * k..(u + 1) * k],
                &mut qi[i * k..(i + 1) * k],
                self.lr,
                self.reg,
            );
            sse += f64::from(err * err);
        }
        sse
    }
}

recs_core::multiversion! {
    /// [`Epoch::body`] at the widest SIMD level [`recs_core::simd::level`] allows (no fused
    /// multiply-adds: every level computes the same numbers).
    fn mf_epoch(
        ep: &Epoch<'_>,
        bu: &mut [f32],
        bi: &mut [f32],
        pu: &mut [f32],
        qi: &mut [f32],
    ) -> f64 {
        ep.body(bu, bi, pu, qi)
    }
}

impl BiasedMf {
    /// Trains on `data`, reporting every epoch to `progress` (the epoch's mean squared error
    /// over its updates as `"loss"`). When `progress` returns [`Control::Stop`], training
    /// ends after that epoch and the model is returned as it is (its
    /// [`params`](BiasedMf::params) then record the epochs actually trained).
    ///
    /// Errors when the parameters are out of range or the loss stops being finite.
    pub fn fit(
        params: &MfParams,
        data: &Triples<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        let started = Instant::now();
        params.validate()?;
        let (nu, ni, k) = (data.n_users(), data.n_items(), params.factors);
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let normal = Normal::new(params.init_mean, params.init_std)
            .map_err(|_| ParamError::new("init_std", params.init_std, ">= 0 and finite"))?;
        let mut pu: Vec<f32> = (0..nu * k).map(|_| normal.sample(&mut rng)).collect();
        let mut qi: Vec<f32> = (0..ni * k).map(|_| normal.sample(&mut rng)).collect();
        let mut bu = vec![0f32; nu];
        let mut bi = vec![0f32; ni];
        let mu = data.mean() as f32;
        let (users, items, values) = (data.users(), data.items(), data.values());
        // The ratings are shuffled in place (one contiguous array) rather than through an
        // index permutation: the same sequence of orders, read sequentially.
        let mut ratings: Vec<(u32, u32, f32)> = users
            .iter()
            .zip(items)
            .zip(values)
            .map(|((&u, &i), &r)| (u, i, r))
            .collect();
        // The loop runs in f32; the one cast keeps the values the f32 parameters had.
        let (lr, reg) = (params.learning_rate as f32, params.reg as f32);
        let mut trained = 0;
        for epoch in 1..=params.epochs {
            let t0 = Instant::now();
            if params.shuffle {
                ratings.shuffle(&mut rng);
            }
            let ep = Epoch {
                ratings: &ratings,
                k,
                mu,
                lr,
                reg,
            };
            let sse = mf_epoch(&ep, &mut bu, &mut bi, &mut pu, &mut qi);
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
            params: MfParams {
                epochs: trained,
                ..params.clone()
            },
            n_users: nu,
            n_items: ni,
            global_mean: mu,
            clip: params.rating_range.unwrap_or_else(|| data.range()),
            user_bias: bu,
            item_bias: bi,
            user_factors: pu,
            item_factors: qi,
            user_count: data.user_counts().into_iter().map(|c| c as f32).collect(),
            item_count: data.item_counts().into_iter().map(|c| c as f32).collect(),
        })
    }

    /// The parameters the model was trained with.
    pub fn params(&self) -> &MfParams {
        &self.params
    }

    /// The training ratings' mean μ.
    pub fn global_mean(&self) -> f32 {
        self.global_mean
    }

    /// User biases b_u (length `n_users`).
    pub fn user_bias(&self) -> &[f32] {
        &self.user_bias
    }

    /// Item biases b_i (length `n_items`).
    pub fn item_bias(&self) -> &[f32] {
        &self.item_bias
    }

    /// User factors, row-major `n_users × factors`.
    pub fn user_factors(&self) -> &[f32] {
        &self.user_factors
    }

    /// Item factors, row-major `n_items × factors`.
    pub fn item_factors(&self) -> &[f32] {
        &self.item_factors
    }

    fn known_user(&self, u: u32) -> bool {
        (u as usize) < self.n_users && self.user_count[u as usize] > 0.0
    }

    fn known_item(&self, i: u32) -> bool {
        (i as usize) < self.n_items && self.item_count[i as usize] > 0.0
    }

    /// The unclipped estimate: μ, plus b_u for a user seen in training, plus b_i for an item
    /// seen in training, plus p_u · q_i when both were.
    pub fn estimate(&self, user: u32, item: u32) -> f32 {
        let k = self.params.factors;
        let (ku, ki) = (self.known_user(user), self.known_item(item));
        let (u, i) = (user as usize, item as usize);
        let mut est = self.global_mean;
        if ku {
            est += self.user_bias[u];
        }
        if ki {
            est += self.item_bias[i];
        }
        if ku && ki {
            est += dot(
                &self.user_factors[u * k..(u + 1) * k],
                &self.item_factors[i * k..(i + 1) * k],
            );
        }
        est
    }

    /// The `k` highest-scoring items for `user`, best first, leaving out the items of the
    /// user's row in `exclude` (typically the training matrix).
    pub fn recommend(
        &self,
        user: u32,
        k: usize,
        exclude: Option<&CsrMatrix>,
    ) -> Result<Vec<(u32, f32)>, ModelError> {
        check_user(user, self.n_users)?;
        let mut s = vec![0f32; self.n_items];
        self.fill_scores(user, &mut s);
        Ok(top_k(&s, k, excluded_items(exclude, user)))
    }

    /// The `k` items whose factor vectors have the largest cosine with `item`'s.
    pub fn similar_items(&self, item: u32, k: usize) -> Result<Vec<(u32, f32)>, ModelError> {
        similar_by_cosine(&self.item_factors, self.params.factors, item, k)
    }

    fn fill_scores(&self, user: u32, out: &mut [f32]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.estimate(user, i as u32);
        }
    }

    /// Writes the model alone to `path`, atomically (the registry's writer adds the
    /// training catalogue and provenance).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        io::save_file(path, "mf", &self.params(), |w| self.write_into(w))
    }

    /// Reads a model of this kind from `path`, verified; a corrupt or foreign file is a
    /// [`ModelError::File`] error naming the file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Self::read_from(&io::open(path, "mf")?)
    }

    /// Adds the model's tensors and facts to `w`.
    pub(crate) fn write_into<'a>(&'a self, w: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        let k = self.params.factors;
        let meta = serde_json::json!({
            "n_users": self.n_users,
            "n_items": self.n_items,
            "global_mean": self.global_mean,
            "clip": [self.clip.0, self.clip.1],
        });
        io::save(
            w,
            meta,
            &[
                ("user_bias", vec![self.n_users], &self.user_bias),
                ("item_bias", vec![self.n_items], &self.item_bias),
                ("user_factors", vec![self.n_users, k], &self.user_factors),
                ("item_factors", vec![self.n_items, k], &self.item_factors),
                ("user_count", vec![self.n_users], &self.user_count),
                ("item_count", vec![self.n_items], &self.item_count),
            ],
        )
    }

    /// Rebuilds the model from a verified file of its kind.
    pub(crate) fn read_from(file: &ModelReader) -> Result<Self, ModelError> {
        let f = io::load(file);
        let params: MfParams = f.params()?;
        params.validate().map_err(|e| f.bad(e.to_string()))?;
        let nu = f.meta_size("n_users")?;
        let ni = f.meta_size("n_items")?;
        let mu = f.meta_f64("global_mean")? as f32;
        let clip = f.meta_clip()?;
        let k = params.factors;
        Ok(Self {
            user_bias: f.take("user_bias", &[nu])?,
            item_bias: f.take("item_bias", &[ni])?,
            user_factors: f.take("user_factors", &[nu, k])?,
            item_factors: f.take("item_factors", &[ni, k])?,
            user_count: f.take("user_count", &[nu])?,
            item_count: f.take("item_count", &[ni])?,
            params,
            n_users: nu,
            n_items: ni,
            global_mean: mu,
            clip,
        })
    }
}

impl RatingPredictor for BiasedMf {
    /// The estimate clipped to the rating range; unknown users or items fall back to μ plus
    /// the known biases.
    fn predict(&self, user: u32, item: u32) -> f32 {
        self.estimate(user, item).clamp(self.clip.0, self.clip.1)
    }
}

impl Scorer for BiasedMf {
    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    /// Unclipped estimates (clipping would tie the best items).
    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        if user as usize >= self.n_users {
            return Err(ScoreError::UnknownUser {
                user,
                n_users: self.n_users,
            });
        }
        if out.len() != self.n_items {
            return Err(ScoreError::BufferLength {
                got: out.len(),
                expected: self.n_items,
            });
        }
        self.fill_scores(user, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_step_matches_hand_computation() {
        // mu 3, r 4, bu 0.1, bi -0.2, p = [0.5, -1], q = [0.2, 0.3], lr 0.1, reg 0.5
        let (mut bu, mut bi) = (0.1f32, -0.2f32);
        let mut p = [0.5f32, -1.0];
        let mut q = [0.2f32, 0.3];
        let err = sgd_step(3.0, 4.0, &mut bu, &mut bi, &mut p, &mut q, 0.1, 0.5);
        // dot = 0.1 - 0.3 = -0.2; est = 3 + 0.1 - 0.2 - 0.2 = 2.7; err = 1.3
        assert!((err - 1.3).abs() < 1e-6);
        assert!((bu - (0.1 + 0.1 * (1.3 - 0.05))).abs() < 1e-6);
        assert!((bi - (-0.2 + 0.1 * (1.3 + 0.1))).abs() < 1e-6);
        // p0 = 0.5 + 0.1 (1.3·0.2 − 0.25) = 0.501; q0 = 0.2 + 0.1 (1.3·0.5 − 0.1) = 0.255
        assert!((p[0] - 0.501).abs() < 1e-6, "{}", p[0]);
        assert!((q[0] - 0.255).abs() < 1e-6, "{}", q[0]);
        // p1 = −1 + 0.1 (1.3·0.3 + 0.5) = −0.911; q1 = 0.3 + 0.1 (−1.3 − 0.15) = 0.155
        assert!((p[1] + 0.911).abs() < 1e-6, "{}", p[1]);
        assert!((q[1] - 0.155).abs() < 1e-6, "{}", q[1]);
    }

    #[test]
    fn validate_names_the_parameter() {
        let p = MfParams {
            learning_rate: 0.0,
            ..MfParams::default()
        };
        let e = p.validate().unwrap_err().to_string();
        assert!(e.contains("`learning_rate`") && e.contains("(0, 1]"), "{e}");
        let p = MfParams {
            factors: 0,
            ..MfParams::default()
        };
        assert_eq!(p.validate().unwrap_err().param, "factors");
        let p = MfParams {
            reg: f64::NAN,
            ..MfParams::default()
        };
        assert_eq!(p.validate().unwrap_err().param, "reg");
        let p = MfParams {
            rating_range: Some((5.0, 1.0)),
            ..MfParams::default()
        };
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("rating_range")
        );
        assert!(MfParams::default().validate().is_ok());
    }

    /// The step sizes were `f32` parameters: the `f64` ones must cast to exactly the same
    /// values, for the defaults and the settings the experiments use.
    #[test]
    fn f64_step_sizes_cast_to_the_former_f32_values() {
        let pairs: [(f64, f32); 8] = [
            (0.001, 0.001),
            (0.005, 0.005),
            (0.01, 0.01),
            (0.02, 0.02),
            (0.03, 0.03),
            (0.05, 0.05),
            (0.08, 0.08),
            (0.1, 0.1),
        ];
        for (d, f) in pairs {
            assert_eq!((d as f32).to_bits(), f.to_bits(), "{d}");
        }
        let p = MfParams::default();
        assert_eq!(p.learning_rate as f32, 0.005f32);
        assert_eq!(p.reg as f32, 0.02f32);
    }

    #[test]
    fn params_deserialise_with_defaults_and_refuse_unknown_fields() {
        let p: MfParams = serde_json::from_str(r#"{"epochs": 3}"#).unwrap();
        assert_eq!(
            p,
            MfParams {
                epochs: 3,
                ..MfParams::default()
            }
        );
        assert!(serde_json::from_str::<MfParams>(r#"{"lr": 0.1}"#).is_err());
    }
}
