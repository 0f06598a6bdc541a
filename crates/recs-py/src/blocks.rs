//! ALS's kernels for training across processes (`recs.ray.ALS`): the initial factors, the
//! Gram matrix of a half-iteration, one block of rows solved, and the model assembled from
//! the factors. The engine moves the arrays; the work is recs' own.

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

/// The Gram matrix (+ λI) of the fixed side's factors, and their squared norm.
#[pyfunction]
pub(crate) fn als_gram<'py>(
    py: Python<'py>,
    params_json: &str,
    fixed: PyReadonlyArray2<'py, f32>,
) -> PyResult<(Bound<'py, PyArray2<f32>>, f64)> {
    let p = params(params_json)?;
    let f = matrix(&fixed, p.factors, "fixed")?;
    let (g, norm) = py
        .detach(|| als::gram(f, &p))
        .map_err(|e| py_err(e.into()))?;
    Ok((rows_of(py, g, p.factors)?, norm))
}

/// Solves a block of rows (a CSR matrix: its rows × the fixed side's rows, as scipy's
/// arrays) from their current factors `x` against `fixed` and its `gram`; returns the new
/// factors and the block's part of the loss. With `threads` > 0 the rows are solved on a
/// pool of that many threads (what the engine gave the task), else on rayon's pool.
#[pyfunction]
#[pyo3(signature = (params_json, shape, indptr, indices, data, x, fixed, gram, threads=0))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn als_solve_block<'py>(
    py: Python<'py>,
    params_json: &str,
    shape: (usize, usize),
    indptr: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
    x: PyReadonlyArray2<'py, f32>,
    fixed: PyReadonlyArray2<'py, f32>,
    gram: PyReadonlyArray2<'py, f32>,
    threads: usize,
) -> PyResult<(Bound<'py, PyArray2<f32>>, f64)> {
    let p = params(params_json)?;
    let k = p.factors;
    let rows = csr(shape, indptr, indices, data)?;
    let mut out = matrix(&x, k, "x")?.to_vec();
    let (f, g) = (matrix(&fixed, k, "fixed")?, matrix(&gram, k, "gram")?);
    let loss = py
        .detach(|| {
            let pool = match threads {
                0 => None,
                n => Some(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(n)
                        .build()
                        .map_err(|e| {
                            recs_core::ModelError::Model(
                                format!("cannot start {n} threads: {e}").into(),
                            )
                        })?,
                ),
            };
            match pool {
                Some(pool) => pool.install(|| als::solve_block(&rows, &mut out, f, g, &p)),
                None => als::solve_block(&rows, &mut out, f, g, &p),
            }
        })
        .map_err(|e| py_err(e.into()))?;
    Ok((rows_of(py, out, k)?, loss))
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
    m.add_function(wrap_pyfunction!(als_gram, m)?)?;
    m.add_function(wrap_pyfunction!(als_solve_block, m)?)?;
    m.add_function(wrap_pyfunction!(als_model, m)?)?;
    Ok(())
}
