//! Optimisers shared by the models.

use crate::backend::{AdamStep, Backend};
use crate::error::{Result, VaeError};

/// Adam (Kingma & Ba) exactly as `torch.optim.Adam` with default arguments computes it:
/// `m ← m + (1 − β₁)(g − m)`, `v ← β₂v + (1 − β₂)g²`,
/// `p ← p − lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + ε)`, no weight decay.
#[derive(Debug)]
pub(crate) struct Adam<M> {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    t: u64,
    moments: Vec<(M, M)>,
}

impl<M> Adam<M> {
    /// PyTorch's defaults (β₁ 0.9, β₂ 0.999, ε 1e-8) with learning rate `lr`, for parameters
    /// of the given shapes (one moment pair each).
    pub(crate) fn new<B: Backend<Mat = M>>(
        be: &B,
        lr: f64,
        shapes: &[(usize, usize)],
    ) -> Result<Self> {
        let moments = shapes
            .iter()
            .map(|&(r, c)| {
                Ok((
                    be.upload(vec![0.0; r * c], r, c)?,
                    be.upload(vec![0.0; r * c], r, c)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
            moments,
        })
    }

    /// Starts step `t + 1`: returns its coefficients (the caller then updates every
    /// parameter with them, as [`Adam::step`] does).
    pub(crate) fn next_step(&mut self) -> AdamStep {
        self.t += 1;
        let t = self.t as i32;
        AdamStep {
            beta1: self.beta1 as f32,
            beta2: self.beta2 as f32,
            eps: self.eps as f32,
            step_size: (self.lr / (1.0 - self.beta1.powi(t))) as f32,
            bias_correction2_sqrt: (1.0 - self.beta2.powi(t)).sqrt() as f32,
        }
    }

    /// The moment pairs `(m, v)`, one per parameter in construction order.
    pub(crate) fn moments_mut(&mut self) -> &mut [(M, M)] {
        &mut self.moments
    }

    /// One step over all parameters (the same order as at construction).
    pub(crate) fn step<B: Backend<Mat = M>>(
        &mut self,
        be: &B,
        params: Vec<&mut M>,
        grads: &[M],
    ) -> Result<()> {
        if params.len() != self.moments.len() || grads.len() != self.moments.len() {
            return Err(VaeError::InvalidData(format!(
                "optimiser holds {} parameters but got {} parameters and {} gradients",
                self.moments.len(),
                params.len(),
                grads.len()
            )));
        }
        let step = self.next_step();
        for ((p, g), (m, v)) in params.into_iter().zip(grads).zip(&mut self.moments) {
            be.adam_step(p, m, v, g, &step)?;
        }
        Ok(())
    }
}
