//! One progress report and one callback for every model's training loop.

use std::fmt;

/// What a model reports after each training epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    /// The epoch just finished, from 1.
    pub epoch: usize,
    /// Epochs in the whole run (the most it will train).
    pub epochs: usize,
    /// The epoch's training losses by name, each as the model defines it (BiVAE: `"item"`
    /// then `"user"`; most models one `"loss"`).
    pub losses: Vec<(&'static str, f64)>,
    /// A validation measure, when the model computes one (name, value).
    pub validation: Option<(&'static str, f64)>,
    /// Seconds this epoch took.
    pub seconds: f64,
    /// Seconds since training started (initialisation included).
    pub elapsed_seconds: f64,
}

impl EpochReport {
    /// The loss called `name`, if the model reports one (the validation measure counts).
    pub fn loss(&self, name: &str) -> Option<f64> {
        self.losses
            .iter()
            .chain(self.validation.iter())
            .find(|(n, _)| *n == name)
            .map(|&(_, v)| v)
    }

    /// The sum of the training losses (what a progress bar shows as "loss").
    pub fn total_loss(&self) -> f64 {
        self.losses.iter().map(|(_, v)| v).sum()
    }
}

impl fmt::Display for EpochReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "epoch {}/{}", self.epoch, self.epochs)?;
        for (name, v) in &self.losses {
            write!(f, "  {name} loss {v:.4}")?;
        }
        if let Some((name, v)) = self.validation {
            write!(f, "  {name} {v:.4}")?;
        }
        write!(
            f,
            "  ({:.3} s, {:.1} s total)",
            self.seconds, self.elapsed_seconds
        )
    }
}

/// What a progress callback tells the training loop after an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Control {
    /// Go on training.
    #[default]
    Continue,
    /// Stop now and keep what training has (the best epoch so far where the model keeps
    /// one, else the current weights).
    Stop,
}

/// The one progress callback every model's `fit` accepts: called once after every epoch.
///
/// Any `FnMut(&EpochReport) -> Control` is one, and so is [`NoProgress`].
pub trait Progress {
    /// Called after each epoch; returning [`Control::Stop`] ends training early.
    fn on_epoch(&mut self, report: &EpochReport) -> Control;
}

impl<F: FnMut(&EpochReport) -> Control> Progress for F {
    fn on_epoch(&mut self, report: &EpochReport) -> Control {
        self(report)
    }
}

/// A [`Progress`] that ignores every report and never stops training.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn on_epoch(&mut self, _report: &EpochReport) -> Control {
        Control::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(epoch: usize) -> EpochReport {
        EpochReport {
            epoch,
            epochs: 3,
            losses: vec![("item", 1.0), ("user", 2.0)],
            validation: Some(("ndcg@100", 0.25)),
            seconds: 0.1,
            elapsed_seconds: 0.2,
        }
    }

    #[test]
    fn closures_are_progress_and_can_stop() {
        let mut seen = Vec::new();
        let mut cb = |r: &EpochReport| {
            seen.push(r.epoch);
            if r.epoch == 2 {
                Control::Stop
            } else {
                Control::Continue
            }
        };
        let p: &mut dyn Progress = &mut cb;
        assert_eq!(p.on_epoch(&report(1)), Control::Continue);
        assert_eq!(p.on_epoch(&report(2)), Control::Stop);
        assert_eq!(seen, [1, 2]);
        assert_eq!(NoProgress.on_epoch(&report(1)), Control::Continue);
    }

    #[test]
    fn report_reads_losses_and_validation() {
        let r = report(1);
        assert_eq!(r.loss("user"), Some(2.0));
        assert_eq!(r.loss("ndcg@100"), Some(0.25));
        assert_eq!(r.loss("nope"), None);
        assert_eq!(r.total_loss(), 3.0);
        assert!(r.to_string().contains("epoch 1/3"));
    }
}
