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

/// What to do with repeated (user, item) pairs when loading a file (the CLI's
/// `--duplicates`). The default is [`Duplicates::Last`]: a later row is a re-rating, as in
/// a log, and it is what the training matrix kept before the policy existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Duplicates {
    /// One row per pair with the sum of the pair's values (counts of events).
    Sum,
    /// One row per pair with the value and timestamp of its last row.
    #[default]
    Last,
    /// One row per pair: its first row.
    First,
    /// A repeated pair is an error naming the two lines.
    Error,
}

impl Duplicates {
    /// The name the CLI uses: `sum`, `last`, `first` or `error`.
    pub fn name(self) -> &'static str {
        match self {
            Duplicates::Sum => "sum",
            Duplicates::Last => "last",
            Duplicates::First => "first",
            Duplicates::Error => "error",
        }
    }

    /// Parses `sum`, `last`, `first` or `error`.
    pub fn parse(s: &str) -> Result<Self, DataError> {
        Ok(match s {
            "sum" => Duplicates::Sum,
            "last" => Duplicates::Last,
            "first" => Duplicates::First,
            "error" => Duplicates::Error,
            _ => {
                return Err(DataError::Param {
                    name: "duplicates",
                    value: s.to_string(),
                    allowed: "sum, last, first or error",
                });
            }
        })
    }
}

/// Repeated (user, item) pairs found in some interactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DuplicateReport {
    /// Pairs that appear on more than one row.
    pub pairs: usize,
    /// Rows beyond the first of each such pair (what resolving them removes).
    pub extra_rows: usize,
    /// The first repeated pair met in row order: (its first row, the repeat), 0-based.
    pub example: Option<(usize, usize)>,
}

/// The runs `order[k..end]` of rows sharing a (user, item) pair, `order` from
/// `rows_by_pair`.
fn pair_runs<'a>(data: &'a Interactions, order: &'a [usize]) -> impl Iterator<Item = &'a [usize]> {
    let (us, is) = (data.users(), data.items());
    let mut k = 0;
    std::iter::from_fn(move || {
        if k >= order.len() {
            return None;
        }
        let mut end = k + 1;
        while end < order.len() && us[order[end]] == us[order[k]] && is[order[end]] == is[order[k]]
        {
            end += 1;
        }
        let run = &order[k..end];
        k = end;
        Some(run)
    })
}

fn report(data: &Interactions, order: &[usize]) -> DuplicateReport {
    let mut rep = DuplicateReport::default();
    for run in pair_runs(data, order) {
        if run.len() > 1 {
            rep.pairs += 1;
            rep.extra_rows += run.len() - 1;
            let here = (run[0], run[1]);
            if rep.example.is_none_or(|(_, r)| here.1 < r) {
                rep.example = Some(here);
            }
        }
    }
    rep
}

/// Counts repeated (user, item) pairs without hashing: O(n log d), 8 bytes a row of scratch.
pub fn find_duplicates(data: &Interactions) -> DuplicateReport {
    report(data, &data.rows_by_pair())
}

/// Resolves repeated (user, item) pairs by `policy` ([`Duplicates::Error`] refuses them,
/// naming the rows; [`crate::load_file`] names the lines instead): one row per pair, at the
/// position of the pair's first row, as [`dedup`] does. Data without repeats is returned
/// as it is. Sort-based, no hash map: 8 bytes a row and 24 a pair of scratch.
pub fn resolve_duplicates(
    data: Interactions,
    policy: Duplicates,
) -> Result<(Interactions, DuplicateReport), DataError> {
    let order = data.rows_by_pair();
    let rep = report(&data, &order);
    if rep.pairs == 0 {
        return Ok((data, rep));
    }
    if policy == Duplicates::Error {
        let (a, b) = rep.example.expect("a repeated pair has an example");
        return Err(DataError::Param {
            name: "duplicates",
            value: format!(
                "error (rows {} and {} are both user '{}', item '{}')",
                a + 1,
                b + 1,
                data.user_map().external(data.users()[a]),
                data.item_map().external(data.items()[a]),
            ),
            allowed: "no repeated (user, item) pair; choose sum, last or first to resolve them",
        });
    }
    let vs = data.values();
    // (first row of the pair, the row kept, its value)
    let mut keep: Vec<(usize, usize, f32)> = pair_runs(&data, &order)
        .map(|run| match policy {
            Duplicates::Last => (run[0], run[run.len() - 1], vs[run[run.len() - 1]]),
            Duplicates::Sum => (run[0], run[0], run.iter().map(|&r| vs[r]).sum()),
            _ => (run[0], run[0], vs[run[0]]),
        })
        .collect();
    drop(order);
    keep.sort_unstable_by_key(|k| k.0);
    let rows: Vec<usize> = keep.iter().map(|k| k.1).collect();
    let mut out = data.subset(&rows);
    out.set_values(keep.iter().map(|k| k.2).collect());
    Ok((out, rep))
}

/// Values far outside the data's range: more than [`OUTLIER_FACTOR`] times the median of
/// the non-zero absolute values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outliers {
    /// How many rows.
    pub count: usize,
    /// The first such row (0-based).
    pub first_row: usize,
    /// Its value.
    pub first_value: f32,
    /// The median of the non-zero absolute values.
    pub median_abs: f32,
}

/// A value more than this many times the median non-zero absolute value is an outlier.
pub const OUTLIER_FACTOR: f32 = 1e6;

/// Rows whose absolute value exceeds [`OUTLIER_FACTOR`] × the median non-zero absolute
/// value, if any. Such rows are kept (they are the user's data); a front-end warns.
pub fn find_outliers(data: &Interactions) -> Option<Outliers> {
    let mut abs: Vec<f32> = data
        .values()
        .iter()
        .map(|v| v.abs())
        .filter(|&v| v > 0.0)
        .collect();
    if abs.is_empty() {
        return None;
    }
    let mid = abs.len() / 2;
    let (_, &mut median, _) = abs.select_nth_unstable_by(mid, f32::total_cmp);
    let limit = median * OUTLIER_FACTOR;
    let mut out: Option<Outliers> = None;
    for (r, &v) in data.values().iter().enumerate() {
        if v.abs() > limit {
            match &mut out {
                Some(o) => o.count += 1,
                None => {
                    out = Some(Outliers {
                        count: 1,
                        first_row: r,
                        first_value: v,
                        median_abs: median,
                    })
                }
            }
        }
    }
    out
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
    fn duplicates_are_found_resolved_or_refused() {
        let d = data(&[
            (0, 0, 1.0),
            (1, 0, 2.0),
            (0, 0, 3.0),
            (0, 0, 2.0),
            (1, 1, 1.0),
        ]);
        let rep = find_duplicates(&d);
        assert_eq!(
            rep,
            DuplicateReport {
                pairs: 1,
                extra_rows: 2,
                example: Some((0, 2))
            }
        );
        let v = |p| {
            resolve_duplicates(d.clone(), p)
                .unwrap()
                .0
                .values()
                .to_vec()
        };
        assert_eq!(v(Duplicates::Sum), [6.0, 2.0, 1.0]);
        assert_eq!(v(Duplicates::Last), [2.0, 2.0, 1.0]);
        assert_eq!(v(Duplicates::First), [1.0, 2.0, 1.0]);
        let e = resolve_duplicates(d, Duplicates::Error)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("rows 1 and 3") && e.contains("sum, last or first"),
            "{e}"
        );
        let clean = data(&[(0, 0, 1.0), (0, 1, 1.0)]);
        assert_eq!(find_duplicates(&clean).pairs, 0);
        assert_eq!(Duplicates::parse("last").unwrap(), Duplicates::default());
        assert!(Duplicates::parse("max").is_err());
    }

    proptest! {
        #[test]
        fn resolving_agrees_with_dedup(rows in proptest::collection::vec((0u8..5, 0u8..5, 1f32..5.0), 1..80)) {
            let d = data(&rows);
            for (p, q) in [(Duplicates::Sum, Dedup::Sum), (Duplicates::Last, Dedup::Last), (Duplicates::First, Dedup::First)] {
                let (a, _) = resolve_duplicates(d.clone(), p).unwrap();
                let b = dedup(&d, q).unwrap();
                prop_assert_eq!(a.users(), b.users());
                prop_assert_eq!(a.items(), b.items());
                prop_assert_eq!(a.timestamps(), b.timestamps());
                for (x, y) in a.values().iter().zip(b.values()) {
                    prop_assert!((x - y).abs() <= 1e-4 * y.abs().max(1.0));
                }
            }
        }
    }

    #[test]
    fn outliers_are_reported_against_the_median() {
        let d = data(&[
            (0, 0, 4.0),
            (0, 1, 3.0),
            (1, 0, 0.0),
            (1, 1, 5.0),
            (2, 2, 4.0),
            (2, 0, 5.0e7),
            (3, 0, -1e9),
        ]);
        let o = find_outliers(&d).unwrap();
        assert_eq!((o.count, o.first_row, o.first_value), (2, 5, 5.0e7));
        assert_eq!(o.median_abs, 5.0);
        let d = data(&[
            (0, 0, 4.0),
            (0, 1, 3.0),
            (1, 0, 5.0),
            (1, 1, 5.0e7),
            (2, 2, 1.0),
        ]);
        assert_eq!(find_outliers(&d).unwrap().count, 1);
        assert!(find_outliers(&data(&[(0, 0, 0.0)])).is_none());
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
