//! End-to-end tests of the classes of hostile input files, one per class: quoting and the
//! byte-order mark, header detection, a column given twice, repeated pairs, values far
//! outside the data's range, Parquet input, `recs metrics` on repeated and headerless rows,
//! and damaged files (an error naming the file, never a panic).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use assert_cmd::Command;
use predicates::prelude::*;

fn recs(data_dir: &Path) -> Command {
    let mut c = Command::cargo_bin("recs").unwrap();
    c.env("RECS_DATA_DIR", data_dir);
    c
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
    p
}

/// Rows of a small rating file: 30 users × 20 items, ids `u0..`, `i0..`, ratings 1–5.
fn rows() -> Vec<(String, String, f32)> {
    let mut v = Vec::new();
    for u in 0..30u32 {
        for i in 0..20u32 {
            if (u * 7 + i * 3) % 4 != 0 {
                v.push((format!("u{u}"), format!("i{i}"), (1 + (u + i) % 5) as f32));
            }
        }
    }
    v
}

fn csv_text(header: bool) -> String {
    let mut s = String::new();
    if header {
        s.push_str("user,item,rating\n");
    }
    for (u, i, r) in rows() {
        s.push_str(&format!("{u},{i},{r}\n"));
    }
    s
}

/// `recs train --split none` on `input` with `extra` flags; returns the assert.
fn train(dir: &Path, input: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    let out = dir.join("m.recs");
    let mut c = recs(&dir.join("data"));
    c.args([
        "train",
        "--model",
        "mf",
        "--epochs",
        "2",
        "--factors",
        "4",
        "--split",
        "none",
        "--quiet",
        "--input",
    ])
    .arg(input)
    .arg("--out")
    .arg(&out)
    .args(extra);
    c.assert()
}

fn no_panic() -> impl Predicate<str> {
    predicate::str::contains("panicked").not()
}

#[test]
fn quoted_fields_bom_and_crlf_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::from("\u{feff}user,item,rating\r\n");
    for (u, i, r) in rows() {
        text.push_str(&format!("\"{u}\",\"{i}\",\"{r}\"\r\n"));
    }
    let p = write(tmp.path(), "q.csv", text.as_bytes());
    train(
        tmp.path(),
        &p,
        &[
            "--user-col",
            "user",
            "--item-col",
            "item",
            "--rating-col",
            "rating",
        ],
    )
    .success()
    .stdout(predicate::str::contains(format!(
        "on {} interactions (30 users",
        rows().len()
    )));
    // The first user is `u0`, not a phantom "\u{feff}u0".
    recs(&tmp.path().join("data"))
        .args(["recommend", "--model"])
        .arg(tmp.path().join("m.recs"))
        .args(["--user", "u0", "-k", "3"])
        .assert()
        .success();
}

#[test]
fn a_first_row_of_numbers_is_data_unless_header_is_given() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(
        tmp.path(),
        "n.tsv",
        b"196\t242\t3\n186\t302\t3\n22\t377\t1\n196\t377\t4\n",
    );
    train(tmp.path(), &p, &["--sep", "\\t"])
        .success()
        .stdout(predicate::str::contains("on 4 interactions"));
    train(tmp.path(), &p, &["--sep", "\\t", "--header"])
        .success()
        .stdout(predicate::str::contains("on 3 interactions"));
    let h = write(tmp.path(), "h.csv", csv_text(true).as_bytes());
    train(tmp.path(), &h, &[])
        .success()
        .stdout(predicate::str::contains(format!(
            "on {} interactions",
            rows().len()
        )));
    train(tmp.path(), &h, &["--no-header"]).failure().stderr(
        predicate::str::contains("h.csv:1")
            .and(predicate::str::contains("'rating' is not a number")),
    );
}

#[test]
fn ml100k_u_data_keeps_its_first_rating() {
    let Some(dir) = recs_data::registry::require("ml-100k") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    train(tmp.path(), &dir.join("u.data"), &["--sep", "\\t"])
        .success()
        .stdout(predicate::str::contains(
            "on 100000 interactions (943 users × 1682 items)",
        ));
}

#[test]
fn a_column_given_twice_names_both_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(tmp.path(), "r.csv", csv_text(true).as_bytes());
    train(tmp.path(), &p, &["--item-col", "0"]).code(1).stderr(
        predicate::str::contains("--item-col 0").and(predicate::str::contains("--user-col 0")),
    );
    train(tmp.path(), &p, &["--item-col", "user"])
        .code(1)
        .stderr(
            predicate::str::contains("r.csv:1").and(predicate::str::contains(
                "the user column and the item column",
            )),
        );
}

#[test]
fn repeated_pairs_follow_the_policy_and_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = csv_text(true);
    text.push_str("u0,i1,5\nu0,i1,1\nu1,i1,2\n");
    let p = write(tmp.path(), "d.csv", text.as_bytes());
    let n = rows().len();
    train(tmp.path(), &p, &[])
        .success()
        .stdout(predicate::str::contains(format!("on {n} interactions")))
        .stderr(
            predicate::str::contains(
                "2 (user, item) pairs appear on more than one row (3 extra rows",
            )
            .and(predicate::str::contains("--duplicates last")),
        );
    train(tmp.path(), &p, &["--duplicates", "sum"])
        .success()
        .stderr(predicate::str::contains("--duplicates sum"));
    train(tmp.path(), &p, &["--duplicates", "error"])
        .code(1)
        .stderr(
            predicate::str::contains(format!("d.csv:{}", n + 2))
                .and(predicate::str::contains("d.csv:2 (")),
        );
    train(tmp.path(), &p, &["--duplicates", "max"])
        .code(2)
        .stderr(predicate::str::contains("sum").and(predicate::str::contains("first")));
}

#[test]
fn a_value_far_outside_the_range_is_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = csv_text(true);
    text.push_str("u3,i0,4e9\n");
    let p = write(tmp.path(), "o.csv", text.as_bytes());
    let line = rows().len() + 2;
    // Training on it may diverge; either way the warning names the line first.
    recs(&tmp.path().join("data"))
        .args([
            "train", "--model", "bpr", "--epochs", "1", "--split", "none", "--quiet", "--input",
        ])
        .arg(&p)
        .arg("--out")
        .arg(tmp.path().join("b.recs"))
        .assert()
        .stderr(
            predicate::str::contains(format!(
                "warning: {}:{line}: rating 4000000000",
                p.display()
            ))
            .and(no_panic()),
        );
}

fn write_parquet(path: &Path, int_ids: bool) {
    use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
    let r = rows();
    let ids = |f: &dyn Fn(&(String, String, f32)) -> &str| -> ArrayRef {
        if int_ids {
            Arc::new(Int64Array::from(
                r.iter()
                    .map(|x| f(x)[1..].parse::<i64>().unwrap())
                    .collect::<Vec<_>>(),
            ))
        } else {
            Arc::new(StringArray::from(
                r.iter().map(|x| f(x).to_string()).collect::<Vec<_>>(),
            ))
        }
    };
    let batch = RecordBatch::try_from_iter([
        (
            "score",
            Arc::new(Float64Array::from(
                r.iter().map(|x| x.2 as f64).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        ("userId", ids(&|x| x.0.as_str())),
        ("movieId", ids(&|x| x.1.as_str())),
    ])
    .unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_size(100)
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn parquet_input_gives_the_same_interactions_as_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let pq = tmp.path().join("r.parquet");
    write_parquet(&pq, false);
    let cols = [
        "--user-col",
        "userId",
        "--item-col",
        "movieId",
        "--rating-col",
        "score",
    ];
    let expect = format!("on {} interactions (30 users × 20 items)", rows().len());
    train(tmp.path(), &pq, &cols)
        .success()
        .stdout(predicate::str::contains(expect.as_str()));
    // By position, integer ids, the format named by a flag.
    let pi = tmp.path().join("ints.bin");
    write_parquet(&pi, true);
    train(
        tmp.path(),
        &pi,
        &[
            "--input-format",
            "parquet",
            "--user-col",
            "1",
            "--item-col",
            "2",
            "--rating-col",
            "0",
        ],
    )
    .success()
    .stdout(predicate::str::contains(expect.as_str()));
    recs(&tmp.path().join("data"))
        .args(["recommend", "--model"])
        .arg(tmp.path().join("m.recs"))
        .args(["--user", "7", "-k", "2"])
        .assert()
        .success();
    train(tmp.path(), &pq, &["--user-col", "uid"])
        .code(1)
        .stderr(
            predicate::str::contains("r.parquet")
                .and(predicate::str::contains("columns: score, userId, movieId")),
        );
}

#[test]
fn damaged_files_are_errors_naming_the_file_never_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let pq = tmp.path().join("r.parquet");
    write_parquet(&pq, false);
    let mut bytes = std::fs::read(&pq).unwrap();
    let n = bytes.len();
    for b in &mut bytes[n - 60..n - 8] {
        *b ^= 0x5a;
    }
    let bad = write(tmp.path(), "bad.parquet", &bytes);
    train(
        tmp.path(),
        &bad,
        &[
            "--user-col",
            "userId",
            "--item-col",
            "movieId",
            "--rating-col",
            "score",
        ],
    )
    .code(1)
    .stderr(predicate::str::contains("bad.parquet").and(no_panic()));
    let cut = write(
        tmp.path(),
        "cut.parquet",
        &std::fs::read(&pq).unwrap()[..n / 2],
    );
    train(tmp.path(), &cut, &[]).code(1).stderr(
        predicate::str::contains("cut.parquet: not a readable Parquet file").and(no_panic()),
    );
    let open_quote = write(
        tmp.path(),
        "q.csv",
        b"user,item,rating\nu1,\"i1,5\nu2,i2,3\n",
    );
    train(tmp.path(), &open_quote, &[])
        .code(1)
        .stderr(predicate::str::contains("q.csv:2").and(no_panic()));
    let utf16 = write(tmp.path(), "w.csv", b"\xff\xfeu\0,\0i\0");
    train(tmp.path(), &utf16, &[])
        .code(1)
        .stderr(predicate::str::contains("w.csv:1").and(predicate::str::contains("UTF-16")));
}

#[test]
fn metrics_count_a_repeated_prediction_once_and_keep_a_headerless_truth_row() {
    let tmp = tempfile::tempdir().unwrap();
    let truth = write(tmp.path(), "truth.csv", b"1,10,5\n2,20,4\n");
    let pred = write(
        tmp.path(),
        "pred.csv",
        b"userID,itemID,prediction\n1,10,0.9\n1,10,0.8\n1,10,0.7\n1,11,0.6\n2,20,0.9\n2,20,0.8\n",
    );
    recs(tmp.path())
        .args(["metrics", "--truth"])
        .arg(&truth)
        .arg("--pred")
        .arg(&pred)
        .args(["-k", "5", "--json"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("\"map@5\": 1.0,")
                .and(predicate::str::contains("\"recall@5\": 1.0")),
        );
}
