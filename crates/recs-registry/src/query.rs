//! A model file opened for answering queries by external id: what `recs recommend`,
//! `recs similar` and `recs serve` share. The file is read once ([`crate::load`]); the
//! recorded user and item ids are indexed; each query goes through the model's
//! [`DynModel`] face and the capabilities it offers (fold-in, item vectors), never its type.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use recs_core::ranking::{Deadline, Filtered, Ranking, cosine_row, norms};
use recs_core::{DynModel, ScoreError};

use crate::{Loaded, RegistryError};

/// What a query can report. Each variant names what the caller got wrong (an id, a
/// capability the model lacks), so that a front-end can word it or map it to a status.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The file holds no user and item ids (not written by `recs train`, nor fitted in
    /// Python with ids).
    #[error(
        "{}: holds no user and item ids; was it written by `recs train` (or fitted in Python with user_ids and item_ids)?",
        path.display()
    )]
    NoIds {
        /// The file.
        path: PathBuf,
    },
    /// A user id the model was not trained with.
    #[error("user '{id}' is not in the training data ({n_users} users)")]
    UnknownUser {
        /// The id asked for.
        id: String,
        /// How many users the model knows.
        n_users: usize,
    },
    /// An item id the model was not trained with.
    #[error("item '{id}' (in {param}) is not in the training data")]
    UnknownItem {
        /// The id asked for.
        id: String,
        /// Where it was given (`item`, `items`, `filter`).
        param: &'static str,
    },
    /// The model cannot score a user it never saw.
    #[error("a {kind} model cannot fold in a new user from their items")]
    NoFoldIn {
        /// The model's kind.
        kind: &'static str,
    },
    /// The model has no item vectors and no item–item similarity to compare.
    #[error("a {kind} model has no item vectors or item–item similarity to compare")]
    NoItemVectors {
        /// The model's kind.
        kind: &'static str,
    },
    /// Loading the file failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Scoring failed.
    #[error(transparent)]
    Score(#[from] ScoreError),
}

/// A model file read once, with its ids indexed.
#[derive(Debug)]
pub struct Opened {
    /// The file as loaded (model, catalogue without the ids, metadata).
    pub file: Loaded,
    /// Where it was read from.
    pub path: PathBuf,
    /// External user ids, by user index.
    pub users: Vec<String>,
    /// External item ids, by item index.
    pub items: Vec<String>,
    user_index: HashMap<String, u32>,
    item_index: HashMap<String, u32>,
    /// Every user's training items, when [`Opened::preload_seen`] indexed them (a server's
    /// queries then cost nothing per user; a one-shot query reads one row): the row
    /// pointers in memory, the items in place in the mapped file.
    seen: Option<recs_core::modelfile::Pattern>,
    /// The item vectors' norms, computed on the first `similar`.
    item_norms: std::sync::OnceLock<Vec<f32>>,
}

fn index(ids: &[String]) -> HashMap<String, u32> {
    let mut m = HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        // The first of repeated ids wins, as `position` would find it.
        m.entry(id.clone()).or_insert(i as u32);
    }
    m
}

impl Opened {
    /// Reads the model file at `path` (once, verified); a file without user and item ids is
    /// [`QueryError::NoIds`].
    pub fn open(path: &Path) -> Result<Self, QueryError> {
        Self::open_with(path, true)
    }

    /// As [`Opened::open`], mapping the file only when `map` (and `RECS_MMAP` is not `0`).
    pub fn open_with(path: &Path, map: bool) -> Result<Self, QueryError> {
        let mut file = if map {
            crate::load(path)?
        } else {
            crate::load_with(path, false)?
        };
        let (Some(users), Some(items)) =
            (file.catalog.user_ids.take(), file.catalog.item_ids.take())
        else {
            return Err(QueryError::NoIds { path: path.into() });
        };
        Ok(Self {
            user_index: index(&users),
            item_index: index(&items),
            file,
            path: path.into(),
            users,
            items,
            seen: None,
            item_norms: std::sync::OnceLock::new(),
        })
    }

    /// Indexes every user's training items now, checked once (a long-running server wants
    /// them at hand; without this, each query reads its user's row from the file). Where the
    /// file is mapped the items stay in place: every server process shares them.
    pub fn preload_seen(&mut self) -> Result<(), QueryError> {
        self.seen = self.file.seen_pattern()?;
        Ok(())
    }

    /// The model.
    pub fn model(&self) -> &dyn DynModel {
        &*self.file.model
    }

    /// The index of user `id`, if the model knows them.
    pub fn user(&self, id: &str) -> Option<u32> {
        self.user_index.get(id).copied()
    }

    /// The index of user `id`, or [`QueryError::UnknownUser`].
    pub fn user_or_err(&self, id: &str) -> Result<u32, QueryError> {
        self.user(id).ok_or_else(|| QueryError::UnknownUser {
            id: id.into(),
            n_users: self.users.len(),
        })
    }

    /// The index of item `id`, if the model knows it.
    pub fn item(&self, id: &str) -> Option<u32> {
        self.item_index.get(id).copied()
    }

    /// The indices of the item ids `ids` (given as `param`), sorted and deduplicated; the
    /// first unknown one is [`QueryError::UnknownItem`].
    pub fn item_indices<S: AsRef<str>>(
        &self,
        ids: &[S],
        param: &'static str,
    ) -> Result<Vec<u32>, QueryError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let id = id.as_ref();
            out.push(self.item(id).ok_or_else(|| QueryError::UnknownItem {
                id: id.into(),
                param,
            })?);
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// User `user`'s training items, where the file records them (empty otherwise).
    pub fn seen_items(&self, user: u32) -> Result<Vec<u32>, QueryError> {
        if let Some(s) = &self.seen
            && (user as usize) < s.n_rows()
        {
            return Ok(s.row(user as usize).to_vec());
        }
        Ok(self.file.seen_row(user)?.unwrap_or_default())
    }

    /// The `k` best items for known user `user`, their training items and `filter` left
    /// out, best first.
    pub fn recommend(
        &self,
        user: u32,
        k: usize,
        filter: &[u32],
    ) -> Result<Vec<(u32, f32)>, QueryError> {
        Ok(self
            .recommend_users(&[user], k, filter, &Deadline::none())?
            .pop()
            .unwrap_or_default())
    }

    /// As [`Opened::recommend`] for each of `users`, through the one ranking path
    /// ([`Ranking`]: batches of [`recs_core::ranking::BATCH`] users, filtered items left
    /// out); stops with [`ScoreError::Cancelled`] once `deadline` expires.
    pub fn recommend_users(
        &self,
        users: &[u32],
        k: usize,
        filter: &[u32],
        deadline: &Deadline,
    ) -> Result<Vec<Vec<(u32, f32)>>, QueryError> {
        let scorer = self.model().as_scorer();
        let ranking = Ranking::new(scorer.n_items(), k, Filtered::Drop).filter(filter.to_vec());
        let seen = |q: usize| {
            self.seen_items(users[q])
                .map_err(|e| ScoreError::Model(e.to_string()))
        };
        Ok(ranking.rank_users(scorer, users, seen, deadline)?)
    }

    /// The `k` best items for a user the model never saw, who interacted with `items`
    /// (indices), through the model's fold-in; those items and `filter` are left out.
    /// [`QueryError::NoFoldIn`] for a model without one.
    pub fn recommend_new(
        &self,
        items: &[u32],
        k: usize,
        filter: &[u32],
    ) -> Result<Vec<(u32, f32)>, QueryError> {
        let m = self.model();
        let fold = m.fold_in().ok_or(QueryError::NoFoldIn { kind: m.kind() })?;
        let ranking = Ranking::new(m.n_items(), k, Filtered::Drop).filter(filter.to_vec());
        Ok(ranking
            .rank_folded(fold, 1, |_| items, |_| Vec::new(), &Deadline::none())?
            .pop()
            .unwrap_or_default())
    }

    /// The `k` items most similar to item `item` (itself left out): by the cosine of the
    /// model's item vectors, or, for a model whose similarity is a matrix (item–item
    /// models), by its row. [`QueryError::NoItemVectors`] for a model with neither.
    pub fn similar(&self, item: u32, k: usize) -> Result<Vec<(u32, f32)>, QueryError> {
        let m = self.model();
        let n = m.n_items();
        if item as usize >= n {
            return Err(QueryError::Score(ScoreError::Model(format!(
                "item index {item} is out of range: the model knows {n} items"
            ))));
        }
        let ranking = Ranking::new(n, k, Filtered::Drop);
        let lists = if let Some(v) = m.item_vectors() {
            if v.data.len().checked_div(v.dim) != Some(n) {
                return Err(QueryError::Score(ScoreError::Model(
                    "the model's item vectors do not cover its items".into(),
                )));
            }
            let norms = self.item_norms.get_or_init(|| norms(v.data, v.dim));
            let row = |q: u32, out: &mut [f32]| {
                cosine_row(v.data, v.dim, norms, q, out);
                Ok(())
            };
            ranking.rank_similar(&[item], row, false, &Deadline::none())?
        } else if let Some(s) = m.similar_items() {
            let row = |q: u32, out: &mut [f32]| s.similarity_row(q, out);
            ranking.rank_similar(&[item], row, false, &Deadline::none())?
        } else {
            return Err(QueryError::NoItemVectors { kind: m.kind() });
        };
        Ok(lists.into_iter().next().unwrap_or_default())
    }

    /// `(external item id, score)` for ranked `(index, score)` pairs.
    pub fn named(&self, top: &[(u32, f32)]) -> Vec<(String, f32)> {
        top.iter()
            .map(|&(i, s)| (self.items[i as usize].clone(), s))
            .collect()
    }
}
