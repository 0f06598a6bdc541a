//! Training input: (user, item, value) triples over dense indices.

use crate::ModelError;

/// Borrowed training triples: `users[n]` gave `items[n]` the value `values[n]`.
///
/// Indices are the dense `u32` indices of the data's id maps (as in
/// `recs_data::Interactions`); `n_users` and `n_items` bound them.
#[derive(Debug, Clone, Copy)]
pub struct Triples<'a> {
    users: &'a [u32],
    items: &'a [u32],
    values: &'a [f32],
    n_users: usize,
    n_items: usize,
}

impl<'a> Triples<'a> {
    /// Checks and wraps the three aligned slices.
    ///
    /// Errors when the slices differ in length, an index is out of range, a value is not
    /// finite, or there is no triple at all.
    pub fn new(
        users: &'a [u32],
        items: &'a [u32],
        values: &'a [f32],
        n_users: usize,
        n_items: usize,
    ) -> Result<Self, ModelError> {
        if users.len() != items.len() || users.len() != values.len() {
            return Err(ModelError::Data(format!(
                "users, items and values must have one length; got {}, {} and {}",
                users.len(),
                items.len(),
                values.len()
            )));
        }
        if users.is_empty() {
            return Err(ModelError::Data("no interaction to train on".into()));
        }
        for (n, ((&u, &i), &v)) in users.iter().zip(items).zip(values).enumerate() {
            if u as usize >= n_users {
                return Err(ModelError::Data(format!(
                    "triple {n}: user index {u} is not below n_users = {n_users}"
                )));
            }
            if i as usize >= n_items {
                return Err(ModelError::Data(format!(
                    "triple {n}: item index {i} is not below n_items = {n_items}"
                )));
            }
            if !v.is_finite() {
                return Err(ModelError::Data(format!(
                    "triple {n}: value {v} is not finite"
                )));
            }
        }
        Ok(Self {
            users,
            items,
            values,
            n_users,
            n_items,
        })
    }

    /// User index of every triple.
    pub fn users(&self) -> &'a [u32] {
        self.users
    }

    /// Item index of every triple.
    pub fn items(&self) -> &'a [u32] {
        self.items
    }

    /// Value (rating) of every triple.
    pub fn values(&self) -> &'a [f32] {
        self.values
    }

    /// Number of users (user indices are below it).
    pub fn n_users(&self) -> usize {
        self.n_users
    }

    /// Number of items (item indices are below it).
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Number of triples.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there is no triple (never true for a checked value).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Mean of the values, in f64.
    pub fn mean(&self) -> f64 {
        self.values.iter().map(|&v| f64::from(v)).sum::<f64>() / self.len() as f64
    }

    /// Smallest and largest value.
    pub fn range(&self) -> (f32, f32) {
        self.values
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            })
    }

    /// How many triples each user has (length `n_users`).
    pub fn user_counts(&self) -> Vec<u32> {
        let mut c = vec![0u32; self.n_users];
        for &u in self.users {
            c[u as usize] += 1;
        }
        c
    }

    /// How many triples each item has (length `n_items`).
    pub fn item_counts(&self) -> Vec<u32> {
        let mut c = vec![0u32; self.n_items];
        for &i in self.items {
            c[i as usize] += 1;
        }
        c
    }
}
