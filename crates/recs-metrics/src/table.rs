//! Scoring predictions made by any system, from CSV files, exactly as Microsoft
//! Recommenders 1.2.1's `python_evaluation` and Liang et al.'s fold-in code define them.
//!
//! Truth: `userID,itemID,rating`; predictions: `userID,itemID,prediction`; rating pairs:
//! `userID,itemID,rating,prediction` (headers required, ids kept as strings).
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

fn reader(path: &Path) -> Result<csv::Reader<std::fs::File>, MetricsError> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(path)
        .map_err(|e| MetricsError::Csv {
            path: path.to_path_buf(),
            line: 0,
            message: e.to_string(),
        })
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
        for (i, rec) in reader(truth)?.records().enumerate() {
            let line = i + 2;
            let rec = rec.map_err(|e| MetricsError::Csv {
                path: truth.to_path_buf(),
                line,
                message: e.to_string(),
            })?;
            let u = field(&rec, 0, truth, line, "user")?;
            let it = field(&rec, 1, truth, line, "item")?;
            let r = number(
                field(&rec, 2, truth, line, "rating")?,
                truth,
                line,
                "rating",
            )? as f32;
            b.truth(u, it, r);
        }
        if b.truth.is_empty() {
            return Err(MetricsError::EmptyTruth);
        }
        for (i, rec) in reader(pred)?.records().enumerate() {
            let line = i + 2;
            let rec = rec.map_err(|e| MetricsError::Csv {
                path: pred.to_path_buf(),
                line,
                message: e.to_string(),
            })?;
            let u = field(&rec, 0, pred, line, "user")?;
            let it = field(&rec, 1, pred, line, "item")?;
            let s = number(
                field(&rec, 2, pred, line, "prediction")?,
                pred,
                line,
                "prediction",
            )?;
            b.pred(u, it, s, line);
        }
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
    /// `map_full@10`, `recall_liang@20`, …).
    pub fn metrics(
        &self,
        ks: &[usize],
        liang_ks: &[usize],
    ) -> Result<BTreeMap<String, f64>, MetricsError> {
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
        let n_common = common.len().max(1) as f64;
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
            out.insert(format!("precision@{k}"), p / n_common);
            out.insert(format!("recall@{k}"), r / n_common);
            out.insert(format!("map@{k}"), m / n_common);
            out.insert(format!("map_full@{k}"), mf / n_common);
            out.insert(
                format!("r_precision@{k}"),
                if n_rp > 0 { rp / n_rp as f64 } else { 0.0 },
            );
            out.insert(format!("ndcg@{k}"), nd[0] / n_truth);
            out.insert(format!("ndcg_raw@{k}"), nd[1] / n_truth);
            out.insert(format!("ndcg_exp@{k}"), nd[2] / n_truth);
        }
        for &k in liang_ks {
            let (mut r, mut n) = (0.0, 0.0);
            for (rk, rel) in &common {
                r += at_k(rk, *rel, k).recall_liang;
                n += ndcg(rk, *rel, k, Gain::Binary);
            }
            out.insert(format!("recall_liang@{k}"), r / n_common);
            out.insert(format!("ndcg_liang@{k}"), n / n_common);
        }
        Ok(out)
    }
}

/// Reads the rating and prediction columns of a `userID,itemID,rating,prediction` CSV.
fn read_pairs(path: &Path) -> Result<(Vec<f64>, Vec<f64>), MetricsError> {
    let (mut truth, mut pred) = (Vec::new(), Vec::new());
    for (i, rec) in reader(path)?.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| MetricsError::Csv {
            path: path.to_path_buf(),
            line,
            message: e.to_string(),
        })?;
        field(&rec, 0, path, line, "user")?;
        field(&rec, 1, path, line, "item")?;
        truth.push(number(
            field(&rec, 2, path, line, "rating")?,
            path,
            line,
            "rating",
        )?);
        pred.push(number(
            field(&rec, 3, path, line, "prediction")?,
            path,
            line,
            "prediction",
        )?);
    }
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
    fn global_auc_from_pairs() {
        let f = file("userID,itemID,rating,prediction\n1,1,1,0.9\n1,2,0,0.1\n2,1,0,0.95\n");
        assert_eq!(auc_pairs_csv(f.path()).unwrap(), 0.5);
    }
}
