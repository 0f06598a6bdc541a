//! BiVAE: the Bilateral Variational Autoencoder for collaborative filtering (Truong, Salah
//! & Lauw, WSDM 2021), with the semantics of Cornac's `BiVAECF`.
//!
//! Users are encoded from their rows and items from their columns of the binarised matrix
//! `x`, each by an MLP into a Gaussian `N(μ, σ²)` (σ = sigmoid of a linear head); the
//! decoder is `x̂ = sigmoid(θ·βᵀ)`. Training alternates, every epoch, an **item pass** over
//! all item batches in order, decoding against the stored user samples `θ` and then
//! storing the batch's fresh samples `β` from the updated encoder, and a **user pass** over
//! all user batches decoding against the stored `β`. Each pass minimises the batch mean of
//! `β_KL·KL − log-likelihood` with its own Adam. After the last epoch the means `μ_θ`, `μ_β`
//! are recomputed; scores are `μ_θ·μ_β` (see [`BiVae`]'s `Scorer` implementation).
//!
//! Differences from Cornac, none of which changes what is computed: Cornac re-runs the
//! whole model after each step just to read the encoder output (we run only the encoder);
//! Cornac fills `β` with `0.01·N(0, 1)` before training but overwrites every row in the
//! first item pass before any read (we start from zeros); the random streams are ours
//! (ChaCha8), not PyTorch's. Cornac's optional CAP priors (from side features) are not
//! implemented: the prior is always `N(0, I)`.

use recs_core::ModelParams as _;
use std::path::Path;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recs_core::{EpochReport, Progress};
use recs_metrics::{ScoreError, Scorer};
use recs_sparse::CsrMatrix;
use serde::{Deserialize, Serialize};

use crate::Engine;
#[cfg(feature = "candle")]
use crate::backend::candle::CandleOps;
use crate::backend::native::{HostMat, Native};
use crate::backend::{Backend, StepSpec};
use crate::error::{Result, VaeError};
use crate::kernels::{MatRef, gemm};
use crate::nn::{Activation, GaussianEncoder, Likelihood};
use crate::optim::AdamSet;
use crate::persist::{self, NamedTensor};
use crate::team::{self, Team, ThreadChoice};
use crate::train::{EpochLoop, Epochs, Noise, check_finite, sequential_batches};
use recs_core::modelfile::{ModelReader, ModelWriter};

/// The model kind written into saved files.
pub const MODEL_KIND: &str = "bivae";

/// BiVAE's hyper-parameters: Cornac's `BiVAECF`'s defaults, in the project's shared
/// vocabulary (Cornac's `k` is `factors`, `encoder_structure` is `hidden`, `n_epochs` is
/// `epochs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BiVaeParams {
    /// Dimension of the user and item factors θ, β (Cornac's `k`). Default 10; allowed
    /// 1..=65536.
    pub factors: usize,
    /// Hidden layer widths of both encoders (Cornac's `encoder_structure`): the user encoder
    /// is `[n_items, hidden…, factors]`, the item encoder `[n_users, …, factors]`.
    /// Default `[20]`; 1 to 16 layers, each 1..=65536 wide.
    pub hidden: Vec<usize>,
    /// Activation after each hidden layer. Default `tanh`.
    pub act_fn: Activation,
    /// Likelihood of the data given the decoder. Default `pois`.
    pub likelihood: Likelihood,
    /// Training epochs, each one item pass and one user pass (Cornac's `n_epochs`).
    /// Default 100; allowed 1..=1000000.
    pub epochs: usize,
    /// Rows per batch on both sides. Default 100; allowed 1..=1000000.
    pub batch_size: usize,
    /// Adam's learning rate for both optimisers. Default 0.001; any finite value > 0.
    pub learning_rate: f64,
    /// Weight of the KL terms (β-VAE). Default 1.0; any finite value ≥ 0.
    pub beta_kl: f64,
    /// Seed of every random draw (initialisation and reparameterisation noise). Default 0.
    pub seed: u64,
    /// Where [`BiVae::fit`] trains: `"native"` (default: the hand-written CPU kernels),
    /// `"cpu"` (candle on the CPU), `"cuda"` or `"cuda:N"` (candle on CUDA device 0 or `N`;
    /// needs a build with the `cuda` feature). Scoring always runs on the CPU.
    pub device: String,
}

impl Default for BiVaeParams {
    fn default() -> Self {
        Self {
            factors: 10,
            hidden: vec![20],
            act_fn: Activation::Tanh,
            likelihood: Likelihood::Pois,
            epochs: 100,
            batch_size: 100,
            learning_rate: 0.001,
            beta_kl: 1.0,
            seed: 0,
            device: crate::device::DEFAULT.into(),
        }
    }
}

/// The training state on one backend.
struct Core<B: Backend> {
    be: B,
    params: BiVaeParams,
    /// Binarised users × items.
    x: CsrMatrix,
    /// Its transpose, items × users.
    xt: CsrMatrix,
    user_batches: Batches<B>,
    item_batches: Batches<B>,
    user: GaussianEncoder<B::Mat>,
    item: GaussianEncoder<B::Mat>,
    user_opt: AdamSet<B::Mat>,
    item_opt: AdamSet<B::Mat>,
    /// Latest user samples, users × k.
    theta: B::Mat,
    /// Latest item samples, items × k.
    beta: B::Mat,
    noise: Noise,
    epoch: usize,
}

/// A side's row batches: built once when the backend keeps them
/// ([`Backend::KEEP_BATCHES`]), else at each use.
struct Batches<B: Backend> {
    ranges: Vec<std::ops::Range<usize>>,
    kept: Vec<B::Batch>,
}

/// A batch from [`Batches::get`].
enum BatchRef<'a, T> {
    Kept(&'a T),
    Fresh(T),
}

impl<T> std::ops::Deref for BatchRef<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            BatchRef::Kept(t) => t,
            BatchRef::Fresh(t) => t,
        }
    }
}

impl<B: Backend> Batches<B> {
    fn new(be: &B, data: &CsrMatrix, batch_size: usize) -> Result<Self> {
        let ranges: Vec<_> = sequential_batches(data.n_rows(), batch_size).collect();
        let kept = if B::KEEP_BATCHES {
            ranges
                .iter()
                .map(|r| be.batch(data, r.clone()))
                .collect::<Result<_>>()?
        } else {
            Vec::new()
        };
        Ok(Self { ranges, kept })
    }

    fn get(&self, be: &B, data: &CsrMatrix, i: usize) -> Result<BatchRef<'_, B::Batch>> {
        Ok(match self.kept.get(i) {
            Some(b) => BatchRef::Kept(b),
            None => BatchRef::Fresh(be.batch(data, self.ranges[i].clone())?),
        })
    }
}

/// One side's pass over all its batches; returns the summed per-row loss.
#[allow(clippy::too_many_arguments)]
fn side_pass<B: Backend>(
    be: &B,
    enc: &mut GaussianEncoder<B::Mat>,
    opt: &mut AdamSet<B::Mat>,
    data: &CsrMatrix,
    batches: &Batches<B>,
    other: &B::Mat,
    store: &mut B::Mat,
    noise: &mut Noise,
    p: &BiVaeParams,
    epoch: usize,
    what: &'static str,
) -> Result<f64> {
    let k = p.factors;
    let dec = be.decoder(other)?;
    let mut total = 0.0;
    for (i, rows) in batches.ranges.iter().enumerate() {
        let n = rows.len();
        let spec = StepSpec {
            likelihood: p.likelihood,
            kl_weight: p.beta_kl as f32,
            scale: 1.0 / n as f32,
        };
        let batch = batches.get(be, data, i)?;
        let (nll, kl) = be.train_step(enc, opt, &batch, noise.draw(n * k), &dec, spec)?;
        let loss = nll + p.beta_kl * kl;
        check_finite(loss, epoch, what)?;
        total += loss;
        // The updated encoder's fresh sample for these rows, as Cornac stores it.
        let sample = be.sample(enc, &batch, noise.draw(n * k))?;
        be.set_rows(store, rows.start, &sample)?;
    }
    Ok(total)
}

/// μ of every row of `data`, batch by batch.
fn means<B: Backend>(
    be: &B,
    enc: &GaussianEncoder<B::Mat>,
    data: &CsrMatrix,
    batches: &Batches<B>,
    k: usize,
) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(data.n_rows() * k);
    for i in 0..batches.ranges.len() {
        let batch = batches.get(be, data, i)?;
        out.extend(be.download(&be.mean(enc, &batch)?)?);
    }
    Ok(out)
}

impl<B: Backend> Core<B> {
    fn new(be: B, train: &CsrMatrix, params: &BiVaeParams) -> Result<Self> {
        params.validate()?;
        let (n_users, n_items) = train.shape();
        if n_users == 0 || n_items == 0 || train.nnz() == 0 {
            return Err(VaeError::InvalidData(format!(
                "the training matrix is {n_users}×{n_items} with {} stored entries: BiVAE needs at least one",
                train.nnz()
            )));
        }
        let x = train.binarize();
        let xt = x.transpose();
        let k = params.factors;
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        // θ: PyTorch's kaiming_uniform_(a=√5) on an n_users × k tensor, i.e. U(±1/√k).
        let bound = 1.0 / (k as f32).sqrt();
        let theta: Vec<f32> = (0..n_users * k)
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        let dims = &params.hidden;
        let user = GaussianEncoder::init(n_items, dims, k, params.act_fn, &mut rng);
        let item = GaussianEncoder::init(n_users, dims, k, params.act_fn, &mut rng);
        let up = |(d, r, c): (Vec<f32>, usize, usize)| be.upload(d, r, c);
        let user = user.try_map(up)?;
        let item = item.try_map(up)?;
        let shapes = |e: &GaussianEncoder<B::Mat>| -> Vec<(usize, usize)> {
            e.named_params()
                .into_iter()
                .map(|(_, m)| be.shape(m))
                .collect()
        };
        let user_opt = AdamSet::new(&be, params.learning_rate, &shapes(&user))?;
        let item_opt = AdamSet::new(&be, params.learning_rate, &shapes(&item))?;
        let theta = be.upload(theta, n_users, k)?;
        let beta = be.upload(vec![0.0; n_items * k], n_items, k)?;
        let user_batches = Batches::new(&be, &x, params.batch_size)?;
        let item_batches = Batches::new(&be, &xt, params.batch_size)?;
        Ok(Self {
            be,
            params: params.clone(),
            x,
            xt,
            user_batches,
            item_batches,
            user,
            item,
            user_opt,
            item_opt,
            theta,
            beta,
            noise: Noise::new(params.seed),
            epoch: 0,
        })
    }

    /// One epoch: the item pass, then the user pass. Returns the summed per-row losses.
    fn epoch(&mut self) -> Result<(f64, f64)> {
        self.epoch += 1;
        let item_loss = side_pass(
            &self.be,
            &mut self.item,
            &mut self.item_opt,
            &self.xt,
            &self.item_batches,
            &self.theta,
            &mut self.beta,
            &mut self.noise,
            &self.params,
            self.epoch,
            "item",
        )?;
        let user_loss = side_pass(
            &self.be,
            &mut self.user,
            &mut self.user_opt,
            &self.x,
            &self.user_batches,
            &self.beta,
            &mut self.theta,
            &mut self.noise,
            &self.params,
            self.epoch,
            "user",
        )?;
        Ok((item_loss, user_loss))
    }

    fn finish(self) -> Result<BiVae> {
        let k = self.params.factors;
        let mu_beta = means(&self.be, &self.item, &self.xt, &self.item_batches, k)?;
        let mu_theta = means(&self.be, &self.user, &self.x, &self.user_batches, k)?;
        let be = &self.be;
        let to_host = |m: B::Mat| -> Result<HostMat> {
            let (rows, cols) = be.shape(&m);
            Ok(HostMat {
                rows,
                cols,
                data: be.download(&m)?,
            })
        };
        Ok(BiVae {
            params: self.params.clone(),
            n_users: self.x.n_rows(),
            n_items: self.x.n_cols(),
            mu_theta,
            mu_beta,
            theta: be.download(&self.theta)?,
            beta: be.download(&self.beta)?,
            user_encoder: self.user.try_map(to_host)?,
            item_encoder: self.item.try_map(to_host)?,
            epochs_trained: self.epoch,
        })
    }
}

enum CoreOn {
    Native(Box<Core<Native>>),
    #[cfg(feature = "candle")]
    Candle(Box<Core<CandleOps>>),
}

/// The training state and the thread choice: what the [`EpochLoop`] trains.
struct Run {
    core: CoreOn,
    threads: ThreadChoice,
}

impl Epochs for Run {
    type Best = ();

    /// An item pass, then a user pass; the losses are the mean per-row losses of each.
    fn train_epoch(&mut self, _epoch: usize) -> Result<Vec<(&'static str, f64)>> {
        let t0 = Instant::now();
        // The native kernels' many short parallel regions run on a spinning team (see
        // `team`), or on this thread alone when that has lately been faster (a busy machine).
        let threads = self.threads.next();
        let (item, user, n_items, n_users) = Team::run_with(threads, || match &mut self.core {
            CoreOn::Native(c) => c.epoch().map(|(i, u)| (i, u, c.xt.n_rows(), c.x.n_rows())),
            #[cfg(feature = "candle")]
            CoreOn::Candle(c) => c.epoch().map(|(i, u)| (i, u, c.xt.n_rows(), c.x.n_rows())),
        })?;
        self.threads.record(threads, t0.elapsed().as_secs_f64());
        Ok(vec![
            ("item", item / n_items as f64),
            ("user", user / n_users as f64),
        ])
    }

    fn keep(&self) {}
}

impl Run {
    fn finish(self) -> Result<BiVae> {
        let threads = self.threads.next();
        let core = self.core;
        Team::run_with(threads, || match core {
            CoreOn::Native(c) => c.finish(),
            #[cfg(feature = "candle")]
            CoreOn::Candle(c) => c.finish(),
        })
    }
}

/// Trains a [`BiVae`] epoch by epoch (what [`BiVae::fit`] runs; benchmarks and callers that
/// want to drive the epochs themselves use it).
pub struct BiVaeTrainer {
    run: Run,
    epochs: EpochLoop<()>,
}

impl std::fmt::Debug for BiVaeTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BiVaeTrainer")
            .field("epochs_done", &self.epochs_done())
            .finish_non_exhaustive()
    }
}

impl BiVaeTrainer {
    /// Validates `params`, binarises `train` (users × items; any stored value counts as an
    /// interaction) and initialises the model on `engine`.
    pub fn new(params: &BiVaeParams, train: &CsrMatrix, engine: &Engine) -> Result<Self> {
        let started = Instant::now();
        let core = match engine {
            Engine::Native => CoreOn::Native(Box::new(Core::new(Native, train, params)?)),
            #[cfg(feature = "candle")]
            Engine::Candle(device) => CoreOn::Candle(Box::new(Core::new(
                CandleOps {
                    device: device.clone(),
                },
                train,
                params,
            )?)),
        };
        // Candle parallelises its own ops: no team for it.
        let threads = match core {
            CoreOn::Native(_) => team::default_threads(),
            #[cfg(feature = "candle")]
            CoreOn::Candle(_) => 1,
        };
        Ok(Self {
            run: Run {
                core,
                threads: ThreadChoice::new(threads),
            },
            epochs: EpochLoop::new(params.epochs, started),
        })
    }

    /// Epochs run so far.
    pub fn epochs_done(&self) -> usize {
        self.epochs.epochs_done()
    }

    /// Runs one more epoch (an item pass, then a user pass) and reports its mean per-row
    /// losses `"item"` and `"user"`. A NaN or infinite loss stops it with
    /// [`VaeError::NonFiniteLoss`].
    pub fn run_epoch(&mut self) -> Result<EpochReport> {
        self.epochs.epoch(&mut self.run)
    }

    /// Recomputes the posterior means with the final encoders and returns the model.
    pub fn finish(self) -> Result<BiVae> {
        self.run.finish()
    }
}

/// A trained BiVAE: the posterior means `μ_θ` (users × k) and `μ_β` (items × k), the last
/// samples `θ`, `β`, and both encoders (to embed new rows).
///
/// As a [`Scorer`] it scores user `u` and item `i` by `μ_θ[u]·μ_β[i]`: Cornac scores
/// `sigmoid(μ_θ[u]·μ_β[i])`, which ranks identically; we skip the sigmoid because it
/// saturates to 1.0 in `f32` for large products and would turn distinct scores into ties.
#[derive(Clone)]
pub struct BiVae {
    params: BiVaeParams,
    n_users: usize,
    n_items: usize,
    mu_theta: Vec<f32>,
    mu_beta: Vec<f32>,
    theta: Vec<f32>,
    beta: Vec<f32>,
    user_encoder: GaussianEncoder<HostMat>,
    item_encoder: GaussianEncoder<HostMat>,
    epochs_trained: usize,
}

impl std::fmt::Debug for BiVae {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BiVae")
            .field("n_users", &self.n_users)
            .field("n_items", &self.n_items)
            .field("params", &self.params)
            .field("epochs_trained", &self.epochs_trained)
            .finish_non_exhaustive()
    }
}

impl BiVae {
    /// Trains with `params` on `train` (users × items; values are binarised) on the engine
    /// `params.device` names ([`Engine::from_device`]). `progress` is called after every
    /// epoch with the mean per-row losses `"item"` and `"user"`;
    /// [`Control::Stop`](recs_core::Control::Stop) ends training early (the model then holds
    /// the epochs run so far).
    pub fn fit(
        params: &BiVaeParams,
        train: &CsrMatrix,
        progress: &mut dyn Progress,
    ) -> Result<BiVae> {
        params.validate()?;
        Self::fit_on(
            params,
            train,
            &Engine::from_device(&params.device)?,
            progress,
        )
    }

    /// [`BiVae::fit`] on a chosen [`Engine`] (e.g. a CUDA device), whatever
    /// `params.device` says.
    pub fn fit_on(
        params: &BiVaeParams,
        train: &CsrMatrix,
        engine: &Engine,
        progress: &mut dyn Progress,
    ) -> Result<BiVae> {
        let BiVaeTrainer { mut run, epochs } = BiVaeTrainer::new(params, train, engine)?;
        epochs.run(&mut run, progress)?;
        run.finish()
    }

    /// The hyper-parameters it was trained with.
    pub fn params(&self) -> &BiVaeParams {
        &self.params
    }

    /// Dimension of the factors.
    pub fn factors(&self) -> usize {
        self.params.factors
    }

    /// Epochs it was trained for.
    pub fn epochs_trained(&self) -> usize {
        self.epochs_trained
    }

    /// `μ_θ`: user embeddings, row-major `n_users × k`.
    pub fn user_embeddings(&self) -> &[f32] {
        &self.mu_theta
    }

    /// `μ_β`: item embeddings, row-major `n_items × k`.
    pub fn item_embeddings(&self) -> &[f32] {
        &self.mu_beta
    }

    /// Embeds new users from their interactions (rows over the training items; values are
    /// binarised): the user encoder's `μ`, row-major `rows × k`.
    pub fn embed_users(&self, x: &CsrMatrix) -> Result<Vec<f32>> {
        self.embed(&self.user_encoder, x, self.n_items, "users")
    }

    /// Embeds new items from their interactions (rows over the training users).
    pub fn embed_items(&self, x: &CsrMatrix) -> Result<Vec<f32>> {
        self.embed(&self.item_encoder, x, self.n_users, "items")
    }

    fn embed(
        &self,
        enc: &GaussianEncoder<HostMat>,
        x: &CsrMatrix,
        n_cols: usize,
        what: &str,
    ) -> Result<Vec<f32>> {
        if x.n_cols() != n_cols {
            return Err(VaeError::InvalidData(format!(
                "rows to embed as {what} have {} columns, the model expects {n_cols}",
                x.n_cols()
            )));
        }
        let x = x.binarize();
        let batches = Batches::new(&Native, &x, self.params.batch_size)?;
        means(&Native, enc, &x, &batches, self.params.factors)
    }

    /// Writes the model alone to `path` (one safetensors file; see [`crate::persist`]),
    /// atomically: a temporary file in the same directory is renamed over `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        persist::save_file(path.as_ref(), MODEL_KIND, &self.params, |w| {
            self.write_into(w)
        })
    }

    /// Reads a model written by [`BiVae::save`] (or any writer of a `bivae` model file). A
    /// missing, truncated, corrupt or foreign file is an error saying what is wrong.
    pub fn load(path: impl AsRef<Path>) -> Result<BiVae> {
        Self::read_from(&persist::open(path.as_ref(), &[MODEL_KIND])?)
    }

    /// Adds the model's tensors and training facts to `w`.
    pub(crate) fn write_into<'a>(&'a self, w: &mut ModelWriter<'a>) -> Result<()> {
        let k = self.params.factors;
        let mut tensors = vec![
            NamedTensor {
                name: "mu_theta".into(),
                shape: vec![self.n_users, k],
                data: &self.mu_theta,
            },
            NamedTensor {
                name: "mu_beta".into(),
                shape: vec![self.n_items, k],
                data: &self.mu_beta,
            },
            NamedTensor {
                name: "theta".into(),
                shape: vec![self.n_users, k],
                data: &self.theta,
            },
            NamedTensor {
                name: "beta".into(),
                shape: vec![self.n_items, k],
                data: &self.beta,
            },
        ];
        for (side, enc) in [
            ("user_encoder", &self.user_encoder),
            ("item_encoder", &self.item_encoder),
        ] {
            for (name, m) in enc.named_params() {
                tensors.push(NamedTensor {
                    name: format!("{side}.{name}"),
                    shape: vec![m.rows, m.cols],
                    data: &m.data,
                });
            }
        }
        let training = serde_json::json!({ "epochs_trained": self.epochs_trained });
        persist::write_model(w, training, tensors)
    }

    /// Rebuilds the model from a verified file of its kind.
    pub(crate) fn read_from(file: &ModelReader) -> Result<BiVae> {
        let bad = |message: String| persist::bad(file, message);
        let params: BiVaeParams = file.params()?;
        params.validate().map_err(|e| bad(e.to_string()))?;
        let k = params.factors;
        let dim = |name: &str, axis: usize| -> Result<usize> {
            file.shape(name)
                .and_then(|s| s.get(axis).copied())
                .ok_or_else(|| bad(format!("tensor `{name}` is missing")))
        };
        let n_users = dim("mu_theta", 0)?;
        let n_items = dim("mu_beta", 0)?;
        let take = |name: &str, shape: &[usize]| persist::take(file, name, shape);
        let mu_theta = take("mu_theta", &[n_users, k])?;
        let mu_beta = take("mu_beta", &[n_items, k])?;
        let theta = take("theta", &[n_users, k])?;
        let beta = take("beta", &[n_items, k])?;
        let encoder = |side: &str, n_in: usize| -> Result<GaussianEncoder<HostMat>> {
            let layer = |name: String,
                         fan_in: usize,
                         fan_out: usize|
             -> Result<crate::nn::Linear<HostMat>> {
                let w = take(&format!("{side}.{name}.weight"), &[fan_in, fan_out])?;
                let b = take(&format!("{side}.{name}.bias"), &[1, fan_out])?;
                Ok(crate::nn::Linear {
                    w: HostMat {
                        rows: fan_in,
                        cols: fan_out,
                        data: w,
                    },
                    b: HostMat {
                        rows: 1,
                        cols: fan_out,
                        data: b,
                    },
                })
            };
            let mut hidden = Vec::new();
            let mut fan_in = n_in;
            for (i, &d) in params.hidden.iter().enumerate() {
                hidden.push(layer(format!("fc{i}"), fan_in, d)?);
                fan_in = d;
            }
            Ok(GaussianEncoder {
                hidden,
                act: params.act_fn,
                mu: layer("mu".into(), fan_in, k)?,
                std: layer("std".into(), fan_in, k)?,
            })
        };
        let user_encoder = encoder("user_encoder", n_items)?;
        let item_encoder = encoder("item_encoder", n_users)?;
        let epochs_trained = file
            .meta()
            .training
            .get("epochs_trained")
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as usize;
        Ok(BiVae {
            params,
            n_users,
            n_items,
            mu_theta,
            mu_beta,
            theta,
            beta,
            user_encoder,
            item_encoder,
            epochs_trained,
        })
    }
}

impl Scorer for BiVae {
    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        self.score_users(&[user], out)
    }

    /// One matrix product: the users' `μ_θ` rows times `μ_βᵀ`.
    fn score_users(&self, users: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        let (n, k) = (self.n_items, self.params.factors);
        if out.len() != users.len() * n {
            return Err(ScoreError::BufferLength {
                got: out.len(),
                expected: users.len() * n,
            });
        }
        let mut rows = Vec::with_capacity(users.len() * k);
        for &u in users {
            if u as usize >= self.n_users {
                return Err(ScoreError::UnknownUser {
                    user: u,
                    n_users: self.n_users,
                });
            }
            rows.extend_from_slice(&self.mu_theta[u as usize * k..(u as usize + 1) * k]);
        }
        let parallel = users.len() * n * k >= 1 << 20;
        gemm(
            out,
            MatRef::new(&rows, users.len(), k),
            MatRef::new(&self.mu_beta, n, k).t(),
            false,
            parallel,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use recs_core::NoProgress;
    use recs_sparse::DuplicatePolicy;

    use super::*;

    #[test]
    fn one_epoch_agrees_across_simd_paths() {
        // 40 users × 30 items in three groups, some entries counted twice.
        let (mut u, mut i, mut v) = (vec![], vec![], vec![]);
        for a in 0..40u32 {
            for b in 0..30u32 {
                if a % 3 == b % 3 && (a * 7 + b * 5) % 4 != 0 {
                    u.push(a);
                    i.push(b);
                    v.push(1.0 + ((a + b) % 2) as f32);
                }
            }
        }
        let x = CsrMatrix::from_triplets(40, 30, &u, &i, &v, DuplicatePolicy::Sum).unwrap();
        for likelihood in Likelihood::ALL {
            let p = BiVaeParams {
                factors: 5,
                hidden: vec![24, 9],
                likelihood,
                epochs: 1,
                batch_size: 16,
                learning_rate: 0.01,
                seed: 3,
                ..Default::default()
            };
            let runs = crate::simd_paths::each_level(|_| {
                let m = BiVae::fit(&p, &x, &mut NoProgress).unwrap();
                let mut out = m.mu_theta.clone();
                for v in [&m.mu_beta, &m.theta, &m.beta] {
                    out.extend(v);
                }
                out
            });
            crate::simd_paths::assert_paths_agree(
                &format!("BiVAE epoch ({likelihood})"),
                &runs,
                1e-5,
            );
        }
    }
}
