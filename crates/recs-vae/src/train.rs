//! Pieces of a training loop shared by the models: row batches, seeded noise, progress
//! reports and the divergence guard.

use std::fmt;
use std::ops::Range;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, VaeError};
use crate::kernels;

/// What a model reports after each training epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    /// The epoch just finished, from 1.
    pub epoch: usize,
    /// Epochs in the whole run.
    pub n_epochs: usize,
    /// The epoch's losses by name (BiVAE: `"item"` then `"user"`), each the mean over the
    /// epoch's rows of a row's negative ELBO (β-weighted KL minus log-likelihood).
    pub losses: Vec<(&'static str, f64)>,
    /// Seconds this epoch took.
    pub seconds: f64,
    /// Seconds since training started (initialisation included).
    pub elapsed_seconds: f64,
}

impl EpochReport {
    /// The loss called `name`, if the model reports one.
    pub fn loss(&self, name: &str) -> Option<f64> {
        self.losses
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, v)| v)
    }
}

impl fmt::Display for EpochReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "epoch {}/{}", self.epoch, self.n_epochs)?;
        for (name, v) in &self.losses {
            write!(f, "  {name} loss {v:.4}")?;
        }
        write!(
            f,
            "  ({:.3} s, {:.1} s total)",
            self.seconds, self.elapsed_seconds
        )
    }
}

/// The progress callback models accept: called once after every epoch.
pub type Progress<'a> = Option<&'a mut dyn FnMut(&EpochReport)>;

/// Consecutive row ranges of `batch_size` covering `0..n` in order (the last may be
/// shorter), as Cornac's `user_iter`/`item_iter` with `shuffle=False` give them.
pub(crate) fn sequential_batches(
    n: usize,
    batch_size: usize,
) -> impl Iterator<Item = Range<usize>> {
    let bs = batch_size.max(1);
    (0..n.div_ceil(bs)).map(move |b| b * bs..((b + 1) * bs).min(n))
}

/// Returns `Err(NonFiniteLoss)` unless `value` is finite.
pub(crate) fn check_finite(value: f64, epoch: usize, what: &'static str) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(VaeError::NonFiniteLoss { epoch, what, value })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_rows_in_order() {
        let b: Vec<_> = sequential_batches(10, 4).collect();
        assert_eq!(b, vec![0..4, 4..8, 8..10]);
        assert_eq!(sequential_batches(0, 4).count(), 0);
        assert_eq!(sequential_batches(8, 4).count(), 2);
    }

    #[test]
    fn noise_is_reproducible_and_standard() {
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
