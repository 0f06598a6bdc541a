//! The values Microsoft Recommenders 1.2.1 and Liang et al.'s code give on fixture case-a.

use std::path::PathBuf;

use recs_metrics::table::{RankingTable, rating_pairs_csv};

#[test]
fn case_a_matches_the_reference_to_1e9() {
    let dir = manifest_dir().join("../../../shared/fixtures/metrics/case-a");
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "no fixture at {}; CI is set, so this test fails rather than skips",
            dir.display()
        );
        eprintln!("skipping: no fixture at {}", dir.display());
        return;
    }
    let expected: std::collections::BTreeMap<String, f64> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let t = RankingTable::from_csv(&dir.join("truth.csv"), &dir.join("pred.csv")).unwrap();
    let mut ours = t.metrics(&[1, 5, 10, 20], &[20, 50, 100]).unwrap();
    let r = rating_pairs_csv(&dir.join("rating_pairs.csv")).unwrap();
    ours.insert("rmse".into(), r.rmse);
    ours.insert("mae".into(), r.mae);
    let mut bad = Vec::new();
    for (k, v) in &expected {
        match ours.get(k) {
            Some(o) if (o - v).abs() <= 1e-9 => {}
            o => bad.push(format!("{k}: ours {o:?}, reference {v}")),
        }
    }
    assert!(bad.is_empty(), "mismatches:\n{}", bad.join("\n"));
    assert_eq!(ours.len(), expected.len(), "keys differ");
}

#[test]
fn rows_from_memory_give_what_the_csv_files_give() {
    let dir = manifest_dir().join("../../../shared/fixtures/metrics/case-a");
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "no fixture at {}; CI is set, so this test fails rather than skips",
            dir.display()
        );
        return;
    }
    let rows = |name: &str| -> Vec<(String, String, f64)> {
        csv::Reader::from_path(dir.join(name))
            .unwrap()
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[0].to_string(), r[1].to_string(), r[2].parse().unwrap())
            })
            .collect()
    };
    let truth: Vec<_> = rows("truth.csv")
        .into_iter()
        .map(|(u, i, r)| (u, i, r as f32))
        .collect();
    let from_files = RankingTable::from_csv(&dir.join("truth.csv"), &dir.join("pred.csv"))
        .unwrap()
        .metrics(&[1, 5, 10], &[20])
        .unwrap();
    let from_rows = RankingTable::from_rows(truth, rows("pred.csv"))
        .unwrap()
        .metrics(&[1, 5, 10], &[20])
        .unwrap();
    assert_eq!(from_files, from_rows);
    assert!(RankingTable::from_rows([("u", "i", 1.0f32)], [("u", "i", f64::NAN)]).is_err());
}

/// This crate's directory as cargo gives it to the running test (a test binary built in
/// another checkout and found fresh, as CI's cached builds are, must read this checkout's
/// files), else as it was at compile time.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
