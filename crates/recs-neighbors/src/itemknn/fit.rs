//! Fitting: implicit's weighting of the user × item matrix, the sparse top-K item–item
//! product, and the fit on the requested thread count.

use recs_core::{ModelError, ModelParams as _};
use recs_sparse::CsrMatrix;

use super::model::ItemKnn;
use super::params::{ItemKnnParams, Weighting};
use crate::common::{Cut, top_k_product, with_threads};

/// Fits on `x` (users × items, values as given) with `params` (validated first).
pub(super) fn fit(params: &ItemKnnParams, x: &CsrMatrix) -> Result<ItemKnn, ModelError> {
    params.validate()?;
    let similarity = with_threads(params.threads, || {
        let wt = weighted_items(x, params)?;
        top_k_similarity(&wt, params.neighbours)
    })??;
    Ok(ItemKnn {
        params: params.clone(),
        user_items: x.clone(),
        similarity,
    })
}

/// The weighted items × users matrix `Wᵀ` implicit builds from `X` (users × items) before
/// its item–item product; see the [module docs](super) for the formulas. Values are
/// computed in `f64` and stored as `f32`. `bm25` and `tfidf` refuse negative values (a
/// square root, a saturation that could divide by zero).
pub fn weighted_items(x: &CsrMatrix, params: &ItemKnnParams) -> Result<CsrMatrix, ModelError> {
    let xt = x.transpose();
    let w = params.weighting;
    if matches!(w, Weighting::Bm25 | Weighting::Tfidf)
        && let Some(pos) = x.values().iter().position(|&v| v < 0.0)
    {
        let user = x.indptr().partition_point(|&p| p <= pos) - 1;
        return Err(ModelError::Data(format!(
            "{} weighting needs values >= 0: user {user}, item {} has {}",
            w.name(),
            x.indices()[pos],
            x.values()[pos]
        )));
    }
    let n_items = (0..xt.n_rows()).filter(|&i| !xt.row(i).is_empty()).count();
    // implicit's `log(N) - log1p(n_u)`, written as one logarithm of the ratio so that a user
    // with N − 1 items gets exactly 0 (the difference of two logarithms leaves ≈1e-16, which
    // cosine/TF-IDF normalisation would blow up to a full weight).
    let idf: Vec<f64> = (0..x.n_rows())
        .map(|u| (n_items as f64 / (1.0 + x.row(u).len() as f64)).ln())
        .collect();
    let mut values = Vec::with_capacity(xt.nnz());
    match w {
        Weighting::None => values.extend_from_slice(xt.values()),
        Weighting::Cosine | Weighting::Tfidf => {
            let mut row = Vec::new();
            for i in 0..xt.n_rows() {
                let r = xt.row(i);
                row.clear();
                row.extend(r.indices.iter().zip(r.values).map(|(&u, &v)| {
                    if w == Weighting::Tfidf {
                        (v as f64).sqrt() * idf[u as usize]
                    } else {
                        v as f64
                    }
                }));
                let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
                let scale = if norm > 0.0 { 1.0 / norm } else { 1.0 };
                values.extend(row.iter().map(|&v| (v * scale) as f32));
            }
        }
        Weighting::Bm25 => {
            let sums: Vec<f64> = (0..xt.n_rows())
                .map(|i| xt.row(i).values.iter().map(|&v| v as f64).sum())
                .collect();
            let mean = if n_items == 0 {
                0.0
            } else {
                sums.iter().sum::<f64>() / n_items as f64
            };
            let (k1, b) = (params.k1, params.b);
            for (i, &sum) in sums.iter().enumerate() {
                let ratio = if mean > 0.0 { sum / mean } else { 1.0 };
                let length_norm = (1.0 - b) + b * ratio;
                let r = xt.row(i);
                values.extend(r.indices.iter().zip(r.values).map(|(&u, &v)| {
                    let v = v as f64;
                    let denom = k1 * length_norm + v;
                    let tf = if denom > 0.0 {
                        v * (k1 + 1.0) / denom
                    } else {
                        0.0
                    };
                    (tf * idf[u as usize]) as f32
                }));
            }
        }
    }
    if let Some(pos) = values.iter().position(|v| !v.is_finite()) {
        return Err(ModelError::Data(format!(
            "{} weighting gave a non-finite weight at entry {pos}",
            w.name()
        )));
    }
    CsrMatrix::from_parts(
        xt.n_rows(),
        xt.n_cols(),
        xt.indptr().to_vec(),
        xt.indices().to_vec(),
        values,
    )
    .map_err(ModelError::model)
}

/// The top-`k` item × item similarity `WᵀW` of the weighted items × users matrix `wt`
/// (row i keeps the `k` largest entries of `Σ_u W[u, i] · W[u, ·]` over the items that
/// share a user with i, i itself included). Accumulates in `f64`; parallel over items on
/// the current rayon pool, with the same result whatever its size.
pub fn top_k_similarity(wt: &CsrMatrix, k: usize) -> Result<CsrMatrix, ModelError> {
    top_k_product(wt, &wt.transpose(), Cut::TopK(k), |_, _, v| Some(v))
}
