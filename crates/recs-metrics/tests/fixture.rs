//! The values Microsoft Recommenders 1.2.1 and Liang et al.'s code give on fixture case-a.

use std::path::PathBuf;

use recs_metrics::table::{RankingTable, rating_pairs_csv};

#[test]
fn case_a_matches_the_reference_to_1e9() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/metrics/case-a");
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
