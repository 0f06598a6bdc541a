//! Pieces the models share: the thread setting, the checks of a scoring call and of a new
//! user's items, the sparse item × item product with its per-row selection, the sparse row
//! product, batch scoring, the check of a size a model file records, and sparse matrices in
//! the model file.

use rayon::prelude::*;
use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::rank::TopK;
use recs_core::{ModelError, ModelFileError, ScoreError, Scorer};
use recs_sparse::CsrMatrix;

/// The largest `threads` value a params check accepts.
pub(crate) const MAX_THREADS: usize = 1024;

/// Runs `f` on `threads` workers: 0 runs it in the caller's rayon pool (all cores unless the
/// caller set up another), n > 0 in a pool of n threads — the caller's own when the caller
/// already runs on a pool of n workers (no second pool is started; results depend only on
/// the thread count), else a new one.
pub(crate) fn with_threads<R: Send>(
    threads: usize,
    f: impl FnOnce() -> R + Send,
) -> Result<R, ModelError> {
    let on_such_a_pool =
        rayon::current_thread_index().is_some() && rayon::current_num_threads() == threads;
    if threads == 0 || on_such_a_pool {
        return Ok(f());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(ModelError::model)?;
    Ok(pool.install(f))
}

/// `Ok` when `item` is below `n_items` (a similarity row's query).
pub(crate) fn check_item(item: u32, n_items: usize) -> Result<(), ScoreError> {
    if (item as usize) < n_items {
        Ok(())
    } else {
        Err(ScoreError::Model(format!(
            "item index {item} is out of range: the model knows {n_items} items"
        )))
    }
}

/// `Ok` when `out` holds `expected` values.
pub(crate) fn check_len(out: &[f32], expected: usize) -> Result<(), ScoreError> {
    if out.len() == expected {
        Ok(())
    } else {
        Err(ScoreError::BufferLength {
            got: out.len(),
            expected,
        })
    }
}

/// `Ok` when `user` is below `n_users`.
pub(crate) fn check_user(user: u32, n_users: usize) -> Result<(), ScoreError> {
    if (user as usize) < n_users {
        Ok(())
    } else {
        Err(ScoreError::UnknownUser { user, n_users })
    }
}

/// A new user's items, sorted and without repeats; an item out of range is an error.
pub(crate) fn fold_in_items(items: &[u32], n_items: usize) -> Result<Vec<u32>, ScoreError> {
    if let Some(&i) = items.iter().find(|&&i| i as usize >= n_items) {
        return Err(ScoreError::Model(format!(
            "item index {i} is out of range: the model knows {n_items} items"
        )));
    }
    let mut v = items.to_vec();
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// A size (users, items) recorded in the file's `training` facts: an integer of at most
/// 2^32 (indices are 32-bit). Loaders then check it against the tensors' shapes before
/// allocating anything by it.
pub(crate) fn meta_size(file: &ModelReader, key: &str) -> Result<usize, ModelFileError> {
    let n = file
        .meta()
        .training
        .get(key)
        .and_then(|v| v.as_u64())
        .ok_or_else(|| {
            file.error(format!(
                "metadata field `training.{key}` is missing or not an integer"
            ))
        })?;
    if n > u32::MAX as u64 + 1 {
        return Err(file.error(format!(
            "metadata field `training.{key}` = {n} is more than 2^32 (indices are 32-bit)"
        )));
    }
    Ok(n as usize)
}

/// A user's scores: `out = Σ_i x_ui · rows[i]` over the user's stored `(i, x_ui)`, where
/// `rows` is a sparse item × item matrix (ItemKNN's similarity).
pub(crate) fn sparse_row_times_sparse(
    indices: &[u32],
    values: &[f32],
    rows: &CsrMatrix,
    out: &mut [f32],
) {
    out.fill(0.0);
    for (&i, &x) in indices.iter().zip(values) {
        let r = rows.row(i as usize);
        for (&j, &s) in r.indices.iter().zip(r.values) {
            out[j as usize] += x * s;
        }
    }
}

/// `Scorer::score_users` for both models: the buffer and user checks first (an unknown user
/// is reported before any work), then one rayon task per user row.
pub(crate) fn score_users_parallel<S: Scorer + Sync>(
    s: &S,
    users: &[u32],
    out: &mut [f32],
) -> Result<(), ScoreError> {
    let n = s.n_items();
    check_len(out, users.len() * n)?;
    if let Some(&u) = users.iter().find(|&&u| u as usize >= s.n_users()) {
        return Err(ScoreError::UnknownUser {
            user: u,
            n_users: s.n_users(),
        });
    }
    if n == 0 {
        return Ok(());
    }
    out.par_chunks_mut(n)
        .zip(users.par_iter())
        .try_for_each(|(row, &u)| s.score_user(u, row))
}

/// Items per rayon task in [`top_k_product`] (each task owns one accumulator).
const CHUNK: usize = 16;

/// Which entries of each row [`top_k_product`] keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cut {
    /// The `k` largest (ties to the lower item index).
    TopK(usize),
    /// Every entry.
    All,
}

/// One row of an item × item product being summed: a dense `f64` accumulator and a bitset of
/// the columns touched, so that the inner loop is one multiply-add and one OR per (user,
/// item) pair, without a branch, and the touched columns come out in index order.
struct RowAcc {
    acc: Vec<f64>,
    touched: Vec<u64>,
}

impl RowAcc {
    fn new(n_cols: usize) -> Self {
        Self {
            acc: vec![0.0; n_cols],
            touched: vec![0; n_cols.div_ceil(64)],
        }
    }

    /// Adds row `i` of `left · right`: `Σ_u left[i, u] · right[u, ·]`.
    #[inline(always)]
    fn add_row(&mut self, left: &CsrMatrix, right: &CsrMatrix, i: usize) {
        let ri = left.row(i);
        for (&u, &w1) in ri.indices.iter().zip(ri.values) {
            let ru = right.row(u as usize);
            let w1 = f64::from(w1);
            for (&j, &w2) in ru.indices.iter().zip(ru.values) {
                let j = j as usize;
                self.acc[j] += w1 * f64::from(w2);
                self.touched[j >> 6] |= 1 << (j & 63);
            }
        }
    }

    /// Calls `f(j, value)` for each touched column in index order, leaving the accumulator
    /// empty for the next row.
    #[inline(always)]
    fn drain(&mut self, mut f: impl FnMut(usize, f64)) {
        for (b, word) in self.touched.iter_mut().enumerate() {
            let mut bits = std::mem::take(word);
            while bits != 0 {
                let j = b * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                f(j, std::mem::take(&mut self.acc[j]));
            }
        }
    }
}

/// The item × item product `left · right` (`left` items × users, `right` users × items),
/// row by row: row i's entries `Σ_u left[i, u] · right[u, j]` over the items j that share a
/// user with i, each passed through `finish(i, j, value)` (`None` drops the entry: the
/// diagonal, a threshold), then the `k` largest kept for `Cut::TopK(k)` (ties to the lower
/// item index), or all of them for `Cut::All`. Accumulates in `f64` and stores `f32`; parallel over items on the
/// current rayon pool, with the same result whatever its size. Memory beyond the result:
/// one dense accumulator of `n_items` per task. ItemKNN's `WᵀW`, RP3beta's random walk and
/// SAR's co-occurrence are this product.
///
/// Each task keeps one [`RowAcc`].
pub(crate) fn top_k_product<F>(
    left: &CsrMatrix,
    right: &CsrMatrix,
    cut: Cut,
    finish: F,
) -> Result<CsrMatrix, ModelError>
where
    F: Fn(usize, usize, f64) -> Option<f64> + Sync,
{
    let k = match cut {
        Cut::TopK(k) => Some(k),
        Cut::All => None,
    };
    let n = left.n_rows();
    let starts: Vec<usize> = (0..n).step_by(CHUNK).collect();
    // Each task's rows: their lengths, then their entries.
    let chunks: Vec<(Vec<usize>, Vec<u32>, Vec<f32>)> = starts
        .par_iter()
        .map(|&start| {
            let mut acc = RowAcc::new(right.n_cols());
            let mut top = k.map(TopK::new);
            let (mut lens, mut idx, mut val) = (Vec::with_capacity(CHUNK), Vec::new(), Vec::new());
            for i in start..(start + CHUNK).min(n) {
                acc.add_row(left, right, i);
                let before = idx.len();
                acc.drain(|j, v| {
                    if let Some(v) = finish(i, j, v) {
                        match &mut top {
                            Some(top) => top.push(j as u32, v),
                            None => {
                                idx.push(j as u32);
                                val.push(v as f32);
                            }
                        }
                    }
                });
                if let Some(top) = &mut top {
                    for (j, v) in top.take_by_index() {
                        idx.push(j);
                        val.push(v as f32);
                    }
                }
                lens.push(idx.len() - before);
                if i == start {
                    // The first row's length as the guess for the others: one allocation
                    // per task, not one per doubling.
                    idx.reserve(lens[0] * (CHUNK - 1));
                    val.reserve(lens[0] * (CHUNK - 1));
                }
            }
            (lens, idx, val)
        })
        .collect();
    let nnz = chunks.iter().map(|c| c.1.len()).sum();
    let mut indptr = Vec::with_capacity(n + 1);
    let mut indices = Vec::with_capacity(nnz);
    let mut values = Vec::with_capacity(nnz);
    indptr.push(0);
    for (lens, idx, val) in chunks {
        for len in lens {
            indptr.push(indptr[indptr.len() - 1] + len);
        }
        indices.extend_from_slice(&idx);
        values.extend_from_slice(&val);
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(ModelError::Data(
            "an item–item similarity does not fit f32: the values are too large".into(),
        ));
    }
    CsrMatrix::from_parts(n, right.n_cols(), indptr, indices, values).map_err(ModelError::model)
}

/// An item × item matrix, held sparse (CSR: 8 bytes a stored entry) or, when at least half
/// its entries are stored, dense (row-major `f32`: 4 bytes an entry, and no index to follow).
/// Scoring gives the same floats either way: a user's rows are summed in the same order, and
/// an entry the sparse form does not store is a zero that adds nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemMatrix {
    /// The stored entries.
    Sparse(CsrMatrix),
    /// Every entry, row by row (`n × n` values).
    Dense {
        /// Rows and columns.
        n: usize,
        /// Row-major values; in place in the file when loaded from a mapped one.
        values: recs_core::modelfile::Floats,
    },
}

impl ItemMatrix {
    /// Rows (= columns).
    pub fn n_rows(&self) -> usize {
        match self {
            ItemMatrix::Sparse(m) => m.n_rows(),
            ItemMatrix::Dense { n, .. } => *n,
        }
    }

    /// Whether it is held dense.
    pub fn is_dense(&self) -> bool {
        matches!(self, ItemMatrix::Dense { .. })
    }

    /// The nonzero entries.
    pub fn nnz(&self) -> usize {
        match self {
            ItemMatrix::Sparse(m) => m.values().iter().filter(|&&v| v != 0.0).count(),
            ItemMatrix::Dense { values, .. } => values.iter().filter(|&&v| v != 0.0).count(),
        }
    }

    /// Entry `(i, j)` (0 where none is stored).
    pub fn get(&self, i: usize, j: usize) -> f32 {
        match self {
            ItemMatrix::Sparse(m) => m.get(i, j).unwrap_or(0.0),
            ItemMatrix::Dense { n, values } => values[i * n + j],
        }
    }

    /// `out` = row `i` (0 where none is stored).
    pub(crate) fn row_into(&self, i: usize, out: &mut [f32]) {
        match self {
            ItemMatrix::Sparse(m) => {
                out.fill(0.0);
                let row = m.row(i);
                for (&j, &v) in row.indices.iter().zip(row.values) {
                    out[j as usize] = v;
                }
            }
            ItemMatrix::Dense { n, values } => out.copy_from_slice(&values[i * n..(i + 1) * n]),
        }
    }

    /// `out = Σ_i x_i · row_i` over the given `(i, x_i)`.
    pub(crate) fn times(&self, indices: &[u32], xs: &[f32], out: &mut [f32]) {
        match self {
            ItemMatrix::Sparse(m) => sparse_row_times_sparse(indices, xs, m, out),
            ItemMatrix::Dense { n, values } => {
                out.fill(0.0);
                for (&i, &x) in indices.iter().zip(xs) {
                    let row = &values[i as usize * n..(i as usize + 1) * n];
                    for (o, &s) in out.iter_mut().zip(row) {
                        *o += x * s;
                    }
                }
            }
        }
    }
}

/// Whether `left · right`, its entries below `min_value` dropped (as [`top_k_product`]
/// keeps them), stores at least half of its entries, judged on every `⌈n/64⌉`-th row: then
/// a dense matrix is smaller than a sparse one, and faster to build and to score with.
pub(crate) fn product_is_dense(left: &CsrMatrix, right: &CsrMatrix, min_value: f64) -> bool {
    let (n, m) = (left.n_rows(), right.n_cols());
    if n == 0 || m == 0 {
        return false;
    }
    let mut acc = RowAcc::new(m);
    let (mut rows, mut touched) = (0usize, 0usize);
    for i in (0..n).step_by(n.div_ceil(64)) {
        rows += 1;
        acc.add_row(left, right, i);
        acc.drain(|_, v| touched += usize::from(v >= min_value));
    }
    2 * touched >= rows * m
}

/// [`top_k_product`] with every entry kept, into a dense row-major `n × m` matrix (0 where
/// `finish` drops an entry or no user is shared): the same values, without the sparse
/// form's indices; parallel over blocks of rows, the same result whatever the pool's size.
pub(crate) fn dense_product<F>(
    left: &CsrMatrix,
    right: &CsrMatrix,
    finish: F,
) -> Result<Vec<f32>, ModelError>
where
    F: Fn(usize, usize, f64) -> Option<f64> + Sync,
{
    let (n, m) = (left.n_rows(), right.n_cols());
    let size = n.checked_mul(m).ok_or_else(|| {
        ModelError::Data(format!(
            "a dense {n} × {m} item–item matrix does not fit in memory"
        ))
    })?;
    let mut out = vec![0.0f32; size];
    if m == 0 {
        return Ok(out);
    }
    out.par_chunks_mut(m * CHUNK).enumerate().for_each_init(
        || RowAcc::new(m),
        |acc, (c, rows)| {
            for (r, row) in rows.chunks_mut(m).enumerate() {
                let i = c * CHUNK + r;
                acc.add_row(left, right, i);
                acc.drain(|j, v| {
                    if let Some(v) = finish(i, j, v) {
                        row[j] = v as f32;
                    }
                });
            }
        },
    );
    if out.iter().any(|v| !v.is_finite()) {
        return Err(ModelError::Data(
            "an item–item similarity does not fit f32: the values are too large".into(),
        ));
    }
    Ok(out)
}

/// Records `m` as `prefix.indptr` (`u64`), `prefix.indices` (`u32`) and `prefix.values`
/// (`f32`).
fn write_csr<'a>(
    w: &mut ModelWriter<'a>,
    prefix: &str,
    m: &'a CsrMatrix,
) -> Result<(), ModelError> {
    w.csr_pattern(&format!("{prefix}.indptr"), &format!("{prefix}.indices"), m)?;
    w.f32(&format!("{prefix}.values"), &[m.nnz()], m.values())?;
    Ok(())
}

/// The `n_rows × n_cols` matrix recorded by [`write_csr`] as `prefix`, checked (row
/// pointers, columns in range and increasing, as many finite values as indices); read in
/// place where the file is mapped.
fn read_csr(
    file: &ModelReader,
    prefix: &str,
    n_rows: usize,
    n_cols: usize,
) -> Result<CsrMatrix, ModelError> {
    let (ptr, idx, vals) = (
        format!("{prefix}.indptr"),
        format!("{prefix}.indices"),
        format!("{prefix}.values"),
    );
    Ok(file
        .csr_matrix(&ptr, &idx, &vals, n_rows, n_cols)?
        .ok_or_else(|| file.error(format!("tensors `{ptr}`, `{idx}` and `{vals}` are missing")))?)
}

/// A known user's scores for a model scored as the user's row of `user_items` times a
/// sparse item × item `similarity` (ItemKNN, RP3beta, SAR).
pub(crate) fn score_known(
    user_items: &CsrMatrix,
    similarity: &CsrMatrix,
    user: u32,
    out: &mut [f32],
) -> Result<(), ScoreError> {
    check_len(out, similarity.n_rows())?;
    check_user(user, user_items.n_rows())?;
    let r = user_items.row(user as usize);
    sparse_row_times_sparse(r.indices, r.values, similarity, out);
    Ok(())
}

/// A new user's scores for such a model: their items (a value of 1 each, repeats once)
/// times `similarity`.
pub(crate) fn score_new(
    similarity: &CsrMatrix,
    items: &[u32],
    out: &mut [f32],
) -> Result<(), ScoreError> {
    check_len(out, similarity.n_rows())?;
    let items = fold_in_items(items, similarity.n_rows())?;
    let ones = vec![1.0f32; items.len()];
    sparse_row_times_sparse(&items, &ones, similarity, out);
    Ok(())
}

/// `item`'s row of a sparse `similarity`, 0 where it holds no entry.
pub(crate) fn similarity_row(
    similarity: &CsrMatrix,
    item: u32,
    out: &mut [f32],
) -> Result<(), ScoreError> {
    check_len(out, similarity.n_rows())?;
    check_item(item, similarity.n_rows())?;
    out.fill(0.0);
    let row = similarity.row(item as usize);
    for (&j, &v) in row.indices.iter().zip(row.values) {
        out[j as usize] = v;
    }
    Ok(())
}

/// Records a model held as `user_items` and a sparse `similarity`: the sizes as training
/// facts, `kind.user_items` and `kind.similarity` as CSR tensors.
pub(crate) fn save_item_item<'a>(
    out: &mut ModelWriter<'a>,
    kind: &str,
    user_items: &'a CsrMatrix,
    similarity: &'a CsrMatrix,
) -> Result<(), ModelError> {
    save_user_items(out, kind, user_items, similarity.n_rows())?;
    write_csr(out, &format!("{kind}.similarity"), similarity)
}

/// The sizes as training facts and `kind.user_items` as CSR tensors (a model whose
/// similarity is recorded otherwise).
pub(crate) fn save_user_items<'a>(
    out: &mut ModelWriter<'a>,
    kind: &str,
    user_items: &'a CsrMatrix,
    n_items: usize,
) -> Result<(), ModelError> {
    out.meta_mut().training = serde_json::json!({
        "n_users": user_items.n_rows(),
        "n_items": n_items,
    });
    write_csr(out, &format!("{kind}.user_items"), user_items)
}

/// The `(user_items, similarity)` recorded by [`save_item_item`], checked; each similarity
/// row holds at most `max_row` entries where the params bound it (`(k, param name)`).
pub(crate) fn load_item_item(
    file: &ModelReader,
    kind: &str,
    max_row: Option<(usize, &str)>,
) -> Result<(CsrMatrix, CsrMatrix), ModelError> {
    let n_items = meta_size(file, "n_items")?;
    // Both sizes are checked against the tensors' row pointers before anything is
    // allocated by them.
    let similarity = read_csr(file, &format!("{kind}.similarity"), n_items, n_items)?;
    let user_items = load_user_items(file, kind)?;
    if let Some((k, param)) = max_row
        && let Some(i) = (0..n_items).find(|&i| similarity.row(i).len() > k)
    {
        return Err(file
            .error(format!(
                "similarity row {i} holds {} neighbours, more than `{param}` = {k}",
                similarity.row(i).len()
            ))
            .into());
    }
    Ok((user_items, similarity))
}

/// The `user_items` recorded by [`save_user_items`] (or [`save_item_item`]), checked.
pub(crate) fn load_user_items(file: &ModelReader, kind: &str) -> Result<CsrMatrix, ModelError> {
    let n_users = meta_size(file, "n_users")?;
    let n_items = meta_size(file, "n_items")?;
    read_csr(file, &format!("{kind}.user_items"), n_users, n_items)
}

/// `m`'s pattern with `values` (one per stored entry).
pub(crate) fn with_values(m: &CsrMatrix, values: Vec<f32>) -> Result<CsrMatrix, ModelError> {
    CsrMatrix::from_parts(
        m.n_rows(),
        m.n_cols(),
        m.indptr().to_vec(),
        m.indices().to_vec(),
        values,
    )
    .map_err(ModelError::model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_threads_reuses_a_pool_of_the_right_size_and_starts_one_otherwise() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            let here = std::thread::current().id();
            let same = with_threads(2, || {
                (std::thread::current().id(), rayon::current_num_threads())
            })
            .unwrap();
            assert_eq!(same, (here, 2), "ran on the caller's pool");
            let other = with_threads(3, || {
                (std::thread::current().id(), rayon::current_num_threads())
            })
            .unwrap();
            assert_ne!(other.0, here);
            assert_eq!(other.1, 3);
            assert_eq!(with_threads(0, rayon::current_num_threads).unwrap(), 2);
        });
    }

    /// Models loaded from a mapped file read their sparse matrices (training interactions,
    /// similarity) in place: no copy, the pages shared by every process mapping the file;
    /// they score as the models they were saved from.
    #[test]
    fn loaded_sparse_matrices_point_into_the_mapped_file() {
        use recs_core::modelfile::ModelReader;
        use recs_core::{NoProgress, Recommender, Scorer, TrainData};

        use crate::{ItemKnn, Rp3Beta, Sar};

        fn check<M: Recommender + Scorer>(fitted: &M, mats: impl Fn(&M) -> Vec<&CsrMatrix>) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("m.recs");
            recs_core::save_path(fitted, &path).unwrap();
            let file = ModelReader::open(&path).unwrap();
            assert!(
                file.is_mapped(),
                "model files are mapped unless RECS_MMAP=0"
            );
            let loaded = M::load(&file).unwrap();
            drop(file);
            for (a, b) in mats(&loaded).into_iter().zip(mats(fitted)) {
                assert!(a.is_mapped() && !b.is_mapped());
                assert_eq!(a, b);
            }
            let (mut a, mut b) = (vec![0f32; 30], vec![0f32; 30]);
            loaded.score_user(3, &mut a).unwrap();
            fitted.score_user(3, &mut b).unwrap();
            assert_eq!(a, b);
        }
        let x = crate::testing::sample(40, 30, 7, 5, 4);
        let data = TrainData::new(&x);
        let knn = ItemKnn::fit(&Default::default(), &data, &mut NoProgress).unwrap();
        check(&knn, |m| vec![m.user_items(), m.similarity()]);
        let rp3 = Rp3Beta::fit(&Default::default(), &data, &mut NoProgress).unwrap();
        check(&rp3, |m| vec![m.user_items(), m.similarity()]);
        let sar = Sar::fit(&Default::default(), &data, &mut NoProgress).unwrap();
        check(&sar, |m| {
            let mut v = vec![m.affinity()];
            if let ItemMatrix::Sparse(s) = m.similarity() {
                v.push(s);
            }
            v
        });
    }
}
