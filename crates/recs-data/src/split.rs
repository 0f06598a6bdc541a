//! Seeded, deterministic train / test splits. Both parts keep the full id maps, so their
//! matrices have the same shape; a split is a partition of the rows.
//!
//! A (user, item) pair that the data repeats is never split: when any of its rows is drawn
//! for training, all of them train (so the test part never asks for a pair the model was
//! trained on). Data without repeats (what [`crate::load_file`] gives) is split exactly as
//! the rule of each function says.

use std::fmt;

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

/// Moves every row of a repeated (user, item) pair to training when any of them trains.
fn keep_pairs_together(data: &Interactions, in_train: &mut [bool]) {
    let order = data.rows_by_pair();
    let (us, is) = (data.users(), data.items());
    let mut k = 0;
    while k < order.len() {
        let mut end = k + 1;
        while end < order.len() && us[order[end]] == us[order[k]] && is[order[end]] == is[order[k]]
        {
            end += 1;
        }
        let run = &order[k..end];
        if run.len() > 1 && run.iter().any(|&r| in_train[r]) {
            for &r in run {
                in_train[r] = true;
            }
        }
        k = end;
    }
}

fn from_mask(data: &Interactions, in_train: &mut [bool]) -> Split {
    keep_pairs_together(data, in_train);
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
    Ok(from_mask(data, &mut mask))
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
    Ok(from_mask(data, &mut mask))
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
    Ok(from_mask(data, &mut mask))
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
    Ok(from_mask(data, &mut mask))
}

/// Held-out-users split for autoencoder recommenders (Mult-VAE, Liang et al. 2018): whole
/// users are held out; each held-out user's rows are split into a fold-in part (the model's
/// input) and a held-out part (what is scored). All five parts index the **training items
/// only** (one item map, training items in ascending external id, numeric when the ids are
/// integers); values are 1 (positives), timestamps kept. `train` has its own user map
/// (training users, ascending id); `val_in`/`val_out` share the validation users' map and
/// `test_in`/`test_out` the test users', so `val_in.to_csr(..)` and `val_out.to_csr(..)`
/// have the same rows.
#[derive(Debug, Clone)]
pub struct HeldOutSplit {
    /// Training users' positives.
    pub train: Interactions,
    /// Validation users' fold-in positives.
    pub val_in: Interactions,
    /// Validation users' held-out positives.
    pub val_out: Interactions,
    /// Test users' fold-in positives.
    pub test_in: Interactions,
    /// Test users' held-out positives.
    pub test_out: Interactions,
}

/// Minimum positives a user needs to enter [`held_out_by_user_id`] / [`held_out_random`],
/// and minimum training-item positives a held-out user needs to be evaluated.
pub const HELD_OUT_MIN_POSITIVES: usize = 5;

/// Sort key of an external id: integers numerically, before any other id.
fn id_key(s: &str) -> (u8, i64, &str) {
    match s.parse::<i64>() {
        Ok(v) => (0, v, ""),
        Err(_) => (1, 0, s),
    }
}

/// Positives (value >= min_rating) of users with at least HELD_OUT_MIN_POSITIVES of them:
/// (rows by user index).
fn positives_by_user(data: &Interactions, min_rating: f32) -> Vec<Vec<usize>> {
    let mut by_user = vec![Vec::new(); data.n_users()];
    for r in 0..data.len() {
        if data.values()[r] >= min_rating {
            by_user[data.users()[r] as usize].push(r);
        }
    }
    for rows in &mut by_user {
        if rows.len() < HELD_OUT_MIN_POSITIVES {
            rows.clear();
        }
    }
    by_user
}

/// Builds the five parts from a user partition. `cut(user, rows)` orders a held-out user's
/// rows (restricted to training items) and returns how many go to fold-in (the rest are
/// held out), or `None` to drop the user.
fn assemble(
    data: &Interactions,
    by_user: &[Vec<usize>],
    train_u: &[u32],
    val_u: &[u32],
    test_u: &[u32],
    mut cut: impl FnMut(&mut Vec<usize>) -> Option<usize>,
) -> Result<HeldOutSplit, DataError> {
    use std::sync::Arc;
    let mut train_items: Vec<u32> = train_u
        .iter()
        .flat_map(|&u| by_user[u as usize].iter().map(|&r| data.items()[r]))
        .collect();
    train_items.sort_unstable();
    train_items.dedup();
    train_items.sort_by(|&a, &b| {
        id_key(data.item_map().external(a)).cmp(&id_key(data.item_map().external(b)))
    });
    let mut item_map = crate::IdMap::new();
    let mut new_item = vec![u32::MAX; data.n_items()];
    for &i in &train_items {
        new_item[i as usize] = item_map.get_or_insert(data.item_map().external(i));
    }
    let item_map = Arc::new(item_map);
    let ts = data.timestamps();
    let part =
        |users: &[u32], rows_of: &dyn Fn(u32) -> Vec<usize>, user_map: &Arc<crate::IdMap>| {
            let (mut us, mut is, mut ts_out) = (Vec::new(), Vec::new(), Vec::new());
            for (k, &u) in users.iter().enumerate() {
                for r in rows_of(u) {
                    us.push(k as u32);
                    is.push(new_item[data.items()[r] as usize]);
                    ts_out.push(ts.map_or(0, |t| t[r]));
                }
            }
            let n = us.len();
            Interactions::from_parts(
                us,
                is,
                vec![1.0; n],
                ts.map(|_| ts_out),
                Arc::clone(user_map),
                Arc::clone(&item_map),
            )
        };
    let user_map = |users: &[u32]| {
        let mut m = crate::IdMap::new();
        for &u in users {
            m.get_or_insert(data.user_map().external(u));
        }
        Arc::new(m)
    };
    let tm = user_map(train_u);
    let train = part(train_u, &|u| by_user[u as usize].clone(), &tm)?;
    let mut held = |users: &[u32]| -> Result<(Interactions, Interactions), DataError> {
        let mut kept = Vec::new();
        let mut cuts: Vec<(Vec<usize>, usize)> = Vec::new();
        for &u in users {
            let mut rows: Vec<usize> = by_user[u as usize]
                .iter()
                .copied()
                .filter(|&r| new_item[data.items()[r] as usize] != u32::MAX)
                .collect();
            if rows.len() < HELD_OUT_MIN_POSITIVES {
                continue;
            }
            if let Some(k) = cut(&mut rows) {
                if k > 0 && k < rows.len() {
                    kept.push(u);
                    cuts.push((rows, k));
                }
            }
        }
        let m = user_map(&kept);
        let pos: std::collections::HashMap<u32, usize> =
            kept.iter().enumerate().map(|(k, &u)| (u, k)).collect();
        let fold_in = part(
            &kept,
            &|u| {
                let (rows, k) = &cuts[pos[&u]];
                rows[..*k].to_vec()
            },
            &m,
        )?;
        let out = part(
            &kept,
            &|u| {
                let (rows, k) = &cuts[pos[&u]];
                rows[*k..].to_vec()
            },
            &m,
        )?;
        Ok((fold_in, out))
    };
    let (val_in, val_out) = held(val_u)?;
    let (test_in, test_out) = held(test_u)?;
    Ok(HeldOutSplit {
        train,
        val_in,
        val_out,
        test_in,
        test_out,
    })
}

/// The deterministic held-out-users protocol of the Mult-VAE reference script
/// (`multvae_torch.py`): positives are ratings `>= 4`; users with at least 5 positives;
/// users by **external** id (an integer) `% 5`: 0 test, 1 validation, the rest train;
/// held-out users keep only items seen among training users; each held-out user's items,
/// sorted by (timestamp, item id), give the first `n - floor(n / 5)` as fold-in and the
/// last `floor(n / 5)` as held out; held-out users with fewer than 5 such items are dropped.
/// A user id that is not an integer is refused.
pub fn held_out_by_user_id(data: &Interactions) -> Result<HeldOutSplit, DataError> {
    let by_user = positives_by_user(data, 4.0);
    let mut users: Vec<(i64, u32)> = Vec::new();
    for (u, rows) in by_user.iter().enumerate() {
        if rows.is_empty() {
            continue;
        }
        let ext = data.user_map().external(u as u32);
        let id = ext.parse::<i64>().map_err(|_| DataError::Param {
            name: "user id",
            value: ext.to_string(),
            allowed: "integers (the split assigns users by id % 5)",
        })?;
        users.push((id, u as u32));
    }
    users.sort_unstable();
    let pick = |m: &dyn Fn(i64) -> bool| -> Vec<u32> {
        users
            .iter()
            .filter(|(id, _)| m(*id))
            .map(|&(_, u)| u)
            .collect()
    };
    let test_u = pick(&|id| id.rem_euclid(5) == 0);
    let val_u = pick(&|id| id.rem_euclid(5) == 1);
    let train_u = pick(&|id| id.rem_euclid(5) >= 2);
    let ts = data.timestamps();
    assemble(data, &by_user, &train_u, &val_u, &test_u, |rows| {
        rows.sort_by(|&a, &b| {
            let ka = (
                ts.map_or(0, |t| t[a]),
                id_key(data.item_map().external(data.items()[a])),
            );
            let kb = (
                ts.map_or(0, |t| t[b]),
                id_key(data.item_map().external(data.items()[b])),
            );
            ka.cmp(&kb)
        });
        Some(rows.len() - rows.len() / 5)
    })
}

/// The seeded held-out-users split of Liang et al.'s preprocessing: positives are values
/// `>= min_rating`; users with at least 5 positives are shuffled (seeded), the first
/// `n_heldout` become validation users, the next `n_heldout` test users, the rest training
/// users; held-out users keep only training items, and each one's items are shuffled
/// (seeded) with the first `n - floor((1 - fold_in_ratio) · n)` as fold-in, the rest held
/// out (users with fewer than 5 such items, or nothing to hold out, are dropped).
/// `n_heldout` must leave at least one training user; `fold_in_ratio` in (0, 1) (0.8 in the
/// paper).
pub fn held_out_random(
    data: &Interactions,
    min_rating: f32,
    n_heldout: usize,
    fold_in_ratio: f64,
    seed: u64,
) -> Result<HeldOutSplit, DataError> {
    check_ratio("fold_in_ratio", fold_in_ratio)?;
    let by_user = positives_by_user(data, min_rating);
    let mut users: Vec<u32> = (0..by_user.len() as u32)
        .filter(|&u| !by_user[u as usize].is_empty())
        .collect();
    if n_heldout == 0 || 2 * n_heldout >= users.len() {
        return Err(DataError::Param {
            name: "n_heldout",
            value: n_heldout.to_string(),
            allowed: "at least 1, and 2 · n_heldout below the number of users with 5+ positives",
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    users.shuffle(&mut rng);
    let val_u = users[..n_heldout].to_vec();
    let test_u = users[n_heldout..2 * n_heldout].to_vec();
    let mut train_u = users[2 * n_heldout..].to_vec();
    train_u.sort_unstable();
    assemble(data, &by_user, &train_u, &val_u, &test_u, |rows| {
        rows.shuffle(&mut rng);
        let n = rows.len();
        let out = ((1.0 - fold_in_ratio) * n as f64 + 1e-9).floor() as usize;
        Some(n - out)
    })
}

/// How to split interactions into train and test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SplitSpec {
    /// Random over interactions, this fraction for training.
    Random(f64),
    /// Per user, this fraction of each user's interactions for training.
    Stratified(f64),
    /// Per user, the last fraction by timestamp for testing.
    Temporal(f64),
    /// One random interaction per user for testing.
    LeaveOneOut,
    /// Everything for training, nothing for testing.
    None,
}

impl SplitSpec {
    /// Parses `random:0.8`, `stratified:0.8`, `temporal:0.2`, `loo` or `none`.
    pub fn parse(s: &str) -> Result<SplitSpec, DataError> {
        let (name, arg) = s.split_once(':').unwrap_or((s, ""));
        let ratio = || -> Result<f64, DataError> {
            let r: f64 = arg
                .parse()
                .map_err(|_| DataError::Input(format!("split '{s}': '{arg}' is not a number")))?;
            if !(r > 0.0 && r < 1.0) {
                return Err(DataError::Input(format!(
                    "split '{s}': the fraction must be in (0, 1)"
                )));
            }
            Ok(r)
        };
        Ok(match name {
            "random" => SplitSpec::Random(ratio()?),
            "stratified" => SplitSpec::Stratified(ratio()?),
            "temporal" => SplitSpec::Temporal(ratio()?),
            "loo" => SplitSpec::LeaveOneOut,
            "none" => SplitSpec::None,
            _ => {
                return Err(DataError::Input(format!(
                    "unknown split '{s}'; use random:F, stratified:F, temporal:F (test fraction), loo or none"
                )));
            }
        })
    }

    /// Applies the split (seeded).
    pub fn apply(self, data: &Interactions, seed: u64) -> Result<Split, DataError> {
        Ok(match self {
            SplitSpec::Random(r) => random(data, r, seed)?,
            SplitSpec::Stratified(r) => stratified(data, r, seed)?,
            SplitSpec::Temporal(f) => temporal(data, f)?,
            SplitSpec::LeaveOneOut => leave_one_out(data, seed)?,
            SplitSpec::None => Split {
                train: data.clone(),
                test: data.subset(&[]),
            },
        })
    }
}

impl fmt::Display for SplitSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitSpec::Random(r) => write!(f, "random:{r}"),
            SplitSpec::Stratified(r) => write!(f, "stratified:{r}"),
            SplitSpec::Temporal(r) => write!(f, "temporal:{r}"),
            SplitSpec::LeaveOneOut => f.write_str("loo"),
            SplitSpec::None => f.write_str("none"),
        }
    }
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

    proptest! {
        #[test]
        fn a_repeated_pair_is_never_in_both_parts(rows in proptest::collection::vec((0u8..4, 0u8..4), 1..80), seed in 0u64..50) {
            let d = data(&rows);
            for s in [random(&d, 0.5, seed).unwrap(), stratified(&d, 0.5, seed).unwrap(), temporal(&d, 0.5).unwrap(), leave_one_out(&d, seed).unwrap()] {
                let train: std::collections::HashSet<(u32, u32)> = s.train.users().iter().copied().zip(s.train.items().iter().copied()).collect();
                for (u, i) in s.test.users().iter().zip(s.test.items()) {
                    prop_assert!(!train.contains(&(*u, *i)), "pair ({}, {}) in both parts", u, i);
                }
                prop_assert_eq!(s.train.len() + s.test.len(), d.len());
            }
        }
    }

    #[test]
    fn a_repeated_pair_trains_when_one_row_is_drawn_for_training() {
        // 0-a three times: whichever row the split draws for training, all three train.
        let d = data(&[(0, 1), (0, 1), (0, 1), (0, 2), (1, 1), (1, 2)]);
        for seed in 0..20 {
            let s = random(&d, 0.5, seed).unwrap();
            let in_test = s
                .test
                .users()
                .iter()
                .zip(s.test.items())
                .filter(|(u, i)| (**u, **i) == (0, 0))
                .count();
            assert!(in_test == 0 || in_test == 3, "seed {seed}: {in_test}");
        }
    }

    #[test]
    fn held_out_random_is_seeded_and_disjoint() {
        let mut b = Interactions::builder();
        for u in 0..60u32 {
            for i in 0..(5 + u % 7) {
                b.push(
                    &u.to_string(),
                    &((u * 3 + i * 5) % 40).to_string(),
                    5.0,
                    Some(i as i64),
                );
            }
            b.push(&u.to_string(), "low", 1.0, Some(0));
        }
        let d = b.build();
        let s = held_out_random(&d, 4.0, 10, 0.8, 7).unwrap();
        let t = held_out_random(&d, 4.0, 10, 0.8, 7).unwrap();
        assert_eq!(s.val_out.items(), t.val_out.items());
        assert_eq!(s.train.n_users(), 40);
        assert!(s.train.item_map().get("low").is_none());
        let ids = |x: &Interactions| -> Vec<String> { x.user_map().ids().to_vec() };
        for u in ids(&s.val_in) {
            assert!(s.train.user_map().get(&u).is_none() && s.test_in.user_map().get(&u).is_none());
        }
        assert_eq!(ids(&s.val_in), ids(&s.val_out));
        // Every held-out user has fold-in and held-out rows, 20% (floored) held out.
        let (ci, co) = (s.val_in.user_counts(), s.val_out.user_counts());
        for k in 0..ci.len() {
            let n = (ci[k] + co[k]) as usize;
            assert_eq!(co[k] as usize, ((0.2 * n as f64) + 1e-9).floor() as usize);
        }
        let e = held_out_random(&d, 4.0, 30, 0.8, 7)
            .unwrap_err()
            .to_string();
        assert!(e.contains("n_heldout"), "{e}");
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
