//! Model files: round trips, atomic writes, and clear errors for bad files.

mod common;

use common::clustered;
use recs_core::{ModelError, Recommender, Scorer, TrainData, load_path, save_path};
use recs_vae::{BiVae, BiVaeParams, Engine, NoProgress};

fn trained() -> (BiVae, recs_sparse::CsrMatrix) {
    let (train, _) = clustered(30, 25, 3, 11);
    let p = BiVaeParams {
        factors: 5,
        hidden: vec![12, 7],
        epochs: 3,
        batch_size: 8,
        learning_rate: 0.01,
        seed: 3,
        ..Default::default()
    };
    (
        BiVae::fit_on(
            &p,
            &TrainData::new(&train),
            &Engine::Native,
            &mut NoProgress,
        )
        .unwrap(),
        train,
    )
}

fn scores(m: &BiVae) -> Vec<f32> {
    let users: Vec<u32> = (0..m.n_users() as u32).collect();
    let mut out = vec![0.0; users.len() * m.n_items()];
    m.score_users(&users, &mut out).unwrap();
    out
}

#[test]
fn a_saved_model_loads_with_identical_scores() {
    let (m, train) = trained();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    save_path(&m, &path).unwrap();
    let back: BiVae = load_path(&path).unwrap();
    assert_eq!(scores(&back), scores(&m));
    assert_eq!(back.user_embeddings(), m.user_embeddings());
    assert_eq!(back.item_embeddings(), m.item_embeddings());
    assert_eq!(back.params(), m.params());
    assert_eq!(back.epochs_trained(), 3);
    // The encoders came back too.
    assert_eq!(
        back.embed_users(&train).unwrap(),
        m.embed_users(&train).unwrap()
    );
    // Saving again over the same path replaces the file and leaves nothing else behind.
    save_path(&back, &path).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("model.safetensors")]);
}

fn expect_bad(path: &std::path::Path, needle: &str) {
    match load_path::<BiVae>(path) {
        Err(e @ ModelError::File(_)) => {
            let msg = e.to_string();
            assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
            assert!(
                msg.contains(&path.display().to_string()),
                "{msg:?} lacks the path"
            );
        }
        Err(e) => panic!("expected a model-file error, got {e}"),
        Ok(_) => panic!("loaded a bad file"),
    }
}

#[test]
fn bad_files_are_clear_errors() {
    let (m, _) = trained();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    save_path(&m, &good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let write = |name: &str, b: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, b).unwrap();
        p
    };

    expect_bad(&write("truncated", &bytes[..bytes.len() / 2]), "truncated");
    expect_bad(&write("empty", &[]), "truncated");
    expect_bad(
        &write("text", b"user\titem\trating\n1\t2\t3\n"),
        "not a safetensors file",
    );

    // A valid safetensors file from elsewhere, without our metadata.
    let data = [0u8; 8];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &data).unwrap();
    let foreign = safetensors::serialize([("w", view)], None).unwrap();
    expect_bad(&write("foreign", &foreign), "not a model saved by recs");

    // Edits of the JSON metadata in the header, each the same length so that the
    // safetensors header stays consistent: the checksum catches every one.
    let edit = |from: &str, to: &str| -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let at = bytes
            .windows(from.len())
            .position(|w| w == from.as_bytes())
            .unwrap_or_else(|| panic!("{from} not in the header"));
        let mut b = bytes.clone();
        b[at..at + to.len()].copy_from_slice(to.as_bytes());
        b
    };
    // Another model kind.
    let other = edit(r#"\"model\":\"bivae\""#, r#"\"model\":\"autor\""#);
    expect_bad(&write("other-kind", &other), "checksum mismatch");
    // Params that do not match the tensors.
    expect_bad(
        &write(
            "wrong-factors",
            &edit(r#"\"factors\":5"#, r#"\"factors\":4"#),
        ),
        "checksum mismatch",
    );
    // Corrupt metadata JSON.
    let broken = edit(r#"\"format_version\":2"#, r#"\"format_version\":x"#);
    expect_bad(&write("bad-json", &broken), "metadata");

    match load_path::<BiVae>(&dir.path().join("missing")) {
        Err(ModelError::File(recs_core::ModelFileError::Io { path, .. })) => {
            assert!(path.ends_with("missing"))
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
}
