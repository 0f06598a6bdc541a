//! Pieces both models share: the thread setting, the checks of a scoring call and of a new
//! user's items, the sparse row product, batch scoring, and the check of a size a model file
//! records.

use rayon::prelude::*;
use recs_core::modelfile::ModelReader;
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

/// `Ok` when `out` holds `expected` values.
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
}
