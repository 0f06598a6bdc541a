//! The one Adam of the crate: `torch.optim.Adam` with default arguments.
//!
//! - [`Adam`] holds the hyper-parameters and the step count and gives each step's
//!   coefficients ([`AdamStep`]);
//! - [`update`] applies one step to a slice of parameters with their moments and gradient:
//!   a whole parameter, a block of one (Mult-VAE's fused per-block step, BiVAE's first-layer
//!   row blocks) or one column's weights (AutoRec's fused per-column step).
//!
//! Adam over a whole parameter set living on a training backend (BiVAE's encoders, the
//! candle engines' weights) is the backend's `AdamSet`, built on these.
//!
//! The formula (PyTorch's): `g ← g + λp` (only with a decay `λ`),
//! `m ← m + (1 − β₁)(g − m)`, `v ← β₂v + (1 − β₂)g²`,
//! `p ← p − lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + ε)`.
//!
//! How the multiplies and adds round is the caller's [`Rounding`]: BiVAE and Mult-VAE use
//! [`Plain`] (a separate multiply and add each, the same bits on every SIMD path), AutoRec
//! [`Madds`] (multiply-adds, fused on the vector paths). The two differ in the last bits
//! only; each model keeps the one its seeded numbers were recorded with. The candle backend
//! computes the same formula with device tensor ops (its `adam_step`).

use std::marker::PhantomData;

use recs_core::multiversion;
use recs_core::simd::Madd;

/// The per-step coefficients of an Adam update (PyTorch's formulation).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdamStep {
    /// β₁.
    pub beta1: f32,
    /// β₂.
    pub beta2: f32,
    /// ε, added to the bias-corrected square root of the second moment.
    pub eps: f32,
    /// `lr / (1 - β₁ᵗ)`.
    pub step_size: f32,
    /// `sqrt(1 - β₂ᵗ)`.
    pub bias_correction2_sqrt: f32,
}

/// Adam's hyper-parameters (PyTorch's defaults: β₁ 0.9, β₂ 0.999, ε 1e-8) and step count.
#[derive(Debug, Clone)]
pub(crate) struct Adam {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    t: u64,
}

impl Adam {
    /// PyTorch's defaults with learning rate `lr`, before its first step.
    pub(crate) fn new(lr: f64) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
        }
    }

    /// Starts step `t + 1`: returns its coefficients, with which the caller then
    /// [`update`]s every parameter.
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
}

/// How an Adam update rounds its multiplies and adds (see the module documentation).
pub(crate) trait Rounding {
    /// `g + λ·p`.
    fn decayed(g: f32, p: f32, decay: f32) -> f32;
    /// The new first moment `m + c₁(g − m)`, `c₁ = 1 − β₁`.
    fn first(m: f32, g: f32, c1: f32) -> f32;
    /// The new second moment `β₂v + c₂g²`, `c₂ = 1 − β₂`.
    fn second(v: f32, g: f32, b2: f32, c2: f32) -> f32;
}

/// A separate multiply and add for each term, left to right as the formula is written
/// (`β₂·v + c₂·g·g`): the same bits on every SIMD path. BiVAE's and Mult-VAE's rounding.
#[derive(Debug)]
pub(crate) struct Plain;

impl Rounding for Plain {
    #[inline(always)]
    fn decayed(g: f32, p: f32, decay: f32) -> f32 {
        if decay == 0.0 { g } else { g + decay * p }
    }
    #[inline(always)]
    fn first(m: f32, g: f32, c1: f32) -> f32 {
        m + c1 * (g - m)
    }
    #[inline(always)]
    fn second(v: f32, g: f32, b2: f32, c2: f32) -> f32 {
        b2 * v + c2 * g * g
    }
}

/// Multiply-adds through `M` (`madd(λ, p, g)`, `madd(c₁, g − m, m)`, `madd(c₂, g², β₂v)`):
/// fused on the vector paths, which then agree with each other but not bit for bit with
/// the portable path. AutoRec's rounding.
#[derive(Debug)]
pub(crate) struct Madds<M>(PhantomData<M>);

impl<M: Madd> Rounding for Madds<M> {
    #[inline(always)]
    fn decayed(g: f32, p: f32, decay: f32) -> f32 {
        M::madd(decay, p, g)
    }
    #[inline(always)]
    fn first(m: f32, g: f32, c1: f32) -> f32 {
        M::madd(c1, g - m, m)
    }
    #[inline(always)]
    fn second(v: f32, g: f32, b2: f32, c2: f32) -> f32 {
        M::madd(c2, g * g, b2 * v)
    }
}

/// One Adam step of the parameters `p` with moments `m`, `v` and gradient `g` (all the same
/// length), with the L2 decay `decay` (`0`: none) added to the gradient first. Inline, so
/// that it compiles into the caller's SIMD context (a [`multiversion!`] body).
#[inline(always)]
pub(crate) fn update<R: Rounding>(
    p: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    g: &[f32],
    decay: f32,
    s: &AdamStep,
) {
    let (c1, c2, b2) = (1.0 - s.beta1, 1.0 - s.beta2, s.beta2);
    for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
        let g = R::decayed(g, *p, decay);
        let mi = R::first(*m, g, c1);
        let vi = R::second(*v, g, b2, c2);
        *m = mi;
        *v = vi;
        *p -= s.step_size * mi / (vi.sqrt() / s.bias_correction2_sqrt + s.eps);
    }
}

multiversion! {
    /// [`update`] with [`Plain`] rounding and no decay, vectorised (BiVAE, Mult-VAE).
    pub(crate) fn update_plain(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], s: &AdamStep) {
        update::<Plain>(p, m, v, g, 0.0, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recs_core::simd::{NoFma, WithFma};

    /// PyTorch's Adam in f64 on one scalar parameter.
    fn reference(p0: f64, grads: &[f64], lr: f64, decay: f64) -> f64 {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let (mut p, mut m, mut v) = (p0, 0.0, 0.0);
        for (t, &g) in grads.iter().enumerate() {
            let t = t as i32 + 1;
            let g = g + decay * p;
            m = b1 * m + (1.0 - b1) * g;
            v = b2 * v + (1.0 - b2) * g * g;
            let denom = v.sqrt() / (1.0 - b2.powi(t)).sqrt() + eps;
            p -= lr / (1.0 - b1.powi(t)) * m / denom;
        }
        p
    }

    /// One Adam update of a slice (parameters, first and second moments, gradient).
    type Update<'a> = &'a dyn Fn(&mut [f32], &mut [f32], &mut [f32], &[f32], &AdamStep);

    #[test]
    fn every_rounding_is_pytorchs_formula() {
        let grads = [0.3, -1.2, 0.05, 2.0, -0.7];
        for decay in [0.0f32, 0.1] {
            let want = reference(0.5, &grads, 0.01, f64::from(decay));
            let run = |f: Update<'_>| {
                let mut adam = Adam::new(0.01);
                let (mut p, mut m, mut v) = ([0.5f32], [0.0f32], [0.0f32]);
                for &g in &grads {
                    let s = adam.next_step();
                    f(&mut p, &mut m, &mut v, &[g as f32], &s);
                }
                f64::from(p[0])
            };
            let plain = run(&|p, m, v, g, s| update::<Plain>(p, m, v, g, decay, s));
            let fused = run(&|p, m, v, g, s| update::<Madds<WithFma>>(p, m, v, g, decay, s));
            let unfused = run(&|p, m, v, g, s| update::<Madds<NoFma>>(p, m, v, g, decay, s));
            for got in [plain, fused, unfused] {
                assert!((got - want).abs() < 1e-6, "{got} vs {want}");
            }
        }
    }
}
