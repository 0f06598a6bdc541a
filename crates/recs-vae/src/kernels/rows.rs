//! The pieces of a row-batch autoencoder step that Mult-VAE and RecVAE share: the input's
//! L2 normalisation and dropout, the sparse first layer and its weight gradient, the bias
//! add, and the fused softmax likelihood with its gradient.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use recs_core::ScoreError;
use recs_core::multiversion;
use recs_sparse::{CsrMatrix, DuplicatePolicy};

use crate::kernels;

multiversion! {
    /// `v ← e^(v − m)`; returns the sum (vectorised).
    pub(crate) fn exp_shift<M>(v: &mut [f32], m: f32) -> f64 {
        let mut acc = [0.0f32; 8];
        let mut chunks = v.chunks_exact_mut(8);
        for c in &mut chunks {
            for l in 0..8 {
                c[l] = kernels::exp::<M>(c[l] - m);
                acc[l] += c[l];
            }
        }
        let mut s: f64 = acc.iter().map(|&a| f64::from(a)).sum();
        for x in chunks.into_remainder() {
            *x = kernels::exp::<M>(*x - m);
            s += f64::from(*x);
        }
        s
    }
}

// The elementwise loops below are compiled for AVX2 where the CPU has it (plain `*` and `+`,
// never fused, so the numbers are the same on every path).
multiversion! {
    /// `y[row] += b` for every row.
    pub(crate) fn add_bias(y: &mut [f32], b: &[f32]) {
        for row in y.chunks_exact_mut(b.len()) {
            for (v, &c) in row.iter_mut().zip(b) {
                *v += c;
            }
        }
    }
}

multiversion! {
    /// The sparse first layer: `a[row] += v · w[item]` for every batch entry.
    pub(crate) fn sparse_forward(input: &[(u32, u32, f32)], w: &[f32], h: usize, a: &mut [f32]) {
        for &(j, i, v) in input {
            let src = &w[i as usize * h..(i as usize + 1) * h];
            for (o, &wv) in a[j as usize * h..(j as usize + 1) * h].iter_mut().zip(src) {
                *o += v * wv;
            }
        }
    }
}

multiversion! {
    /// The sparse first layer's weight gradient: `gw[item − first] += v · d[row]` for every batch entry.
    pub(crate) fn sparse_backward(input: &[(u32, u32, f32)], d: &[f32], h: usize, first: u32, gw: &mut [f32]) {
        for &(j, i, v) in input {
            let dj = &d[j as usize * h..(j as usize + 1) * h];
            let at = (i - first) as usize * h;
            for (g, &dv) in gw[at..at + h].iter_mut().zip(dj) {
                *g += v * dv;
            }
        }
    }
}

multiversion! {
    /// [`sparse_backward`] for the items `first..first + gw.len() / h` only (entries of
    /// other items are skipped): one slice of the gradient's rows, so that slices can be
    /// filled on different threads, each element summed in entry order as the whole is.
    pub(crate) fn sparse_backward_items(input: &[(u32, u32, f32)], d: &[f32], h: usize, first: u32, gw: &mut [f32]) {
        let end = first as usize + gw.len() / h;
        for &(j, i, v) in input {
            if (i as usize) < first as usize || i as usize >= end {
                continue;
            }
            let dj = &d[j as usize * h..(j as usize + 1) * h];
            let at = (i - first) as usize * h;
            for (g, &dv) in gw[at..at + h].iter_mut().zip(dj) {
                *g += v * dv;
            }
        }
    }
}

/// The batch entries `(row in the batch, item, value)` of `rows` of `x`, each row
/// L2-normalised and, in training (`train` given, `dropout > 0`), dropped out: an entry is
/// kept with probability `1 − dropout` (one uniform draw from `train` per entry, in row
/// order) and then scaled by `1 / (1 − dropout)`. Every engine builds its input with this.
pub(crate) fn dropped_input(
    dropout: f32,
    x: &CsrMatrix,
    rows: &[u32],
    mut train: Option<&mut ChaCha8Rng>,
) -> Vec<(u32, u32, f32)> {
    let keep = 1.0 - dropout;
    let mut input = Vec::new();
    for (j, &r) in rows.iter().enumerate() {
        let row = x.row(r as usize);
        let norm = row
            .values
            .iter()
            .map(|v| v * v)
            .sum::<f32>()
            .sqrt()
            .max(1e-12);
        for (&i, &v) in row.indices.iter().zip(row.values) {
            let mut val = v / norm;
            if let Some(rng) = train.as_deref_mut() {
                if dropout > 0.0 {
                    if rng.random::<f32>() < keep {
                        val /= keep;
                    } else {
                        continue;
                    }
                }
            }
            input.push((j as u32, i, val));
        }
    }
    input
}

/// `Σ_rows −Σᵢ xᵢ log softmax(logits)ᵢ`, and `logits` replaced by `scale · (softmax · Σx − x)`.
pub(crate) fn softmax_nll(logits: &mut [f32], x: &CsrMatrix, rows: &[u32], scale: f32) -> f64 {
    let n_items = x.n_cols();
    logits
        .chunks_mut(n_items)
        .zip(rows.iter())
        .map(|(l, &r)| softmax_nll_row(l, x, r, scale))
        .sum()
}

/// [`softmax_nll`] with the rows on rayon's threads; the rows' losses are summed in row
/// order, so the result is [`softmax_nll`]'s, bit for bit.
pub(crate) fn par_softmax_nll(logits: &mut [f32], x: &CsrMatrix, rows: &[u32], scale: f32) -> f64 {
    use rayon::prelude::*;
    let n_items = x.n_cols();
    let per_row: Vec<f64> = logits
        .par_chunks_mut(n_items)
        .zip(rows.par_iter())
        .map(|(l, &r)| softmax_nll_row(l, x, r, scale))
        .collect();
    per_row.into_iter().sum()
}

/// One row of [`softmax_nll`]: the row's loss; its logits replaced by their gradient.
fn softmax_nll_row(l: &mut [f32], x: &CsrMatrix, r: u32, scale: f32) -> f64 {
    let row = x.row(r as usize);
    let m = l.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mut nll = 0.0f64;
    let mut picked = 0.0f64;
    for (&i, &v) in row.indices.iter().zip(row.values) {
        picked += f64::from(v) * f64::from(l[i as usize]);
    }
    let total: f32 = row.values.iter().sum();
    let s = exp_shift(l, m);
    let lse = f64::from(m) + s.ln();
    nll += f64::from(total) * lse - picked;
    let inv = (1.0 / s) as f32;
    for v in l.iter_mut() {
        *v *= inv * total * scale;
    }
    for (&i, &v) in row.indices.iter().zip(row.values) {
        l[i as usize] -= v * scale;
    }
    nll
}

/// A new user's items as a one-row matrix over `n_items` (what fold-in encodes); an item
/// index out of range is an error naming it.
pub(crate) fn items_row(items: &[u32], n_items: usize) -> Result<CsrMatrix, ScoreError> {
    if let Some(&bad) = items.iter().find(|&&i| i as usize >= n_items) {
        return Err(ScoreError::Model(format!(
            "item index {bad} is out of range: the model knows {n_items} items"
        )));
    }
    CsrMatrix::from_triplets(
        1,
        n_items,
        &vec![0; items.len()],
        items,
        &vec![1.0; items.len()],
        DuplicatePolicy::KeepLast,
    )
    .map_err(|e| ScoreError::Model(e.to_string()))
}
