//! Reports: per-seed results, their means, the reference table and the JSON form.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::Experiment;

/// A published or measured number that an experiment is compared with.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Reference {
    /// Metric key, as in [`Report::metrics`].
    pub metric: &'static str,
    /// The reference value.
    pub value: f64,
    /// Where it comes from (paper, notebook, peer library measured on this kind of machine).
    pub source: &'static str,
}

/// One seed's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Seconds spent training (data loading and evaluation excluded).
    pub train_seconds: f64,
    /// Metric key → value.
    pub metrics: BTreeMap<String, f64>,
}

/// What a run of an experiment produced, over all its seeds.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Experiment name.
    pub experiment: String,
    /// `git rev-parse HEAD` of the workspace, or "unknown".
    pub git_rev: String,
    /// First seed.
    pub seed: u64,
    /// Number of seeds.
    pub seeds: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// The model's parameters as trained.
    pub params: serde_json::Value,
    /// Mean training seconds per seed.
    pub train_seconds: f64,
    /// Mean of every metric over the seeds.
    pub metrics: BTreeMap<String, f64>,
    /// Sample standard deviation of every metric over the seeds (0 for one seed).
    pub metrics_sd: BTreeMap<String, f64>,
    /// Every seed's own numbers.
    pub per_seed: Vec<SeedResult>,
    /// The numbers this experiment is compared with.
    pub references: Vec<Reference>,
    /// Metric keys in the order the table prints them.
    #[serde(skip)]
    pub order: Vec<&'static str>,
}

impl Report {
    pub(crate) fn new(
        exp: &Experiment,
        seed: u64,
        epochs: usize,
        params: serde_json::Value,
        per_seed: Vec<SeedResult>,
    ) -> Self {
        let n = per_seed.len() as f64;
        let mut metrics = BTreeMap::new();
        let mut metrics_sd = BTreeMap::new();
        if let Some(first) = per_seed.first() {
            for key in first.metrics.keys() {
                let vals: Vec<f64> = per_seed
                    .iter()
                    .filter_map(|s| s.metrics.get(key))
                    .copied()
                    .collect();
                let (m, sd) = mean_sd(&vals);
                metrics.insert(key.clone(), m);
                metrics_sd.insert(key.clone(), sd);
            }
        }
        let train_seconds = per_seed.iter().map(|s| s.train_seconds).sum::<f64>() / n.max(1.0);
        Self {
            experiment: exp.name.to_string(),
            git_rev: git_rev(),
            seed,
            seeds: per_seed.len(),
            epochs,
            params,
            train_seconds,
            metrics,
            metrics_sd,
            per_seed,
            references: exp.references.to_vec(),
            order: exp.metrics.to_vec(),
        }
    }

    /// The report as a text table: metric | ours | reference | source, then train seconds.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let seeds = if self.seeds > 1 {
            format!("{} seeds from {}, mean ± sd", self.seeds, self.seed)
        } else {
            format!("seed {}", self.seed)
        };
        let _ = writeln!(s, "{} ({seeds}, {} epochs)", self.experiment, self.epochs);
        let _ = writeln!(
            s,
            "{:<14} {:>18} {:>11}  source",
            "metric", "ours", "reference"
        );
        let mut keys: Vec<&str> = self.order.clone();
        for k in self.metrics.keys() {
            if !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
        for key in keys {
            let Some(&ours) = self.metrics.get(key) else {
                continue;
            };
            let ours = if self.seeds > 1 {
                format!("{ours:.4} ± {:.4}", self.metrics_sd[key])
            } else {
                format!("{ours:.4}")
            };
            let refs: Vec<&Reference> =
                self.references.iter().filter(|r| r.metric == key).collect();
            if refs.is_empty() {
                let _ = writeln!(s, "{key:<14} {ours:>18} {:>11}", "-");
            }
            for (i, r) in refs.iter().enumerate() {
                let shown = if i == 0 { ours.as_str() } else { "" };
                let _ = writeln!(s, "{key:<14} {shown:>18} {:>11.4}  {}", r.value, r.source);
            }
        }
        let _ = writeln!(s, "{:<14} {:>18.2}", "train seconds", self.train_seconds);
        for r in self
            .references
            .iter()
            .filter(|r| r.metric == "train_seconds")
        {
            let _ = writeln!(s, "{:<14} {:>18} {:>11.2}  {}", "", "", r.value, r.source);
        }
        s
    }

    /// Writes the report as pretty JSON to `path`, atomically (`recs_core::atomic::write`),
    /// creating the parent directory.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let mut json = serde_json::to_vec_pretty(self)?;
        json.push(b'\n');
        recs_core::atomic::write_bytes(path, &json)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        Ok(())
    }
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 {
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (m, sd)
}

fn git_rev() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_sd() {
        let (m, sd) = mean_sd(&[1.0, 2.0, 3.0]);
        assert_eq!(m, 2.0);
        assert!((sd - 1.0).abs() < 1e-12);
        assert_eq!(mean_sd(&[5.0]), (5.0, 0.0));
    }
}
