//! The one training engine of the crate's models: the epoch loop ([`EpochLoop`]) that
//! BiVAE, Mult-VAE/DAE and AutoRec all train through, and the pieces their epochs share
//! (row batches, in order or shuffled; the finite-loss check; seeded noise).
//!
//! A model implements [`Epochs`] (train one epoch and return its losses; optionally a
//! validation measure and a copy of its weights); the loop checks that every loss is finite
//! (a [`ModelError::Diverged`] naming the epoch otherwise), validates, keeps the best
//! epoch's weights, builds the [`EpochReport`], calls the [`Progress`] callback, and stops
//! after the last epoch, when the patience runs out, or when the callback returns
//! [`Control::Stop`].

use std::ops::Range;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use recs_core::{Control, EpochReport, ModelError, Progress};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

use crate::Result;
use crate::kernels;

/// A model as the [`EpochLoop`] trains it.
pub(crate) trait Epochs {
    /// What the loop keeps of the best epoch (a copy of the weights; `()` without
    /// validation).
    type Best;

    /// Trains epoch `epoch` (from 1) and returns its training losses by name.
    fn train_epoch(&mut self, epoch: usize) -> Result<Vec<(&'static str, f64)>>;

    /// The validation measure after the epoch just trained, if the model has validation
    /// data.
    fn validate(&mut self) -> Result<Option<f64>> {
        Ok(None)
    }

    /// A copy of the current weights, taken when validation improves.
    fn keep(&self) -> Self::Best;
}

/// Which way a validation measure improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Goal {
    /// Lower is better (an error).
    Minimise,
    /// Higher is better (a ranking metric).
    Maximise,
}

impl Goal {
    fn better(self, new: f64, old: f64) -> bool {
        match self {
            Goal::Minimise => new < old,
            Goal::Maximise => new > old,
        }
    }
}

/// What training ended with: the epochs run and, with validation, the best epoch (from 1)
/// and its kept weights.
#[derive(Debug)]
pub(crate) struct Finished<B> {
    pub epochs_run: usize,
    pub best: Option<(usize, B)>,
}

/// The epoch loop (see the module documentation).
#[derive(Debug)]
pub(crate) struct EpochLoop<B> {
    epochs: usize,
    started: Instant,
    validation: Option<(&'static str, Goal)>,
    patience: Option<usize>,
    done: usize,
    best: Option<(f64, usize, B)>,
    since_best: usize,
}

impl<B> EpochLoop<B> {
    /// A loop of at most `epochs` epochs; `started` is when training began (the reports'
    /// `elapsed_seconds` count from it, initialisation included).
    pub(crate) fn new(epochs: usize, started: Instant) -> Self {
        Self {
            epochs,
            started,
            validation: None,
            patience: None,
            done: 0,
            best: None,
            since_best: 0,
        }
    }

    /// Reports the model's validation measure as `name`, keeps the weights of the epoch
    /// best by `goal` (strictly better than every earlier one), and stops once `patience`
    /// epochs in a row have not improved on it (`None`: never).
    pub(crate) fn with_validation(
        mut self,
        name: &'static str,
        goal: Goal,
        patience: Option<usize>,
    ) -> Self {
        self.validation = Some((name, goal));
        self.patience = patience;
        self
    }

    /// Runs one more epoch of `model`: trains it, checks its losses, validates and tracks
    /// the best epoch; returns the epoch's report.
    pub(crate) fn epoch<M: Epochs<Best = B>>(&mut self, model: &mut M) -> Result<EpochReport> {
        let t0 = Instant::now();
        let epoch = self.done + 1;
        let losses = model.train_epoch(epoch)?;
        for &(what, value) in &losses {
            check_finite(value, epoch, what)?;
        }
        self.done = epoch;
        let mut validation = None;
        if let Some((name, goal)) = self.validation {
            if let Some(v) = model.validate()? {
                validation = Some((name, v));
                if self
                    .best
                    .as_ref()
                    .is_none_or(|(b, _, _)| goal.better(v, *b))
                {
                    self.best = Some((v, epoch, model.keep()));
                    self.since_best = 0;
                } else {
                    self.since_best += 1;
                }
            }
        }
        Ok(EpochReport {
            epoch,
            epochs: self.epochs,
            losses,
            validation,
            seconds: t0.elapsed().as_secs_f64(),
            elapsed_seconds: self.started.elapsed().as_secs_f64(),
        })
    }

    /// Epochs run so far.
    pub(crate) fn epochs_done(&self) -> usize {
        self.done
    }

    /// Runs epochs until the last one, the patience runs out or `progress` says stop.
    pub(crate) fn run<M: Epochs<Best = B>>(
        mut self,
        model: &mut M,
        progress: &mut dyn Progress,
    ) -> Result<Finished<B>> {
        while self.done < self.epochs {
            let report = self.epoch(model)?;
            if progress.on_epoch(&report) == Control::Stop
                || self.patience.is_some_and(|p| self.since_best >= p)
            {
                break;
            }
        }
        Ok(Finished {
            epochs_run: self.done,
            best: self.best.map(|(_, e, b)| (e, b)),
        })
    }
}

/// Consecutive row ranges of `batch_size` covering `0..n` in order (the last may be
/// shorter), as Cornac's `user_iter`/`item_iter` with `shuffle=False` give them.
pub(crate) fn sequential_batches(
    n: usize,
    batch_size: usize,
) -> impl Iterator<Item = Range<usize>> {
    let bs = batch_size.max(1);
    (0..n.div_ceil(bs)).map(move |b| b * bs..((b + 1) * bs).min(n))
}

/// Shuffles `order` with `rng` (a seeded epoch shuffle, as PyTorch's `DataLoader` or
/// `np.random.shuffle` give one) and returns it in batches of `batch_size` rows.
pub(crate) fn shuffled_batches<'a>(
    order: &'a mut [u32],
    rng: &mut ChaCha8Rng,
    batch_size: usize,
) -> std::slice::Chunks<'a, u32> {
    order.shuffle(rng);
    order.chunks(batch_size.max(1))
}

/// Returns [`ModelError::Diverged`] unless `value` is finite.
pub(crate) fn check_finite(value: f64, epoch: usize, what: &'static str) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(ModelError::Diverged { epoch, what, value })
    }
}

/// Standard normal noise for the reparameterisation trick, reproducible from one seed and
/// independent of the number of threads that draw it.
///
/// Draw number `d` fills its buffer in blocks of [`Noise::BLOCK`] values; block `b` takes
/// as many 32-bit words from ChaCha8 seeded with the seed, on stream `d + 1` (stream 0 is
/// left to the initialisation), from word `b · 2³²`, and turns them into normals by
/// Box–Muller (vectorised).
#[derive(Debug, Clone)]
pub(crate) struct Noise {
    seed: u64,
    draws: u64,
}

impl Noise {
    /// Values per independently seeded block (a multiple of the Box–Muller group).
    pub(crate) const BLOCK: usize = 2048;

    pub(crate) fn new(seed: u64) -> Self {
        Self { seed, draws: 0 }
    }

    /// The next `len` standard normal values.
    pub(crate) fn draw(&mut self, len: usize) -> Vec<f32> {
        let stream = self.draws + 1;
        self.draws += 1;
        let mut out = vec![0.0f32; len];
        let fill = |(b, block): (usize, &mut [f32])| {
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
            rng.set_stream(stream);
            rng.set_word_pos((b as u128) << 32);
            block.copy_from_slice(&kernels::normals(&mut rng, block.len()));
        };
        out.chunks_mut(Self::BLOCK).enumerate().for_each(fill);
        out
    }
}

/// The training rows (`rows` with the validation users' rows emptied), and the validation
/// users' fold-in rows (their rows of `rows`) and held-out rows (of `held_out`): the users
/// with held-out items are the validation users, in index order.
pub(crate) fn validation_split(
    rows: &CsrMatrix,
    held_out: &CsrMatrix,
) -> Result<(CsrMatrix, CsrMatrix, CsrMatrix)> {
    if held_out.shape() != rows.shape() {
        let ((a, b), (c, d)) = (held_out.shape(), rows.shape());
        return Err(ModelError::Data(format!(
            "the validation matrix is {a}×{b}, the training matrix {c}×{d}: they must be the \
             same shape"
        )));
    }
    let is_validation = |u: usize| !held_out.row(u).indices.is_empty();
    let users: Vec<u32> = (0..rows.n_rows() as u32)
        .filter(|&u| is_validation(u as usize))
        .collect();
    let (mut r, mut c) = (Vec::new(), Vec::new());
    for u in (0..rows.n_rows()).filter(|&u| !is_validation(u)) {
        for &i in rows.row(u).indices {
            r.push(u as u32);
            c.push(i);
        }
    }
    if r.is_empty() {
        return Err(ModelError::Data(
            "every user with interactions has validation items: the users with validation \
             items are held out of training (validated on, not trained on), so some users \
             must have none"
                .into(),
        ));
    }
    let (n_users, n_items) = rows.shape();
    let v = vec![1.0; r.len()];
    let fit_rows = CsrMatrix::from_triplets(n_users, n_items, &r, &c, &v, DuplicatePolicy::Error)
        .map_err(ModelError::model)?;
    let fold_in = rows.select_rows(&users).map_err(ModelError::model)?;
    let held_out = held_out.select_rows(&users).map_err(ModelError::model)?;
    Ok((fit_rows, fold_in, held_out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use recs_core::NoProgress;

    /// A model whose epochs give the losses and validation measures it is told.
    struct Scripted {
        losses: Vec<f64>,
        validation: Option<Vec<f64>>,
        trained: Vec<usize>,
    }

    impl Epochs for Scripted {
        type Best = usize;

        fn train_epoch(&mut self, epoch: usize) -> Result<Vec<(&'static str, f64)>> {
            self.trained.push(epoch);
            Ok(vec![("loss", self.losses[epoch - 1])])
        }

        fn validate(&mut self) -> Result<Option<f64>> {
            Ok(self.validation.as_ref().map(|v| v[self.trained.len() - 1]))
        }

        fn keep(&self) -> usize {
            *self.trained.last().unwrap()
        }
    }

    fn scripted(losses: &[f64], validation: Option<&[f64]>) -> Scripted {
        Scripted {
            losses: losses.to_vec(),
            validation: validation.map(<[f64]>::to_vec),
            trained: Vec::new(),
        }
    }

    #[test]
    fn runs_every_epoch_and_reports_it() {
        let mut m = scripted(&[3.0, 2.0, 1.0], None);
        let mut reports = Vec::new();
        let done = EpochLoop::<usize>::new(3, Instant::now())
            .run(&mut m, &mut |r: &EpochReport| {
                reports.push(r.clone());
                Control::Continue
            })
            .unwrap();
        assert_eq!((done.epochs_run, done.best), (3, None));
        assert_eq!(m.trained, [1, 2, 3]);
        let e: Vec<_> = reports.iter().map(|r| (r.epoch, r.epochs)).collect();
        assert_eq!(e, [(1, 3), (2, 3), (3, 3)]);
        assert_eq!(reports[1].losses, [("loss", 2.0)]);
        assert!(reports.iter().all(|r| r.validation.is_none()));
        assert!(reports[2].elapsed_seconds >= reports[0].elapsed_seconds);
    }

    #[test]
    fn keeps_the_best_epoch_and_stops_when_patience_runs_out() {
        let val = [0.9, 0.7, 0.8, 0.7, 0.75, 0.6];
        let mut m = scripted(&[1.0; 6], Some(&val));
        let mut seen = Vec::new();
        let done = EpochLoop::new(6, Instant::now())
            .with_validation("validation_rmse", Goal::Minimise, Some(3))
            .run(&mut m, &mut |r: &EpochReport| {
                seen.push(r.validation.unwrap());
                Control::Continue
            })
            .unwrap();
        // Epoch 2 is best (0.7; epoch 4's equal value is no improvement); epochs 3, 4 and 5
        // do not improve on it, so training stops after epoch 5.
        assert_eq!(done.epochs_run, 5);
        assert_eq!(done.best, Some((2, 2)));
        assert_eq!(seen[1], ("validation_rmse", 0.7));
        // Maximising, without patience: every epoch runs, the highest is kept.
        let mut m = scripted(&[1.0; 6], Some(&val));
        let done = EpochLoop::new(6, Instant::now())
            .with_validation("ndcg", Goal::Maximise, None)
            .run(&mut m, &mut NoProgress)
            .unwrap();
        assert_eq!((done.epochs_run, done.best), (6, Some((1, 1))));
    }

    #[test]
    fn the_callback_can_stop_training() {
        let mut m = scripted(
            &[1.0; 10],
            Some(&[5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.4, 0.3, 0.2, 0.1]),
        );
        let done = EpochLoop::new(10, Instant::now())
            .with_validation("v", Goal::Minimise, None)
            .run(&mut m, &mut |r: &EpochReport| {
                if r.epoch == 4 {
                    Control::Stop
                } else {
                    Control::Continue
                }
            })
            .unwrap();
        assert_eq!((done.epochs_run, done.best), (4, Some((4, 4))));
        assert_eq!(m.trained, [1, 2, 3, 4]);
    }

    #[test]
    fn a_non_finite_loss_is_an_error_naming_epoch_and_loss() {
        let mut m = scripted(&[1.0, f64::NAN, 1.0], None);
        let e = EpochLoop::<usize>::new(3, Instant::now())
            .run(&mut m, &mut NoProgress)
            .unwrap_err();
        assert!(
            matches!(
                e,
                ModelError::Diverged {
                    epoch: 2,
                    what: "loss",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("epoch 2"), "{e}");
        assert_eq!(m.trained, [1, 2]);
    }

    #[test]
    fn shuffled_batches_cover_the_rows_reproducibly() {
        let mut a: Vec<u32> = (0..10).collect();
        let mut b = a.clone();
        let ba: Vec<Vec<u32>> = shuffled_batches(&mut a, &mut ChaCha8Rng::seed_from_u64(1), 4)
            .map(<[u32]>::to_vec)
            .collect();
        let bb: Vec<Vec<u32>> = shuffled_batches(&mut b, &mut ChaCha8Rng::seed_from_u64(1), 4)
            .map(<[u32]>::to_vec)
            .collect();
        assert_eq!(ba, bb);
        assert_eq!(ba.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
        let mut all: Vec<u32> = ba.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn batches_cover_rows_in_order() {
        let b: Vec<_> = sequential_batches(10, 4).collect();
        assert_eq!(b, vec![0..4, 4..8, 8..10]);
        assert_eq!(sequential_batches(0, 4).count(), 0);
        assert_eq!(sequential_batches(8, 4).count(), 2);
    }

    #[test]
    fn noise_is_reproducible_and_standard() {
        let _same = crate::simd_paths::same_level();
        let a = Noise::new(7).draw(20_000);
        let b = Noise::new(7).draw(20_000);
        assert_eq!(a, b);
        let mut n = Noise::new(7);
        let first = n.draw(100);
        let second = n.draw(100);
        assert_ne!(first, second, "successive draws differ");
        assert_eq!(
            first[..],
            a[..100],
            "a prefix does not depend on the length"
        );
        assert_ne!(Noise::new(8).draw(100), first);
        let mean = a.iter().map(|&v| v as f64).sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
        // Blocks do not repeat each other.
        assert_ne!(a[..Noise::BLOCK], a[Noise::BLOCK..2 * Noise::BLOCK]);
    }

    #[test]
    fn non_finite_losses_are_errors() {
        assert!(check_finite(1.0, 3, "user").is_ok());
        let e = check_finite(f64::NAN, 3, "user").unwrap_err();
        assert!(e.to_string().contains("epoch 3"), "{e}");
        assert!(check_finite(f64::INFINITY, 1, "item").is_err());
    }
}
