//! User × item sparse matrices for recommenders: a CSR matrix of `f32` over [`sprs`], built
//! from triplets with an explicit duplicate policy, with row batches copied into dense
//! buffers and rayon-parallel sparse × dense products (the first layer of every encoder and
//! its gradient).
//!
//! Rows are users and columns items by convention; [`CsrMatrix::transpose`] gives the
//! item × user view. Indices are `u32` (4 bytes per stored entry), row pointers `usize`.
//!
//! ```
//! use recs_sparse::{CsrMatrix, DuplicatePolicy};
//!
//! // 2 users × 3 items; user 0 rated item 2 twice, and the policy sums them.
//! let x = CsrMatrix::from_triplets(2, 3, &[0, 1, 0], &[2, 0, 2], &[1.0, 4.0, 2.0], DuplicatePolicy::Sum)?;
//! assert_eq!(x.nnz(), 2);
//! assert_eq!(x.get(0, 2), Some(3.0));
//!
//! // Sparse (2×3) · dense (3×1).
//! let mut out = vec![0.0; 2];
//! x.spmm(&[1.0, 10.0, 100.0], 1, &mut out)?;
//! assert_eq!(out, vec![300.0, 4.0]);
//! # Ok::<(), recs_sparse::SparseError>(())
//! ```
#![deny(missing_docs)]

use rayon::prelude::*;
use sprs::{CsMatBase, CsMatI};
use thiserror::Error;

mod shared;
pub use shared::{Backing, Shared};

/// The sprs matrix a [`CsrMatrix`] wraps: CSR arrays owned or in place ([`Shared`]).
pub type SprsCsr = CsMatBase<f32, u32, Shared<usize>, Shared<u32>, Shared<f32>, usize>;

/// Below this many multiply-adds a product runs on the calling thread: spawning rayon work
/// costs more than it saves.
const PARALLEL_MIN_WORK: usize = 1 << 16;

/// What to do when the same (row, column) pair appears more than once in the triplets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicatePolicy {
    /// Add the values together (how scipy and sprs build from triplets).
    Sum,
    /// Keep the value that appears last in the input.
    KeepLast,
    /// Refuse the input with [`SparseError::Duplicate`].
    Error,
}

/// Errors from building or using a sparse matrix.
#[derive(Debug, Error, PartialEq)]
pub enum SparseError {
    /// A triplet's row or column lies outside the matrix shape.
    #[error("triplet {index}: ({row}, {col}) is outside the {n_rows}×{n_cols} matrix")]
    OutOfBounds {
        /// Position of the triplet in the input.
        index: usize,
        /// Its row.
        row: u32,
        /// Its column.
        col: u32,
        /// Number of rows of the matrix.
        n_rows: usize,
        /// Number of columns of the matrix.
        n_cols: usize,
    },
    /// The same (row, column) pair appeared twice under [`DuplicatePolicy::Error`].
    #[error("duplicate entry at ({row}, {col})")]
    Duplicate {
        /// Row of the duplicate.
        row: u32,
        /// Column of the duplicate.
        col: u32,
    },
    /// A value is NaN or infinite.
    #[error("triplet {index}: value {value} is not finite")]
    NonFinite {
        /// Position of the triplet in the input.
        index: usize,
        /// The value.
        value: f32,
    },
    /// Rows, columns and values of the triplets differ in length.
    #[error("triplet arrays differ in length: {rows} rows, {cols} columns, {values} values")]
    TripletLengths {
        /// Length of the row array.
        rows: usize,
        /// Length of the column array.
        cols: usize,
        /// Length of the value array.
        values: usize,
    },
    /// CSR arrays that do not describe a matrix (see [`CsrMatrix::from_parts`]).
    #[error("not a CSR matrix: {0}")]
    Structure(String),
    /// A dense buffer does not have the length the operation needs.
    #[error("{what} has length {got}, expected {expected}")]
    BufferLength {
        /// Which buffer.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length it must have.
        expected: usize,
    },
    /// A row index passed to a batch operation is out of range.
    #[error("row {row} is out of range: the matrix has {n_rows} rows")]
    RowOutOfRange {
        /// The row asked for.
        row: u32,
        /// Number of rows.
        n_rows: usize,
    },
    /// The shape does not fit `u32` indices.
    #[error("shape {n_rows}×{n_cols} does not fit u32 indices")]
    TooLarge {
        /// Rows asked for.
        n_rows: usize,
        /// Columns asked for.
        n_cols: usize,
    },
}

/// One row of a [`CsrMatrix`]: its column indices (strictly increasing) and values.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// Column indices, sorted and unique.
    pub indices: &'a [u32],
    /// Values, aligned with `indices`.
    pub values: &'a [f32],
}

impl Row<'_> {
    /// Number of stored entries in the row.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether the row stores no entry.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// A compressed-sparse-row matrix of `f32` with `u32` indices.
///
/// Invariants: within each row, column indices are strictly increasing; every value is
/// finite; the shape fits `u32` indices. Explicitly stored zeros are allowed (a transform
/// may keep them), so `nnz` counts stored entries. Its arrays are its own or read in place
/// from a mapped file ([`CsrMatrix::from_shared_parts`]); a transform makes its own.
#[derive(Debug, Clone)]
pub struct CsrMatrix {
    inner: SprsCsr,
    /// Every array read in place.
    mapped: bool,
}

impl PartialEq for CsrMatrix {
    /// The same shape and entries, wherever the arrays lie.
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner
    }
}

/// An sprs matrix of owned arrays, already known to be valid.
fn owned(shape: (usize, usize), indptr: Vec<usize>, indices: Vec<u32>, data: Vec<f32>) -> SprsCsr {
    CsMatBase::new(shape, indptr.into(), indices.into(), data.into())
}

impl CsrMatrix {
    /// An empty matrix (no stored entry) of the given shape.
    pub fn zeros(n_rows: usize, n_cols: usize) -> Result<Self, SparseError> {
        check_shape(n_rows, n_cols)?;
        Ok(Self {
            inner: owned((n_rows, n_cols), vec![0; n_rows + 1], vec![], vec![]),
            mapped: false,
        })
    }

    /// Builds a matrix from (row, column, value) triplets, resolving repeated pairs by `policy`.
    ///
    /// Runs in O(nnz + n_rows) time plus a sort of each row's entries.
    pub fn from_triplets(
        n_rows: usize,
        n_cols: usize,
        rows: &[u32],
        cols: &[u32],
        values: &[f32],
        policy: DuplicatePolicy,
    ) -> Result<Self, SparseError> {
        check_shape(n_rows, n_cols)?;
        if rows.len() != cols.len() || rows.len() != values.len() {
            return Err(SparseError::TripletLengths {
                rows: rows.len(),
                cols: cols.len(),
                values: values.len(),
            });
        }
        let mut counts = vec![0usize; n_rows + 1];
        for (index, ((&r, &c), &v)) in rows.iter().zip(cols).zip(values).enumerate() {
            if r as usize >= n_rows || c as usize >= n_cols {
                return Err(SparseError::OutOfBounds {
                    index,
                    row: r,
                    col: c,
                    n_rows,
                    n_cols,
                });
            }
            if !v.is_finite() {
                return Err(SparseError::NonFinite { index, value: v });
            }
            counts[r as usize + 1] += 1;
        }
        for i in 0..n_rows {
            counts[i + 1] += counts[i];
        }
        // Counting sort by row, stable: within a row, entries keep their input order, so
        // "last" below means last in the input.
        let nnz = rows.len();
        let mut next = counts.clone();
        let mut order = vec![0usize; nnz];
        for (t, &r) in rows.iter().enumerate() {
            order[next[r as usize]] = t;
            next[r as usize] += 1;
        }
        let mut indptr = Vec::with_capacity(n_rows + 1);
        let mut indices = Vec::with_capacity(nnz);
        let mut data = Vec::with_capacity(nnz);
        indptr.push(0usize);
        let mut scratch: Vec<usize> = Vec::new();
        for r in 0..n_rows {
            scratch.clear();
            scratch.extend_from_slice(&order[counts[r]..counts[r + 1]]);
            // Stable sort by column keeps input order among equal columns.
            scratch.sort_by_key(|&t| cols[t]);
            let mut k = 0;
            while k < scratch.len() {
                let c = cols[scratch[k]];
                let mut v = values[scratch[k]];
                let mut j = k + 1;
                while j < scratch.len() && cols[scratch[j]] == c {
                    match policy {
                        DuplicatePolicy::Sum => v += values[scratch[j]],
                        DuplicatePolicy::KeepLast => v = values[scratch[j]],
                        DuplicatePolicy::Error => {
                            return Err(SparseError::Duplicate {
                                row: r as u32,
                                col: c,
                            });
                        }
                    }
                    j += 1;
                }
                indices.push(c);
                data.push(v);
                k = j;
            }
            indptr.push(indices.len());
        }
        Ok(Self {
            inner: owned((n_rows, n_cols), indptr, indices, data),
            mapped: false,
        })
    }

    /// Wraps an sprs CSR matrix. Returns an error if it stores a non-finite value; a CSC
    /// matrix is converted to CSR.
    pub fn from_sprs(m: CsMatI<f32, u32, usize>) -> Result<Self, SparseError> {
        let m = if m.is_csr() { m } else { m.to_csr() };
        let shape = m.shape();
        let (indptr, indices, data) = m.into_raw_storage();
        Self::from_shared_parts(shape.0, shape.1, indptr.into(), indices.into(), data.into())
    }

    /// A matrix from its CSR arrays (row pointers, column indices, values), checked: the
    /// pointers run from 0 to `indices.len()` without decreasing, columns are in range and
    /// strictly increase within a row, values are finite. For data read from files.
    pub fn from_parts(
        n_rows: usize,
        n_cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        values: Vec<f32>,
    ) -> Result<Self, SparseError> {
        Self::from_shared_parts(n_rows, n_cols, indptr.into(), indices.into(), values.into())
    }

    /// [`CsrMatrix::from_parts`] of arrays owned or read in place (a mapped model file's
    /// tensors: the matrix then holds no copy of them), with the same checks.
    pub fn from_shared_parts(
        n_rows: usize,
        n_cols: usize,
        indptr: Shared<usize>,
        indices: Shared<u32>,
        values: Shared<f32>,
    ) -> Result<Self, SparseError> {
        check_shape(n_rows, n_cols)?;
        if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SparseError::NonFinite { index, value });
        }
        let mapped = indptr.is_mapped() && indices.is_mapped() && values.is_mapped();
        let inner = CsMatBase::try_new((n_rows, n_cols), indptr, indices, values)
            .map_err(|(_, _, _, e)| SparseError::Structure(e.to_string()))?;
        Ok(Self { inner, mapped })
    }

    /// Whether every array is read in place (from a mapped file) rather than owned.
    pub fn is_mapped(&self) -> bool {
        self.mapped
    }

    /// The underlying sprs matrix (always CSR).
    pub fn as_sprs(&self) -> &SprsCsr {
        &self.inner
    }

    /// Number of rows (users).
    pub fn n_rows(&self) -> usize {
        self.inner.rows()
    }

    /// Number of columns (items).
    pub fn n_cols(&self) -> usize {
        self.inner.cols()
    }

    /// `(n_rows, n_cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.n_rows(), self.n_cols())
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.inner.nnz()
    }

    /// Row pointers: row `i` occupies `indptr()[i]..indptr()[i + 1]` of `indices()` and `values()`.
    pub fn indptr(&self) -> &[usize] {
        self.inner.indptr().into_raw_storage()
    }

    /// Column index of every stored entry, row after row.
    pub fn indices(&self) -> &[u32] {
        self.inner.indices()
    }

    /// Value of every stored entry, aligned with [`CsrMatrix::indices`].
    pub fn values(&self) -> &[f32] {
        self.inner.data()
    }

    /// Row `i`. Panics if `i >= n_rows()` (an index bug in the caller, not user input).
    pub fn row(&self, i: usize) -> Row<'_> {
        let p = self.indptr();
        let (a, b) = (p[i], p[i + 1]);
        Row {
            indices: &self.indices()[a..b],
            values: &self.values()[a..b],
        }
    }

    /// The stored value at (`row`, `col`), if any (binary search in the row).
    pub fn get(&self, row: usize, col: usize) -> Option<f32> {
        if row >= self.n_rows() {
            return None;
        }
        let r = self.row(row);
        r.indices
            .binary_search(&(col as u32))
            .ok()
            .map(|k| r.values[k])
    }

    /// Whether (`row`, `col`) is stored.
    pub fn contains(&self, row: usize, col: usize) -> bool {
        self.get(row, col).is_some()
    }

    /// Stored entries per row.
    pub fn row_counts(&self) -> Vec<u32> {
        self.indptr()
            .windows(2)
            .map(|w| (w[1] - w[0]) as u32)
            .collect()
    }

    /// Stored entries per column.
    pub fn col_counts(&self) -> Vec<u32> {
        let mut c = vec![0u32; self.n_cols()];
        for &j in self.indices() {
            c[j as usize] += 1;
        }
        c
    }

    /// The transpose as a CSR matrix (the item × user view of a user × item matrix).
    pub fn transpose(&self) -> CsrMatrix {
        let (n_rows, n_cols) = self.shape();
        let mut counts = vec![0usize; n_cols + 1];
        for &j in self.indices() {
            counts[j as usize + 1] += 1;
        }
        for j in 0..n_cols {
            counts[j + 1] += counts[j];
        }
        let mut next = counts.clone();
        let nnz = self.nnz();
        let mut indices = vec![0u32; nnz];
        let mut data = vec![0f32; nnz];
        for r in 0..n_rows {
            let row = self.row(r);
            for (&c, &v) in row.indices.iter().zip(row.values) {
                let at = next[c as usize];
                indices[at] = r as u32;
                data[at] = v;
                next[c as usize] += 1;
            }
        }
        CsrMatrix {
            inner: owned((n_cols, n_rows), counts, indices, data),
            mapped: false,
        }
    }

    /// A new matrix made of the given rows, in the given order (a minibatch, kept sparse).
    pub fn select_rows(&self, rows: &[u32]) -> Result<CsrMatrix, SparseError> {
        self.check_rows(rows)?;
        let mut indptr = Vec::with_capacity(rows.len() + 1);
        let total: usize = rows.iter().map(|&r| self.row(r as usize).len()).sum();
        let mut indices = Vec::with_capacity(total);
        let mut data = Vec::with_capacity(total);
        indptr.push(0);
        for &r in rows {
            let row = self.row(r as usize);
            indices.extend_from_slice(row.indices);
            data.extend_from_slice(row.values);
            indptr.push(indices.len());
        }
        Ok(CsrMatrix {
            inner: owned((rows.len(), self.n_cols()), indptr, indices, data),
            mapped: false,
        })
    }

    /// Copies the given rows into a caller's dense row-major buffer of length
    /// `rows.len() * n_cols()`, zero-filling everything not stored.
    pub fn dense_rows(&self, rows: &[u32], out: &mut [f32]) -> Result<(), SparseError> {
        self.check_rows(rows)?;
        let n = self.n_cols();
        check_len("dense row buffer", out.len(), rows.len() * n)?;
        out.fill(0.0);
        if n == 0 {
            return Ok(());
        }
        for (&r, dst) in rows.iter().zip(out.chunks_mut(n)) {
            let row = self.row(r as usize);
            for (&c, &v) in row.indices.iter().zip(row.values) {
                dst[c as usize] = v;
            }
        }
        Ok(())
    }

    /// The whole matrix as a dense row-major vector (for tests and tiny matrices).
    pub fn to_dense(&self) -> Vec<f32> {
        let all: Vec<u32> = (0..self.n_rows() as u32).collect();
        let mut out = vec![0.0; self.n_rows() * self.n_cols()];
        self.dense_rows(&all, &mut out)
            .expect("rows are in range and the buffer has the right length");
        out
    }

    /// Every stored value replaced by 1 (the pattern of the matrix).
    pub fn binarize(&self) -> CsrMatrix {
        self.map_values(|_| 1.0)
    }

    /// Each row divided by its L2 norm (rows with norm 0 are left as they are), as
    /// `torch.nn.functional.normalize` does for Mult-VAE's input.
    pub fn l2_normalize_rows(&self) -> CsrMatrix {
        let mut data = self.values().to_vec();
        for w in self.indptr().windows(2) {
            let vals = &mut data[w[0]..w[1]];
            let norm = vals
                .iter()
                .map(|&v| (v as f64) * (v as f64))
                .sum::<f64>()
                .sqrt();
            if norm > 0.0 {
                for v in vals {
                    *v = (*v as f64 / norm) as f32;
                }
            }
        }
        self.with_data(data)
    }

    /// The same pattern with every value mapped by `f` (which must return finite values).
    pub fn map_values(&self, f: impl Fn(f32) -> f32) -> CsrMatrix {
        let data: Vec<f32> = self.values().iter().map(|&v| f(v)).collect();
        debug_assert!(
            data.iter().all(|v| v.is_finite()),
            "map_values produced a non-finite value"
        );
        self.with_data(data)
    }

    /// This pattern (copied) with other values, one per stored entry.
    fn with_data(&self, data: Vec<f32>) -> CsrMatrix {
        CsrMatrix {
            inner: owned(
                self.shape(),
                self.indptr().to_vec(),
                self.indices().to_vec(),
                data,
            ),
            mapped: false,
        }
    }

    /// `out = self · dense`, where `dense` is row-major `n_cols() × k` and `out` row-major
    /// `n_rows() × k`. Parallel over rows with rayon.
    pub fn spmm(&self, dense: &[f32], k: usize, out: &mut [f32]) -> Result<(), SparseError> {
        check_len("dense operand", dense.len(), self.n_cols() * k)?;
        check_len("output", out.len(), self.n_rows() * k)?;
        if k == 0 {
            return Ok(());
        }
        let indptr = self.indptr();
        let indices = self.indices();
        let values = self.values();
        let kernel = |(r, dst): (usize, &mut [f32])| {
            dst.fill(0.0);
            for p in indptr[r]..indptr[r + 1] {
                let v = values[p];
                let src = &dense[indices[p] as usize * k..][..k];
                axpy(v, src, dst);
            }
        };
        if self.nnz() * k < PARALLEL_MIN_WORK {
            out.chunks_mut(k).enumerate().for_each(kernel);
        } else {
            out.par_chunks_mut(k).enumerate().for_each(kernel);
        }
        Ok(())
    }

    /// `out = selfᵀ · dense`, where `dense` is row-major `n_rows() × k` and `out` row-major
    /// `n_cols() × k`: the gradient of a sparse first layer with respect to its weights.
    /// Parallel over disjoint blocks of output rows (columns of `self`), without forming the
    /// transpose; every output element sums its terms in row order whatever the thread count,
    /// so the parallel result is the serial one exactly.
    pub fn spmm_t(&self, dense: &[f32], k: usize, out: &mut [f32]) -> Result<(), SparseError> {
        check_len("dense operand", dense.len(), self.n_rows() * k)?;
        check_len("output", out.len(), self.n_cols() * k)?;
        out.fill(0.0);
        if k == 0 || self.n_cols() == 0 {
            return Ok(());
        }
        let indptr = self.indptr();
        let indices = self.indices();
        let values = self.values();
        let n_cols = self.n_cols();
        // Adds to `block` (output rows c0.. of `out`, i.e. columns c0.. of `self`) the terms of
        // every stored entry in those columns, scanning the rows in order; within each row
        // the entries of the block's columns are found by binary search (columns increase).
        let scatter = |c0: usize, block: &mut [f32]| {
            let c1 = c0 + block.len() / k;
            let whole = c0 == 0 && c1 == n_cols;
            for r in 0..self.n_rows() {
                let (a, b) = (indptr[r], indptr[r + 1]);
                let cols = &indices[a..b];
                let (lo, hi) = if whole {
                    (a, b)
                } else {
                    (
                        a + cols.partition_point(|&c| (c as usize) < c0),
                        a + cols.partition_point(|&c| (c as usize) < c1),
                    )
                };
                let src = &dense[r * k..(r + 1) * k];
                for p in lo..hi {
                    let c = indices[p] as usize - c0;
                    axpy(values[p], src, &mut block[c * k..(c + 1) * k]);
                }
            }
        };
        let threads = rayon::current_num_threads().max(1);
        if self.nnz() * k < PARALLEL_MIN_WORK || threads == 1 || n_cols == 1 {
            scatter(0, out);
            return Ok(());
        }
        // A few blocks per thread so that rayon can even out columns of unequal popularity.
        let rows_per_block = n_cols.div_ceil(4 * threads).max(1);
        out.par_chunks_mut(rows_per_block * k)
            .enumerate()
            .for_each(|(b, block)| scatter(b * rows_per_block, block));
        Ok(())
    }

    fn check_rows(&self, rows: &[u32]) -> Result<(), SparseError> {
        let n_rows = self.n_rows();
        match rows.iter().find(|&&r| r as usize >= n_rows) {
            Some(&row) => Err(SparseError::RowOutOfRange { row, n_rows }),
            None => Ok(()),
        }
    }
}

#[inline]
fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

fn check_len(what: &'static str, got: usize, expected: usize) -> Result<(), SparseError> {
    if got == expected {
        Ok(())
    } else {
        Err(SparseError::BufferLength {
            what,
            got,
            expected,
        })
    }
}

fn check_shape(n_rows: usize, n_cols: usize) -> Result<(), SparseError> {
    if n_rows > u32::MAX as usize || n_cols > u32::MAX as usize {
        Err(SparseError::TooLarge { n_rows, n_cols })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> CsrMatrix {
        CsrMatrix::from_triplets(
            3,
            4,
            &[0, 0, 2, 1, 0],
            &[3, 1, 0, 2, 1],
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            DuplicatePolicy::Sum,
        )
        .unwrap()
    }

    #[test]
    fn duplicate_policies() {
        let s = small();
        assert_eq!(s.get(0, 1), Some(7.0));
        let k = CsrMatrix::from_triplets(
            3,
            4,
            &[0, 0, 0],
            &[1, 1, 2],
            &[2.0, 5.0, 1.0],
            DuplicatePolicy::KeepLast,
        )
        .unwrap();
        assert_eq!(k.get(0, 1), Some(5.0));
        let e =
            CsrMatrix::from_triplets(3, 4, &[0, 0], &[1, 1], &[2.0, 5.0], DuplicatePolicy::Error);
        assert_eq!(e, Err(SparseError::Duplicate { row: 0, col: 1 }));
    }

    #[test]
    fn bad_triplets_are_refused() {
        let r = CsrMatrix::from_triplets(2, 2, &[2], &[0], &[1.0], DuplicatePolicy::Sum);
        assert!(matches!(
            r,
            Err(SparseError::OutOfBounds {
                index: 0,
                row: 2,
                ..
            })
        ));
        let r = CsrMatrix::from_triplets(2, 2, &[0], &[0], &[f32::NAN], DuplicatePolicy::Sum);
        assert!(matches!(r, Err(SparseError::NonFinite { index: 0, .. })));
        let r = CsrMatrix::from_triplets(2, 2, &[0, 1], &[0], &[1.0], DuplicatePolicy::Sum);
        assert!(matches!(r, Err(SparseError::TripletLengths { .. })));
    }

    #[test]
    fn counts_rows_and_transpose() {
        let s = small();
        assert_eq!(s.row_counts(), vec![2, 1, 1]);
        assert_eq!(s.col_counts(), vec![1, 1, 1, 1]);
        assert_eq!(s.row(0).indices, &[1, 3]);
        let t = s.transpose();
        assert_eq!(t.shape(), (4, 3));
        assert_eq!(t.get(3, 0), Some(1.0));
        assert_eq!(t.transpose(), s);
    }

    #[test]
    fn buffers_of_wrong_length_are_errors() {
        let s = small();
        let mut out = vec![0.0; 5];
        assert!(matches!(
            s.spmm(&[0.0; 8], 2, &mut out),
            Err(SparseError::BufferLength { what: "output", .. })
        ));
        assert!(matches!(
            s.dense_rows(&[0, 7], &mut [0.0; 8]),
            Err(SparseError::RowOutOfRange { row: 7, .. })
        ));
    }
}
