//! CI's short run of the main job: ml-100k from the local mirror, a few epochs of BiVAE,
//! quality far above a random ranking. The full 500-epoch run is a benchmark
//! (`cargo xtask reproduce bivae-ml100k`), not a test.

use std::path::PathBuf;

use recs_experiments::{RunOptions, find, protocol, run};
use recs_metrics::{ScoreError, Scorer};

/// The data directory holding ml-100k, found as users find it (`$RECS_DATA_DIR`, installed
/// from `$RECS_DATA_MIRROR` when missing); skips without it, fails under CI.
fn data_dir() -> Option<PathBuf> {
    recs_data::registry::require("ml-100k").and_then(|d| d.parent().map(PathBuf::from))
}

/// Seeded pseudo-random scores.
struct Random(usize, usize);
impl Scorer for Random {
    fn n_users(&self) -> usize {
        self.0
    }
    fn n_items(&self) -> usize {
        self.1
    }
    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        let mut s = 0x9E37_79B9_7F4A_7C15u64 ^ user as u64;
        for o in out {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *o = (s >> 40) as f32;
        }
        Ok(())
    }
}

#[test]
fn bivae_ml100k_smoke_is_far_above_random() {
    let Some(data_dir) = data_dir() else { return };
    let opts = RunOptions {
        epochs: Some(40),
        data_dir: Some(data_dir.clone()),
        ..RunOptions::default()
    };
    let report = run(find("bivae-ml100k").unwrap(), &opts).unwrap();
    let data = protocol::random_split(&opts, "ml-100k", 0.75, opts.seed).unwrap();
    let (nu, ni) = data.train.shape();
    let random = protocol::ranking_at_10(&Random(nu, ni), &data).unwrap();
    for key in ["map", "ndcg@10", "precision@10", "recall@10"] {
        let (ours, rnd) = (report.metrics[key], random[key]);
        eprintln!("{key}: ours {ours:.4}, random {rnd:.4}");
        assert!(
            ours > 4.0 * rnd,
            "{key}: ours {ours} is not far above random {rnd}"
        );
    }
    assert!(report.metrics["precision@10"] > 0.25, "{}", report.table());
    assert_eq!(report.epochs, 40);
    let json = tempfile::tempdir().unwrap();
    let path = json.path().join("r/bivae.json");
    report.write_json(&path).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for key in [
        "experiment",
        "git_rev",
        "seed",
        "seeds",
        "epochs",
        "params",
        "train_seconds",
        "metrics",
        "per_seed",
    ] {
        assert!(v.get(key).is_some(), "JSON lacks {key}");
    }
}

#[test]
fn mf_ml100k_beats_the_global_mean_and_bpr_ml100k_is_far_above_random() {
    let Some(data_dir) = data_dir() else { return };
    let opts = RunOptions {
        data_dir: Some(data_dir.clone()),
        ..RunOptions::default()
    };
    // Full protocol: 20 epochs of MF take a fraction of a second.
    let mf = run(find("mf-ml100k").unwrap(), &opts).unwrap();
    let ratings = protocol::random_rating_split(&opts, "ml-100k", 0.9, opts.seed).unwrap();
    let mean = ratings
        .train
        .values()
        .iter()
        .map(|&v| v as f64)
        .sum::<f64>()
        / ratings.train.len() as f64;
    let global = (ratings
        .test
        .values()
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / ratings.test.len() as f64)
        .sqrt();
    eprintln!("{}", mf.table());
    assert!(
        mf.metrics["rmse"] < global - 0.15,
        "MF RMSE {} vs global mean {global}",
        mf.metrics["rmse"]
    );
    assert!(mf.metrics["mae"] < mf.metrics["rmse"]);

    let opts = RunOptions {
        epochs: Some(20),
        ..opts
    };
    let bpr = run(find("bpr-ml100k").unwrap(), &opts).unwrap();
    eprintln!("{}", bpr.table());
    let data = protocol::random_split(&opts, "ml-100k", 0.75, opts.seed).unwrap();
    let (nu, ni) = data.train.shape();
    let random = protocol::ranking_at_10_auc(&Random(nu, ni), &data).unwrap();
    for key in ["map", "ndcg@10", "precision@10"] {
        assert!(
            bpr.metrics[key] > 3.0 * random[key],
            "{key}: BPR {} vs random {}",
            bpr.metrics[key],
            random[key]
        );
    }
    assert!(
        bpr.metrics["auc"] > 0.8 && (random["auc"] - 0.5).abs() < 0.05,
        "AUC: BPR {}, random {}",
        bpr.metrics["auc"],
        random["auc"]
    );
}
