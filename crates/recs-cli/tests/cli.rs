//! End-to-end tests of the `recs` binary: on ml-100k (found through `$RECS_DATA_DIR` /
//! `$RECS_DATA_MIRROR` as users find it; skipped, saying so, without it, failing under CI) and on small generated files, including bad input.

use std::io::Write;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

/// The data directory holding ml-100k, found as users find it (`$RECS_DATA_DIR`, installed
/// from `$RECS_DATA_MIRROR` when missing); skips without it, fails under CI.
fn ml100k_dir() -> Option<PathBuf> {
    recs_data::registry::require("ml-100k").and_then(|d| d.parent().map(PathBuf::from))
}

/// `recs` with `data_dir` as its data directory. It installs ml-100k from a mirror as a
/// user's would: `$RECS_DATA_MIRROR` as given (inherited, relative or not), else, when the
/// test found ml-100k already installed (in the user's cache, say) and no mirror is set, that
/// installed copy, which is laid out as a mirror is.
fn recs(data_dir: &Path) -> Command {
    let mut c = Command::cargo_bin("recs").unwrap();
    c.env("RECS_DATA_DIR", data_dir);
    if recs_data::registry::mirror().is_none()
        && let Ok(Some(installed)) = recs_data::registry::locate("ml-100k")
        && let Some(dir) = installed.parent()
    {
        c.env("RECS_DATA_MIRROR", dir);
    }
    c
}

/// 60 users × 40 items in two taste groups, with ratings; returns the CSV path.
fn small_csv(dir: &Path) -> PathBuf {
    let p = dir.join("ratings.csv");
    let mut f = std::fs::File::create(&p).unwrap();
    writeln!(f, "user,item,rating").unwrap();
    let mut s = 12345u64;
    for u in 0..60u32 {
        for i in 0..40u32 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let liked = (u % 2) == (i % 2);
            if (s >> 33) % 100 < if liked { 45 } else { 8 } {
                let r = if liked {
                    4 + (s >> 20) % 2
                } else {
                    1 + (s >> 20) % 2
                };
                writeln!(f, "u{u},i{i},{r}").unwrap();
            }
        }
    }
    p
}

#[test]
fn ml100k_train_evaluate_recommend_similar() {
    if ml100k_dir().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let model = tmp.path().join("mf.model");
    let plot = tmp.path().join("curve.svg");
    recs(&data)
        .args([
            "train",
            "--model",
            "mf",
            "--dataset",
            "ml-100k",
            "--quiet",
            "--out",
        ])
        .arg(&model)
        .arg("--plot")
        .arg(&plot)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("trained mf on 80000 interactions")
                .and(predicate::str::contains("rmse")),
        );
    assert!(std::fs::read_to_string(&plot).unwrap().starts_with("<svg"));
    let out = recs(&data)
        .args(["evaluate", "--json", "-k", "5,10", "--model"])
        .arg(&model)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let m: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let rmse = m["rmse"].as_f64().unwrap();
    assert!(rmse > 0.8 && rmse < 0.95, "{m}");
    assert!(m["ndcg@5"].as_f64().unwrap() >= 0.0 && m.get("precision@10").is_some());
    // Top 3 for user 196, JSON, with MovieLens titles; none of them seen in training.
    let out = recs(&data)
        .args(["recommend", "--user", "196", "-k", "3", "--json", "--model"])
        .arg(&model)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert!(
        v[0]["title"].as_str().is_some_and(|t| t.contains('(')),
        "{v}"
    );
    recs(&data)
        .args(["similar", "--item", "50", "-k", "3", "--model"])
        .arg(&model)
        .assert()
        .success()
        .stdout(predicate::str::contains("Empire Strikes Back"));
    // Unknown user: a clear error, exit 1.
    recs(&data)
        .args(["recommend", "--user", "no-such-user", "--model"])
        .arg(&model)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "user 'no-such-user' is not in the training data",
        ));
}

#[test]
fn files_train_compare_and_cold_models() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = small_csv(tmp.path());
    let model = tmp.path().join("bpr.model");
    recs(tmp.path())
        .args([
            "train",
            "--model",
            "bpr",
            "--epochs",
            "40",
            "--factors",
            "8",
            "--quiet",
            "--input",
        ])
        .arg(&csv)
        .args([
            "--user-col",
            "user",
            "--item-col",
            "item",
            "--rating-col",
            "rating",
            "--out",
        ])
        .arg(&model)
        .assert()
        .success();
    // Recommendations for an odd user are mostly odd items.
    let out = recs(tmp.path())
        .args(["recommend", "--user", "u1", "-k", "5", "--json", "--model"])
        .arg(&model)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let odd = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["item"].as_str().unwrap()[1..].parse::<u32>().unwrap() % 2 == 1)
        .count();
    assert!(odd >= 4, "{v}");
    let out = recs(tmp.path())
        .args([
            "compare",
            "--models",
            "global-mean,mf,bpr",
            "--epochs",
            "30",
            "--json",
            "-q",
            "--input",
        ])
        .arg(&csv)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let rows: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let ndcg = |i: usize| rows[i]["metrics"]["ndcg@10"].as_f64().unwrap();
    assert!(
        ndcg(2) > ndcg(0),
        "BPR should rank better than the global mean: {rows:?}"
    );
    assert!(
        rows[1]["metrics"]["rmse"].as_f64().unwrap() < rows[0]["metrics"]["rmse"].as_f64().unwrap()
    );
    // A ranking-only model has no item-free cold start, and the global mean no item vectors.
    let gm = tmp.path().join("gm.model");
    recs(tmp.path())
        .args(["train", "--model", "global-mean", "-q", "--input"])
        .arg(&csv)
        .arg("--out")
        .arg(&gm)
        .assert()
        .success();
    recs(tmp.path())
        .args(["similar", "--item", "i1", "--model"])
        .arg(&gm)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no item vectors"));
    recs(tmp.path())
        .args(["recommend", "--user", "new", "--items", "i1,i3", "--model"])
        .arg(&model)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot fold in a new user"));
}

#[test]
fn bad_input_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = small_csv(tmp.path());
    let out = tmp.path().join("m.model");
    // A missing file names the file; nothing is written.
    recs(tmp.path())
        .args([
            "train",
            "--model",
            "mf",
            "--input",
            "/no/such/file.csv",
            "--out",
        ])
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("/no/such/file.csv"));
    assert!(!out.exists());
    // A column the header lacks.
    recs(tmp.path())
        .args([
            "train",
            "--model",
            "mf",
            "--user-col",
            "customer",
            "--input",
        ])
        .arg(&csv)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("customer").and(predicate::str::contains("ratings.csv")));
    // A rating that is not a number names file and line.
    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "user,item,rating\nu1,i1,4\nu2,i2,great\n").unwrap();
    recs(tmp.path())
        .args(["train", "--model", "mf", "--input"])
        .arg(&bad)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bad.csv:3"));
    // Unknown model name: a usage error listing the registry's names.
    recs(tmp.path())
        .args(["train", "--model", "svdpp", "--input"])
        .arg(&csv)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("'svdpp'")
                .and(predicate::str::contains("bivae"))
                .and(predicate::str::contains("global-mean")),
        );
    // A flag the model does not take: an error listing what it takes, before any loading.
    recs(tmp.path())
        .args(["train", "--model", "bias", "--factors", "10", "--input"])
        .arg(&csv)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("`bias` does not take `factors`")
                .and(predicate::str::contains("epochs")),
        );
    recs(tmp.path())
        .args(["train", "--model", "bivae", "--reg", "0.1", "--input"])
        .arg(&csv)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("`bivae` does not take `reg`"));
    // An out-of-range value names the parameter and its range.
    recs(tmp.path())
        .args(["train", "--model", "mf", "--epochs", "0", "--input"])
        .arg(&csv)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("`epochs` = 0").and(predicate::str::contains("allowed")));
    assert!(!out.exists(), "nothing written on a refused command");
    // Usage errors: zero or negative k, a missing argument.
    for k in ["0", "-3"] {
        recs(tmp.path())
            .args(["recommend", "--model", "m.model", "--user", "u1", "-k", k])
            .assert()
            .code(2);
    }
    recs(tmp.path())
        .args(["train", "--model", "mf"])
        .assert()
        .code(2);
    // Corrupt, truncated and foreign model files.
    recs(tmp.path())
        .args(["train", "--model", "mf", "--epochs", "2", "-q", "--input"])
        .arg(&csv)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let bytes = std::fs::read(&out).unwrap();
    let cut = tmp.path().join("cut.model");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    recs(tmp.path())
        .args(["recommend", "--user", "u1", "--model"])
        .arg(&cut)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cut.model"));
    let foreign = tmp.path().join("foreign.model");
    std::fs::write(&foreign, b"{\"not\": \"a model\"}").unwrap();
    recs(tmp.path())
        .args(["similar", "--item", "i1", "--model"])
        .arg(&foreign)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("foreign.model"));
    // One flipped bit anywhere is refused (the checksum), never a silently wrong answer.
    for at in [bytes.len() - 2, bytes.len() / 2, 9 + 20] {
        let mut b = bytes.clone();
        b[at] ^= 0x04;
        let flipped = tmp.path().join("flipped.model");
        std::fs::write(&flipped, &b).unwrap();
        recs(tmp.path())
            .args(["recommend", "--user", "u1", "--model"])
            .arg(&flipped)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("flipped.model"));
    }
}

#[test]
fn metrics_command_matches_the_fixture() {
    let dir = manifest_dir().join("../../../shared/fixtures/metrics/case-a");
    if !dir.join("truth.csv").is_file() {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "no metrics fixture at {}; CI is set, so this test fails rather than skips",
            dir.display()
        );
        eprintln!("skipping: no metrics fixture beside the checkout");
        return;
    }
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = recs(tmp.path())
        .args(["metrics", "--json", "-k", "10", "--truth"])
        .arg(dir.join("truth.csv"))
        .arg("--pred")
        .arg(dir.join("pred.csv"))
        .arg("--pairs")
        .arg(dir.join("rating_pairs.csv"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let got: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let mut matched = 0;
    for (k, v) in got.as_object().unwrap() {
        if let Some(w) = expected.get(k).and_then(|w| w.as_f64()) {
            let v = v.as_f64().unwrap();
            assert!((v - w).abs() < 1e-9, "{k}: {v} vs reference {w}");
            matched += 1;
        }
    }
    assert!(
        matched >= 8,
        "only {matched} metrics matched the fixture: {got}"
    );
}

#[test]
fn multvae_folds_in_a_new_user_from_items() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = small_csv(tmp.path());
    let model = tmp.path().join("vae.model");
    recs(tmp.path())
        .args([
            "train",
            "--model",
            "multvae",
            "--epochs",
            "60",
            "--hidden",
            "32",
            "--factors",
            "8",
            "--batch-size",
            "16",
            "--lr",
            "0.01",
            "-q",
            "--input",
        ])
        .arg(&csv)
        .arg("--out")
        .arg(&model)
        .assert()
        .success()
        .stdout(predicate::str::contains("ndcg@10"));
    // A newcomer who liked three even items gets mostly even items.
    let out = recs(tmp.path())
        .args([
            "recommend",
            "--user",
            "newcomer",
            "--items",
            "i0,i2,i4",
            "-k",
            "5",
            "--json",
            "--model",
        ])
        .arg(&model)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let even = rows
        .iter()
        .filter(|r| r["item"].as_str().unwrap()[1..].parse::<u32>().unwrap() % 2 == 0)
        .count();
    assert!(even >= 4, "{v}");
    assert!(
        rows.iter()
            .all(|r| !["i0", "i2", "i4"].contains(&r["item"].as_str().unwrap()))
    );
    // An item the model never saw is a clear error.
    recs(tmp.path())
        .args([
            "recommend",
            "--user",
            "newcomer",
            "--items",
            "i0,zzz",
            "--model",
        ])
        .arg(&model)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("item 'zzz'"));
}

/// This crate's directory as cargo gives it to the running test (a test binary built in
/// another checkout and found fresh, as CI's cached builds are, must read this checkout's
/// files), else as it was at compile time.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The README's lists of models by capability are the registry's declarations.
#[test]
fn the_readme_lists_the_models_the_registry_declares() {
    use recs_core::Capability;
    let readme = std::fs::read_to_string(manifest_dir().join("../../README.md")).unwrap();
    let fold = recs_registry::with(Capability::FoldIn).join(", ");
    let mut n = 0;
    for (i, _) in readme.match_indices("models with fold-in: ") {
        let rest = &readme[i + "models with fold-in: ".len()..];
        let list: String = rest[..rest.find(')').unwrap()]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(list, fold, "README's fold-in list");
        n += 1;
    }
    for (i, _) in readme.match_indices("for models with fold-in (") {
        let rest = &readme[i + "for models with fold-in (".len()..];
        assert_eq!(
            &rest[..rest.find(')').unwrap()],
            fold,
            "README's fold-in list"
        );
        n += 1;
    }
    assert!(
        n >= 3,
        "the README names the fold-in models in three places"
    );
}

/// Ids holding a newline or a terminal escape sequence are printed escaped in text output
/// (they cannot forge lines or restyle the terminal) and as they are in JSON.
#[test]
fn control_characters_in_ids_are_escaped_in_text_output() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("odd-ids.csv");
    let mut f = std::fs::File::create(&csv).unwrap();
    writeln!(f, "user,item,rating").unwrap();
    for u in 0..10 {
        writeln!(f, "u{u},a,1\nu{u},b,1").unwrap();
        if u > 0 {
            writeln!(f, "u{u},\"\x1b[31mred\",1\nu{u},\"two\nlines\",1").unwrap();
        }
    }
    drop(f);
    let model = tmp.path().join("knn.recs");
    recs(tmp.path())
        .args([
            "train", "--model", "itemknn", "--quiet", "--split", "none", "--input",
        ])
        .arg(&csv)
        .arg("--out")
        .arg(&model)
        .assert()
        .success();
    let out = recs(tmp.path())
        .args(["recommend", "--user", "u0", "--model"])
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\x1b'), "{text:?}");
    assert_eq!(text.lines().count(), 2, "{text:?}");
    assert!(
        text.contains("\\u{1b}[31mred") && text.contains("two\\nlines"),
        "{text:?}"
    );
    let out = recs(tmp.path())
        .args(["recommend", "--json", "--user", "u0", "--model"])
        .arg(&model)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["item"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"\x1b[31mred") && ids.contains(&"two\nlines"),
        "{ids:?}"
    );
}
