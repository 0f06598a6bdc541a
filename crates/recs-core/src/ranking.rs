//! The one ranking path: every front-end (the CLI, the server, the Python package) turns
//! scores into ranked lists here, in batches of [`BATCH`] queries, with the options users of
//! each expect:
//!
//! - **What happens to filtered items** ([`Filtered`]): the CLI and the server leave them
//!   out ([`Filtered::Drop`]: a list may be shorter than `k`); implicit's convention, which
//!   the Python package follows, keeps them at the end with score `-f32::MAX`
//!   ([`Filtered::Last`]: every list has `min(k, candidates)` entries).
//! - **Candidates**: rank only a given list of items (implicit's `items=`).
//! - **Similar items**: the query item first (implicit's `similar_items`), or left out
//!   (the CLI's and the server's `similar`).
//! - **A deadline or cancel flag** ([`Deadline`]) checked between batches, so a long scoring
//!   run stops when its caller has given up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::model::FoldIn;
use crate::rank::{dot, top_k};
use crate::scorer::{ScoreError, Scorer};

/// Queries scored in one batched call: one score buffer of `BATCH × n_items` floats per
/// worker, whatever the number of queries.
pub const BATCH: usize = 256;

/// The score implicit gives a filtered item: it ranks last but stays finite.
pub const FILTERED: f32 = -f32::MAX;

/// What a ranking does with filtered items (and with scores that are not finite).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filtered {
    /// Left out, as are non-finite scores: a list may be shorter than `k` (the CLI, the
    /// server).
    Drop,
    /// Kept at the end with score [`FILTERED`]; NaN and −∞ rank as filtered, +∞ as the
    /// largest finite score; every list has `min(k, candidates)` entries (implicit).
    Last,
}

/// A deadline and/or a cancel flag that long scoring checks between batches.
#[derive(Debug, Clone, Default)]
pub struct Deadline {
    at: Option<Instant>,
    flag: Option<Arc<AtomicBool>>,
}

impl Deadline {
    /// Never expires.
    pub fn none() -> Self {
        Self::default()
    }

    /// Expires `d` from now.
    pub fn after(d: Duration) -> Self {
        Self {
            at: Instant::now().checked_add(d),
            flag: None,
        }
    }

    /// Also expires once `flag` is set (a caller that went away sets it).
    pub fn with_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.flag = Some(flag);
        self
    }

    /// [`ScoreError::Cancelled`] once the deadline has passed or the flag is set.
    pub fn check(&self) -> Result<(), ScoreError> {
        let late = self.at.is_some_and(|t| Instant::now() >= t);
        let cancelled = self
            .flag
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed));
        if late || cancelled {
            Err(ScoreError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// How every query of one call is ranked: the cut-off, the candidates, the items filtered
/// for every query, and what happens to filtered items.
#[derive(Debug, Clone)]
pub struct Ranking {
    n_items: usize,
    k: usize,
    candidates: Option<Vec<u32>>,
    filter: Vec<u32>,
    filtered: Filtered,
}

impl Ranking {
    /// The best `k` of `n_items` items.
    pub fn new(n_items: usize, k: usize, filtered: Filtered) -> Self {
        Self {
            n_items,
            k,
            candidates: None,
            filter: Vec::new(),
            filtered,
        }
    }

    /// Ranks only `candidates` (any order, repeats ignored; each below `n_items`).
    pub fn candidates(mut self, mut candidates: Vec<u32>) -> Self {
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|&c| (c as usize) < self.n_items);
        self.candidates = Some(candidates);
        self
    }

    /// Filters `items` for every query.
    pub fn filter(mut self, items: Vec<u32>) -> Self {
        self.filter = items;
        self
    }

    /// The length of every list under [`Filtered::Last`] (the most under
    /// [`Filtered::Drop`]): `k`, or fewer when there are fewer candidates.
    pub fn k(&self) -> usize {
        self.k
            .min(self.candidates.as_ref().map_or(self.n_items, Vec::len))
    }

    /// Ranks one query's full score row (`own`: this query's own filtered items, such as
    /// its training items). The row is used as scratch space.
    pub fn rank(&self, row: &mut [f32], own: &[u32]) -> Vec<(u32, f32)> {
        let mark = match self.filtered {
            Filtered::Drop => f32::NAN,
            Filtered::Last => FILTERED,
        };
        for &i in self.filter.iter().chain(own) {
            if let Some(v) = row.get_mut(i as usize) {
                *v = mark;
            }
        }
        if self.filtered == Filtered::Last {
            for v in row.iter_mut().filter(|v| !v.is_finite()) {
                *v = if *v == f32::INFINITY {
                    f32::MAX
                } else {
                    FILTERED
                };
            }
        }
        let k = self.k();
        match &self.candidates {
            None => top_k(row, k, &[]),
            Some(c) => {
                let sub: Vec<f32> = c.iter().map(|&i| row[i as usize]).collect();
                top_k(&sub, k, &[])
                    .into_iter()
                    .map(|(j, v)| (c[j as usize], v))
                    .collect()
            }
        }
    }

    /// Ranks `n_queries` queries whose scores `score` writes, batch by batch
    /// (`score(range, buffer)` fills `range.len()` rows), each with its own filtered items
    /// `own(query)`; batches run in parallel on rayon's pool, the deadline checked before
    /// each.
    pub fn rank_batches<S, O>(
        &self,
        n_queries: usize,
        score: S,
        own: O,
        deadline: &Deadline,
    ) -> Result<Vec<Vec<(u32, f32)>>, ScoreError>
    where
        S: Fn(std::ops::Range<usize>, &mut [f32]) -> Result<(), ScoreError> + Sync,
        O: Fn(usize) -> Result<Vec<u32>, ScoreError> + Sync,
    {
        let n = self.n_items;
        let batches: Vec<Vec<Vec<(u32, f32)>>> = (0..n_queries.div_ceil(BATCH))
            .into_par_iter()
            .map(|b| {
                deadline.check()?;
                let range = b * BATCH..((b + 1) * BATCH).min(n_queries);
                let mut buf = vec![0.0f32; range.len() * n];
                score(range.clone(), &mut buf)?;
                if n == 0 {
                    return Ok(vec![Vec::new(); range.len()]);
                }
                range
                    .zip(buf.chunks_exact_mut(n))
                    .map(|(q, row)| Ok(self.rank(row, &own(q)?)))
                    .collect()
            })
            .collect::<Result<_, ScoreError>>()?;
        Ok(batches.into_iter().flatten().collect())
    }

    /// The lists of known `users` of `scorer`, each user's `own(i)` filtered (`i` the
    /// position in `users`).
    pub fn rank_users<O>(
        &self,
        scorer: &dyn Scorer,
        users: &[u32],
        own: O,
        deadline: &Deadline,
    ) -> Result<Vec<Vec<(u32, f32)>>, ScoreError>
    where
        O: Fn(usize) -> Result<Vec<u32>, ScoreError> + Sync,
    {
        self.rank_batches(
            users.len(),
            |r, buf| scorer.score_users(&users[r], buf),
            own,
            deadline,
        )
    }

    /// The lists of users the model never saw, query `q` having interacted with
    /// `items(q)` (which are also filtered, with `also(q)`), scored by `fold`.
    pub fn rank_folded<'a, I, A>(
        &self,
        fold: &dyn FoldIn,
        n_queries: usize,
        items: I,
        also: A,
        deadline: &Deadline,
    ) -> Result<Vec<Vec<(u32, f32)>>, ScoreError>
    where
        I: Fn(usize) -> &'a [u32] + Sync,
        A: Fn(usize) -> Vec<u32> + Sync,
    {
        let n = self.n_items;
        self.rank_batches(
            n_queries,
            |r, buf| {
                for (q, out) in r.zip(buf.chunks_exact_mut(n.max(1))) {
                    fold.score_items(items(q), out)?;
                }
                Ok(())
            },
            |q| {
                let mut v = items(q).to_vec();
                v.extend(also(q));
                Ok(v)
            },
            deadline,
        )
    }

    /// The rows most similar to each of `queries` by the similarity `row(q, out)` writes
    /// (cosine of vectors, an item–item matrix's row). With `query_first`, the query leads
    /// its own list (implicit's `similar_items`) unless its row is all zero or it is
    /// filtered; otherwise it is left out.
    pub fn rank_similar<R>(
        &self,
        queries: &[u32],
        row: R,
        query_first: bool,
        deadline: &Deadline,
    ) -> Result<Vec<Vec<(u32, f32)>>, ScoreError>
    where
        R: Fn(u32, &mut [f32]) -> Result<(), ScoreError> + Sync,
    {
        let n = self.n_items;
        let lists = self.rank_batches(
            queries.len(),
            |r, buf| {
                for (q, out) in r.zip(buf.chunks_exact_mut(n.max(1))) {
                    row(queries[q], out)?;
                }
                Ok(())
            },
            |q| {
                Ok(if query_first {
                    Vec::new()
                } else {
                    vec![queries[q]]
                })
            },
            deadline,
        )?;
        if !query_first {
            return Ok(lists);
        }
        let k = self.k();
        Ok(lists
            .into_iter()
            .zip(queries)
            .map(|(mut list, &q)| {
                if let Some(p) = list.iter().position(|&(i, _)| i == q)
                    && p > 0
                    && list[p].1 >= list[0].1
                {
                    // A tie with a lower index: the query still comes first.
                    let e = list.remove(p);
                    list.insert(0, e);
                }
                list.truncate(k);
                list
            })
            .collect())
    }
}

/// The `k` best items for a known `user`, leaving out `exclude` (the user's seen items,
/// a filter list; any order), best first, ties to the lower index.
pub fn recommend(
    model: &dyn Scorer,
    user: u32,
    k: usize,
    exclude: &[u32],
) -> Result<Vec<(u32, f32)>, ScoreError> {
    let n = model.n_items();
    let mut scores = vec![0.0f32; n];
    model.score_user(user, &mut scores)?;
    Ok(Ranking::new(n, k, Filtered::Drop).rank(&mut scores, exclude))
}

/// The `k` rows of `vectors` (`n × dim`, row-major) with the largest cosine to row `item`,
/// the item itself left out; rows of zero norm get cosine 0. `None` if `item` is not a row.
/// One query of [`Ranking::rank_similar`].
pub fn similar_by_cosine(
    vectors: &[f32],
    dim: usize,
    item: u32,
    k: usize,
) -> Option<Vec<(u32, f32)>> {
    let n = vectors.len().checked_div(dim).unwrap_or(0);
    if item as usize >= n {
        return None;
    }
    let norms = norms(vectors, dim);
    Ranking::new(n, k, Filtered::Drop)
        .rank_similar(
            &[item],
            |q, out| {
                cosine_row(vectors, dim, &norms, q, out);
                Ok(())
            },
            false,
            &Deadline::none(),
        )
        .ok()
        .and_then(|mut v| v.pop())
}

/// The Euclidean norm of each `dim`-long row of `vectors`.
pub fn norms(vectors: &[f32], dim: usize) -> Vec<f32> {
    vectors
        .chunks_exact(dim.max(1))
        .map(|r| dot(r, r).sqrt())
        .collect()
}

/// Writes the cosine of row `q` of `vectors` (`n × dim`, norms `norms`) with every row into
/// `out` (length `n`); a zero row has cosine 0 with everything. The one cosine of the
/// workspace.
pub fn cosine_row(vectors: &[f32], dim: usize, norms: &[f32], q: u32, out: &mut [f32]) {
    let dim = dim.max(1);
    let qi = q as usize;
    let qv = &vectors[qi * dim..(qi + 1) * dim];
    let qn = norms[qi];
    for ((o, r), &rn) in out.iter_mut().zip(vectors.chunks_exact(dim)).zip(norms) {
        let d = qn * rn;
        *o = if d > 0.0 { dot(qv, r) / d } else { 0.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<Vec<f32>>);
    impl Scorer for Fixed {
        fn n_users(&self) -> usize {
            self.0.len()
        }
        fn n_items(&self) -> usize {
            self.0[0].len()
        }
        fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
            out.copy_from_slice(&self.0[user as usize]);
            Ok(())
        }
    }

    #[test]
    fn cosine_neighbours() {
        // Rows: (1,0), (2,0), (0,1), (0,0).
        let v = [1.0, 0.0, 2.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        let r = similar_by_cosine(&v, 2, 0, 3).unwrap();
        assert_eq!(r, [(1, 1.0), (2, 0.0), (3, 0.0)]);
        assert!(similar_by_cosine(&v, 2, 4, 3).is_none());
    }

    #[test]
    fn both_conventions_for_filtered_items() {
        let m = Fixed(vec![vec![0.1, 0.9, f32::NAN, 0.5, f32::INFINITY]]);
        let own = |_| Ok(vec![1]);
        let drop = Ranking::new(5, 5, Filtered::Drop)
            .rank_users(&m, &[0], own, &Deadline::none())
            .unwrap();
        assert_eq!(drop[0], [(3, 0.5), (0, 0.1)]);
        let last = Ranking::new(5, 5, Filtered::Last)
            .filter(vec![0])
            .rank_users(&m, &[0], own, &Deadline::none())
            .unwrap();
        assert_eq!(
            last[0],
            [
                (4, f32::MAX),
                (3, 0.5),
                (0, FILTERED),
                (1, FILTERED),
                (2, FILTERED)
            ]
        );
    }

    #[test]
    fn candidates_restrict_and_cap_k() {
        let m = Fixed(vec![vec![0.1, 0.9, 0.3, 0.5]]);
        let r = Ranking::new(4, 10, Filtered::Last).candidates(vec![2, 0, 2]);
        assert_eq!(r.k(), 2);
        let got = r
            .rank_users(&m, &[0], |_| Ok(Vec::new()), &Deadline::none())
            .unwrap();
        assert_eq!(got[0], [(2, 0.3), (0, 0.1)]);
    }

    #[test]
    fn batches_give_what_one_query_at_a_time_gives() {
        let rows: Vec<Vec<f32>> = (0..(2 * BATCH + 3))
            .map(|u| (0..7).map(|i| ((u * 31 + i * 17) % 11) as f32).collect())
            .collect();
        let m = Fixed(rows.clone());
        let users: Vec<u32> = (0..rows.len() as u32).rev().collect();
        let r = Ranking::new(7, 3, Filtered::Drop);
        let got = r
            .rank_users(&m, &users, |q| Ok(vec![q as u32 % 7]), &Deadline::none())
            .unwrap();
        for (q, &u) in users.iter().enumerate() {
            assert_eq!(got[q], top_k(&rows[u as usize], 3, &[q as u32 % 7]));
        }
    }

    #[test]
    fn an_expired_deadline_or_a_set_flag_stops_scoring() {
        let m = Fixed(vec![vec![1.0; 3]; 4]);
        let r = Ranking::new(3, 2, Filtered::Drop);
        let past = Deadline::after(Duration::ZERO);
        assert!(matches!(
            r.rank_users(&m, &[0, 1], |_| Ok(Vec::new()), &past),
            Err(ScoreError::Cancelled)
        ));
        let flag = Arc::new(AtomicBool::new(true));
        let d = Deadline::none().with_flag(flag.clone());
        assert!(r.rank_users(&m, &[0], |_| Ok(Vec::new()), &d).is_err());
        flag.store(false, Ordering::Relaxed);
        assert!(r.rank_users(&m, &[0], |_| Ok(Vec::new()), &d).is_ok());
    }

    #[test]
    fn similar_lists_put_the_query_first_or_leave_it_out() {
        // Rows: (1,0), (1,0) again, (0,1), (0,0).
        let v = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        let n = norms(&v, 2);
        let row = |q: u32, out: &mut [f32]| {
            cosine_row(&v, 2, &n, q, out);
            Ok(())
        };
        let r = Ranking::new(4, 2, Filtered::Last);
        let first = r.rank_similar(&[1], row, true, &Deadline::none()).unwrap();
        assert_eq!(first[0], [(1, 1.0), (0, 1.0)]);
        let r = Ranking::new(4, 2, Filtered::Drop);
        let out = r.rank_similar(&[1], row, false, &Deadline::none()).unwrap();
        assert_eq!(out[0], [(0, 1.0), (2, 0.0)]);
    }
}
