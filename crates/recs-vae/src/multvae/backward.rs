//! The backward pass of a batch up to every layer's delta (two seeded halves in parallel),
//! and the gradient of one parameter block from them.

use rand_chacha::ChaCha8Rng;
use recs_core::multiversion;
use recs_sparse::CsrMatrix;

use super::MultVae;
use super::forward::halves;
use super::layout::Part;
#[cfg(test)]
use super::layout::{BLOCK_FLOATS, blocks};
use crate::kernels::rows::{softmax_nll, sparse_backward};
use crate::kernels::{self, MatRef};

/// One batch's pass up to every layer's delta, the batch's rows in order.
pub(super) struct BatchDeltas {
    /// Rows in the batch.
    pub(super) rows: usize,
    /// Batch entries of the dropped-out normalised input, `(row, item, value)`, sorted by
    /// item then row.
    pub(super) entries: Vec<(u32, u32, f32)>,
    /// Per layer: its input, `rows × fan_in` (empty for the sparse first layer).
    pub(super) inputs: Vec<Vec<f32>>,
    /// Per layer: ∂loss/∂(its output before the activation), `rows × fan_out`.
    pub(super) deltas: Vec<Vec<f32>>,
    /// The batch loss without the L2 term.
    pub(super) loss: f64,
}

multiversion! {
    /// `g ← g ⊙ (1 − y²)`: back through a tanh whose output is `y`.
    pub(super) fn mul_tanh_grad(g: &mut [f32], y: &[f32]) {
        for (g, &y) in g.iter_mut().zip(y) {
            *g *= 1.0 - y * y;
        }
    }
}

impl MultVae {
    /// The forward and backward pass of one batch up to every layer's delta (no weight
    /// gradient yet). The two halves of the batch run in parallel, each with its own stream
    /// of dropout and noise drawn from `rng`, so the result does not depend on the thread
    /// count.
    pub(super) fn batch_deltas(
        &self,
        theta: &[f32],
        x: &CsrMatrix,
        rows: &[u32],
        beta: f32,
        rng: &mut ChaCha8Rng,
    ) -> BatchDeltas {
        let b = rows.len();
        let scale = 1.0 / b as f32;
        let [(r1, f1, mut g1), (r2, f2, mut g2)] = halves(rows, rng);
        let (mut d, d2) = rayon::join(
            || self.half_deltas(theta, x, r1, f1, beta, scale, &mut g1),
            || self.half_deltas(theta, x, r2, f2, beta, scale, &mut g2),
        );
        d.loss += d2.loss;
        d.entries.extend(d2.entries);
        d.entries.sort_unstable_by_key(|&(j, i, _)| (i, j));
        for (a, b) in d.inputs.iter_mut().zip(d2.inputs) {
            a.extend(b);
        }
        for (a, b) in d.deltas.iter_mut().zip(d2.deltas) {
            a.extend(b);
        }
        d.rows = b;
        d
    }

    /// [`MultVae::batch_deltas`] of the rows `rows` (the batch's rows `first..`), the loss
    /// scaled by `scale`; entries unsorted.
    #[allow(clippy::too_many_arguments)]
    fn half_deltas(
        &self,
        theta: &[f32],
        x: &CsrMatrix,
        rows: &[u32],
        first: u32,
        beta: f32,
        scale: f32,
        rng: &mut ChaCha8Rng,
    ) -> BatchDeltas {
        let p = &self.params;
        let b = rows.len();
        let n = self.layers.len();
        let mut out = BatchDeltas {
            rows: b,
            entries: Vec::new(),
            inputs: vec![Vec::new(); n],
            deltas: vec![Vec::new(); n],
            loss: 0.0,
        };
        if b == 0 {
            return out;
        }
        let mut pass = self.forward(theta, x, rows, Some(rng));
        let logits = pass.outs.last_mut().expect("a decoder layer");
        let nll = softmax_nll(logits, x, rows, scale);
        // Backward through the decoder: d holds ∂loss/∂(layer output before activation).
        let mut d = pass.outs.pop().expect("logits");
        for li in (self.n_enc..n).rev() {
            let l = self.layers[li];
            let mut dx = vec![0.0f32; b * l.fan_in];
            kernels::gemm_transposed(
                &mut dx,
                MatRef::new(&d, b, l.fan_out),
                MatRef::new(&theta[l.w..l.w + l.fan_in * l.fan_out], l.fan_in, l.fan_out).t(),
                false,
            );
            if li > self.n_enc {
                // Through the tanh of the previous decoder layer.
                mul_tanh_grad(&mut dx, &pass.outs[li - 1]);
            }
            out.inputs[li] = if li == self.n_enc {
                std::mem::take(&mut pass.z)
            } else {
                std::mem::take(&mut pass.outs[li - 1])
            };
            out.deltas[li] = std::mem::replace(&mut d, dx);
        }
        // d = ∂loss/∂z. Into the encoder head.
        let k = p.factors;
        let last = self.n_enc - 1;
        let mut kl = 0.0f64;
        let d_head = if p.variational {
            let head = &pass.outs[last];
            let mut dh = vec![0.0f32; b * 2 * k];
            for j in 0..b {
                for c in 0..k {
                    let (mu, lv) = (head[j * 2 * k + c], head[j * 2 * k + k + c]);
                    let e = lv.exp();
                    kl += -0.5 * f64::from(1.0 + lv - mu * mu - e);
                    let dz = d[j * k + c];
                    let std = (0.5 * lv).exp();
                    dh[j * 2 * k + c] = dz + beta * scale * mu;
                    dh[j * 2 * k + k + c] =
                        dz * pass.eps[j * k + c] * 0.5 * std + beta * scale * 0.5 * (e - 1.0);
                }
            }
            dh
        } else {
            let mut dh = d;
            mul_tanh_grad(&mut dh, &pass.outs[last]);
            dh
        };
        let mut d = d_head;
        for li in (1..self.n_enc).rev() {
            let l = self.layers[li];
            let mut dx = vec![0.0f32; b * l.fan_in];
            kernels::gemm_transposed(
                &mut dx,
                MatRef::new(&d, b, l.fan_out),
                MatRef::new(&theta[l.w..l.w + l.fan_in * l.fan_out], l.fan_in, l.fan_out).t(),
                false,
            );
            mul_tanh_grad(&mut dx, &pass.outs[li - 1]);
            out.inputs[li] = std::mem::take(&mut pass.outs[li - 1]);
            out.deltas[li] = std::mem::replace(&mut d, dx);
        }
        out.deltas[0] = d;
        out.entries = pass
            .input
            .into_iter()
            .map(|(j, i, v)| (j + first, i, v))
            .collect();
        out.loss = (nll + f64::from(beta) * kl) * f64::from(scale);
        out
    }

    /// The gradient of the batch loss with respect to the parameters `part` covers (whose
    /// values are `w`), into `g` (overwritten); returns their `Σ w²` for the L2 term (0 for a
    /// bias, which has none, or without weight decay).
    pub(super) fn block_grad(&self, d: &BatchDeltas, part: Part, w: &[f32], g: &mut [f32]) -> f64 {
        match part {
            Part::Rows { layer: 0, r0, r1 } => {
                g.fill(0.0);
                let h = self.layers[0].fan_out;
                let lo = d.entries.partition_point(|e| (e.1 as usize) < r0);
                let hi = d.entries.partition_point(|e| (e.1 as usize) < r1);
                sparse_backward(&d.entries[lo..hi], &d.deltas[0], h, r0 as u32, g);
            }
            Part::Rows { layer, r0, r1 } => {
                let l = self.layers[layer];
                kernels::gemm(
                    g,
                    MatRef::new(&d.inputs[layer], d.rows, l.fan_in)
                        .t()
                        .sub_rows(r0, r1),
                    MatRef::new(&d.deltas[layer], d.rows, l.fan_out),
                    false,
                    false,
                );
            }
            Part::Bias { layer } => {
                g.fill(0.0);
                let l = self.layers[layer];
                for row in d.deltas[layer].chunks_exact(l.fan_out) {
                    for (g, &dv) in g.iter_mut().zip(row) {
                        *g += dv;
                    }
                }
                return 0.0;
            }
        }
        decay(g, w, self.params.reg as f32)
    }

    /// The whole gradient of the batch loss into `grad` (overwritten), the blocks one after
    /// another; returns the loss. The reference [`MultVae::train_step`] is tested against.
    #[cfg(test)]
    pub(super) fn gradient(
        &self,
        theta: &[f32],
        x: &CsrMatrix,
        rows: &[u32],
        beta: f32,
        rng: &mut ChaCha8Rng,
        grad: &mut [f32],
    ) -> f64 {
        let d = self.batch_deltas(theta, x, rows, beta, rng);
        let wd = self.params.reg as f32;
        let mut reg = 0.0;
        let mut at = 0;
        for blk in blocks(&self.layers, BLOCK_FLOATS) {
            let g = &mut grad[at..at + blk.len];
            reg += self.block_grad(&d, blk.part, &theta[at..at + blk.len], g);
            at += blk.len;
        }
        d.loss + f64::from(wd) * reg
    }
}

/// Adds the L2 term's gradient `2 · wd · w` to `g`; returns `Σ w²` (0 when `wd` is 0).
fn decay(g: &mut [f32], w: &[f32], wd: f32) -> f64 {
    if wd <= 0.0 {
        return 0.0;
    }
    let mut reg = 0.0f64;
    for (g, &w) in g.iter_mut().zip(w) {
        *g += 2.0 * wd * w;
        reg += f64::from(w * w);
    }
    reg
}
