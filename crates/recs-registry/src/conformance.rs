//! The conformance kit: one generic test body every registered model passes.
//!
//! [`check`] fits the model on small generated data (few epochs, small sizes where the model
//! takes them, one thread), then checks: scores have the right shape and are finite; the
//! batched call equals the per-user one; a wrong buffer length and an unknown user are
//! errors; the same seed gives the same scores; save → load gives identical scores,
//! predictions, item vectors and fold-in scores; `recommend` leaves out seen items; a
//! progress callback that asks to stop is obeyed; a corrupted file is refused. A new model
//! gets all of it by registering: `tests/conformance.rs` runs it for every entry of
//! [`MODELS`](crate::MODELS).

use recs_core::modelfile::Catalog;
use recs_core::{Control, DynModel, EpochReport, ScoreError, TrainData, recommend};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

use recs_core::Capabilities;
use recs_core::schema::Kind;

use crate::{Entry, HyperParams};

/// The schema is the params type's: one spec per serialised field and no other; the
/// registered and documented defaults pass it; every tuning range lies inside the allowed
/// range; `device` is taken by every model (`native`, `cpu`), and `cuda` is refused by a
/// model without a GPU path with the one message.
pub fn check_schema(entry: &dyn Entry) {
    let kind = entry.kind();
    let schema = entry.schema();
    for defaults in [entry.defaults(), entry.type_defaults()] {
        let obj = defaults
            .as_object()
            .unwrap_or_else(|| panic!("{kind}: params are not a JSON object"));
        let mut fields: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut specs: Vec<&str> = schema.iter().map(|s| s.name).collect();
        fields.sort_unstable();
        specs.sort_unstable();
        assert_eq!(fields, specs, "{kind}: schema and params fields differ");
        for spec in schema {
            spec.check(&obj[spec.name])
                .unwrap_or_else(|e| panic!("{kind}: a default is out of its range: {e}"));
        }
    }
    for spec in schema {
        if let Some(t) = spec.tune {
            assert!(
                t.low < t.high,
                "{kind}: `{}` tunes an empty range",
                spec.name
            );
            for x in [t.low, t.high] {
                let v = match spec.kind {
                    Kind::Int { .. } | Kind::OptionalInt { .. } => serde_json::json!(x as u64),
                    _ => serde_json::json!(x),
                };
                spec.check(&v).unwrap_or_else(|e| {
                    panic!(
                        "{kind}: `{}`'s tuning range leaves its allowed range: {e}",
                        spec.name
                    )
                });
            }
        }
    }
    for d in ["native", "cpu"] {
        entry
            .params_for(&HyperParams::new().with("device", d), false)
            .unwrap_or_else(|e| panic!("{kind}: device {d} refused: {e}"));
    }
    let gpu = matches!(
        entry.spec("device").map(|s| s.kind),
        Some(Kind::Device { gpu: true })
    );
    if !gpu {
        let e = entry
            .params_for(&HyperParams::new().with("device", "cuda"), false)
            .expect_err("a CPU-only model took device cuda")
            .to_string();
        assert_eq!(
            e,
            "parameter `device` = cuda is out of range: allowed native or cpu (this model trains on the CPU only)",
            "{kind}"
        );
    }
}

/// Small seeded interaction data: `n_users × n_items`, about a quarter of the cells rated
/// 1–5, every user and item with at least two interactions.
pub fn small_data(n_users: usize, n_items: usize, seed: u64) -> CsrMatrix {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let (mut u, mut i, mut v) = (Vec::new(), Vec::new(), Vec::new());
    for user in 0..n_users {
        for item in 0..n_items {
            let forced = item == user % n_items || item == (user * 7 + 3) % n_items;
            if forced || next() % 4 == 0 {
                u.push(user as u32);
                i.push(item as u32);
                v.push((1 + next() % 5) as f32);
            }
        }
    }
    CsrMatrix::from_triplets(n_users, n_items, &u, &i, &v, DuplicatePolicy::KeepLast)
        .expect("generated triplets are in range")
}

/// The small settings the kit trains with: a few epochs, small sizes, one thread.
pub fn small_params(entry: &dyn Entry, seed: u64) -> serde_json::Value {
    let hp = HyperParams::new()
        .with("factors", 4)
        .with("epochs", 3)
        .with("batch_size", 8)
        .with("hidden", vec![8])
        .with("hidden_dim", 8)
        .with("threads", 1)
        .with("seed", seed);
    entry
        .params_for(&hp, true)
        .unwrap_or_else(|e| panic!("{}: small params: {e}", entry.kind()))
}

fn scores(m: &dyn DynModel) -> Vec<f32> {
    let users: Vec<u32> = (0..m.n_users() as u32).collect();
    let mut out = vec![0.0; users.len() * m.n_items()];
    m.score_users(&users, &mut out)
        .unwrap_or_else(|e| panic!("{}: score_users: {e}", m.kind()));
    out
}

fn predictions(m: &dyn DynModel) -> Option<Vec<f32>> {
    let p = m.rating_predictor()?;
    let mut out = Vec::new();
    for u in 0..m.n_users() as u32 + 1 {
        for i in 0..m.n_items() as u32 + 1 {
            out.push(p.predict(u, i));
        }
    }
    Some(out)
}

fn fold_in(m: &dyn DynModel, items: &[u32]) -> Option<Vec<f32>> {
    let f = m.fold_in()?;
    let mut out = vec![0.0; m.n_items()];
    f.score_items(items, &mut out)
        .unwrap_or_else(|e| panic!("{}: fold-in: {e}", m.kind()));
    Some(out)
}

/// Runs the whole kit on `entry`; panics with the model's name and what failed.
pub fn check(entry: &dyn Entry) {
    let kind = entry.kind();
    let data = small_data(40, 24, 7);
    let params = small_params(entry, 11);
    let train = TrainData::new(&data);
    let fit = |p: &serde_json::Value| {
        entry
            .fit(p, &train, &mut recs_core::NoProgress)
            .unwrap_or_else(|e| panic!("{kind}: fit: {e}"))
    };
    check_schema(entry);
    let m = fit(&params);
    assert_eq!(m.kind(), kind);
    // What the fitted model offers is what its entry declares.
    let declared = entry.capabilities();
    assert_eq!(m.capabilities(), declared, "{kind}: capabilities");
    assert_eq!(
        Capabilities::offered(&*m, declared),
        declared,
        "{kind}: a fitted model offers other capabilities than its entry declares"
    );
    assert_eq!((m.n_users(), m.n_items()), (40, 24), "{kind}: shape");
    check_seam_additions(entry, &*m, &data, &params);

    // Scores: shape, finite, batched = per user, errors on bad calls.
    let s = scores(&*m);
    assert!(s.iter().all(|v| v.is_finite()), "{kind}: non-finite score");
    for u in [0u32, 17, 39] {
        let mut row = vec![0.0; 24];
        m.score_user(u, &mut row).unwrap();
        // A batched path may sum in another order (one matrix product): equal to rounding.
        for (a, b) in row.iter().zip(&s[u as usize * 24..(u as usize + 1) * 24]) {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + a.abs()),
                "{kind}: user {u}: single {a} vs batch {b}"
            );
        }
    }
    let mut short = vec![0.0; 23];
    assert!(
        m.score_user(0, &mut short).is_err(),
        "{kind}: short buffer accepted"
    );
    assert!(
        matches!(
            m.score_users(&[0, 1], &mut [0.0; 47]),
            Err(ScoreError::BufferLength { .. })
        ),
        "{kind}: wrong batch buffer accepted"
    );
    assert!(
        m.score_user(40, &mut [0.0; 24]).is_err(),
        "{kind}: unknown user scored"
    );
    if let Some(p) = predictions(&*m) {
        assert!(
            p.iter().all(|v| v.is_finite()),
            "{kind}: non-finite prediction"
        );
    }

    // Same seed, same scores.
    assert_eq!(
        scores(&*fit(&params)),
        s,
        "{kind}: same seed gave other scores"
    );

    // recommend leaves out seen items.
    for u in 0..40u32 {
        let seen = data.row(u as usize).indices;
        let top = recommend(m.as_scorer(), u, 24, seen).unwrap();
        assert_eq!(top.len(), 24 - seen.len(), "{kind}: user {u}'s list");
        assert!(
            top.iter().all(|(i, _)| !seen.contains(i)),
            "{kind}: seen item recommended"
        );
        assert!(
            top.windows(2).all(|w| w[0].1 >= w[1].1),
            "{kind}: not sorted"
        );
    }

    // Save and load through the registry: identical behaviour.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{kind}.recs"));
    let catalog = Catalog {
        user_ids: Some((0..40).map(|u| format!("u{u}")).collect()),
        item_ids: Some((0..24).map(|i| format!("i{i}")).collect()),
        seen: Some(data.binarize()),
    };
    crate::save(
        &*m,
        &catalog,
        serde_json::json!({"by": "conformance"}),
        &path,
    )
    .unwrap_or_else(|e| panic!("{kind}: save: {e}"));
    let loaded = crate::load(&path).unwrap_or_else(|e| panic!("{kind}: load: {e}"));
    let l = &*loaded.model;
    assert_eq!(l.kind(), kind);
    assert_eq!(
        l.params_json(),
        m.params_json(),
        "{kind}: params after load"
    );
    assert_eq!(scores(l), s, "{kind}: scores after load");
    assert_eq!(
        predictions(l),
        predictions(&*m),
        "{kind}: predictions after load"
    );
    assert_eq!(
        l.item_vectors().map(|v| (v.data.to_vec(), v.dim)),
        m.item_vectors().map(|v| (v.data.to_vec(), v.dim)),
        "{kind}: item vectors after load"
    );
    assert_eq!(
        l.user_vectors().map(|v| (v.data.to_vec(), v.dim)),
        m.user_vectors().map(|v| (v.data.to_vec(), v.dim)),
        "{kind}: user vectors after load"
    );
    let items = [1u32, 5, 9, 20];
    assert_eq!(
        fold_in(l, &items),
        fold_in(&*m, &items),
        "{kind}: fold-in after load"
    );
    if let Some(f) = fold_in(&*m, &items) {
        assert!(
            f.iter().all(|v| v.is_finite()),
            "{kind}: non-finite fold-in"
        );
    }
    assert_eq!(loaded.catalog.user_ids, catalog.user_ids);
    assert_eq!(loaded.catalog.item_ids, catalog.item_ids);
    assert_eq!(
        loaded.seen().unwrap().map(|s| s.indices().to_vec()),
        Some(data.indices().to_vec())
    );
    for u in [0u32, 39] {
        assert_eq!(
            loaded.seen_row(u).unwrap().as_deref(),
            Some(data.row(u as usize).indices)
        );
    }
    assert_eq!(loaded.meta.extra["by"], "conformance");
    if let Some(v) = m.item_vectors() {
        assert_eq!(v.data.len(), 24 * v.dim, "{kind}: item vectors' shape");
    }
    if let Some(v) = m.user_vectors() {
        assert_eq!(
            v.data.len(),
            m.n_users() * v.dim,
            "{kind}: user vectors' shape"
        );
    }

    // A flipped byte anywhere in the tensors is refused.
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 0x01;
    let bad = dir.path().join("bad.recs");
    std::fs::write(&bad, &bytes).unwrap();
    assert!(crate::load(&bad).is_err(), "{kind}: corrupted file loaded");

    // Asking to stop after the first epoch is obeyed (models with epochs report them).
    let mut reports: Vec<EpochReport> = Vec::new();
    let mut stop = |r: &EpochReport| {
        reports.push(r.clone());
        Control::Stop
    };
    let stopped = entry
        .fit(&params, &train, &mut stop)
        .unwrap_or_else(|e| panic!("{kind}: fit with stop: {e}"));
    assert!(reports.len() <= 1, "{kind}: trained on after Control::Stop");
    assert!(scores(&*stopped).iter().all(|v| v.is_finite()));
}

/// The seam's optional parts, each as the entry declares: times in the training data change
/// nothing for a model that is not time-aware; fold-in from rated items checks its lengths
/// and, with all-ones values, agrees with fold-in from the items alone for a model that
/// ignores values; a similarity row is finite, full length, and refuses a short buffer or an
/// unknown item; a row solve is finite and deterministic, and refuses mismatched lengths.
fn check_seam_additions(
    entry: &dyn Entry,
    m: &dyn DynModel,
    data: &CsrMatrix,
    params: &serde_json::Value,
) {
    let kind = entry.kind();
    let declared = entry.capabilities();
    if !declared.time_aware {
        let times: Vec<i64> = (0..data.nnz() as i64).map(|t| 1_000_000 + 60 * t).collect();
        let timed = TrainData::new(data)
            .with_timestamps(&times)
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let m2 = entry
            .fit(params, &timed, &mut recs_core::NoProgress)
            .unwrap_or_else(|e| panic!("{kind}: fit with times: {e}"));
        assert_eq!(
            scores(m),
            scores(&*m2),
            "{kind}: times changed a model that ignores them"
        );
    }
    assert!(
        TrainData::new(data).with_timestamps(&[1, 2]).is_err(),
        "{kind}: a wrong number of times accepted"
    );
    let row = data.row(3);
    let (items, values) = (row.indices.to_vec(), row.values.to_vec());
    if let Some(f) = m.fold_in() {
        let mut a = vec![0.0; m.n_items()];
        let mut b = vec![0.0; m.n_items()];
        assert!(
            f.score_rated(&items, &values[1..], None, &mut a).is_err(),
            "{kind}: fold-in with fewer values than items accepted"
        );
        f.score_rated(&items, &values, None, &mut a)
            .unwrap_or_else(|e| panic!("{kind}: rated fold-in: {e}"));
        assert!(
            a.iter().all(|v| v.is_finite()),
            "{kind}: rated fold-in not finite"
        );
        let ones = vec![1.0; items.len()];
        f.score_rated(&items, &ones, None, &mut a).unwrap();
        f.score_items(&items, &mut b).unwrap();
        if !declared.rating_prediction {
            assert_eq!(a, b, "{kind}: all-ones rated fold-in differs from fold-in");
        }
    }
    if let Some(s) = m.similar_items() {
        let mut r = vec![0.0; m.n_items()];
        s.similarity_row(2, &mut r)
            .unwrap_or_else(|e| panic!("{kind}: similarity row: {e}"));
        assert!(
            r.iter().all(|v| v.is_finite()),
            "{kind}: similarity not finite"
        );
        let mut short = vec![0.0; m.n_items() - 1];
        assert!(
            s.similarity_row(2, &mut short).is_err(),
            "{kind}: short similarity buffer accepted"
        );
        assert!(
            s.similarity_row(m.n_items() as u32, &mut r).is_err(),
            "{kind}: an unknown item accepted"
        );
    }
    if let Some(rs) = m.row_solver() {
        let mut a = vec![0.0; rs.dim()];
        let mut b = vec![0.0; rs.dim()];
        rs.solve_user(&items, &values, &mut a)
            .unwrap_or_else(|e| panic!("{kind}: solve_user: {e}"));
        rs.solve_user(&items, &values, &mut b).unwrap();
        assert!(
            a.iter().all(|v| v.is_finite()),
            "{kind}: solved row not finite"
        );
        assert_eq!(a, b, "{kind}: a row solve is not deterministic");
        let col = data.transpose();
        let c = col.row(5);
        rs.solve_item(c.indices, c.values, &mut a)
            .unwrap_or_else(|e| panic!("{kind}: solve_item: {e}"));
        assert!(
            a.iter().all(|v| v.is_finite()),
            "{kind}: solved item not finite"
        );
        assert!(
            rs.solve_user(&items, &values[1..], &mut b).is_err(),
            "{kind}: a row solve with fewer values than items accepted"
        );
    }
}
