//! Building blocks shared by the autoencoders: activations, likelihoods, PyTorch-style
//! linear layers, and a Gaussian encoder whose first layer reads a sparse batch.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use recs_core::ParamError;
use serde::{Deserialize, Serialize};

use crate::Result;

/// The activation between an encoder's hidden layers (Cornac's `act_fn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh x` (Cornac's default).
    Tanh,
    /// `x` if `x > 0`, else `e^x - 1` (α = 1).
    Elu,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
}

impl Activation {
    /// Every activation, in the order Cornac lists them.
    pub const ALL: [Activation; 5] = [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Elu,
        Activation::Relu,
        Activation::Relu6,
    ];

    /// Every activation's name, in the order of [`Activation::ALL`] (what the params'
    /// schemas offer).
    pub(crate) const NAMES: &'static [&'static str] = &["sigmoid", "tanh", "elu", "relu", "relu6"];

    /// The name Cornac uses (`"tanh"`, …).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Elu => "elu",
            Activation::Relu => "relu",
            Activation::Relu6 => "relu6",
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = ParamError;

    fn from_str(s: &str) -> Result<Self, ParamError> {
        Activation::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| ParamError::new("act_fn", s, "one of sigmoid, tanh, elu, relu, relu6"))
    }
}

/// How the decoder's output `x̂ = sigmoid(θ·βᵀ)` explains the (binarised) data `x`
/// (Cornac's `likelihood`). Cornac adds `EPS = 1e-10` inside every log; so do we.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Likelihood {
    /// Bernoulli: `x log(x̂ + ε) + (1 − x) log(1 − x̂ + ε)`.
    Bern,
    /// Gaussian with unit variance, up to constants: `−(x − x̂)²`.
    Gaus,
    /// Poisson, up to constants: `x log(x̂ + ε) − x̂` (Cornac's default).
    Pois,
}

impl Likelihood {
    /// Every likelihood.
    pub const ALL: [Likelihood; 3] = [Likelihood::Bern, Likelihood::Gaus, Likelihood::Pois];

    /// The name Cornac uses (`"pois"`, …).
    pub fn name(self) -> &'static str {
        match self {
            Likelihood::Bern => "bern",
            Likelihood::Gaus => "gaus",
            Likelihood::Pois => "pois",
        }
    }
}

impl fmt::Display for Likelihood {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Likelihood {
    type Err = ParamError;

    fn from_str(s: &str) -> Result<Self, ParamError> {
        Likelihood::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| ParamError::new("likelihood", s, "one of bern, gaus, pois"))
    }
}

/// A fully connected layer `y = x·w + b`, `w` stored `in × out`, `b` `1 × out`.
#[derive(Debug, Clone)]
pub(crate) struct Linear<M> {
    pub w: M,
    pub b: M,
}

/// Host data of a layer before it is moved to a backend.
pub(crate) type HostLinear = Linear<(Vec<f32>, usize, usize)>;

impl HostLinear {
    /// PyTorch's `nn.Linear` initialisation: weights from Kaiming-uniform with `a = √5`, which
    /// is `U(−1/√fan_in, 1/√fan_in)`, and biases from the same interval.
    pub(crate) fn torch_init(fan_in: usize, fan_out: usize, rng: &mut ChaCha8Rng) -> Self {
        let bound = 1.0 / (fan_in as f32).sqrt();
        let mut draw =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
        // PyTorch draws the weight, then the bias.
        let w = draw(fan_in * fan_out);
        let b = draw(fan_out);
        Linear {
            w: (w, fan_in, fan_out),
            b: (b, 1, fan_out),
        }
    }
}

impl<M> Linear<M> {
    pub(crate) fn try_map<N>(self, mut f: impl FnMut(M) -> Result<N>) -> Result<Linear<N>> {
        Ok(Linear {
            w: f(self.w)?,
            b: f(self.b)?,
        })
    }
}

/// An encoder `x ↦ (mu, std)`: hidden layers with an activation (the first reads a sparse
/// batch), then two linear heads, `mu` and `std = sigmoid(linear)` (BiVAE's parametrisation).
#[derive(Debug, Clone)]
pub(crate) struct GaussianEncoder<M> {
    pub hidden: Vec<Linear<M>>,
    pub act: Activation,
    pub mu: Linear<M>,
    pub std: Linear<M>,
}

impl GaussianEncoder<(Vec<f32>, usize, usize)> {
    /// PyTorch-style initialisation of `[n_in, dims…] → k`, drawing the hidden layers in
    /// order, then the `mu` head, then the `std` head (Cornac's module order).
    pub(crate) fn init(
        n_in: usize,
        dims: &[usize],
        k: usize,
        act: Activation,
        rng: &mut ChaCha8Rng,
    ) -> Self {
        let mut hidden = Vec::with_capacity(dims.len());
        let mut fan_in = n_in;
        for &d in dims {
            hidden.push(HostLinear::torch_init(fan_in, d, rng));
            fan_in = d;
        }
        let mu = HostLinear::torch_init(fan_in, k, rng);
        let std = HostLinear::torch_init(fan_in, k, rng);
        GaussianEncoder {
            hidden,
            act,
            mu,
            std,
        }
    }
}

impl<M> GaussianEncoder<M> {
    pub(crate) fn try_map<N>(
        self,
        mut f: impl FnMut(M) -> Result<N>,
    ) -> Result<GaussianEncoder<N>> {
        let hidden = self
            .hidden
            .into_iter()
            .map(|l| l.try_map(&mut f))
            .collect::<Result<Vec<_>>>()?;
        Ok(GaussianEncoder {
            hidden,
            act: self.act,
            mu: self.mu.try_map(&mut f)?,
            std: self.std.try_map(&mut f)?,
        })
    }

    /// Parameter names and tensors, in a fixed order (the optimiser's and the file's).
    pub(crate) fn named_params(&self) -> Vec<(String, &M)> {
        let mut out = Vec::with_capacity(2 * self.hidden.len() + 4);
        for (i, l) in self.hidden.iter().enumerate() {
            out.push((format!("fc{i}.weight"), &l.w));
            out.push((format!("fc{i}.bias"), &l.b));
        }
        out.push(("mu.weight".into(), &self.mu.w));
        out.push(("mu.bias".into(), &self.mu.b));
        out.push(("std.weight".into(), &self.std.w));
        out.push(("std.bias".into(), &self.std.b));
        out
    }

    /// The parameters, mutably, in the order of [`GaussianEncoder::named_params`].
    pub(crate) fn params_mut(&mut self) -> Vec<&mut M> {
        let mut out = Vec::with_capacity(2 * self.hidden.len() + 4);
        for l in &mut self.hidden {
            out.push(&mut l.w);
            out.push(&mut l.b);
        }
        out.push(&mut self.mu.w);
        out.push(&mut self.mu.b);
        out.push(&mut self.std.w);
        out.push(&mut self.std.b);
        out
    }
}
