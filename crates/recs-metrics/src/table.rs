//! Scoring predictions made by any system, from CSV files, exactly as Microsoft
//! Recommenders 1.2.1's `python_evaluation` and Liang et al.'s fold-in code define them.
//!
//! Truth: `userID,itemID,rating`; predictions: `userID,itemID,prediction`; rating pairs:
//! `userID,itemID,rating,prediction` (ids kept as strings, RFC 4180 quoting, a UTF-8
//! byte-order mark dropped). The header is detected: a first row none of whose fields is a
//! number is a header, any other first row is data, so a file without a header loses no
//! row (and a malformed first row is an error, not a dropped header).
//!
//! A (user, item) pair on several rows counts once, in the truth and in the predictions
//! alike: **the pair's first row wins** (its rating, its prediction score).
//!
//! Which users count (Recommenders' quirks, pinned by the fixture):
//! - precision, recall, map, map_full: the users present in both truth and predictions;
//!   a user without a hit scores 0;
//! - ndcg (all gains): every user in the truth (a user without predictions scores 0);
//! - r_precision: the mean over common users with at least one hit within the first
//!   min(k, n_rel) ranks;
//! - recall_liang, ndcg_liang: users present in both.
//!
//! Predictions are ranked by score, highest first; equal scores keep their order in the file.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::MetricsError;
use crate::ranking::{Gain, Relevant, at_k, ndcg};
use crate::rating::{RatingReport, rating_errors};

/// Truth and predictions read from CSV, over one string→index map of items.
#[derive(Debug, Default)]
pub struct RankingTable {
    /// Per truth user: relevant items (sorted) and ratings.
    truth: BTreeMap<String, (Vec<u32>, Vec<f32>)>,
    /// Per predicted user: items ranked best first.
    ranked: HashMap<String, Vec<u32>>,
}

/// Calls `f(line, record)` for every data row of `path`: a UTF-8 byte-order mark dropped,
/// the first row skipped when it is a header (none of its fields is a number).
fn for_each_row(
    path: &Path,
    mut f: impl FnMut(usize, &csv::StringRecord) -> Result<(), MetricsError>,
) -> Result<(), MetricsError> {
    use std::io::{BufRead, BufReader};
    let err = |line: usize, message: String| MetricsError::Csv {
        path: path.to_path_buf(),
        line,
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| err(0, e.to_string()))?;
    let mut buf = BufReader::new(file);
    let head = buf.fill_buf().map_err(|e| err(0, e.to_string()))?;
    if head.starts_with(&[0xef, 0xbb, 0xbf]) {
        buf.consume(3);
    }
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(LineCapped {
            inner: buf,
            since_newline: 0,
        });
    let mut rec = csv::StringRecord::new();
    let mut first = true;
    loop {
        let more = rdr.read_record(&mut rec).map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            err(line, e.to_string())
        })?;
        if !more {
            return Ok(());
        }
        let line = rec.position().map_or(0, |p| p.line() as usize);
        if std::mem::take(&mut first) && !rec.iter().any(|v| v.trim().parse::<f64>().is_ok()) {
            continue;
        }
        f(line, &rec)?;
    }
}

/// The longest line a metrics file may hold (1 MiB): memory stays bounded on a file without
/// line breaks.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// A reader that fails once a line runs past [`MAX_LINE_BYTES`] (the CSV reader would
/// otherwise buffer a whole record, however long).
struct LineCapped<R> {
    inner: R,
    since_newline: usize,
}

impl<R: std::io::Read> std::io::Read for LineCapped<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        for &b in &out[..n] {
            if b == b'\n' {
                self.since_newline = 0;
            } else {
                self.since_newline += 1;
                if self.since_newline > MAX_LINE_BYTES {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "a line is longer than {MAX_LINE_BYTES} bytes (a line break is \
                             missing, or this is not a text file)"
                        ),
                    ));
                }
            }
        }
        Ok(n)
    }
}

fn field<'r>(
    rec: &'r csv::StringRecord,
    i: usize,
    path: &Path,
    line: usize,
    what: &str,
) -> Result<&'r str, MetricsError> {
    rec.get(i)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| MetricsError::Csv {
            path: path.to_path_buf(),
            line,
            message: format!("missing field {} ({what})", i + 1),
        })
}

fn number(s: &str, path: &Path, line: usize, what: &str) -> Result<f64, MetricsError> {
    let v: f64 = s.trim().parse().map_err(|_| MetricsError::Csv {
        path: path.to_path_buf(),
        line,
        message: format!("{what} '{s}' is not a number"),
    })?;
    if !v.is_finite() {
        return Err(MetricsError::Csv {
            path: path.to_path_buf(),
            line,
            message: format!("{what} '{s}' is not finite"),
        });
    }
    Ok(v)
}

/// Accumulates truth and prediction rows over one string→index map of items.
#[derive(Default)]
struct Builder {
    items: HashMap<String, u32>,
    truth: BTreeMap<String, Vec<(u32, f32)>>,
    pred: HashMap<String, Vec<(u32, f64, usize)>>,
}

impl Builder {
    fn intern(&mut self, s: &str) -> u32 {
        let n = self.items.len() as u32;
        *self.items.entry(s.to_string()).or_insert(n)
    }

    fn truth(&mut self, user: &str, item: &str, rating: f32) {
        let i = self.intern(item);
        self.truth
            .entry(user.to_string())
            .or_default()
            .push((i, rating));
    }

    /// `order`: the row's position (equal scores rank in this order).
    fn pred(&mut self, user: &str, item: &str, score: f64, order: usize) {
        let i = self.intern(item);
        self.pred
            .entry(user.to_string())
            .or_default()
            .push((i, score, order));
    }

    fn finish(self) -> Result<RankingTable, MetricsError> {
        if self.truth.is_empty() {
            return Err(MetricsError::EmptyTruth);
        }
        let truth = self
            .truth
            .into_iter()
            .map(|(u, mut v)| {
                v.sort_by_key(|x| x.0);
                v.dedup_by_key(|x| x.0);
                let (i, r): (Vec<u32>, Vec<f32>) = v.into_iter().unzip();
                (u, (i, r))
            })
            .collect();
        let ranked = self
            .pred
            .into_iter()
            .map(|(u, mut v)| {
                // A repeated (user, item) pair: its first row wins, as in the truth (rows
                // are pushed in order, and the sort by item is stable).
                v.sort_by_key(|x| x.0);
                v.dedup_by_key(|x| x.0);
                v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
                (u, v.into_iter().map(|x| x.0).collect())
            })
            .collect();
        Ok(RankingTable { truth, ranked })
    }
}

impl RankingTable {
    /// Reads a truth CSV and a prediction CSV.
    pub fn from_csv(truth: &Path, pred: &Path) -> Result<Self, MetricsError> {
        let mut b = Builder::default();
        for_each_row(truth, |line, rec| {
            let u = field(rec, 0, truth, line, "user")?;
            let it = field(rec, 1, truth, line, "item")?;
            let r = number(field(rec, 2, truth, line, "rating")?, truth, line, "rating")? as f32;
            b.truth(u, it, r);
            Ok(())
        })?;
        if b.truth.is_empty() {
            return Err(MetricsError::EmptyTruth);
        }
        for_each_row(pred, |line, rec| {
            let u = field(rec, 0, pred, line, "user")?;
            let it = field(rec, 1, pred, line, "item")?;
            let s = number(
                field(rec, 2, pred, line, "prediction")?,
                pred,
                line,
                "prediction",
            )?;
            b.pred(u, it, s, line);
            Ok(())
        })?;
        b.finish()
    }

    /// Truth `(user, item, rating)` and prediction `(user, item, score)` rows from memory
    /// (the Python package's data frames), with the same rules as [`RankingTable::from_csv`]:
    /// equal scores rank in row order. Scores must be finite.
    pub fn from_rows<S: AsRef<str>>(
        truth: impl IntoIterator<Item = (S, S, f32)>,
        pred: impl IntoIterator<Item = (S, S, f64)>,
    ) -> Result<Self, MetricsError> {
        let mut b = Builder::default();
        for (u, i, r) in truth {
            b.truth(u.as_ref(), i.as_ref(), r);
        }
        for (row, (u, i, s)) in pred.into_iter().enumerate() {
            if !s.is_finite() {
                return Err(MetricsError::Param {
                    name: "prediction",
                    value: format!("{s} (row {row})"),
                    allowed: "finite numbers",
                });
            }
            b.pred(u.as_ref(), i.as_ref(), s, row);
        }
        b.finish()
    }

    /// Every metric at every k, keyed as in the fixture's expected.json (`precision@5`,
    /// `map_full@10`, `recall_liang@20`, …): each [`RankingTable::sums`] total over its
    /// count (0 where nothing counts).
    pub fn metrics(
        &self,
        ks: &[usize],
        liang_ks: &[usize],
    ) -> Result<BTreeMap<String, f64>, MetricsError> {
        Ok(self
            .sums(ks, liang_ks)?
            .into_iter()
            .map(|(name, s)| (name, s.value()))
            .collect())
    }

    /// Each metric's per-user total and the number of users it averages over. Tables of
    /// disjoint sets of users (a partition each, every user's rows in one) add up to the
    /// whole table's: their sum (`+`) then [`Sum::value`] gives [`RankingTable::metrics`]'
    /// values, up to the order of the additions.
    pub fn sums(
        &self,
        ks: &[usize],
        liang_ks: &[usize],
    ) -> Result<BTreeMap<String, Sum>, MetricsError> {
        if let Some(&k) = ks.iter().chain(liang_ks).find(|&&k| k == 0) {
            return Err(MetricsError::Param {
                name: "k",
                value: k.to_string(),
                allowed: "at least 1",
            });
        }
        let mut out = BTreeMap::new();
        let n_truth = self.truth.len() as f64;
        let common: Vec<(&[u32], Relevant<'_>)> = self
            .truth
            .iter()
            .filter_map(|(u, (i, r))| {
                self.ranked.get(u).map(|rk| {
                    (
                        rk.as_slice(),
                        Relevant {
                            items: i,
                            ratings: r,
                        },
                    )
                })
            })
            .collect();
        let n_common = common.len() as f64;
        let sum = |total: f64, count: f64| Sum { total, count };
        for &k in ks {
            let (mut p, mut r, mut m, mut mf, mut rp, mut n_rp) = (0.0, 0.0, 0.0, 0.0, 0.0, 0usize);
            let mut nd = [0.0f64; 3];
            for (rk, rel) in &common {
                let a = at_k(rk, *rel, k);
                p += a.precision;
                r += a.recall;
                m += a.map;
                mf += a.map_full;
                if let Some(x) = a.r_precision {
                    rp += x;
                    n_rp += 1;
                }
                for (s, g) in nd.iter_mut().zip([Gain::Binary, Gain::Raw, Gain::Exp]) {
                    *s += ndcg(rk, *rel, k, g);
                }
            }
            out.insert(format!("precision@{k}"), sum(p, n_common));
            out.insert(format!("recall@{k}"), sum(r, n_common));
            out.insert(format!("map@{k}"), sum(m, n_common));
            out.insert(format!("map_full@{k}"), sum(mf, n_common));
            out.insert(format!("r_precision@{k}"), sum(rp, n_rp as f64));
            out.insert(format!("ndcg@{k}"), sum(nd[0], n_truth));
            out.insert(format!("ndcg_raw@{k}"), sum(nd[1], n_truth));
            out.insert(format!("ndcg_exp@{k}"), sum(nd[2], n_truth));
        }
        for &k in liang_ks {
            let (mut r, mut n) = (0.0, 0.0);
            for (rk, rel) in &common {
                r += at_k(rk, *rel, k).recall_liang;
                n += ndcg(rk, *rel, k, Gain::Binary);
            }
            out.insert(format!("recall_liang@{k}"), sum(r, n_common));
            out.insert(format!("ndcg_liang@{k}"), sum(n, n_common));
        }
        Ok(out)
    }
}

/// A metric's total over users and how many users it averages over.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sum {
    /// The per-user values added up.
    pub total: f64,
    /// The users they average over.
    pub count: f64,
}

/// Two disjoint sets of users' sums together.
impl std::ops::Add for Sum {
    type Output = Sum;
    fn add(self, other: Sum) -> Sum {
        Sum {
            total: self.total + other.total,
            count: self.count + other.count,
        }
    }
}

impl Sum {
    /// The mean: total over count, 0 when no user counts.
    pub fn value(self) -> f64 {
        if self.count > 0.0 {
            self.total / self.count
        } else {
            0.0
        }
    }
}

/// Reads the rating and prediction columns of a `userID,itemID,rating,prediction` CSV.
fn read_pairs(path: &Path) -> Result<(Vec<f64>, Vec<f64>), MetricsError> {
    let (mut truth, mut pred) = (Vec::new(), Vec::new());
    for_each_row(path, |line, rec| {
        field(rec, 0, path, line, "user")?;
        field(rec, 1, path, line, "item")?;
        truth.push(number(
            field(rec, 2, path, line, "rating")?,
            path,
            line,
            "rating",
        )?);
        pred.push(number(
            field(rec, 3, path, line, "prediction")?,
            path,
            line,
            "prediction",
        )?);
        Ok(())
    })?;
    Ok((truth, pred))
}

/// RMSE, MAE and MSE of a `userID,itemID,rating,prediction` CSV.
pub fn rating_pairs_csv(path: &Path) -> Result<RatingReport, MetricsError> {
    let (truth, pred) = read_pairs(path)?;
    rating_errors(&truth, &pred)
}

/// Recommenders' global `auc` of a `userID,itemID,rating,prediction` CSV whose ratings are
/// 0/1 labels (see [`crate::auc::global_auc`]).
pub fn auc_pairs_csv(path: &Path) -> Result<f64, MetricsError> {
    let (truth, pred) = read_pairs(path)?;
    crate::auc::global_auc(&truth, &pred)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A CSV file in the temp dir, removed on drop.
    struct Tmp(PathBuf);
    impl Tmp {
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn file(text: &str) -> Tmp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "recs-metrics-table-{}-{}.csv",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&p, text).unwrap();
        Tmp(p)
    }

    /// Tables of disjoint users add up to the whole table's metrics: how an engine
    /// computes them per partition.
    #[test]
    fn sums_of_disjoint_users_add_up_to_the_whole() {
        let (mut truth, mut pred) = (Vec::new(), Vec::new());
        for u in 0..40u32 {
            for i in 0..(u % 7 + 1) {
                truth.push((
                    format!("u{u}"),
                    format!("i{}", (u * 3 + i * 5) % 23),
                    (i % 5 + 1) as f32,
                ));
            }
            // a few truth users have no predictions, a few predicted users no truth
            if u % 9 != 4 {
                for i in 0..10u32 {
                    pred.push((
                        format!("u{u}"),
                        format!("i{}", (u + i * 2) % 23),
                        f64::from(10 - i),
                    ));
                }
            }
        }
        pred.push(("ghost".into(), "i1".into(), 1.0));
        let whole = RankingTable::from_rows(truth.clone(), pred.clone())
            .unwrap()
            .metrics(&[1, 5, 10], &[5])
            .unwrap();
        let part = |odd: bool| {
            let keep = |u: &String| u.len() % 2 == usize::from(odd);
            RankingTable::from_rows(
                truth.iter().filter(|r| keep(&r.0)).cloned(),
                pred.iter().filter(|r| keep(&r.0)).cloned(),
            )
            .unwrap()
            .sums(&[1, 5, 10], &[5])
            .unwrap()
        };
        let (a, b) = (part(false), part(true));
        assert_eq!(whole.len(), a.len());
        for (name, v) in &whole {
            let got = (a[name] + b[name]).value();
            assert!((got - v).abs() < 1e-12, "{name}: {got} vs {v}");
        }
    }

    #[test]
    fn a_missing_field_names_file_and_line() {
        let t = file("userID,itemID,rating\n1,10,5\n1,,4\n");
        let p = file("userID,itemID,prediction\n1,10,0.5\n");
        let e = RankingTable::from_csv(t.path(), p.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("{}:3:", t.path().display())) && e.contains("item"),
            "{e}"
        );
        let p2 = file("userID,itemID,prediction\n1,10\n");
        let good = file("userID,itemID,rating\n1,10,5\n");
        let e = RankingTable::from_csv(good.path(), p2.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("{}:2:", p2.path().display()))
                && e.contains("missing field 3 (prediction)"),
            "{e}"
        );
        let pairs = file("userID,itemID,rating,prediction\n1,2,3,x\n");
        let e = rating_pairs_csv(pairs.path()).unwrap_err().to_string();
        assert!(e.contains(":2:") && e.contains("not a number"), "{e}");
    }

    #[test]
    fn bad_k_and_empty_truth_are_errors() {
        let t = file("userID,itemID,rating\n1,10,5\n");
        let p = file("userID,itemID,prediction\n1,10,0.5\n1,11,0.4\n");
        let table = RankingTable::from_csv(t.path(), p.path()).unwrap();
        assert!(
            table
                .metrics(&[0], &[])
                .unwrap_err()
                .to_string()
                .contains("k = 0")
        );
        let m = table.metrics(&[1, 2], &[2]).unwrap();
        assert_eq!(m["precision@1"], 1.0);
        assert_eq!(m["precision@2"], 0.5);
        assert_eq!(m["recall_liang@2"], 1.0);
        let empty = file("userID,itemID,rating\n");
        assert!(matches!(
            RankingTable::from_csv(empty.path(), p.path()),
            Err(MetricsError::EmptyTruth)
        ));
    }

    #[test]
    fn repeated_predictions_count_once_and_a_headerless_truth_keeps_its_first_row() {
        // Without dedup, the repeated hit at the top gave MAP@5 = 2.5 (hits counted twice
        // against one relevant item each).
        let t = file("1,10,5\n2,20,4\n");
        let p = file(
            "userID,itemID,prediction\n1,10,0.9\n1,10,0.8\n1,10,0.7\n1,11,0.6\n1,10,0.5\n2,20,0.9\n2,20,0.9\n",
        );
        let m = RankingTable::from_csv(t.path(), p.path())
            .unwrap()
            .metrics(&[5], &[])
            .unwrap();
        assert_eq!(m["map@5"], 1.0);
        assert_eq!(m["precision@5"], 0.2);
        // The headerless truth kept user 1 (its first row).
        assert_eq!(m["recall@5"], 1.0);
        // First row wins: the second score of 1-10 (lower) does not move it.
        let p = file("\u{feff}1,11,0.5\n1,10,0.1\n1,10,0.9\n");
        let t = file("userID,itemID,rating\n1,10,5\n");
        let m = RankingTable::from_csv(t.path(), p.path())
            .unwrap()
            .metrics(&[1], &[])
            .unwrap();
        assert_eq!(m["precision@1"], 0.0);
    }

    #[test]
    fn a_malformed_first_truth_row_is_an_error_not_a_header() {
        let t = file("1,10,x\n2,20,4\n");
        let p = file("userID,itemID,prediction\n1,10,0.9\n");
        let e = RankingTable::from_csv(t.path(), p.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":1:") && e.contains("'x' is not a number"),
            "{e}"
        );
    }

    #[test]
    fn global_auc_from_pairs() {
        let f = file("userID,itemID,rating,prediction\n1,1,1,0.9\n1,2,0,0.1\n2,1,0,0.95\n");
        assert_eq!(auc_pairs_csv(f.path()).unwrap(), 0.5);
    }
}
