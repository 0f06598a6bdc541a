//! Fitting BiVAE: the training state on either backend, its epoch (an item pass, then a
//! user pass), the final posterior means, and [`BiVaeTrainer`], which drives the epochs.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recs_core::{EpochReport, ModelError, ModelParams as _, Progress, TrainData};
use recs_sparse::CsrMatrix;

use super::{BiVae, BiVaeParams};
#[cfg(feature = "candle")]
use crate::backend::candle::CandleOps;
use crate::backend::native::{HostMat, Native};
use crate::backend::{AdamSet, Backend, StepSpec};
use crate::nn::GaussianEncoder;
use crate::team::{self, Team, ThreadChoice};
use crate::train::{EpochLoop, Epochs, Noise, check_finite, sequential_batches};
use crate::{Engine, Result};

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
pub(super) struct Batches<B: Backend> {
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
    pub(super) fn new(be: &B, data: &CsrMatrix, batch_size: usize) -> Result<Self> {
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
pub(super) fn means<B: Backend>(
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
            return Err(ModelError::Data(format!(
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

/// Trains a [`BiVae`] epoch by epoch (what its `fit` runs; benchmarks and callers that want
/// to drive the epochs themselves use it).
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
    pub fn new(
        params: &BiVaeParams,
        train: &CsrMatrix,
        engine: &Engine,
    ) -> Result<Self, ModelError> {
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
    /// [`ModelError::Diverged`].
    pub fn run_epoch(&mut self) -> Result<EpochReport, ModelError> {
        self.epochs.epoch(&mut self.run)
    }

    /// Recomputes the posterior means with the final encoders and returns the model.
    pub fn finish(self) -> Result<BiVae, ModelError> {
        self.run.finish()
    }
}

impl BiVae {
    /// The trait's `fit` on a chosen [`Engine`] (e.g. a CUDA device opened once), whatever
    /// `params.device` says: trains with `params` on `data.matrix` (users × items; values
    /// are binarised; `data.validation` is not used), calling `progress` after every epoch
    /// with the mean per-row losses `"item"` and `"user"`;
    /// [`Control::Stop`](recs_core::Control::Stop) ends training early (the model then holds
    /// the epochs run so far).
    pub fn fit_on(
        params: &BiVaeParams,
        data: &TrainData<'_>,
        engine: &Engine,
        progress: &mut dyn Progress,
    ) -> Result<BiVae, ModelError> {
        let BiVaeTrainer { mut run, epochs } = BiVaeTrainer::new(params, data.matrix, engine)?;
        epochs.run(&mut run, progress)?;
        run.finish()
    }
}
