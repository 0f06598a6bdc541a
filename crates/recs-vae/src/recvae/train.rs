//! Fitting RecVAE: the alternating epochs, written once over the engine's steps
//! ([`Steps`]: the native kernels here, candle's in `candle`).

use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use recs_core::{ModelError, ModelParams as _, Progress};
use recs_sparse::CsrMatrix;

use super::RecVaeParams;
use super::net::{self, Layout};
use super::steps::Steps;
use crate::optim::Adam;
use crate::train::{EpochLoop, Epochs, Goal, shuffled_batches};
use crate::{Engine, Result};

/// A trained network: the layout, the encoder's and the decoder's flat parameters.
#[derive(Debug, Clone)]
pub(super) struct Trained {
    pub layout: Layout,
    pub enc: Vec<f32>,
    pub dec: Vec<f32>,
    pub epochs_trained: usize,
    pub best_epoch: usize,
}

/// What RecVAE trains on: the users' rows (binarized) and, optionally, validation users as
/// (fold-in rows, held-out rows) to choose the epoch by NDCG@100.
#[derive(Debug, Clone, Copy)]
pub(super) struct Data<'a> {
    pub train: &'a CsrMatrix,
    pub validation: Option<(&'a CsrMatrix, &'a CsrMatrix)>,
}

/// The encoder's and the decoder's parameters, on the host.
type Weights = (Vec<f32>, Vec<f32>);

/// The training state the [`EpochLoop`] runs.
struct Training<'a, S> {
    steps: S,
    p: &'a RecVaeParams,
    rng: ChaCha8Rng,
    order: Vec<u32>,
    data: Data<'a>,
}

impl<S: Steps> Epochs for Training<'_, S> {
    type Best = S::Snapshot;

    /// `enc_epochs` encoder passes, the prior update, `dec_epochs` decoder passes; reports
    /// the encoder passes' mean negative ELBO (`loss`) and the decoder passes' mean negative
    /// log-likelihood (`decoder_nll`), per user.
    fn train_epoch(&mut self, _epoch: usize) -> Result<Vec<(&'static str, f64)>> {
        let bs = self.p.batch_size;
        let (mut loss, mut rows) = (0.0f64, 0usize);
        for _ in 0..self.p.enc_epochs {
            for batch in shuffled_batches(&mut self.order, &mut self.rng, bs) {
                loss += self.steps.encoder_step(batch, &mut self.rng)? * batch.len() as f64;
                rows += batch.len();
            }
        }
        self.steps.update_prior()?;
        let (mut nll, mut dec_rows) = (0.0f64, 0usize);
        for _ in 0..self.p.dec_epochs {
            for batch in shuffled_batches(&mut self.order, &mut self.rng, bs) {
                nll += self.steps.decoder_step(batch, &mut self.rng)? * batch.len() as f64;
                dec_rows += batch.len();
            }
        }
        Ok(vec![
            ("loss", loss / rows.max(1) as f64),
            ("decoder_nll", nll / dec_rows.max(1) as f64),
        ])
    }

    fn validate(&mut self) -> Result<Option<f64>> {
        let Some((vin, vout)) = self.data.validation else {
            return Ok(None);
        };
        let rows: Vec<u32> = (0..vin.n_rows() as u32).collect();
        let mut scores = Vec::with_capacity(rows.len() * vin.n_cols());
        for chunk in rows.chunks(recs_core::ranking::BATCH) {
            scores.extend(self.steps.logits(vin, chunk)?);
        }
        recs_core::validation::ndcg_at_k(&scores, vin, vout, 100).map(Some)
    }

    fn keep(&self) -> S::Snapshot {
        self.steps.snapshot()
    }
}

/// The native engine's steps: flat vectors and the crate's Adam, one per part.
struct Native<'a> {
    l: Layout,
    p: &'a RecVaeParams,
    x: &'a CsrMatrix,
    enc: Vec<f32>,
    /// The prior's encoder's heads on every training row ([`net::heads`]).
    prior: Vec<f32>,
    dec: Vec<f32>,
    enc_opt: (Adam, Vec<f32>, Vec<f32>),
    dec_opt: (Adam, Vec<f32>, Vec<f32>),
    g_enc: Vec<f32>,
    g_dec: Vec<f32>,
}

impl Steps for Native<'_> {
    fn encoder_step(&mut self, rows: &[u32], rng: &mut ChaCha8Rng) -> Result<f64> {
        let p = self.p;
        let loss = net::encoder_step(
            &self.l,
            p.dropout,
            |n| p.kl_weight(n),
            (&self.enc, &self.dec),
            &net::gather(&self.prior, 2 * self.l.factors, rows),
            self.x,
            rows,
            rng,
            &mut self.g_enc,
        );
        let (adam, m, v) = &mut self.enc_opt;
        net::adam_step(adam, &mut self.enc, m, v, &self.g_enc);
        Ok(loss)
    }

    fn update_prior(&mut self) -> Result<()> {
        self.prior = net::heads(&self.l, &self.enc, self.x);
        Ok(())
    }

    fn decoder_step(&mut self, rows: &[u32], rng: &mut ChaCha8Rng) -> Result<f64> {
        let nll = net::decoder_step(
            &self.l,
            &net::gather(&self.prior, 2 * self.l.factors, rows),
            &self.dec,
            self.x,
            rows,
            rng,
            &mut self.g_dec,
        );
        let (adam, m, v) = &mut self.dec_opt;
        net::adam_step(adam, &mut self.dec, m, v, &self.g_dec);
        Ok(nll)
    }

    fn logits(&self, x: &CsrMatrix, rows: &[u32]) -> Result<Vec<f32>> {
        Ok(net::logits(&self.l, &self.enc, &self.dec, x, rows))
    }

    type Snapshot = (Vec<f32>, Vec<f32>);

    fn snapshot(&self) -> Self::Snapshot {
        (self.enc.clone(), self.dec.clone())
    }

    fn to_host(&self, s: Self::Snapshot) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok(s)
    }
}

/// What every engine starts from: the encoder, the prior's (separately initialised) encoder
/// and the decoder, then the seeded stream after those draws.
pub(super) fn init(l: &Layout, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>, ChaCha8Rng) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let enc = net::init_encoder(l, &mut rng);
    let old = net::init_encoder(l, &mut rng);
    let dec = net::init_decoder(l, &mut rng);
    (enc, old, dec, rng)
}

/// Trains RecVAE with `params` on `data` on `engine`, reporting each epoch (and, with
/// validation, `"validation_ndcg@100"`, keeping the best epoch's weights).
pub(super) fn fit(
    params: &RecVaeParams,
    data: Data<'_>,
    engine: &Engine,
    progress: &mut dyn Progress,
) -> Result<Trained> {
    params.validate()?;
    let x = data.train;
    if x.nnz() == 0 {
        return Err(ModelError::Data(
            "the training matrix holds no interaction".into(),
        ));
    }
    let started = Instant::now();
    let l = Layout::new(x.n_cols(), params.hidden_dim, params.factors);
    let (enc, old, dec, rng) = init(&l, params.seed);
    let order: Vec<u32> = (0..x.n_rows() as u32)
        .filter(|&r| !x.row(r as usize).indices.is_empty())
        .collect();
    let (epochs_trained, best) = match engine {
        Engine::Native => {
            let (ne, nd) = (enc.len(), dec.len());
            let steps = Native {
                l,
                p: params,
                x,
                prior: net::heads(&l, &old, x),
                enc,
                dec,
                enc_opt: (
                    Adam::new(params.learning_rate),
                    vec![0.0; ne],
                    vec![0.0; ne],
                ),
                dec_opt: (
                    Adam::new(params.learning_rate),
                    vec![0.0; nd],
                    vec![0.0; nd],
                ),
                g_enc: vec![0.0; ne],
                g_dec: vec![0.0; nd],
            };
            run(steps, params, rng, order, data, started, progress)?
        }
        #[cfg(feature = "candle")]
        Engine::Candle(device) => {
            let steps = super::candle::Device::new(device, l, params, x, (enc, old, dec))?;
            run(steps, params, rng, order, data, started, progress)?
        }
    };
    let (best_epoch, (enc, dec)) = best;
    Ok(Trained {
        layout: l,
        enc,
        dec,
        epochs_trained,
        best_epoch,
    })
}

/// Runs the epochs on `steps`; returns the epochs run and the kept epoch (the best with
/// validation, else the last) with its weights on the host.
fn run<S: Steps>(
    steps: S,
    p: &RecVaeParams,
    rng: ChaCha8Rng,
    order: Vec<u32>,
    data: Data<'_>,
    started: Instant,
    progress: &mut dyn Progress,
) -> Result<(usize, (usize, Weights))> {
    let mut epochs = EpochLoop::new(p.epochs, started);
    if data.validation.is_some() {
        epochs = epochs.with_validation("validation_ndcg@100", Goal::Maximise, p.patience);
    }
    let mut t = Training {
        steps,
        p,
        rng,
        order,
        data,
    };
    let done = epochs.run(&mut t, progress)?;
    let (epoch, snapshot) = match done.best {
        Some(best) => best,
        None => (done.epochs_run, t.steps.snapshot()),
    };
    Ok((done.epochs_run, (epoch, t.steps.to_host(snapshot)?)))
}
