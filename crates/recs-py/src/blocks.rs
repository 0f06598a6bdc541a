//! ALS's kernels for training across processes (`recs.ray.ALS`): the initial factors, a
//! block's Gram parts, one block of rows solved against the other side's blocks and parts,
//! and the model assembled from the factors. The engine moves the arrays; the work is recs' own.

use numpy::{IntoPyArray, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use recs_core::modelfile::Catalog;
use recs_registry::blocks::als;

use crate::{Model, check_ids, csr, py_err, value_err};

type Factors<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<f32>>);

fn params(json: &str) -> PyResult<als::AlsParams> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(value_err)?;
    als::params(&v).map_err(py_err)
}

/// A C-contiguous float32 matrix of `factors` columns, as a flat slice's owner.
fn matrix<'a>(a: &'a PyReadonlyArray2<'_, f32>, k: usize, what: &str) -> PyResult<&'a [f32]> {
    let cols = a.shape()[1];
    if cols != k {
        return Err(PyValueError::new_err(format!(
            "{what} has {cols} columns; the params say factors = {k}"
        )));
    }
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{what} must be a C-contiguous float32 array")))
}

fn rows_of<'py>(py: Python<'py>, v: Vec<f32>, k: usize) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let n = v.len() / k.max(1);
    v.into_pyarray(py).reshape([n, k])
}

/// The factors ALS's fit starts from with these params (`params_for`'s JSON): users, items.
#[pyfunction]
pub(crate) fn als_initial_factors<'py>(
    py: Python<'py>,
    params_json: &str,
    n_users: usize,
    n_items: usize,
) -> PyResult<Factors<'py>> {
    let p = params(params_json)?;
    let (u, i) = als::initial_factors(&p, n_users, n_items);
    Ok((rows_of(py, u, p.factors)?, rows_of(py, i, p.factors)?))
}

/// Rows per Gram part of a side of `n_rows` rows: blocks start on multiples of it.
#[pyfunction]
pub(crate) fn als_gram_rows(n_rows: usize) -> usize {
    als::gram_rows(n_rows)
}

/// The Gram parts of a block of factors (`rows` rows each; the block starts on a multiple
/// of `rows` of its side), as a `(parts × k, k)` array.
#[pyfunction]
pub(crate) fn als_gram_parts<'py>(
    py: Python<'py>,
    params_json: &str,
    x: PyReadonlyArray2<'py, f32>,
    rows: usize,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let p = params(params_json)?;
    let v = matrix(&x, p.factors, "x")?;
    let parts = py
        .detach(|| als::gram_parts(v, rows, &p))
        .map_err(|e| py_err(e.into()))?;
    rows_of(py, parts, p.factors)
}

type Solved<'py> = (
    Bound<'py, PyArray2<f32>>,
    f64,
    Option<Bound<'py, PyArray2<f32>>>,
    f64,
    f64,
);

/// Solves a block of rows (a CSR matrix: its rows × the fixed side's rows, as scipy's
/// arrays) from their current factors `x` against the fixed side: its factors as the list
/// of blocks that solved them (read in place, in order) and those blocks' Gram parts.
/// Returns the new factors, the block's part of the loss, with `gram_rows` > 0 the new
/// factors' Gram parts (else None), ‖fixed‖², and λ's weight on the block's new rows
/// (`reg_norm`). With `threads` > 0 the work runs on a
/// pool of that many threads (what the engine gave the task), else on rayon's pool.
#[pyfunction]
#[pyo3(signature = (params_json, shape, indptr, indices, data, x, fixed, fixed_parts, threads=0, gram_rows=0))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn als_solve_block<'py>(
    py: Python<'py>,
    params_json: &str,
    shape: (usize, usize),
    indptr: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
    x: PyReadonlyArray2<'py, f32>,
    fixed: Vec<PyReadonlyArray2<'py, f32>>,
    fixed_parts: Vec<PyReadonlyArray2<'py, f32>>,
    threads: usize,
    gram_rows: usize,
) -> PyResult<Solved<'py>> {
    let p = params(params_json)?;
    let k = p.factors;
    let rows = csr(shape, indptr, indices, data)?;
    let mut out = matrix(&x, k, "x")?.to_vec();
    let f = fixed
        .iter()
        .map(|b| matrix(b, k, "a fixed block"))
        .collect::<PyResult<Vec<_>>>()?;
    let parts = fixed_parts
        .iter()
        .map(|b| matrix(b, k, "a block's Gram parts"))
        .collect::<PyResult<Vec<_>>>()?
        .concat();
    let (loss, own, fixed_norm, own_norm) = py
        .detach(|| {
            let mut work = || -> Result<_, recs_core::ModelError> {
                let (g, fixed_norm) = als::gram_from_parts(&parts, &p)?;
                let loss = als::solve_block(&rows, &mut out, &f, &g, &p)?;
                let own = match gram_rows {
                    0 => None,
                    n => Some(als::gram_parts(&out, n, &p)?),
                };
                let own_norm = als::reg_norm(&rows, &out, &p)?;
                Ok((loss, own, fixed_norm, own_norm))
            };
            match threads {
                0 => work(),
                n => rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .map_err(|e| {
                        recs_core::ModelError::Model(
                            format!("cannot start {n} threads: {e}").into(),
                        )
                    })?
                    .install(work),
            }
        })
        .map_err(|e| py_err(e.into()))?;
    let own = own.map(|v| rows_of(py, v, k)).transpose()?;
    Ok((rows_of(py, out, k)?, loss, own, fixed_norm, own_norm))
}

/// The ALS model of these factors and params, with the training matrix's pattern (what
/// `filter_already_liked_items` reads) and external ids where given.
#[pyfunction]
#[pyo3(signature = (params_json, user_factors, item_factors, indptr, indices, user_ids=None, item_ids=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn als_model(
    py: Python<'_>,
    params_json: &str,
    user_factors: PyReadonlyArray2<'_, f32>,
    item_factors: PyReadonlyArray2<'_, f32>,
    indptr: &Bound<'_, PyAny>,
    indices: &Bound<'_, PyAny>,
    user_ids: Option<Vec<String>>,
    item_ids: Option<Vec<String>>,
) -> PyResult<Model> {
    let p = params(params_json)?;
    let k = p.factors;
    let u = matrix(&user_factors, k, "user_factors")?.to_vec();
    let i = matrix(&item_factors, k, "item_factors")?.to_vec();
    let shape = (u.len() / k, i.len() / k);
    let n_nnz = indices.len()?;
    let ones = vec![1f32; n_nnz].into_pyarray(py);
    let seen = csr(shape, indptr, indices, ones.as_any())?;
    check_ids(&user_ids, &item_ids, shape, "the factors' side")?;
    let model = als::model(&p, u, i).map_err(py_err)?;
    Ok(Model::new(
        model,
        Catalog {
            user_ids,
            item_ids,
            seen: Some(seen),
        },
    ))
}

/// Registers the functions.
pub(crate) fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(als_initial_factors, m)?)?;
    m.add_function(wrap_pyfunction!(als_gram_rows, m)?)?;
    m.add_function(wrap_pyfunction!(als_gram_parts, m)?)?;
    m.add_function(wrap_pyfunction!(als_solve_block, m)?)?;
    m.add_function(wrap_pyfunction!(als_model, m)?)?;
    Ok(())
}
