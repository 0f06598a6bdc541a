//! Columnar interactions and their id maps.

use std::collections::HashMap;
use std::sync::Arc;

use recs_sparse::{CsrMatrix, DuplicatePolicy};

use crate::DataError;

/// The id index's hash: foldhash (the hash hashbrown uses by default), keyed per process
/// with a random seed. Ids come from input files and requests, so the hash must spread any
/// byte strings (long numeric ids, prefixed ids) over the table's buckets, and ids crafted
/// to collide must not be computable ahead of time.
type IdIndex = HashMap<String, u32, foldhash::fast::RandomState>;

/// External ids (as they appear in the files) ↔ dense `u32` indices, in order of first
/// appearance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdMap {
    ids: Vec<String>,
    index: IdIndex,
}

impl IdMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the map holds no id.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The dense index of an external id.
    pub fn get(&self, external: &str) -> Option<u32> {
        self.index.get(external).copied()
    }

    /// The external id of a dense index. Panics if `idx >= len()` (a caller's index bug).
    pub fn external(&self, idx: u32) -> &str {
        &self.ids[idx as usize]
    }

    /// The index of `external`, adding it at the end if new.
    pub fn get_or_insert(&mut self, external: &str) -> u32 {
        if let Some(&i) = self.index.get(external) {
            return i;
        }
        let i = self.ids.len() as u32;
        self.ids.push(external.to_string());
        self.index.insert(external.to_string(), i);
        i
    }

    /// External ids in index order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }
}

/// (user, item, value, optional timestamp) rows, stored column by column, with the id maps
/// they index. Cloning shares the id maps.
#[derive(Debug, Clone)]
pub struct Interactions {
    users: Vec<u32>,
    items: Vec<u32>,
    values: Vec<f32>,
    timestamps: Option<Vec<i64>>,
    user_map: Arc<IdMap>,
    item_map: Arc<IdMap>,
}

impl Interactions {
    /// A builder that assigns dense indices as ids first appear.
    pub fn builder() -> InteractionsBuilder {
        InteractionsBuilder::default()
    }

    /// Assembles interactions from columns over existing id maps. Every index must be in
    /// range of its map and every value finite; timestamps, if given, align with the rows.
    pub fn from_parts(
        users: Vec<u32>,
        items: Vec<u32>,
        values: Vec<f32>,
        timestamps: Option<Vec<i64>>,
        user_map: Arc<IdMap>,
        item_map: Arc<IdMap>,
    ) -> Result<Self, DataError> {
        let n = users.len();
        if items.len() != n
            || values.len() != n
            || timestamps.as_ref().is_some_and(|t| t.len() != n)
        {
            return Err(DataError::Param {
                name: "columns",
                value: format!(
                    "{} users, {} items, {} values, {:?} timestamps",
                    n,
                    items.len(),
                    values.len(),
                    timestamps.as_ref().map(Vec::len)
                ),
                allowed: "all columns of the same length",
            });
        }
        if let Some(&u) = users.iter().find(|&&u| u as usize >= user_map.len()) {
            return Err(DataError::Param {
                name: "user index",
                value: u.to_string(),
                allowed: "below the number of user ids",
            });
        }
        if let Some(&i) = items.iter().find(|&&i| i as usize >= item_map.len()) {
            return Err(DataError::Param {
                name: "item index",
                value: i.to_string(),
                allowed: "below the number of item ids",
            });
        }
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(DataError::Param {
                name: "value",
                value: v.to_string(),
                allowed: "finite numbers",
            });
        }
        Ok(Self {
            users,
            items,
            values,
            timestamps,
            user_map,
            item_map,
        })
    }

    /// Number of interactions.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there is no interaction.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Number of user ids (the full index space, also users without rows here).
    pub fn n_users(&self) -> usize {
        self.user_map.len()
    }

    /// Number of item ids (the full index space).
    pub fn n_items(&self) -> usize {
        self.item_map.len()
    }

    /// User index of every row.
    pub fn users(&self) -> &[u32] {
        &self.users
    }

    /// Item index of every row.
    pub fn items(&self) -> &[u32] {
        &self.items
    }

    /// Value (rating) of every row.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Timestamp of every row, if the source had them.
    pub fn timestamps(&self) -> Option<&[i64]> {
        self.timestamps.as_deref()
    }

    /// The user id map.
    pub fn user_map(&self) -> &IdMap {
        &self.user_map
    }

    /// The item id map.
    pub fn item_map(&self) -> &IdMap {
        &self.item_map
    }

    /// The shared user id map.
    pub fn user_map_arc(&self) -> Arc<IdMap> {
        Arc::clone(&self.user_map)
    }

    /// The shared item id map.
    pub fn item_map_arc(&self) -> Arc<IdMap> {
        Arc::clone(&self.item_map)
    }

    /// The `n_users × n_items` matrix of values, repeated pairs resolved by `policy`.
    pub fn to_csr(&self, policy: DuplicatePolicy) -> Result<CsrMatrix, DataError> {
        Ok(CsrMatrix::from_triplets(
            self.n_users(),
            self.n_items(),
            &self.users,
            &self.items,
            &self.values,
            policy,
        )?)
    }

    /// As [`Interactions::to_csr`], with the order the rows gave the entries in (positions
    /// into the matrix's stored entries, each once, at the first row that names it) and,
    /// where the data has times, each entry's time (that of the last row naming it), in the
    /// matrix's order: what a model's training data carries.
    #[allow(clippy::type_complexity)]
    pub fn to_csr_ordered(
        &self,
        policy: DuplicatePolicy,
    ) -> Result<(CsrMatrix, Vec<usize>, Option<Vec<i64>>), DataError> {
        let m = self.to_csr(policy)?;
        let mut seen = vec![false; m.nnz()];
        let mut order = Vec::with_capacity(m.nnz());
        let mut times = self.timestamps().map(|_| vec![0i64; m.nnz()]);
        for r in 0..self.len() {
            let (u, i) = (self.users[r] as usize, self.items[r]);
            let Ok(j) = m.row(u).indices.binary_search(&i) else {
                continue;
            };
            let p = m.indptr()[u] + j;
            if !std::mem::replace(&mut seen[p], true) {
                order.push(p);
            }
            if let (Some(t), Some(ts)) = (times.as_mut(), self.timestamps()) {
                t[p] = ts[r];
            }
        }
        Ok((m, order, times))
    }

    /// These interactions in another index space (a trained model's): users and items
    /// looked up by external id in `users` and `items`; rows whose user or item is not there
    /// are dropped, and counted.
    pub fn reindexed(
        &self,
        users: &Arc<IdMap>,
        items: &Arc<IdMap>,
    ) -> Result<(Interactions, usize), DataError> {
        let (mut u, mut i, mut v) = (Vec::new(), Vec::new(), Vec::new());
        let mut t = self.timestamps().map(|_| Vec::new());
        let mut dropped = 0;
        for r in 0..self.len() {
            let ue = self.user_map().external(self.users()[r]);
            let ie = self.item_map().external(self.items()[r]);
            match (users.get(ue), items.get(ie)) {
                (Some(a), Some(b)) => {
                    u.push(a);
                    i.push(b);
                    v.push(self.values()[r]);
                    if let (Some(t), Some(ts)) = (t.as_mut(), self.timestamps()) {
                        t.push(ts[r]);
                    }
                }
                _ => dropped += 1,
            }
        }
        Ok((
            Interactions::from_parts(u, i, v, t, users.clone(), items.clone())?,
            dropped,
        ))
    }

    /// The given rows, in the given order, over the same id maps. Panics on an index out of
    /// range (a caller's bug).
    pub fn subset(&self, rows: &[usize]) -> Interactions {
        Interactions {
            users: rows.iter().map(|&r| self.users[r]).collect(),
            items: rows.iter().map(|&r| self.items[r]).collect(),
            values: rows.iter().map(|&r| self.values[r]).collect(),
            timestamps: self
                .timestamps
                .as_ref()
                .map(|t| rows.iter().map(|&r| t[r]).collect()),
            user_map: Arc::clone(&self.user_map),
            item_map: Arc::clone(&self.item_map),
        }
    }

    /// Replaces the values column (same length, finite: the callers guarantee it).
    pub(crate) fn set_values(&mut self, values: Vec<f32>) {
        debug_assert_eq!(values.len(), self.users.len());
        self.values = values;
    }

    /// The same rows over new id maps that hold only the ids these rows use, in order of
    /// first appearance (e.g. after a filter, to drop empty rows and columns).
    pub fn compact(&self) -> Interactions {
        let mut b = InteractionsBuilder::default();
        for r in 0..self.len() {
            b.push(
                self.user_map.external(self.users[r]),
                self.item_map.external(self.items[r]),
                self.values[r],
                self.timestamps.as_ref().map(|t| t[r]),
            );
        }
        b.build()
    }

    /// Number of rows of every user (indexed by user index).
    pub fn user_counts(&self) -> Vec<u32> {
        let mut c = vec![0u32; self.n_users()];
        for &u in &self.users {
            c[u as usize] += 1;
        }
        c
    }

    /// Number of rows of every item (indexed by item index).
    pub fn item_counts(&self) -> Vec<u32> {
        let mut c = vec![0u32; self.n_items()];
        for &i in &self.items {
            c[i as usize] += 1;
        }
        c
    }

    /// Row indices ordered by (user, item, row): the rows of one (user, item) pair are
    /// adjacent, in row order. A counting sort by user, then a stable sort of each user's
    /// rows by item: O(n log d) for users of d rows, 8 bytes a row of scratch.
    pub(crate) fn rows_by_pair(&self) -> Vec<usize> {
        let mut start = vec![0usize; self.n_users() + 1];
        for &u in &self.users {
            start[u as usize + 1] += 1;
        }
        for k in 0..self.n_users() {
            start[k + 1] += start[k];
        }
        let mut next = start.clone();
        let mut order = vec![0usize; self.len()];
        for (r, &u) in self.users.iter().enumerate() {
            order[next[u as usize]] = r;
            next[u as usize] += 1;
        }
        for w in start.windows(2) {
            order[w[0]..w[1]].sort_by_key(|&r| self.items[r]);
        }
        order
    }

    /// Keeps the rows for which `keep(row)` is true.
    pub fn filter(&self, keep: impl Fn(usize) -> bool) -> Interactions {
        let rows: Vec<usize> = (0..self.len()).filter(|&r| keep(r)).collect();
        self.subset(&rows)
    }
}

/// Builds [`Interactions`] row by row, assigning dense indices as ids first appear.
#[derive(Debug, Default)]
pub struct InteractionsBuilder {
    users: Vec<u32>,
    items: Vec<u32>,
    values: Vec<f32>,
    timestamps: Vec<i64>,
    any_timestamp: bool,
    user_map: IdMap,
    item_map: IdMap,
}

impl InteractionsBuilder {
    /// Appends one row. A row without a timestamp gets 0 if other rows have one.
    pub fn push(&mut self, user: &str, item: &str, value: f32, timestamp: Option<i64>) {
        self.users.push(self.user_map.get_or_insert(user));
        self.items.push(self.item_map.get_or_insert(item));
        self.values.push(value);
        // Timestamps are stored only once some row has one (earlier rows get 0), so data
        // without timestamps costs 12 bytes a row.
        if let Some(t) = timestamp {
            if !self.any_timestamp {
                self.any_timestamp = true;
                self.timestamps.resize(self.users.len() - 1, 0);
            }
            self.timestamps.push(t);
        } else if self.any_timestamp {
            self.timestamps.push(0);
        }
    }

    /// Number of rows so far.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether no row was pushed.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The interactions (timestamps kept only if some row had one).
    pub fn build(self) -> Interactions {
        Interactions {
            users: self.users,
            items: self.items,
            values: self.values,
            timestamps: self.any_timestamp.then_some(self.timestamps),
            user_map: Arc::new(self.user_map),
            item_map: Arc::new(self.item_map),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_both_ways_in_order_of_appearance() {
        let mut b = Interactions::builder();
        b.push("7", "a", 1.0, Some(3));
        b.push("3", "b", 2.0, None);
        b.push("7", "b", 3.0, Some(1));
        let d = b.build();
        assert_eq!(d.users(), &[0, 1, 0]);
        assert_eq!(d.user_map().external(1), "3");
        assert_eq!(d.item_map().get("b"), Some(1));
        assert_eq!(d.timestamps(), Some(&[3, 0, 1][..]));
        let s = d.subset(&[2, 0]);
        assert_eq!(s.values(), &[3.0, 1.0]);
        assert_eq!(s.n_items(), 2);
        let x = d.to_csr(DuplicatePolicy::Error).unwrap();
        assert_eq!(x.get(0, 1), Some(3.0));
    }

    #[test]
    fn timestamps_are_backfilled_only_once_one_appears() {
        let mut b = Interactions::builder();
        b.push("a", "x", 1.0, None);
        assert!(b.timestamps.is_empty());
        b.push("a", "y", 1.0, Some(9));
        b.push("b", "y", 1.0, None);
        assert_eq!(b.build().timestamps(), Some(&[0, 9, 0][..]));
        let mut b = Interactions::builder();
        b.push("a", "x", 1.0, None);
        assert_eq!(b.build().timestamps(), None);
    }

    #[test]
    fn from_parts_checks_columns() {
        let m = Arc::new(IdMap::new());
        assert!(Interactions::from_parts(vec![0], vec![0], vec![1.0], None, m.clone(), m).is_err());
    }

    /// The index's hash spreads ordinary ids — long numbers, prefixed numbers — over the
    /// low bits a hash table picks its bucket from about as a random function would
    /// (100,000 ids into 2^17 buckets fill ≈ 70 % of them); an id loader whose hash kept
    /// such ids in a few buckets took a minute for a million of them.
    #[test]
    fn the_id_hash_spreads_numeric_and_prefixed_ids_over_the_buckets() {
        use std::hash::BuildHasher;
        let state = IdIndex::default().hasher().clone();
        let shapes: [fn(u64) -> String; 3] = [
            |k| (10_000_001 + k).to_string(),
            |k| format!("u{k}"),
            |k| format!("item-{:012}", k * 7),
        ];
        for make in shapes {
            let (n, buckets) = (100_000u64, 1usize << 17);
            let mut hit = vec![false; buckets];
            for k in 0..n {
                hit[(state.hash_one(make(k).as_str()) as usize) & (buckets - 1)] = true;
            }
            let filled = hit.iter().filter(|&&h| h).count() as f64 / n as f64;
            assert!(
                filled > 0.65,
                "{}…: {filled:.3} of the ids in distinct buckets",
                make(0)
            );
        }
    }
}
