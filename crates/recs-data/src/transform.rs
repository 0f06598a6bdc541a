//! Transforms of interactions: binarize, minimum-count filters (once, or iterated to the
//! k-core fixed point) and de-duplication. All keep the id maps (use
//! [`Interactions::compact`] to drop ids left without rows) and the row order.

use std::collections::HashMap;

use crate::{DataError, Interactions};

/// Binarizes values: `value >= threshold` becomes 1; other rows are dropped, or kept with
/// value 0 when `keep_below` is true.
pub fn binarize(data: &Interactions, threshold: f32, keep_below: bool) -> Interactions {
    let mut out = if keep_below {
        data.clone()
    } else {
        data.filter(|r| data.values()[r] >= threshold)
    };
    let values = out
        .values()
        .iter()
        .map(|&v| if v >= threshold { 1.0 } else { 0.0 })
        .collect();
    out.set_values(values);
    out
}

/// Keeps the rows whose user has at least `min_user` rows and whose item has at least
/// `min_item` rows, counted once on the input. Removing rows can push other users or items
/// below the minimum: [`k_core`] iterates to a fixed point.
pub fn min_counts(data: &Interactions, min_user: u32, min_item: u32) -> Interactions {
    let (uc, ic) = (data.user_counts(), data.item_counts());
    data.filter(|r| {
        uc[data.users()[r] as usize] >= min_user && ic[data.items()[r] as usize] >= min_item
    })
}

/// Repeats [`min_counts`] until nothing changes: in the result every user has at least
/// `min_user` rows and every item at least `min_item` (possibly no row is left).
pub fn k_core(data: &Interactions, min_user: u32, min_item: u32) -> Interactions {
    let mut cur = min_counts(data, min_user, min_item);
    loop {
        let next = min_counts(&cur, min_user, min_item);
        if next.len() == cur.len() {
            return cur;
        }
        cur = next;
    }
}

/// How [`dedup`] resolves repeated (user, item) pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dedup {
    /// Keep the first row of the pair (in row order).
    First,
    /// Keep the last row of the pair.
    Last,
    /// Keep the row with the latest timestamp (ties: the last in row order). Needs
    /// timestamps.
    Latest,
    /// Keep the first row, with the sum of the pair's values.
    Sum,
    /// Keep the first row, with the largest of the pair's values.
    Max,
}

/// One row per (user, item) pair, at the position of the pair's first row.
pub fn dedup(data: &Interactions, policy: Dedup) -> Result<Interactions, DataError> {
    let ts = data.timestamps();
    if policy == Dedup::Latest && ts.is_none() {
        return Err(DataError::Param {
            name: "policy",
            value: "Latest".into(),
            allowed: "First, Last, Sum or Max when there are no timestamps",
        });
    }
    let (us, is, vs) = (data.users(), data.items(), data.values());
    // pair -> (position in `keep`, chosen row, accumulated value)
    let mut seen: HashMap<(u32, u32), usize> = HashMap::with_capacity(data.len());
    let mut keep: Vec<(usize, f32)> = Vec::with_capacity(data.len());
    for r in 0..data.len() {
        match seen.get(&(us[r], is[r])) {
            None => {
                seen.insert((us[r], is[r]), keep.len());
                keep.push((r, vs[r]));
            }
            Some(&k) => {
                let (row, val) = &mut keep[k];
                match policy {
                    Dedup::First => {}
                    Dedup::Last => (*row, *val) = (r, vs[r]),
                    Dedup::Latest => {
                        let t = ts.expect("checked above");
                        if t[r] >= t[*row] {
                            (*row, *val) = (r, vs[r]);
                        }
                    }
                    Dedup::Sum => *val += vs[r],
                    Dedup::Max => *val = val.max(vs[r]),
                }
            }
        }
    }
    let rows: Vec<usize> = keep.iter().map(|k| k.0).collect();
    let mut out = data.subset(&rows);
    out.set_values(keep.iter().map(|k| k.1).collect());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn data(rows: &[(u8, u8, f32)]) -> Interactions {
        let mut b = Interactions::builder();
        for (k, &(u, i, v)) in rows.iter().enumerate() {
            b.push(&u.to_string(), &i.to_string(), v, Some(k as i64));
        }
        b.build()
    }

    #[test]
    fn binarize_drops_or_zeroes() {
        let d = data(&[(0, 0, 5.0), (0, 1, 2.0), (1, 1, 4.0)]);
        let b = binarize(&d, 4.0, false);
        assert_eq!((b.len(), b.values()), (2, &[1.0, 1.0][..]));
        assert_eq!(b.items(), &[0, 1]);
        assert_eq!(binarize(&d, 4.0, true).values(), &[1.0, 0.0, 1.0]);
    }

    #[test]
    fn dedup_policies() {
        let d = data(&[(0, 0, 1.0), (1, 0, 2.0), (0, 0, 3.0), (0, 0, 2.0)]);
        let v = |p| dedup(&d, p).unwrap().values().to_vec();
        assert_eq!(v(Dedup::First), [1.0, 2.0]);
        assert_eq!(v(Dedup::Last), [2.0, 2.0]);
        assert_eq!(v(Dedup::Latest), [2.0, 2.0]);
        assert_eq!(v(Dedup::Sum), [6.0, 2.0]);
        assert_eq!(v(Dedup::Max), [3.0, 2.0]);
        assert_eq!(
            dedup(&d, Dedup::Last).unwrap().timestamps(),
            Some(&[3, 1][..])
        );
    }

    #[test]
    fn min_counts_once_versus_k_core() {
        // user 2 has 2 rows, but one is on item 9 that only it has: one pass keeps user 2's
        // other row; the 2-core drops user 2 entirely.
        let d = data(&[
            (0, 0, 1.),
            (0, 1, 1.),
            (1, 0, 1.),
            (1, 1, 1.),
            (2, 0, 1.),
            (2, 9, 1.),
        ]);
        assert_eq!(min_counts(&d, 2, 2).len(), 5);
        assert_eq!(k_core(&d, 2, 2).len(), 4);
        let d = data(&[
            (0, 0, 1.),
            (0, 1, 1.),
            (1, 0, 1.),
            (1, 1, 1.),
            (2, 0, 1.),
            (2, 9, 1.),
            (3, 0, 1.),
            (3, 9, 1.),
            (3, 5, 1.),
        ]);
        // pass 1 drops item 5 (1 row); user 3 keeps 2 rows; item 9 has 2 rows: stable.
        assert_eq!(k_core(&d, 2, 2).len(), 8);
        let d = data(&[
            (0, 0, 1.),
            (0, 1, 1.),
            (1, 0, 1.),
            (1, 1, 1.),
            (2, 0, 1.),
            (2, 7, 1.),
            (3, 7, 1.),
        ]);
        // pass 1 drops user 3 (1 row); then item 7 has 1 row, pass 2 drops it; then user 2
        // has 1 row, pass 3 drops it.
        assert_eq!(min_counts(&d, 2, 2).len(), 6);
        assert_eq!(k_core(&d, 2, 2).len(), 4);
        assert_eq!(k_core(&d, 2, 2).compact().n_users(), 2);
    }

    proptest! {
        #[test]
        fn k_core_is_a_fixed_point(rows in proptest::collection::vec((0u8..15, 0u8..15, 1f32..5.0), 0..150), ku in 1u32..5, ki in 1u32..5) {
            let d = data(&rows);
            let k = k_core(&d, ku, ki);
            prop_assert!(k.user_counts().iter().all(|&c| c == 0 || c >= ku));
            prop_assert!(k.item_counts().iter().all(|&c| c == 0 || c >= ki));
            prop_assert_eq!(min_counts(&k, ku, ki).len(), k.len());
            // Every row kept is a row of the input, in order.
            if let Some(ts) = k.timestamps() {
                prop_assert!(ts.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }
}
