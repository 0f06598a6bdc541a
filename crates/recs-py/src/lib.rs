//! The native half of the `recs` Python package (`recs._native`): every registered model
//! through the registry (one binding for all of them), ranking with implicit's filters,
//! cosine neighbours, the one model-file format, the metrics and the dataset registry.
//!
//! The Python half (`python/recs`) gives it implicit's calling conventions: keyword
//! hyper-parameters, scipy matrices, pickling, file objects, progress bars. This crate
//! takes plain arrays and releases the GIL for everything that takes time.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::{
    PyIndexError, PyNotImplementedError, PyOSError, PyRuntimeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use recs_core::modelfile::Catalog;
use recs_core::ranking::{Deadline, Filtered, Ranking, cosine_row, norms};
use recs_core::{
    Capability, Control, DynModel, EpochReport, ModelError, ModelFileError, Progress, ScoreError,
    TrainData,
};
use recs_registry::RegistryError;
use recs_sparse::CsrMatrix;

mod blocks;

/// The error and everything it wraps, joined by ": " (as the CLI prints it).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// Rust errors as the Python exceptions a user expects: a bad parameter or input is a
/// `ValueError`, an unknown user or item an `IndexError`, a file that cannot be read an
/// `OSError`; the message is the Rust one.
fn py_err(e: RegistryError) -> PyErr {
    let msg = chain(&e);
    match &e {
        RegistryError::UnknownModel { .. }
        | RegistryError::NotTaken { .. }
        | RegistryError::BadValue { .. } => PyValueError::new_err(msg),
        RegistryError::Model(m) => model_err(m, msg),
        RegistryError::File(f) => file_err(f, msg),
    }
}

fn model_err(e: &ModelError, msg: String) -> PyErr {
    match e {
        ModelError::Param(_) | ModelError::Data(_) => PyValueError::new_err(msg),
        ModelError::File(f) => file_err(f, msg),
        ModelError::Diverged { .. } | ModelError::Device { .. } => PyRuntimeError::new_err(msg),
        ModelError::Score(ScoreError::UnknownUser { .. }) => PyIndexError::new_err(msg),
        ModelError::Score(_) | ModelError::Model(_) => PyRuntimeError::new_err(msg),
    }
}

fn file_err(e: &ModelFileError, msg: String) -> PyErr {
    match e {
        ModelFileError::Io { .. } => PyOSError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

fn score_err(e: ScoreError) -> PyErr {
    let msg = e.to_string();
    model_err(&ModelError::Score(e), msg)
}

fn value_err(e: impl std::error::Error) -> PyErr {
    PyValueError::new_err(chain(&e))
}

/// A 1-D integer array of any integer dtype, copied once into `u32` indices below `bound`
/// (`what` names it in the error).
fn indices(obj: &Bound<'_, PyAny>, bound: usize, what: &str) -> PyResult<Vec<u32>> {
    ints(obj, bound, what, false)
}

/// Ids to filter out: as [`indices`], but ids at or past `bound` (which nothing could
/// return anyway) are dropped instead of refused.
fn filter_ids(obj: &Bound<'_, PyAny>, bound: usize, what: &str) -> PyResult<Vec<u32>> {
    ints(obj, bound, what, true)
}

fn ints(obj: &Bound<'_, PyAny>, bound: usize, what: &str, drop_past: bool) -> PyResult<Vec<u32>> {
    let out: Vec<i64> = if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, i32>>() {
        a.as_slice()?.iter().map(|&x| x as i64).collect()
    } else if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, i64>>() {
        a.as_slice()?.to_vec()
    } else if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, u32>>() {
        a.as_slice()?.iter().map(|&x| x as i64).collect()
    } else if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, u64>>() {
        a.as_slice()?
            .iter()
            .map(|&x| i64::try_from(x).unwrap_or(i64::MAX))
            .collect()
    } else {
        return Err(PyValueError::new_err(format!(
            "{what} must be a contiguous 1-D array of integers"
        )));
    };
    out.iter()
        .filter(|&&x| !(drop_past && x >= 0 && x as u64 >= bound as u64))
        .map(|&x| {
            if x >= 0 && (x as u64) < bound as u64 {
                Ok(x as u32)
            } else {
                Err(PyIndexError::new_err(format!(
                    "{what}: {x} is out of range 0..{bound}"
                )))
            }
        })
        .collect()
}

/// Row pointers of any integer dtype, copied once.
fn pointers(obj: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    let v: Vec<i64> = if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, i32>>() {
        a.as_slice()?.iter().map(|&x| x as i64).collect()
    } else if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, i64>>() {
        a.as_slice()?.to_vec()
    } else {
        return Err(PyValueError::new_err(
            "indptr must be a contiguous 1-D array of int32 or int64",
        ));
    };
    v.iter()
        .map(|&x| {
            usize::try_from(x)
                .map_err(|_| PyValueError::new_err(format!("indptr holds a negative entry {x}")))
        })
        .collect()
}

/// Values of float32 or float64, copied once into `f32`.
fn values(obj: &Bound<'_, PyAny>) -> PyResult<Vec<f32>> {
    if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, f32>>() {
        Ok(a.as_slice()?.to_vec())
    } else if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, f64>>() {
        Ok(a.as_slice()?.iter().map(|&x| x as f32).collect())
    } else {
        Err(PyValueError::new_err(
            "data must be a contiguous 1-D array of float32 or float64",
        ))
    }
}

/// A checked CSR matrix from scipy's three arrays.
fn csr(
    shape: (usize, usize),
    indptr: &Bound<'_, PyAny>,
    ind: &Bound<'_, PyAny>,
    data: &Bound<'_, PyAny>,
) -> PyResult<CsrMatrix> {
    let indptr = pointers(indptr)?;
    let ind = indices(ind, shape.1, "user_items.indices")?;
    let data = values(data)?;
    CsrMatrix::from_parts(shape.0, shape.1, indptr, ind, data)
        .map_err(|e| PyValueError::new_err(format!("user_items is not a valid CSR matrix: {e}")))
}

/// External ids, where given, one per user and item of `shape`; `of` names what has those
/// users and items in the error ("the matrix").
fn check_ids(
    user_ids: &Option<Vec<String>>,
    item_ids: &Option<Vec<String>>,
    shape: (usize, usize),
    of: &str,
) -> PyResult<()> {
    for (ids, n, what) in [
        (user_ids, shape.0, "user_ids"),
        (item_ids, shape.1, "item_ids"),
    ] {
        if let Some(ids) = ids
            && ids.len() != n
        {
            return Err(PyValueError::new_err(format!(
                "{what} has {} entries; {of} has {n}",
                ids.len()
            )));
        }
    }
    Ok(())
}

/// Per-epoch reports into a Python callable, which runs with the GIL; Ctrl-C (a pending
/// signal) or an exception in the callable stops training, and the error is raised once
/// `fit` returns.
struct PyProgress {
    callback: Option<Py<PyAny>>,
    error: Option<PyErr>,
}

impl Progress for PyProgress {
    fn on_epoch(&mut self, r: &EpochReport) -> Control {
        Python::attach(|py| {
            if let Err(e) = py.check_signals() {
                self.error = Some(e);
                return Control::Stop;
            }
            let Some(cb) = &self.callback else {
                return Control::Continue;
            };
            let losses = PyDict::new(py);
            for (name, v) in &r.losses {
                let _ = losses.set_item(*name, *v);
            }
            let validation = r.validation.map(|(n, v)| (n.to_string(), v));
            match cb.call1(
                py,
                (
                    r.epoch,
                    r.epochs,
                    r.elapsed_seconds,
                    r.total_loss(),
                    losses,
                    validation,
                ),
            ) {
                Ok(v) if v.bind(py).is(pyo3::types::PyBool::new(py, false)) => Control::Stop,
                Ok(_) => Control::Continue,
                Err(e) => {
                    self.error = Some(e);
                    Control::Stop
                }
            }
        })
    }
}

/// A trained model of any registered kind, with the catalogue it was trained on (external
/// ids in index order and each user's training items) where known.
#[pyclass(module = "recs._native", frozen)]
struct Model {
    model: Box<dyn DynModel>,
    catalog: Catalog,
    /// Each user's training items of a model read from a file, in place in the file's
    /// mapping (`catalog.seen` is then `None`): every process shares them.
    seen_in_file: Option<recs_core::modelfile::Pattern>,
    item_norms: OnceLock<Vec<f32>>,
    user_norms: OnceLock<Vec<f32>>,
}

impl Model {
    fn new(model: Box<dyn DynModel>, catalog: Catalog) -> Self {
        Self {
            model,
            catalog,
            seen_in_file: None,
            item_norms: OnceLock::new(),
            user_norms: OnceLock::new(),
        }
    }

    /// User `u`'s training items, where recorded.
    fn seen_row(&self, u: u32) -> Option<&[u32]> {
        match (&self.catalog.seen, &self.seen_in_file) {
            (Some(m), _) => Some(m.row(u as usize).indices),
            (None, Some(p)) => Some(p.row(u as usize)),
            (None, None) => None,
        }
    }

    /// The catalogue to write: a model read from a file writes its training items again.
    fn catalog_to_write(&self) -> PyResult<std::borrow::Cow<'_, Catalog>> {
        match (&self.catalog.seen, &self.seen_in_file) {
            (None, Some(p)) => Ok(std::borrow::Cow::Owned(Catalog {
                seen: Some(p.to_csr().map_err(value_err)?),
                user_ids: self.catalog.user_ids.clone(),
                item_ids: self.catalog.item_ids.clone(),
            })),
            _ => Ok(std::borrow::Cow::Borrowed(&self.catalog)),
        }
    }
}

/// A CSR pattern handed to Python: row pointers (int64) and column indices (int32).
type Pattern<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i32>>);

/// Two row-position arrays (train, test).
type RowSplit<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>);

type Ranked<'py> = (Bound<'py, PyArray2<i32>>, Bound<'py, PyArray2<f32>>);

fn to_arrays<'py>(py: Python<'py>, rows: Vec<Vec<(u32, f32)>>, k: usize) -> PyResult<Ranked<'py>> {
    let n = rows.len();
    let mut ids = Vec::with_capacity(n * k);
    let mut scores = Vec::with_capacity(n * k);
    for r in rows {
        for &(i, _) in &r {
            ids.push(i32::try_from(i).map_err(|_| {
                PyValueError::new_err(format!(
                    "item index {i} does not fit the int32 ids recommend returns"
                ))
            })?);
        }
        scores.extend(r.iter().map(|&(_, s)| s));
    }
    Ok((
        ids.into_pyarray(py).reshape([n, k])?,
        scores.into_pyarray(py).reshape([n, k])?,
    ))
}

/// Rows of a filter matrix (`indptr`, `indices` over `n_cols` columns) as slices.
struct Rows {
    indptr: Vec<usize>,
    indices: Vec<u32>,
}

impl Rows {
    fn read(
        indptr: Option<&Bound<'_, PyAny>>,
        ind: Option<&Bound<'_, PyAny>>,
        n_rows: usize,
        n_cols: usize,
    ) -> PyResult<Option<Self>> {
        let (Some(p), Some(i)) = (indptr, ind) else {
            return Ok(None);
        };
        let indptr = pointers(p)?;
        let indices = indices(i, n_cols, "user_items.indices")?;
        if indptr.len() != n_rows + 1
            || indptr.windows(2).any(|w| w[0] > w[1])
            || indptr.last() != Some(&indices.len())
        {
            return Err(PyValueError::new_err(format!(
                "user_items must have one row for every user asked for ({n_rows}), as CSR"
            )));
        }
        Ok(Some(Self { indptr, indices }))
    }

    fn row(&self, r: usize) -> &[u32] {
        &self.indices[self.indptr[r]..self.indptr[r + 1]]
    }
}

fn vectors_of<'a>(
    v: Option<recs_core::ItemVectors<'a>>,
    what: &str,
) -> PyResult<(&'a [f32], usize)> {
    v.map(|v| (v.data, v.dim))
        .ok_or_else(|| PyNotImplementedError::new_err(format!("this model has no {what} vectors")))
}

#[pymethods]
impl Model {
    /// Trains a model of registry kind `kind` with `params` (a JSON object as
    /// `params_for` returns) on a users × items CSR matrix given as scipy's arrays.
    /// `callback(epoch, epochs, elapsed, loss, losses, validation)` runs after every epoch
    /// (returning `False` stops training); Ctrl-C stops training and raises
    /// `KeyboardInterrupt`. The GIL is released while training.
    #[staticmethod]
    #[pyo3(signature = (kind, params, shape, indptr, indices, data, callback=None, user_ids=None, item_ids=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        py: Python<'_>,
        kind: &str,
        params: &str,
        shape: (usize, usize),
        indptr: &Bound<'_, PyAny>,
        indices: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
        callback: Option<Py<PyAny>>,
        user_ids: Option<Vec<String>>,
        item_ids: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let entry = recs_registry::find(kind).map_err(py_err)?;
        let params: serde_json::Value = serde_json::from_str(params).map_err(value_err)?;
        check_ids(&user_ids, &item_ids, shape, "the matrix")?;
        let matrix = csr(shape, indptr, indices, data)?;
        let mut progress = PyProgress {
            callback,
            error: None,
        };
        let fitted = py.detach(|| entry.fit(&params, &TrainData::new(&matrix), &mut progress));
        if let Some(e) = progress.error {
            return Err(e);
        }
        let model = fitted.map_err(py_err)?;
        let catalog = Catalog {
            user_ids,
            item_ids,
            seen: Some(matrix.binarize()),
        };
        Ok(Self::new(model, catalog))
    }

    /// Writes the model file (atomically: a temporary file, then a rename).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let catalog = self.catalog_to_write()?;
        py.detach(|| {
            recs_registry::save(
                &*self.model,
                &catalog,
                serde_json::json!({"by": "recs-python"}),
                &path,
            )
        })
        .map_err(py_err)
    }

    /// The model file's bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let catalog = self.catalog_to_write()?;
        let b = py
            .detach(|| {
                recs_registry::save_bytes(
                    &*self.model,
                    &catalog,
                    serde_json::json!({"by": "recs-python"}),
                )
            })
            .map_err(py_err)?;
        Ok(PyBytes::new(py, &b))
    }

    /// The registry kind (`"bpr"`).
    #[getter]
    fn kind(&self) -> &'static str {
        self.model.kind()
    }

    /// The parameters it was trained with, as JSON.
    #[getter]
    fn params(&self) -> String {
        self.model.params_json().to_string()
    }

    /// Number of users.
    #[getter]
    fn n_users(&self) -> usize {
        self.model.n_users()
    }

    /// Number of items.
    #[getter]
    fn n_items(&self) -> usize {
        self.model.n_items()
    }

    /// External user ids in index order, where known.
    #[getter]
    fn user_ids(&self) -> Option<Vec<String>> {
        self.catalog.user_ids.clone()
    }

    /// External item ids in index order, where known.
    #[getter]
    fn item_ids(&self) -> Option<Vec<String>> {
        self.catalog.item_ids.clone()
    }

    /// The training interactions' pattern as `(indptr, indices)` (int64, int32), where
    /// recorded.
    fn seen<'py>(&self, py: Python<'py>) -> Option<Pattern<'py>> {
        if !self.has_seen() {
            return None;
        }
        let n = self.model.n_users();
        let mut p: Vec<i64> = Vec::with_capacity(n + 1);
        let mut i: Vec<i32> = Vec::new();
        p.push(0);
        for u in 0..n as u32 {
            let row = self.seen_row(u)?;
            i.extend(row.iter().map(|&x| x as i32));
            p.push(i.len() as i64);
        }
        Some((p.into_pyarray(py), i.into_pyarray(py)))
    }

    /// Whether each user's training items are recorded (what `own_seen` filters).
    #[getter]
    fn has_seen(&self) -> bool {
        self.catalog.seen.is_some() || self.seen_in_file.is_some()
    }

    /// Whether it predicts ratings / has item vectors / user vectors / folds in new users.
    fn capabilities(&self) -> (bool, bool, bool, bool) {
        (
            self.model.rating_predictor().is_some(),
            self.model.item_vectors().is_some(),
            self.model.user_vectors().is_some(),
            self.model.fold_in().is_some(),
        )
    }

    /// Item vectors (`n_items × dim`, float32), where the model has them.
    fn item_factors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (d, dim) = vectors_of(self.model.item_vectors(), "item")?;
        d.to_vec()
            .into_pyarray(py)
            .reshape([d.len() / dim.max(1), dim])
    }

    /// User vectors (`n_users × dim`, float32), where the model has them.
    fn user_factors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (d, dim) = vectors_of(self.model.user_vectors(), "user")?;
        d.to_vec()
            .into_pyarray(py)
            .reshape([d.len() / dim.max(1), dim])
    }

    /// Scores of every item for each user (`len(users) × n_items`).
    fn scores<'py>(
        &self,
        py: Python<'py>,
        users: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let users = indices(users, self.model.n_users(), "userid")?;
        let n = self.model.n_items();
        let mut out = vec![0.0f32; users.len() * n];
        py.detach(|| self.model.score_users(&users, &mut out))
            .map_err(score_err)?;
        out.into_pyarray(py).reshape([users.len(), n])
    }

    /// Predicted ratings for (user, item) pairs, for models that predict ratings.
    fn predict<'py>(
        &self,
        py: Python<'py>,
        users: &Bound<'py, PyAny>,
        items: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let p = self.model.rating_predictor().ok_or_else(|| {
            PyNotImplementedError::new_err(format!(
                "`{}` ranks items; it does not predict ratings",
                self.model.kind()
            ))
        })?;
        let users = indices(users, self.model.n_users(), "userid")?;
        let items = indices(items, self.model.n_items(), "itemid")?;
        if users.len() != items.len() {
            return Err(PyValueError::new_err("users and items differ in length"));
        }
        let out: Vec<f32> = users
            .iter()
            .zip(&items)
            .map(|(&u, &i)| p.predict(u, i))
            .collect();
        Ok(out.into_pyarray(py))
    }

    /// The `n` best items for each of `users`: `(ids, scores)`, `len(users) × k` with
    /// `k = min(n, candidates)`. Each query's row of the filter matrix (`indptr`,
    /// `indices`) and every item of `filter_items` rank last with score `-FLT_MAX`;
    /// `items` restricts the ranking to those items. With `recalculate`, users are scored
    /// from their row of the matrix (fold-in) instead of by index. With `own_seen`, each
    /// user's training items as the model records them are the filter (no matrix passed:
    /// a model read from a file reads them in place).
    #[pyo3(signature = (users, n, indptr=None, indices=None, filter_items=None, items=None, recalculate=false, n_queries=None, own_seen=false))]
    #[allow(clippy::too_many_arguments)]
    fn recommend<'py>(
        &self,
        py: Python<'py>,
        users: &Bound<'py, PyAny>,
        n: usize,
        indptr: Option<&Bound<'py, PyAny>>,
        indices: Option<&Bound<'py, PyAny>>,
        filter_items: Option<&Bound<'py, PyAny>>,
        items: Option<&Bound<'py, PyAny>>,
        recalculate: bool,
        n_queries: Option<usize>,
        own_seen: bool,
    ) -> PyResult<Ranked<'py>> {
        let n_items = self.model.n_items();
        let users: Vec<u32> = if recalculate {
            Vec::new()
        } else {
            self::indices(users, self.model.n_users(), "userid")?
        };
        let n_q = if recalculate {
            n_queries.unwrap_or(0)
        } else {
            users.len()
        };
        let rows = Rows::read(indptr, indices, n_q, n_items)?;
        let filter = match filter_items {
            Some(f) => filter_ids(f, n_items, "filter_items")?,
            None => Vec::new(),
        };
        let cands = match items {
            Some(c) => Some(self::indices(c, n_items, "items")?),
            None => None,
        };
        let mut ranking = Ranking::new(n_items, n, Filtered::Last).filter(filter);
        if let Some(c) = cands {
            ranking = ranking.candidates(c);
        }
        if own_seen && (recalculate || !self.has_seen()) {
            return Err(PyValueError::new_err(
                "the model records no training interactions to filter (or the users are folded in)",
            ));
        }
        let own = |q: usize| {
            Ok(if own_seen {
                self.seen_row(users[q]).unwrap_or_default().to_vec()
            } else {
                rows.as_ref().map_or_else(Vec::new, |r| r.row(q).to_vec())
            })
        };
        let out = if recalculate {
            let Some(rows) = rows.as_ref() else {
                return Err(PyValueError::new_err(
                    "recalculate_user needs user_items: the users' rows",
                ));
            };
            let fold = self.model.fold_in().ok_or_else(|| {
                PyNotImplementedError::new_err(format!(
                    "recalculate_user is not supported by `{}`; models that fold in: {}",
                    self.model.kind(),
                    recs_registry::with(Capability::FoldIn).join(", ")
                ))
            })?;
            py.detach(|| {
                ranking.rank_folded(
                    fold,
                    n_q,
                    |q| rows.row(q),
                    |_| Vec::new(),
                    &Deadline::none(),
                )
            })
        } else {
            py.detach(|| ranking.rank_users(self.model.as_scorer(), &users, own, &Deadline::none()))
        };
        to_arrays(py, out.map_err(score_err)?, ranking.k())
    }

    /// The `n` items (or, with `users=True`, users) most similar to each of `ids` by
    /// cosine of their vectors, the query itself included (first, at 1.0, unless its
    /// vector is zero): `(ids, scores)` as `recommend` returns them.
    #[pyo3(signature = (ids, n, filter=None, candidates=None, users=false))]
    fn similar<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        n: usize,
        filter: Option<&Bound<'py, PyAny>>,
        candidates: Option<&Bound<'py, PyAny>>,
        users: bool,
    ) -> PyResult<Ranked<'py>> {
        let (what, v, cache) = if users {
            ("user", self.model.user_vectors(), &self.user_norms)
        } else {
            ("item", self.model.item_vectors(), &self.item_norms)
        };
        // An item-item model's similarity is a matrix: its rows are ranked instead.
        let matrix = if v.is_none() && !users {
            self.model.similar_items()
        } else {
            None
        };
        let (data, dim, rows) = match (v, matrix) {
            (_, Some(_)) => (&[][..], 0, self.model.n_items()),
            (v, None) => {
                let (data, dim) = vectors_of(v, what)?;
                (data, dim, data.len() / dim.max(1))
            }
        };
        let name = if users { "userid" } else { "itemid" };
        let queries = self::indices(ids, rows, name)?;
        let filter = match filter {
            Some(f) => filter_ids(f, rows, "filter")?,
            None => Vec::new(),
        };
        let cands = match candidates {
            Some(c) => Some(self::indices(c, rows, "candidates")?),
            None => None,
        };
        let mut ranking = Ranking::new(rows, n, Filtered::Last).filter(filter);
        if let Some(c) = cands {
            ranking = ranking.candidates(c);
        }
        let out = match matrix {
            Some(m) => py.detach(|| {
                ranking.rank_similar(
                    &queries,
                    |q, out| m.similarity_row(q, out),
                    true,
                    &Deadline::none(),
                )
            }),
            None => {
                let norms = cache.get_or_init(|| norms(data, dim));
                py.detach(|| {
                    ranking.rank_similar(
                        &queries,
                        |q, out| {
                            cosine_row(data, dim, norms, q, out);
                            Ok(())
                        },
                        true,
                        &Deadline::none(),
                    )
                })
            }
        };
        to_arrays(py, out.map_err(score_err)?, ranking.k())
    }

    fn __repr__(&self) -> String {
        format!(
            "<recs model `{}`: {} users × {} items>",
            self.model.kind(),
            self.model.n_users(),
            self.model.n_items()
        )
    }
}

/// The bytes of a model file that holds an unfitted model: its kind and parameters only
/// (implicit saves unfitted models too).
#[pyfunction]
fn unfitted_bytes<'py>(py: Python<'py>, kind: &str, params: &str) -> PyResult<Bound<'py, PyBytes>> {
    recs_registry::find(kind).map_err(py_err)?;
    let params: serde_json::Value = serde_json::from_str(params).map_err(value_err)?;
    let mut meta = recs_core::ModelMeta::new(kind, env!("CARGO_PKG_VERSION"), params);
    meta.extra = serde_json::json!({"by": "recs-python", "fitted": false});
    let b = recs_core::ModelWriter::new(meta)
        .to_bytes()
        .map_err(|e| file_err(&e, chain(&e)))?;
    Ok(PyBytes::new(py, &b))
}

/// Writes `data` to `path` atomically, as model files are written (a temporary file in the
/// same directory, then a rename; a directory, FIFO or device at `path` refused).
#[pyfunction]
fn write_file(py: Python<'_>, path: PathBuf, data: &[u8]) -> PyResult<()> {
    let bytes = data.to_vec();
    py.detach(|| recs_core::atomic::write_bytes(&path, &bytes))
        .map_err(|e| PyOSError::new_err(format!("{}: {e}", path.display())))
}

/// Reads a model file (verified), from `path` or from its bytes `data` (`name` names it in
/// errors): `(kind, params JSON, model)`, the model `None` when the file holds an unfitted
/// one.
#[pyfunction]
#[pyo3(signature = (path=None, data=None, name="<bytes>"))]
fn open_model(
    py: Python<'_>,
    path: Option<PathBuf>,
    data: Option<&[u8]>,
    name: &str,
) -> PyResult<(String, String, Option<Model>)> {
    let bytes = data.map(<[u8]>::to_vec);
    py.detach(|| -> recs_registry::Result<_> {
        let file = match (path, bytes) {
            (Some(p), _) => recs_core::ModelReader::open(&p)?,
            (None, Some(b)) => recs_core::ModelReader::from_bytes(Path::new(name), b)?,
            (None, None) => {
                return Err(recs_core::ModelFileError::Write("no path and no bytes".into()).into());
            }
        };
        let kind = file.kind().to_string();
        let params = file.meta().params.to_string();
        if file.meta().extra.get("fitted") == Some(&serde_json::Value::Bool(false)) {
            return Ok((kind, params, None));
        }
        let l = recs_registry::load_reader(file)?;
        let seen = l.seen_pattern()?;
        let mut model = Model::new(l.model, l.catalog);
        model.seen_in_file = seen;
        Ok((kind, params, Some(model)))
    })
    .map_err(py_err)
}

/// Every registered model: `(kind, title, description with capabilities, defaults JSON,
/// schema JSON, capabilities JSON)`, in the registry's order.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn models() -> Vec<(&'static str, &'static str, String, String, String, String)> {
    recs_registry::MODELS
        .iter()
        .map(|e| {
            (
                e.kind(),
                e.title(),
                e.describe(),
                e.defaults().to_string(),
                schema_json(*e).to_string(),
                serde_json::to_string(&e.capabilities()).unwrap_or_default(),
            )
        })
        .collect()
}

/// The registered defaults of `kind` with `params` (a JSON object: names in the shared
/// vocabulary, the model's own, or their aliases such as implicit's `iterations`) applied
/// and checked against the model's schema, as the CLI's flags are; returns the JSON. A name
/// the model does not take, or a value out of range, raises `ValueError` naming it.
#[pyfunction]
fn params_for(kind: &str, params: &str) -> PyResult<String> {
    let entry = recs_registry::find(kind).map_err(py_err)?;
    let given: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(params).map_err(value_err)?;
    let mut hp = recs_registry::HyperParams::new();
    for (k, v) in given {
        // None keeps the default (implicit's `random_state=None`).
        if !v.is_null() || entry.spec(&k).is_some_and(nullable) {
            hp.set(&k, v);
        }
    }
    Ok(entry.params_for(&hp, false).map_err(py_err)?.to_string())
}

/// Whether `None` is a value of the parameter (not "keep the default").
fn nullable(s: &recs_core::ParamSpec) -> bool {
    use recs_core::schema::Kind;
    matches!(
        s.kind,
        Kind::OptionalInt { .. } | Kind::OptionalRange | Kind::Choice { optional: true, .. }
    )
}

/// Each parameter of `kind`'s schema as JSON: name, type, allowed range (in words), doc,
/// every accepted alias, the tuning range; then `device` for a model that trains on the
/// CPU only.
fn schema_json(e: &dyn recs_registry::Entry) -> serde_json::Value {
    let mut specs: Vec<&recs_core::ParamSpec> = e.schema().iter().collect();
    if !specs.iter().any(|s| s.name == "device") {
        specs.push(&recs_core::schema::CPU_ONLY_DEVICE);
    }
    specs
        .into_iter()
        .map(|s| {
            serde_json::json!({
                "name": s.name,
                "type": s.type_name(),
                "allowed": s.allowed(),
                "doc": s.doc,
                "aliases": s.all_aliases(),
                "kind": s.kind,
                "tune": s.tune,
            })
        })
        .collect()
}

/// The shared vocabulary's words and their aliases (`[("epochs", ["iterations", …]), …]`).
#[pyfunction]
fn word_aliases() -> Vec<(&'static str, Vec<&'static str>)> {
    recs_core::schema::WORDS
        .iter()
        .map(|w| (w.name, w.aliases.to_vec()))
        .collect()
}

/// The ranking table of truth and prediction columns.
fn table(
    truth_users: Vec<String>,
    truth_items: Vec<String>,
    truth_ratings: Vec<f64>,
    pred_users: Vec<String>,
    pred_items: Vec<String>,
    pred_scores: Vec<f64>,
) -> PyResult<recs_metrics::table::RankingTable> {
    if truth_users.len() != truth_items.len()
        || truth_users.len() != truth_ratings.len()
        || pred_users.len() != pred_items.len()
        || pred_users.len() != pred_scores.len()
    {
        return Err(PyValueError::new_err("columns differ in length"));
    }
    let truth = truth_users
        .into_iter()
        .zip(truth_items)
        .zip(truth_ratings)
        .map(|((u, i), r)| (u, i, r as f32));
    let pred = pred_users
        .into_iter()
        .zip(pred_items)
        .zip(pred_scores)
        .map(|((u, i), s)| (u, i, s));
    recs_metrics::table::RankingTable::from_rows(truth, pred).map_err(value_err)
}

/// Metrics of predictions against the truth, as `recs metrics` computes them (Microsoft
/// Recommenders' definitions): a dict keyed `map@10`, `ndcg@10`, … for every k in `ks`.
/// With `sums`, each value is `(total over users, users counted)` instead of the mean:
/// what a partition of the users contributes (Spark's evaluation adds them up).
#[pyfunction]
#[pyo3(signature = (truth_users, truth_items, truth_ratings, pred_users, pred_items, pred_scores, ks, liang_ks=Vec::new(), sums=false))]
#[allow(clippy::too_many_arguments)]
fn ranking_metrics<'py>(
    py: Python<'py>,
    truth_users: Vec<String>,
    truth_items: Vec<String>,
    truth_ratings: Vec<f64>,
    pred_users: Vec<String>,
    pred_items: Vec<String>,
    pred_scores: Vec<f64>,
    ks: Vec<usize>,
    liang_ks: Vec<usize>,
    sums: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    let t = py.detach(|| {
        table(
            truth_users,
            truth_items,
            truth_ratings,
            pred_users,
            pred_items,
            pred_scores,
        )
    })?;
    if sums {
        for (k, v) in t.sums(&ks, &liang_ks).map_err(value_err)? {
            out.set_item(k, (v.total, v.count))?;
        }
    } else {
        for (k, v) in t.metrics(&ks, &liang_ks).map_err(value_err)? {
            out.set_item(k, v)?;
        }
    }
    Ok(out)
}

/// RMSE, MAE and MSE of paired ratings and predictions.
#[pyfunction]
fn rating_errors(truth: Vec<f64>, pred: Vec<f64>) -> PyResult<(f64, f64, f64)> {
    let r = recs_metrics::rating::rating_errors(&truth, &pred).map_err(value_err)?;
    Ok((r.rmse, r.mae, r.mse))
}

/// The registered datasets' names.
#[pyfunction]
fn datasets() -> Vec<String> {
    recs_data::registry::datasets()
        .into_iter()
        .map(|d| d.name)
        .collect()
}

/// Columns of dataset `name` from the data directory (`$RECS_DATA_DIR`), installed first
/// from `$RECS_DATA_MIRROR` when set, as the CLI finds it: `(users, items, values,
/// timestamps or None)` with the files' ids.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn load_dataset<'py>(
    py: Python<'py>,
    name: &str,
) -> PyResult<(
    Vec<String>,
    Vec<String>,
    Bound<'py, PyArray1<f32>>,
    Option<Bound<'py, PyArray1<i64>>>,
)> {
    let d = py
        .detach(|| recs_data::load_dataset(name))
        .map_err(|e| match e {
            recs_data::DataError::Io { .. } => PyOSError::new_err(chain(&e)),
            e => value_err(e),
        })?;
    let users: Vec<String> = d
        .users()
        .iter()
        .map(|&u| d.user_map().external(u).to_string())
        .collect();
    let items: Vec<String> = d
        .items()
        .iter()
        .map(|&i| d.item_map().external(i).to_string())
        .collect();
    Ok((
        users,
        items,
        d.values().to_vec().into_pyarray(py),
        d.timestamps().map(|t| t.to_vec().into_pyarray(py)),
    ))
}

/// A seeded split of interaction rows given as dense user and item codes, exactly as the
/// CLI's `--split` makes it: `spec` is the CLI's (`random:0.8`, `stratified:0.8`, `loo`;
/// parsed by `recs_data::split::SplitSpec`); returns the training rows' and the test rows'
/// positions.
#[pyfunction]
fn split_rows<'py>(
    py: Python<'py>,
    users: &Bound<'py, PyAny>,
    items: &Bound<'py, PyAny>,
    spec: &str,
    seed: u64,
) -> PyResult<RowSplit<'py>> {
    let users = indices(users, u32::MAX as usize, "users")?;
    let items = indices(items, u32::MAX as usize, "items")?;
    if users.len() != items.len() {
        return Err(PyValueError::new_err("users and items differ in length"));
    }
    let map = |n: usize| {
        let mut m = recs_data::IdMap::new();
        for i in 0..n {
            m.get_or_insert(&i.to_string());
        }
        std::sync::Arc::new(m)
    };
    let n = users.len();
    // Codes are dense (pandas' factorize): each is below the number of rows. A larger one
    // would size the id maps by it (one code of 4·10⁹ asks for 4·10⁹ ids).
    for (name, codes) in [("users", &users), ("items", &items)] {
        if let Some(&c) = codes.iter().find(|&&c| c as usize >= n) {
            return Err(PyValueError::new_err(format!(
                "{name} holds the code {c} for {n} rows: codes must be dense, each below the \
                 number of rows (factorize the ids first)"
            )));
        }
    }
    let n_u = users.iter().max().map_or(0, |&m| m as usize + 1);
    let n_i = items.iter().max().map_or(0, |&m| m as usize + 1);
    // The rows' positions ride along as the timestamps: the split keeps each row's fields.
    let data = recs_data::Interactions::from_parts(
        users,
        items,
        vec![1.0; n],
        Some((0..n as i64).collect()),
        map(n_u),
        map(n_i),
    )
    .map_err(value_err)?;
    let s = recs_data::split::SplitSpec::parse(spec)
        .and_then(|p| p.apply(&data, seed))
        .map_err(value_err)?;
    let rows = |i: &recs_data::Interactions| i.timestamps().unwrap_or(&[]).to_vec();
    Ok((
        rows(&s.train).into_pyarray(py),
        rows(&s.test).into_pyarray(py),
    ))
}

/// Sizes rayon's pool, which ranking, scoring and training use when a model's `threads`
/// is 0, to `n` threads; returns the size in force. The pool is made on first use, so
/// this must come first in a process (a Ray actor's or a Spark worker's); once made, asking
/// for another size is an error.
#[pyfunction]
fn set_num_threads(n: usize) -> PyResult<usize> {
    if n == 0 {
        return Err(PyValueError::new_err(
            "n = 0 is out of range: allowed a whole number of threads in 1..=1024",
        ));
    }
    if n > 1024 {
        return Err(PyValueError::new_err(format!(
            "n = {n} is out of range: allowed a whole number of threads in 1..=1024"
        )));
    }
    match rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
    {
        Ok(()) => Ok(n),
        Err(_) if rayon::current_num_threads() == n => Ok(n),
        Err(_) => Err(PyRuntimeError::new_err(format!(
            "this process already runs {} threads for recs; set_num_threads({n}) must come \
             before the first recommend, fit or score",
            rayon::current_num_threads()
        ))),
    }
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(models, m)?)?;
    m.add_function(wrap_pyfunction!(open_model, m)?)?;
    m.add_function(wrap_pyfunction!(unfitted_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(write_file, m)?)?;
    m.add_function(wrap_pyfunction!(params_for, m)?)?;
    m.add_function(wrap_pyfunction!(word_aliases, m)?)?;
    m.add_function(wrap_pyfunction!(ranking_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(rating_errors, m)?)?;
    m.add_function(wrap_pyfunction!(datasets, m)?)?;
    m.add_function(wrap_pyfunction!(load_dataset, m)?)?;
    m.add_function(wrap_pyfunction!(split_rows, m)?)?;
    blocks::add(m)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
