//! The forward pass (sparse first layer, `gemm` dense layers, tanh, the reparameterisation)
//! and the batch's two seeded halves; the input's dropout, the sparse layer and the softmax
//! likelihood are `kernels::rows`'.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recs_core::multiversion;
use recs_sparse::CsrMatrix;

use super::layout::Layer;
use super::{MultVae, MultVaeParams};
use crate::kernels::rows::{add_bias, dropped_input, sparse_forward};
use crate::kernels::{self, MatRef};

/// Activations of one forward pass over a batch, kept for the backward pass.
pub(super) struct Pass {
    /// Batch entries of the dropped-out normalised input: (row, item, value).
    pub(super) input: Vec<(u32, u32, f32)>,
    /// Output of every layer after its activation (the VAE head: raw `[μ | log σ²]`; the
    /// last decoder layer: logits).
    pub(super) outs: Vec<Vec<f32>>,
    /// The latent sample (or code) fed to the decoder.
    pub(super) z: Vec<f32>,
    /// The noise ε (VAE, training).
    pub(super) eps: Vec<f32>,
}

impl MultVae {
    pub(super) fn forward(
        &self,
        theta: &[f32],
        x: &CsrMatrix,
        rows: &[u32],
        train: Option<&mut ChaCha8Rng>,
    ) -> Pass {
        forward(
            &self.params,
            &self.layers,
            self.n_enc,
            theta,
            x,
            rows,
            train,
        )
    }
}

multiversion! {
    /// `v ← tanh(v)` (Cephes tanhf, vectorised).
    pub(super) fn tanh_inplace<M>(v: &mut [f32]) {
        v.iter_mut().for_each(|x| *x = kernels::tanh::<M>(*x));
    }
}

/// A training batch's rows in two halves, each with its own random stream seeded by one
/// draw from `rng` (the first half's, then the second's), and the batch position of the
/// half's first row. Each half draws its dropout masks ([`dropped_input`](crate::kernels::rows::dropped_input)) and then, for
/// the VAE, its noise ε ([`kernels::normals`], `rows × factors`) from its stream: so the
/// native pass runs the halves in parallel, and every engine draws the same numbers.
pub(super) fn halves<'r>(
    rows: &'r [u32],
    rng: &mut ChaCha8Rng,
) -> [(&'r [u32], u32, ChaCha8Rng); 2] {
    let half = rows.len().div_ceil(2);
    let (s1, s2) = (rng.random::<u64>(), rng.random::<u64>());
    let (r1, r2) = rows.split_at(half);
    [
        (r1, 0, ChaCha8Rng::seed_from_u64(s1)),
        (r2, half as u32, ChaCha8Rng::seed_from_u64(s2)),
    ]
}

#[allow(clippy::too_many_arguments)]
pub(super) fn forward(
    p: &MultVaeParams,
    layers: &[Layer],
    n_enc: usize,
    theta: &[f32],
    x: &CsrMatrix,
    rows: &[u32],
    mut train: Option<&mut ChaCha8Rng>,
) -> Pass {
    let b = rows.len();
    let input = dropped_input(p.dropout, x, rows, train.as_deref_mut());
    let mut outs: Vec<Vec<f32>> = Vec::with_capacity(layers.len());
    // First layer: sparse rows of W1.
    let l0 = layers[0];
    let h = l0.fan_out;
    let mut a = vec![0.0f32; b * h];
    sparse_forward(&input, &theta[l0.w..l0.w + l0.fan_in * h], h, &mut a);
    add_bias(&mut a, &theta[l0.b..l0.b + h]);
    let last_enc = n_enc - 1;
    if !(p.variational && last_enc == 0) {
        tanh_inplace(&mut a);
    }
    outs.push(a);
    let dense = |l: Layer, input: &[f32]| -> Vec<f32> {
        let mut y = vec![0.0f32; b * l.fan_out];
        kernels::gemm_transposed(
            &mut y,
            MatRef::new(input, b, l.fan_in),
            MatRef::new(&theta[l.w..l.w + l.fan_in * l.fan_out], l.fan_in, l.fan_out),
            false,
        );
        add_bias(&mut y, &theta[l.b..l.b + l.fan_out]);
        y
    };
    for (li, &l) in layers.iter().enumerate().take(n_enc).skip(1) {
        let mut y = dense(l, &outs[li - 1]);
        if !(p.variational && li == last_enc) {
            tanh_inplace(&mut y);
        }
        outs.push(y);
    }
    let k = p.factors;
    let mut eps = Vec::new();
    let z = if p.variational {
        let head = &outs[last_enc];
        let mut z = vec![0.0f32; b * k];
        match train {
            Some(rng) => {
                eps = kernels::normals(rng, b * k);
                for j in 0..b {
                    for c in 0..k {
                        let (mu, lv) = (head[j * 2 * k + c], head[j * 2 * k + k + c]);
                        z[j * k + c] = mu + eps[j * k + c] * (0.5 * lv).exp();
                    }
                }
            }
            None => {
                for j in 0..b {
                    z[j * k..(j + 1) * k].copy_from_slice(&head[j * 2 * k..j * 2 * k + k]);
                }
            }
        }
        z
    } else {
        outs[last_enc].clone()
    };
    let n = layers.len();
    let mut prev = z.clone();
    for (li, &l) in layers.iter().enumerate().skip(n_enc) {
        let mut y = dense(l, &prev);
        if li + 1 < n {
            tanh_inplace(&mut y);
        }
        prev = y.clone();
        outs.push(y);
    }
    Pass {
        input,
        outs,
        z,
        eps,
    }
}
