//! End-to-end tests of the `recs` binary against what a hostile user tries, one test per
//! class of hostile command line: a closed standard output, outputs that are not
//! a place for a file, a writer killed during its write and file permissions, negative flag
//! values, splits no metric can be computed on, `--threads 1` reproducibility, and paths
//! recorded in a model file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use assert_cmd::Command;
use predicates::prelude::*;

const BIN: &str = env!("CARGO_BIN_EXE_recs");

fn recs(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir).env("RECS_DATA_DIR", dir.join("data"));
    c
}

/// `n_users` × `n_items` with a rating for about one pair in `1/every`; returns the path.
fn csv(dir: &Path, name: &str, n_users: u32, n_items: u32, every: u64) -> PathBuf {
    let p = dir.join(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
    writeln!(f, "user,item,rating").unwrap();
    let mut s = 7u64;
    for u in 0..n_users {
        for i in 0..n_items {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if (s >> 33) % every == 0 {
                writeln!(f, "u{u},i{i},{}", 1 + (s >> 20) % 5).unwrap();
            }
        }
    }
    p
}

fn train(dir: &Path, model: &str, input: &Path, out: &Path, extra: &[&str]) {
    recs(dir)
        .args(["train", "--model", model, "--quiet", "--input"])
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(extra)
        .assert()
        .success();
}

/// Runs `recs args` with its standard output a pipe whose reading end is closed at once.
fn with_closed_stdout(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut child = std::process::Command::new(BIN)
        .current_dir(dir)
        .env("RECS_DATA_DIR", dir.join("data"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn closed_stdout_ends_quietly_for_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // 3000 items: a top-3000 list is far more than a pipe buffer holds, so the write fails
    // however the reader's close and the writes interleave.
    let big = csv(d, "big.csv", 40, 3000, 12);
    let big_s = big.to_str().unwrap();
    train(d, "mf", &big, &d.join("m.recs"), &["--epochs", "2"]);
    std::fs::write(d.join("truth.csv"), "user,item,rating\nu1,i1,1\nu2,i2,1\n").unwrap();
    std::fs::write(
        d.join("pred.csv"),
        "user,item,prediction\nu1,i1,0.9\nu2,i3,0.5\n",
    )
    .unwrap();
    let runs: &[&[&str]] = &[
        &[
            "recommend",
            "--model",
            "m.recs",
            "--user",
            "u1",
            "-k",
            "3000",
        ],
        &[
            "recommend",
            "--model",
            "m.recs",
            "--user",
            "u1",
            "-k",
            "3000",
            "--json",
        ],
        &["similar", "--model", "m.recs", "--item", "i1", "-k", "3000"],
        &[
            "evaluate",
            "--model",
            "m.recs",
            "--input",
            big_s,
            "-k",
            "1,2,3,4,5,10,20,50",
        ],
        &[
            "train", "--model", "mf", "--epochs", "2", "--input", "big.csv", "--out", "n.recs",
        ],
        &[
            "compare", "--models", "mf,bpr", "--epochs", "2", "-q", "--input", "big.csv",
        ],
        &[
            "metrics",
            "--truth",
            "truth.csv",
            "--pred",
            "pred.csv",
            "-k",
            "1,2",
        ],
    ];
    for args in runs {
        let out = with_closed_stdout(d, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !err.contains("panicked") && !err.contains("error"),
            "{args:?}: {:?}, stderr: {err}",
            out.status
        );
    }
    // train finished its work: the model is written before the summary.
    assert!(d.join("n.recs").is_file());
}

#[test]
fn outputs_that_are_no_place_for_a_file_are_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let input = csv(d, "r.csv", 30, 20, 3);
    let before = std::fs::read(&input).unwrap();
    let refused = |out: &Path, plot: Option<&Path>, says: &str| {
        let mut c = recs(d);
        c.args(["train", "--model", "mf", "-q", "--input"])
            .arg(&input)
            .arg("--out")
            .arg(out);
        if let Some(p) = plot {
            c.arg("--plot").arg(p);
        }
        c.assert()
            .code(1)
            .stdout(predicate::str::contains("trained").not())
            .stderr(predicate::str::contains(says));
    };
    let model = d.join("m.recs");
    refused(d, None, "--out");
    refused(d, None, "is a directory");
    refused(&d.join("no/such/dir/m.recs"), None, "does not exist");
    refused(Path::new("new.recs/"), None, "names a directory");
    // An unwritable --plot is found before training, and no model is written.
    refused(&model, Some(&d.join("nodir/curve.svg")), "--plot");
    assert!(!model.exists(), "nothing is written when --plot is refused");
    refused(&model, Some(&model), "name one file");
    recs(d)
        .args([
            "train",
            "--model",
            "global-mean",
            "-q",
            "--out",
            "gm.recs",
            "--plot",
            "c.svg",
        ])
        .arg("--input")
        .arg(&input)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no curve to draw"));
    assert!(!d.join("gm.recs").exists());
    refused(&model, Some(d), "is a directory");
    // The input file is never the output.
    refused(&input, None, "is the input file");
    refused(&d.join(".").join("r.csv"), None, "is the input file");
    assert_eq!(std::fs::read(&input).unwrap(), before);
    #[cfg(unix)]
    {
        if Path::new("/dev/null").exists() {
            refused(Path::new("/dev/null"), None, "is a device");
            refused(&model, Some(Path::new("/dev/null")), "is a device");
        }
        let fifo = d.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            refused(&fifo, None, "FIFO");
            // Reading a FIFO as a model would wait for a writer forever: refused at once.
            recs(d)
                .args(["recommend", "--user", "u1", "--model"])
                .arg(&fifo)
                .timeout(std::time::Duration::from_secs(20))
                .assert()
                .code(1)
                .stderr(predicate::str::contains("not a regular file"));
        }
        let sock = d.join("sock");
        if let Ok(_l) = std::os::unix::net::UnixListener::bind(&sock) {
            refused(&sock, None, "socket");
        }
        // A directory that takes no new file (not for root, who writes anywhere).
        use std::os::unix::fs::PermissionsExt;
        let ro = d.join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        if std::fs::File::create(ro.join("probe")).is_err() {
            refused(&ro.join("m.recs"), None, "cannot create a file in");
            refused(&model, Some(&ro.join("c.svg")), "--plot");
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // A model file that is a directory is an error naming it.
    recs(d)
        .args(["similar", "--item", "i1", "--model"])
        .arg(d)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is a directory"));
}

#[test]
fn killed_writer_leaves_nothing_and_files_get_umask_permissions() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let input = csv(d, "r.csv", 300, 400, 4);
    let out_dir = d.join("models");
    std::fs::create_dir(&out_dir).unwrap();
    let model = out_dir.join("m.recs");
    // A real kill during the final write: the child is killed as soon as its temporary file
    // appears (a model of some megabytes takes a while to write). Whatever it leaves, the
    // next write into the directory cleans.
    let wide = csv(d, "wide.csv", 600, 4000, 40);
    let mut child = std::process::Command::new(BIN)
        .args([
            "train",
            "--model",
            "mf",
            "-q",
            "--epochs",
            "1",
            "--factors",
            "512",
        ])
        .args(["--split", "none", "--input"])
        .arg(&wide)
        .arg("--out")
        .arg(&model)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Temporary files of ours holding bytes (the empty one `--out`'s check creates and
    // removes before training does not count).
    let ours = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".recs-tmp-"))
            .filter(|e| e.metadata().is_ok_and(|m| m.len() > 0))
            .count()
    };
    let started = std::time::Instant::now();
    let mut killed_mid_write = false;
    while child.try_wait().unwrap().is_none() && started.elapsed().as_secs() < 60 {
        if ours(&out_dir) > 0 {
            let _ = child.kill();
            killed_mid_write = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let _ = child.kill();
    child.wait().unwrap();
    if killed_mid_write {
        assert!(
            ours(&out_dir) >= 1,
            "the killed writer left its temporary file"
        );
    } else {
        eprintln!("note: the writer finished before it could be killed mid-write");
    }
    // A process killed during its write leaves `.recs-tmp-<pid>-…`: one of a process that
    // is gone (a child that has exited) is removed by the next write into that directory.
    let mut gone = std::process::Command::new(BIN)
        .arg("--version")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let stale = out_dir.join(format!(".recs-tmp-{pid}-abcdef"));
    std::fs::write(&stale, b"half a model").unwrap();
    train(
        d,
        "mf",
        &input,
        &model,
        &["--epochs", "2", "--plot", "models/c.svg"],
    );
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["c.svg", "m.recs"], "no temporary file is left");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let plain = d.join("plain");
        std::fs::File::create(&plain).unwrap();
        assert_eq!(
            mode(&model),
            mode(&plain),
            "the umask's permissions, not 0600"
        );
        assert_eq!(mode(&out_dir.join("c.svg")), mode(&plain));
    }
}

#[test]
fn negative_flag_values_reach_the_parameter_check() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let input = csv(d, "r.csv", 30, 20, 3);
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "mf",
            &["--lr", "-0.01"],
            "`learning_rate` = -0.01 is out of range: allowed",
        ),
        (
            "mf",
            &["--reg", "-1"],
            "`reg` = -1 is out of range: allowed",
        ),
        (
            "mf",
            &["--epochs", "-3"],
            "`epochs` = -3 is out of range: allowed",
        ),
        (
            "mf",
            &["--factors", "-8"],
            "`factors` = -8 is out of range: allowed",
        ),
        (
            "bpr",
            &["--threads", "-2"],
            "`threads` = -2 is out of range: allowed",
        ),
        (
            "multvae",
            &["--hidden", "-3,5"],
            "`hidden` = -3 is out of range: allowed",
        ),
        // Not a number at all: the same check, not serde's "invalid type: null".
        (
            "mf",
            &["--lr", "nan"],
            "`learning_rate` = nan is out of range: allowed",
        ),
        (
            "mf",
            &["--reg", "inf"],
            "`reg` = inf is out of range: allowed",
        ),
    ];
    for (model, flags, says) in cases {
        recs(d)
            .args([
                "train", "--model", model, "-q", "--out", "m.recs", "--input",
            ])
            .arg(&input)
            .args(*flags)
            .assert()
            .code(1)
            .stderr(
                predicate::str::contains(*says).and(predicate::str::contains("unexpected").not()),
            );
    }
    recs(d)
        .args([
            "compare", "--models", "mf,bpr", "-q", "--lr", "-1", "--input",
        ])
        .arg(&input)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "`learning_rate` = -1 is out of range",
        ));
    recs(d)
        .args([
            "train", "--model", "mf", "--param", "=3", "--out", "m.recs", "--input",
        ])
        .arg(&input)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not KEY=VALUE"));
    // Counts of results and seeds are usage errors that give the range.
    recs(d)
        .args(["recommend", "--model", "m.recs", "--user", "u1", "-k", "-5"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("1..=1000000"));
    recs(d)
        .args([
            "train", "--model", "mf", "--seed", "-1", "--out", "m.recs", "--input",
        ])
        .arg(&input)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("allowed a whole number"));
}

#[test]
fn splits_without_any_metric_say_why() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // One item: every user's one rating is either in training or in test, never both.
    let one = d.join("one.csv");
    let mut text = String::from("user,item,rating\n");
    for u in 0..30 {
        text.push_str(&format!("u{u},i0,4\n"));
    }
    std::fs::write(&one, text).unwrap();
    let model = d.join("bpr.recs");
    // train writes the model and notes why there is no held-out metric.
    recs(d)
        .args(["train", "--model", "bpr", "-q", "--epochs", "2", "--input"])
        .arg(&one)
        .arg("--out")
        .arg(&model)
        .assert()
        .success()
        .stderr(
            predicate::str::contains("no held-out metric")
                .and(predicate::str::contains("has a training interaction")),
        );
    recs(d)
        .args(["evaluate", "--model"])
        .arg(&model)
        .arg("--input")
        .arg(&one)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("gives no metric"));
    recs(d)
        .args([
            "compare", "--models", "bpr", "--epochs", "2", "-q", "--input",
        ])
        .arg(&one)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no model gives a metric"));
    // A rating model still gives RMSE/MAE, and a note on the missing ranking metrics.
    recs(d)
        .args([
            "compare", "--models", "mf,bpr", "--epochs", "2", "-q", "--input",
        ])
        .arg(&one)
        .assert()
        .success()
        .stdout(predicate::str::contains("rmse"))
        .stderr(predicate::str::contains("mf: no ranking metric"));
}

#[test]
fn a_user_who_saw_every_item_is_told_so() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut text = String::from("user,item,rating\n");
    for u in 0..10 {
        for i in 0..6 {
            if u == 0 || (u + i) % 3 == 0 {
                text.push_str(&format!("u{u},i{i},{}\n", 1 + (u + i) % 5));
            }
        }
    }
    let input = d.join("all.csv");
    std::fs::write(&input, text).unwrap();
    let model = d.join("m.recs");
    train(
        d,
        "mf",
        &input,
        &model,
        &["--split", "none", "--epochs", "2"],
    );
    recs(d)
        .args(["recommend", "--user", "u0", "--model"])
        .arg(&model)
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains(
            "has interacted with every one of the 6 items",
        ));
}

#[test]
fn one_thread_gives_byte_identical_model_files() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let input = csv(d, "r.csv", 40, 30, 3);
    let threaded: Vec<(&str, bool)> = recs_registry::MODELS
        .iter()
        .filter(|e| e.defaults().get("threads").is_some())
        .map(|e| (e.kind(), e.defaults().get("epochs").is_some()))
        .collect();
    assert!(threaded.iter().any(|&(k, _)| k == "bpr"), "{threaded:?}");
    for (kind, has_epochs) in threaded {
        // Models fitted in one pass (ItemKNN, EASE) take no `epochs`.
        let mut args = vec!["--threads", "1", "--seed", "9"];
        if has_epochs {
            args.extend(["--epochs", "3"]);
        }
        let write = |name: &str| {
            let p = d.join(name);
            train(d, kind, &input, &p, &args);
            std::fs::read(p).unwrap()
        };
        assert!(
            write("a.recs") == write("b.recs"),
            "{kind}: --threads 1 differs between runs"
        );
    }
    recs(d)
        .args(["train", "--model", "bpr", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("not bit-reproducible"));
}

#[test]
fn a_model_without_a_gpu_path_refuses_cuda_and_help_lists_each_parameter() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let input = csv(d, "r.csv", 30, 20, 3);
    // The registry's message, which the Python package gives too.
    recs(d)
        .args(["train", "--model", "bpr", "--device", "cuda", "--out", "m.recs", "--input"])
        .arg(&input)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "parameter `device` = cuda is out of range: allowed native or cpu (this model trains on the CPU only)",
        ));
    for device in ["native", "cpu"] {
        recs(d)
            .args([
                "train", "--model", "bpr", "-q", "--epochs", "1", "--device", device,
            ])
            .args(["--out", "m.recs", "--input"])
            .arg(&input)
            .assert()
            .success();
    }
    // Each parameter of the schema with the registry's default and its allowed range.
    let help = recs(d)
        .args(["train", "--model", "als", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for line in [
        "--factors <int>",
        "default 50; allowed 1..=4096",
        "--param alpha=<float>",
        "allowed (0, 1000000]",
        "--param solver=<str>",
        "allowed one of cg, cholesky",
        "--threads <int>",
        "--device <str>",
    ] {
        assert!(help.contains(line), "missing {line:?} in\n{help}");
    }
}

/// Paths recorded in a model file are never followed on their own: a recorded file is read
/// only when passed again and only if it is a regular file (a FIFO there is refused, not
/// waited on); a recorded dataset name that is a path gives no titles and is refused by
/// `evaluate`.
#[test]
fn paths_recorded_in_a_model_are_not_followed() {
    use std::time::Duration;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let input = csv(d, "in.csv", 30, 20, 3);
    train(d, "bpr", &input, &d.join("m.recs"), &["--epochs", "2"]);
    recs(d)
        .args(["evaluate", "--model", "m.recs"])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--input").and(predicate::str::contains("in.csv")));
    recs(d)
        .args(["evaluate", "--model", "m.recs", "--input"])
        .arg(&input)
        .timeout(Duration::from_secs(60))
        .assert()
        .success();
    // A model whose recorded dataset name climbs out of the data directory, to a directory
    // whose `u.item` is a FIFO (reading it would block for ever).
    let l = recs_registry::load(&d.join("m.recs")).unwrap();
    let mut cat = l.catalog.clone();
    cat.seen = l.seen().unwrap();
    let mut extra = l.meta.extra.clone();
    extra["source"] = serde_json::json!({"dataset": "ml-100k/../../evil"});
    recs_registry::save(&*l.model, &cat, extra, &d.join("evil.recs")).unwrap();
    std::fs::create_dir_all(d.join("data/ml-100k")).unwrap();
    std::fs::create_dir_all(d.join("evil")).unwrap();
    #[cfg(unix)]
    {
        let fifo = d.join("evil/u.item");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        recs(d)
            .args([
                "recommend",
                "--model",
                "evil.recs",
                "--user",
                "u1",
                "-k",
                "3",
            ])
            .timeout(Duration::from_secs(60))
            .assert()
            .success();
        // The recorded file replaced by a FIFO: passed again, it is refused, not read.
        std::fs::remove_file(&input).unwrap();
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&input)
                .status()
                .unwrap()
                .success()
        );
        recs(d)
            .args(["evaluate", "--model", "m.recs", "--input"])
            .arg(&input)
            .timeout(Duration::from_secs(60))
            .assert()
            .code(1)
            .stderr(predicate::str::contains("not a regular file"));
    }
    recs(d)
        .args(["evaluate", "--model", "evil.recs"])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("ml-100k/../../evil"));
}
