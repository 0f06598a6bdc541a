//! Seeded, deterministic train / test splits. Both parts keep the full id maps, so their
//! matrices have the same shape; a split is a partition of the rows.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::{DataError, Interactions};

/// A train / test partition of some interactions.
#[derive(Debug, Clone)]
pub struct Split {
    /// Training rows.
    pub train: Interactions,
    /// Test rows.
    pub test: Interactions,
}

fn check_ratio(name: &'static str, ratio: f64) -> Result<(), DataError> {
    if ratio > 0.0 && ratio < 1.0 {
        Ok(())
    } else {
        Err(DataError::Param {
            name,
            value: ratio.to_string(),
            allowed: "strictly between 0 and 1",
        })
    }
}

fn from_mask(data: &Interactions, in_train: &[bool]) -> Split {
    let (mut tr, mut te) = (Vec::new(), Vec::new());
    for (r, &t) in in_train.iter().enumerate() {
        if t { tr.push(r) } else { te.push(r) }
    }
    Split {
        train: data.subset(&tr),
        test: data.subset(&te),
    }
}

/// Random split over interactions, as Microsoft Recommenders' `python_random_split`: a
/// seeded shuffle of all rows, the first `round(train_ratio · n)` go to training. Rows keep
/// their original order within each part.
pub fn random(data: &Interactions, train_ratio: f64, seed: u64) -> Result<Split, DataError> {
    check_ratio("train_ratio", train_ratio)?;
    let n = data.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let n_train = (train_ratio * n as f64).round() as usize;
    let mut mask = vec![false; n];
    for &r in &order[..n_train] {
        mask[r] = true;
    }
    Ok(from_mask(data, &mask))
}

fn rows_by_user(data: &Interactions) -> Vec<Vec<usize>> {
    let mut by_user = vec![Vec::new(); data.n_users()];
    for (r, &u) in data.users().iter().enumerate() {
        by_user[u as usize].push(r);
    }
    by_user
}

/// Per-user stratified split: each user's rows are shuffled (seeded) and
/// `max(1, round(train_ratio · n_u))` of them go to training, so every user keeps at least
/// one training row.
pub fn stratified(data: &Interactions, train_ratio: f64, seed: u64) -> Result<Split, DataError> {
    check_ratio("train_ratio", train_ratio)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut mask = vec![false; data.len()];
    for mut rows in rows_by_user(data) {
        if rows.is_empty() {
            continue;
        }
        rows.shuffle(&mut rng);
        let k = ((train_ratio * rows.len() as f64).round() as usize).max(1);
        for &r in &rows[..k] {
            mask[r] = true;
        }
    }
    Ok(from_mask(data, &mask))
}

/// Temporal split: per user, the last `round(test_fraction · n_u)` rows by (timestamp, row
/// order) are test, the rest train. Needs timestamps.
pub fn temporal(data: &Interactions, test_fraction: f64) -> Result<Split, DataError> {
    check_ratio("test_fraction", test_fraction)?;
    let ts = data.timestamps().ok_or(DataError::Param {
        name: "timestamps",
        value: "absent".into(),
        allowed: "a temporal split needs timestamps",
    })?;
    let mut mask = vec![true; data.len()];
    for mut rows in rows_by_user(data) {
        rows.sort_by_key(|&r| (ts[r], r));
        let k = (test_fraction * rows.len() as f64).round() as usize;
        for &r in &rows[rows.len() - k..] {
            mask[r] = false;
        }
    }
    Ok(from_mask(data, &mask))
}

/// Leave-one-out: per user with at least two rows, one row goes to test — the latest by
/// timestamp when there are timestamps, a seeded random one otherwise.
pub fn leave_one_out(data: &Interactions, seed: u64) -> Result<Split, DataError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut mask = vec![true; data.len()];
    for mut rows in rows_by_user(data) {
        if rows.len() < 2 {
            continue;
        }
        let out = match data.timestamps() {
            Some(ts) => *rows.iter().max_by_key(|&&r| (ts[r], r)).expect("non-empty"),
            None => {
                rows.shuffle(&mut rng);
                rows[0]
            }
        };
        mask[out] = false;
    }
    Ok(from_mask(data, &mask))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn data(rows: &[(u8, u8)]) -> Interactions {
        let mut b = Interactions::builder();
        for (k, &(u, i)) in rows.iter().enumerate() {
            b.push(&u.to_string(), &i.to_string(), 1.0, Some(k as i64 % 7));
        }
        b.build()
    }

    fn key(d: &Interactions) -> Vec<(u32, u32, i64)> {
        let ts = d.timestamps().unwrap();
        let mut v: Vec<_> = (0..d.len())
            .map(|r| (d.users()[r], d.items()[r], ts[r]))
            .collect();
        v.sort();
        v
    }

    proptest! {
        #[test]
        fn splits_partition_and_are_deterministic(rows in proptest::collection::vec((0u8..10, 0u8..20), 1..200), seed in 0u64..50) {
            let d = data(&rows);
            for s in [random(&d, 0.7, seed).unwrap(), stratified(&d, 0.7, seed).unwrap(), temporal(&d, 0.3).unwrap(), leave_one_out(&d, seed).unwrap()] {
                prop_assert_eq!(s.train.len() + s.test.len(), d.len());
                let mut both = key(&s.train);
                both.extend(key(&s.test));
                both.sort();
                prop_assert_eq!(both, key(&d));
                prop_assert_eq!(s.train.n_users(), d.n_users());
            }
            let a = random(&d, 0.7, seed).unwrap();
            let b = random(&d, 0.7, seed).unwrap();
            prop_assert_eq!(a.train.users(), b.train.users());
            prop_assert_eq!(a.train.items(), b.train.items());
            let st = stratified(&d, 0.3, seed).unwrap();
            let mut has = vec![false; d.n_users()];
            for &u in st.train.users() { has[u as usize] = true; }
            prop_assert!(has.iter().all(|&h| h));
        }
    }

    #[test]
    fn ratio_outside_zero_one_is_refused() {
        let d = data(&[(0, 0), (0, 1)]);
        let e = random(&d, 1.5, 0).unwrap_err().to_string();
        assert!(
            e.contains("train_ratio") && e.contains("between 0 and 1"),
            "{e}"
        );
    }
}
