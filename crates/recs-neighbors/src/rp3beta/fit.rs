//! Fitting: the two transition matrices and the top-K walk, on the requested thread count.

use recs_core::{ModelError, ModelParams as _};
use recs_sparse::CsrMatrix;

use super::model::Rp3Beta;
use super::params::Rp3BetaParams;
use crate::common::{Cut, top_k_product, with_threads, with_values};

/// Fits on `x` (users × items, values as given) with `params` (validated first).
pub(super) fn fit(params: &Rp3BetaParams, x: &CsrMatrix) -> Result<Rp3Beta, ModelError> {
    params.validate()?;
    let similarity = with_threads(params.threads, || similarity(x, params))??;
    Ok(Rp3Beta {
        params: params.clone(),
        user_items: x.clone(),
        similarity,
    })
}

/// RP3beta's item × item matrix `W` from `x` (users × items, values as given); see the
/// [module docs](super). Negative values are refused (they are not probabilities).
pub fn similarity(x: &CsrMatrix, params: &Rp3BetaParams) -> Result<CsrMatrix, ModelError> {
    if let Some(pos) = x.values().iter().position(|&v| v < 0.0) {
        let user = x.indptr().partition_point(|&p| p <= pos) - 1;
        return Err(ModelError::Data(format!(
            "rp3beta needs values >= 0 (walk probabilities): user {user}, item {} has {}",
            x.indices()[pos],
            x.values()[pos]
        )));
    }
    let alpha = params.alpha;
    // P_ui: each user's row over its sum, to the power alpha.
    let mut pui = Vec::with_capacity(x.nnz());
    for u in 0..x.n_rows() {
        let r = x.row(u);
        let sum: f64 = r.values.iter().map(|&v| f64::from(v)).sum();
        pui.extend(r.values.iter().map(|&v| {
            let p = if sum > 0.0 { f64::from(v) / sum } else { 0.0 };
            p.powf(alpha) as f32
        }));
    }
    let pui = with_values(x, pui)?;
    // P_iu: each item's users, 1 / pop(i) each, to the power alpha.
    let xt = x.transpose();
    let mut piu = Vec::with_capacity(xt.nnz());
    for i in 0..xt.n_rows() {
        let n = xt.row(i).len();
        piu.extend(std::iter::repeat_n(
            (n as f64).recip().powf(alpha) as f32,
            n,
        ));
    }
    let piu = with_values(&xt, piu)?;
    let penalty: Vec<f64> = (0..xt.n_rows())
        .map(|j| match xt.row(j).len() {
            0 => 0.0,
            n => (n as f64).powf(-params.beta),
        })
        .collect();
    let w = top_k_product(&piu, &pui, Cut::TopK(params.neighbours), |i, j, v| {
        let v = v * penalty[j];
        (i != j && v != 0.0).then_some(v)
    })?;
    if !params.normalize_similarity {
        return Ok(w);
    }
    let mut values = w.values().to_vec();
    for i in 0..w.n_rows() {
        let (a, b) = (w.indptr()[i], w.indptr()[i + 1]);
        let sum: f64 = values[a..b].iter().map(|&v| f64::from(v)).sum();
        if sum > 0.0 {
            values[a..b]
                .iter_mut()
                .for_each(|v| *v = (f64::from(*v) / sum) as f32);
        }
    }
    with_values(&w, values)
}
