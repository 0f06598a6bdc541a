//! The operations a training loop needs, implemented twice:
//!
//! - [`native::Native`]: hand-written forward and backward passes on `f32` buffers for the
//!   CPU. A batch step is one row-parallel pass — for each chunk of rows, the sparse first
//!   layer ([`crate::kernels::sparse`]), the hidden layers and heads (gemm), the
//!   reparameterisation, the decoder with its likelihood gradient
//!   ([`crate::kernels::decode`]) and the backward pass down to the first layer — then one
//!   parallel reduction into the weight gradients. Every elementwise step is fused and
//!   compiled for AVX2 + FMA where available.
//! - [`candle::CandleOps`]: the same computation as candle tensor ops, one op at a time,
//!   on any candle [`Device`](candle_core::Device) (CUDA with the `cuda` feature). It follows
//!   PyTorch's formulas literally and is the reference the native kernels are tested
//!   against; its own backward pass is tested against candle's autograd.
//!
//! The training loops are written once, generic over [`Backend`]. Matrices are row-major
//! 2-D `f32`; a layer's weight is stored `in × out` (`y = x·W + b`), its bias `1 × out`.
//! [`AdamSet`] is the crate's one Adam ([`crate::optim`]) over a parameter set living on a
//! backend.

#[cfg(feature = "candle")]
pub(crate) mod candle;
pub(crate) mod native;

use std::ops::Range;

use recs_core::ModelError;
use recs_sparse::CsrMatrix;

use crate::Result;
use crate::nn::{GaussianEncoder, Likelihood};
use crate::optim::{Adam, AdamStep};

/// `EPS` in Cornac's likelihoods (`log(x̂ + EPS)`).
pub(crate) const LOG_EPS: f32 = 1e-10;

/// What one training step of an encoder against a fixed bilinear decoder gives.
#[cfg_attr(not(feature = "candle"), allow(dead_code))] // used by the candle engine (and tests)
#[derive(Debug)]
pub(crate) struct StepResult<M> {
    /// `Σ −ll(x, x̂)` over the batch.
    pub nll: f64,
    /// `Σ KL(q ‖ N(0, I))` over the batch.
    pub kl: f64,
    /// Gradients of `scale · (Σ −ll + β_KL · Σ KL)`, in the order of
    /// [`GaussianEncoder::named_params`].
    pub grads: Vec<M>,
}

/// The settings of a training step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepSpec {
    pub likelihood: Likelihood,
    /// β_KL.
    pub kl_weight: f32,
    /// The factor applied to the summed loss (BiVAE: `1 / batch rows`, the batch mean).
    pub scale: f32,
}

/// The operations of a training loop. See the module documentation.
pub(crate) trait Backend {
    /// A dense row-major 2-D `f32` matrix living where this backend computes.
    type Mat: Clone + std::fmt::Debug + Send;
    /// A batch of rows of a sparse matrix, ready to be a first layer's input.
    type Batch;
    /// Whether a training loop should build every batch once and keep it (cheap for a
    /// sparse batch) rather than build it again at each use (a dense one).
    const KEEP_BATCHES: bool;
    /// The other side's factors, prepared for the decoder (fixed for a whole pass).
    type Decoder;

    /// A matrix from host data (`data.len() == rows * cols`).
    fn upload(&self, data: Vec<f32>, rows: usize, cols: usize) -> Result<Self::Mat>;
    /// The matrix's elements, row-major, on the host.
    fn download(&self, m: &Self::Mat) -> Result<Vec<f32>>;
    /// `(rows, cols)`.
    fn shape(&self, m: &Self::Mat) -> (usize, usize);
    /// The rows `rows` of `x` as a batch.
    fn batch(&self, x: &CsrMatrix, rows: Range<usize>) -> Result<Self::Batch>;
    /// Prepares the fixed factors `other` (`n × k`) of a pass for the decoder.
    fn decoder(&self, other: &Self::Mat) -> Result<Self::Decoder>;

    /// The gradients of one training step of `enc` on batch `x` with noise `eps`
    /// (`rows × k`, standard normal): encode, sample `s = μ + ε ⊙ σ`, decode
    /// `x̂ = sigmoid(s · otherᵀ)` against `dec`, and back-propagate
    /// `scale · (Σ −ll(x, x̂) + β_KL · Σ KL)`.
    #[cfg_attr(not(feature = "candle"), allow(dead_code))] // used by the candle engine (and tests)
    fn gradients(
        &self,
        enc: &GaussianEncoder<Self::Mat>,
        x: &Self::Batch,
        eps: Vec<f32>,
        dec: &Self::Decoder,
        spec: StepSpec,
    ) -> Result<StepResult<Self::Mat>>;
    /// [`Backend::gradients`] followed by an Adam step of every parameter of `enc` (in
    /// place); returns `(Σ −ll, Σ KL)`. Backends may fuse the two.
    fn train_step(
        &self,
        enc: &mut GaussianEncoder<Self::Mat>,
        opt: &mut AdamSet<Self::Mat>,
        x: &Self::Batch,
        eps: Vec<f32>,
        dec: &Self::Decoder,
        spec: StepSpec,
    ) -> Result<(f64, f64)>;
    /// Samples `μ + ε ⊙ σ` of a batch (`eps` as in [`Backend::train_step`]).
    fn sample(
        &self,
        enc: &GaussianEncoder<Self::Mat>,
        x: &Self::Batch,
        eps: Vec<f32>,
    ) -> Result<Self::Mat>;
    /// The posterior means `μ` of a batch.
    fn mean(&self, enc: &GaussianEncoder<Self::Mat>, x: &Self::Batch) -> Result<Self::Mat>;

    /// One Adam update of `p` with moments `m`, `v` and gradient `g`, in place.
    #[cfg_attr(not(feature = "candle"), allow(dead_code))] // used by the candle engine (and tests)
    fn adam_step(
        &self,
        p: &mut Self::Mat,
        m: &mut Self::Mat,
        v: &mut Self::Mat,
        g: &Self::Mat,
        step: &AdamStep,
    ) -> Result<()>;
    /// Overwrites rows `start..start + src.rows` of `target` with `src`.
    fn set_rows(&self, target: &mut Self::Mat, start: usize, src: &Self::Mat) -> Result<()>;
}

/// Adam over a whole parameter set living on a backend: one moment pair per parameter.
#[derive(Debug)]
pub(crate) struct AdamSet<M> {
    adam: Adam,
    moments: Vec<(M, M)>,
}

impl<M> AdamSet<M> {
    /// PyTorch's defaults with learning rate `lr`, for parameters of the given shapes.
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
            adam: Adam::new(lr),
            moments,
        })
    }

    /// Starts the next step (see [`Adam::next_step`]); for callers that update the
    /// parameters themselves, block by block, through [`AdamSet::moments_mut`].
    pub(crate) fn next_step(&mut self) -> AdamStep {
        self.adam.next_step()
    }

    /// The moment pairs `(m, v)`, one per parameter in construction order.
    pub(crate) fn moments_mut(&mut self) -> &mut [(M, M)] {
        &mut self.moments
    }

    /// One step over all parameters (the same order as at construction).
    #[cfg_attr(not(feature = "candle"), allow(dead_code))] // used by the candle engine (and tests)
    pub(crate) fn step<B: Backend<Mat = M>>(
        &mut self,
        be: &B,
        params: Vec<&mut M>,
        grads: &[M],
    ) -> Result<()> {
        if params.len() != self.moments.len() || grads.len() != self.moments.len() {
            return Err(ModelError::Data(format!(
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

#[cfg(test)]
mod tests;
