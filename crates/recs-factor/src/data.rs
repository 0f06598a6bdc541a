//! The rating models' view of the training matrix: its entries as (user, item, value)
//! triples, in the matrix's order (user by user, items increasing).

use recs_core::ModelError;
use recs_sparse::CsrMatrix;

/// The stored entries of a training matrix: `users[n]` gave `items[n]` the value
/// `values[n]`. The matrix guarantees indices in range and finite values; [`Triples::of`]
/// refuses a matrix with no entry.
#[derive(Debug, Clone)]
pub(crate) struct Triples<'a> {
    users: Vec<u32>,
    items: std::borrow::Cow<'a, [u32]>,
    values: std::borrow::Cow<'a, [f32]>,
    n_users: usize,
    n_items: usize,
}

impl<'a> Triples<'a> {
    /// The entries of `x` (users × items); an error when it has none.
    pub(crate) fn of(x: &'a CsrMatrix, order: Option<&[usize]>) -> Result<Self, ModelError> {
        if x.nnz() == 0 {
            return Err(ModelError::Data("no interaction to train on".into()));
        }
        let mut users = Vec::with_capacity(x.nnz());
        for u in 0..x.n_rows() {
            users.extend(std::iter::repeat_n(u as u32, x.row(u).indices.len()));
        }
        if let Some(o) = order {
            let mut seen = vec![false; x.nnz()];
            if o.len() != x.nnz()
                || o.iter()
                    .any(|&p| p >= x.nnz() || std::mem::replace(&mut seen[p], true))
            {
                return Err(ModelError::Data(
                    "the order is not a permutation of the entries".into(),
                ));
            }
            return Ok(Self {
                users: o.iter().map(|&p| users[p]).collect(),
                items: o.iter().map(|&p| x.indices()[p]).collect::<Vec<_>>().into(),
                values: o.iter().map(|&p| x.values()[p]).collect::<Vec<_>>().into(),
                n_users: x.n_rows(),
                n_items: x.n_cols(),
            });
        }
        Ok(Self {
            users,
            items: x.indices().into(),
            values: x.values().into(),
            n_users: x.n_rows(),
            n_items: x.n_cols(),
        })
    }

    /// User index of every entry.
    pub(crate) fn users(&self) -> &[u32] {
        &self.users
    }

    /// Item index of every entry.
    pub(crate) fn items(&self) -> &[u32] {
        &self.items
    }

    /// Value (rating) of every entry.
    pub(crate) fn values(&self) -> &[f32] {
        &self.values
    }

    /// Number of users (user indices are below it).
    pub(crate) fn n_users(&self) -> usize {
        self.n_users
    }

    /// Number of items (item indices are below it).
    pub(crate) fn n_items(&self) -> usize {
        self.n_items
    }

    /// Number of entries (never 0).
    pub(crate) fn len(&self) -> usize {
        self.users.len()
    }

    /// Mean of the values, in f64.
    pub(crate) fn mean(&self) -> f64 {
        self.values.iter().map(|&v| f64::from(v)).sum::<f64>() / self.len() as f64
    }

    /// Smallest and largest value.
    pub(crate) fn range(&self) -> (f32, f32) {
        self.values
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            })
    }

    /// How many entries each user has (length `n_users`).
    pub(crate) fn user_counts(&self) -> Vec<u32> {
        let mut c = vec![0u32; self.n_users];
        for &u in &self.users {
            c[u as usize] += 1;
        }
        c
    }

    /// How many entries each item has (length `n_items`).
    pub(crate) fn item_counts(&self) -> Vec<u32> {
        let mut c = vec![0u32; self.n_items];
        for &i in self.items.iter() {
            c[i as usize] += 1;
        }
        c
    }
}
