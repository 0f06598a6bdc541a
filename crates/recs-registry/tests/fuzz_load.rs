//! Fuzzing `recs_registry::load` with real saved models: every registered model is trained
//! small, saved with its catalogue (ids, seen items), and its file mutated (tensor bytes,
//! shapes, dtypes, names, metadata values such as the params), then **resealed** with a
//! recomputed checksum so that the mutation reaches the model's own load checks. Whatever
//! the file, loading and then using the model (scores, recommendations, predictions, item
//! vectors, fold-in, seen rows) gives `Ok` or an error, never a panic, and allocates
//! nothing far larger than the file (a global allocator records any single allocation over
//! `64 × file length + 1 MiB`). `PROPTEST_CASES` raises the case count (default 400).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use proptest::prelude::*;
use recs_core::modelfile::{self, Catalog};
use recs_core::{TrainData, recommend};
use recs_registry::{MODELS, conformance};
use serde_json::{Value, json};

struct Guard;

thread_local! {
    static BUDGET: Cell<usize> = const { Cell::new(0) };
    static OVER: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let size = layout.size();
        let budget = BUDGET.try_with(Cell::get).unwrap_or(0);
        if budget != 0 && size > budget {
            let _ = OVER.try_with(|o| o.set(o.get().max(size)));
            if size > 1 << 30 {
                return std::ptr::null_mut();
            }
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GUARD: Guard = Guard;

/// One small saved model file of every registered kind.
fn files() -> &'static [(&'static str, Vec<u8>)] {
    static FILES: std::sync::OnceLock<Vec<(&'static str, Vec<u8>)>> = std::sync::OnceLock::new();
    FILES.get_or_init(|| {
        let data = conformance::small_data(12, 9, 3);
        let dir = tempfile::tempdir().unwrap();
        MODELS
            .iter()
            .map(|e| {
                let params = conformance::small_params(*e, 5);
                let m = e
                    .fit(&params, &TrainData::new(&data), &mut recs_core::NoProgress)
                    .unwrap();
                let cat = Catalog {
                    user_ids: Some((0..12).map(|u| format!("u{u}")).collect()),
                    item_ids: Some((0..9).map(|i| format!("i{i}")).collect()),
                    seen: Some(data.binarize()),
                };
                let p = dir.path().join(e.kind());
                recs_registry::save(&*m, &cat, json!({"note": "fuzz"}), &p).unwrap();
                (e.kind(), std::fs::read(&p).unwrap())
            })
            .collect()
    })
}

/// Loads and uses the model in every way a front-end does.
fn exercise(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.recs");
    std::fs::write(&p, bytes).unwrap();
    let len = bytes.len();
    OVER.with(|o| o.set(0));
    BUDGET.with(|b| b.set(64 * len + (1 << 20)));
    if let Ok(l) = recs_registry::load(&p) {
        let m = &*l.model;
        let (nu, ni) = (m.n_users(), m.n_items());
        let _ = l.seen();
        let seen = l.seen_row(0).ok().flatten().unwrap_or_default();
        let _ = recommend(m.as_scorer(), 0, 5, &seen);
        let _ = recommend(m.as_scorer(), nu as u32, 5, &[]);
        // Buffers a front-end sizes by the model's item count. A global-mean model records
        // its sizes as facts that no tensor bounds (anything up to 2^32), so its buffers
        // are sized by the file instead; every other model's sizes are tensor shapes.
        let ni = if m.kind() == "global-mean" {
            ni.min(len)
        } else {
            ni
        };
        let mut out = vec![0.0f32; 2 * ni];
        let _ = m.score_users(&[0, nu.saturating_sub(1) as u32], &mut out);
        if let Some(r) = m.rating_predictor() {
            let _ = r.predict(0, 0);
            let _ = r.predict(nu as u32, ni as u32);
        }
        if let Some(v) = m.item_vectors() {
            let _ = recs_core::ranking::similar_by_cosine(v.data, v.dim, 0, 5);
        }
        if let Some(f) = m.fold_in() {
            let mut s = vec![0.0f32; ni];
            let _ = f.score_items(&[0, 1], &mut s);
            let _ = f.score_items(&[ni as u32], &mut s);
        }
    }
    BUDGET.with(|b| b.set(0));
    let over = OVER.with(Cell::get);
    assert!(
        over == 0,
        "an allocation of {over} bytes for a {len}-byte file"
    );
}

#[derive(Debug, Clone)]
enum Mutation {
    Shape(usize, Vec<u64>),
    Dtype(usize, &'static str),
    Drop(usize),
    Word(usize, u64, bool),
    Meta(usize, Value),
}

fn nasty_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        0u64..40,
        Just(u32::MAX as u64),
        Just(1 << 40),
        Just(u64::MAX),
        any::<u64>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let value = prop_oneof![
        nasty_u64().prop_map(|v| json!(v)),
        Just(json!(-1)),
        Just(json!(0.0)),
        Just(json!(1e30)),
        Just(json!("x")),
        Just(json!(null)),
        Just(json!([])),
    ];
    prop_oneof![
        (any::<usize>(), prop::collection::vec(nasty_u64(), 0..4))
            .prop_map(|(i, s)| Mutation::Shape(i, s)),
        (
            any::<usize>(),
            prop::sample::select(vec!["F32", "U32", "U64", "U8", "F16"])
        )
            .prop_map(|(i, d)| Mutation::Dtype(i, d)),
        any::<usize>().prop_map(Mutation::Drop),
        (any::<usize>(), nasty_u64(), any::<bool>()).prop_map(|(p, v, w)| Mutation::Word(p, v, w)),
        (any::<usize>(), value).prop_map(|(i, v)| Mutation::Meta(i, v)),
    ]
}

fn leaves(v: &mut Value) -> Vec<&mut Value> {
    match v {
        Value::Object(o) => o.values_mut().flat_map(leaves).collect(),
        Value::Array(a) => a.iter_mut().flat_map(leaves).collect(),
        leaf => vec![leaf],
    }
}

fn mutate(good: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut head: serde_json::Map<String, Value> = serde_json::from_slice(&good[8..8 + n]).unwrap();
    let mut data = good[8 + n..].to_vec();
    let mut meta: Value =
        serde_json::from_str(head["__metadata__"][modelfile::META_KEY].as_str().unwrap()).unwrap();
    for m in muts {
        let names: Vec<String> = head
            .keys()
            .filter(|k| *k != "__metadata__")
            .cloned()
            .collect();
        let pick = |i: usize| names.get(i % names.len().max(1)).cloned();
        match m {
            Mutation::Shape(i, s) => {
                if let Some(k) = pick(*i) {
                    head[&k]["shape"] = json!(s);
                }
            }
            Mutation::Dtype(i, d) => {
                if let Some(k) = pick(*i) {
                    head[&k]["dtype"] = json!(d);
                }
            }
            Mutation::Drop(i) => {
                if let Some(k) = pick(*i) {
                    head.remove(&k);
                }
            }
            Mutation::Word(p, v, wide) => {
                let w = if *wide { 8 } else { 4 };
                if data.len() >= w {
                    let at = (p % (data.len() - w + 1)) & !(w - 1);
                    data[at..at + w].copy_from_slice(&v.to_le_bytes()[..w]);
                }
            }
            Mutation::Meta(i, v) => {
                let mut l = leaves(&mut meta);
                let len = l.len();
                *l[i % len] = v.clone();
            }
        }
    }
    head.get_mut("__metadata__")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert(modelfile::META_KEY.into(), Value::String(meta.to_string()));
    let mut h = serde_json::to_vec(&head).unwrap();
    h.resize(h.len().next_multiple_of(8), b' ');
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&data);
    modelfile::reseal(&out).unwrap_or(out)
}

#[test]
fn every_saved_model_loads_and_its_resealed_copy_too() {
    for (kind, bytes) in files() {
        exercise(bytes);
        let again = mutate(bytes, &[]);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m");
        std::fs::write(&p, &again).unwrap();
        let l = recs_registry::load(&p).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(l.model.kind(), *kind);
    }
    // A saved model of every kind, so the fuzzing below covers them all.
    assert_eq!(files().len(), MODELS.len());
    let _ = Path::new("");
}

/// `bytes` with `training.key` of the metadata set to `value`, resealed.
fn with_training(bytes: &[u8], key: &str, value: Value) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut head: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let mut meta: Value =
        serde_json::from_str(head["__metadata__"][modelfile::META_KEY].as_str().unwrap()).unwrap();
    meta["training"][key] = value;
    head["__metadata__"][modelfile::META_KEY] = Value::String(meta.to_string());
    let mut h = serde_json::to_vec(&head).unwrap();
    h.resize(h.len().next_multiple_of(8), b' ');
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&bytes[8 + n..]);
    modelfile::reseal(&out).unwrap()
}

/// A global-mean file has no tensor bounding its sizes: without the id lists, a declared
/// size above the stated limit is refused before anything is allocated; with them, the lists
/// must hold exactly that many ids.
#[test]
fn global_mean_sizes_are_bounded_by_ids_or_a_limit() {
    let entry = recs_registry::find("global-mean").unwrap();
    let data = conformance::small_data(12, 9, 3);
    let params = conformance::small_params(entry, 5);
    let m = entry
        .fit(&params, &TrainData::new(&data), &mut recs_core::NoProgress)
        .unwrap();
    let bare = recs_registry::save_bytes(&*m, &Catalog::default(), json!({})).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.recs");
    for (n, ok) in [
        (9u64, true),
        (1 << 24, true),
        ((1 << 24) + 1, false),
        (1 << 32, false),
    ] {
        std::fs::write(&p, with_training(&bare, "n_items", json!(n))).unwrap();
        match recs_registry::load(&p) {
            Ok(l) => assert!(ok && l.model.n_items() == n as usize, "n_items {n}"),
            Err(e) => {
                let e = e.to_string();
                assert!(!ok && e.contains("n_items"), "n_items {n}: {e}");
            }
        }
    }
    // With ids, the declared size must match them.
    let file = &files().iter().find(|(k, _)| *k == "global-mean").unwrap().1;
    std::fs::write(&p, with_training(file, "n_items", json!(1 << 30))).unwrap();
    assert!(recs_registry::load(&p).is_err());
}

/// What the fuzzing found, kept as plain cases: a reversed clip range (clamp panicked on
/// the first prediction), and Mult-VAE/DAE sizes allocated from the metadata before any
/// tensor was checked (a crafted `n_items` asked for hundreds of gigabytes).
#[test]
fn found_by_fuzzing() {
    let file = |kind: &str| &files().iter().find(|(k, _)| *k == kind).unwrap().1;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.recs");
    for kind in ["mf", "bias", "autorec"] {
        std::fs::write(&p, with_training(file(kind), "clip", json!([32.0, 5.0]))).unwrap();
        let e = recs_registry::load(&p).unwrap_err().to_string();
        assert!(e.contains("clip"), "{kind}: {e}");
    }
    for kind in ["multvae", "multdae", "recvae"] {
        for n in [1u64 << 40, 1 << 20, u64::MAX] {
            let b = with_training(file(kind), "n_items", json!(n));
            exercise(&b);
            std::fs::write(&p, b).unwrap();
            assert!(recs_registry::load(&p).is_err(), "{kind}: n_items {n}");
        }
    }
    let b = with_training(file("global-mean"), "n_items", json!(u64::MAX));
    std::fs::write(&p, b).unwrap();
    assert!(recs_registry::load(&p).is_err());
}

fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(400),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn mutated_model_files_load_or_fail_cleanly(
        which in any::<usize>(),
        muts in prop::collection::vec(mutation(), 1..4),
    ) {
        let (_, good) = &files()[which % files().len()];
        exercise(&mutate(good, &muts));
    }
}
