//! Fuzzing the model-file reader with proptest-driven mutation of a valid file (cargo-fuzz
//! needs a nightly toolchain; this runs on stable, in `cargo test`, in a few seconds).
//!
//! Two mutators: raw bytes (flips, truncation, a forged header length), which the header
//! parse and the checksum must turn into errors; and structural mutations of the header
//! (shapes, offsets, dtypes, tensor names, metadata values) and of tensor bytes (offsets,
//! indices), **resealed** with a recomputed checksum so that they reach the checks behind
//! it. Any input must give `Ok` or an error, never a panic, and no allocation may be far
//! larger than the file: a global allocator records any single allocation over
//! `64 × file length + 1 MiB` (a length field believed before it is checked).
//!
//! `PROPTEST_CASES` raises the number of cases (default 300 a mutator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use proptest::prelude::*;
use recs_core::modelfile::{
    self, Catalog, ITEM_IDS, ModelMeta, ModelReader, ModelWriter, SEEN_INDICES, SEEN_INDPTR,
    USER_IDS,
};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

/// Records, per thread, the largest allocation asked for above a budget (0: no budget).
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
                // Refused outright (the process aborts, naming the size): a fuzz failure.
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

/// Runs `f` with the allocation budget of a `len`-byte input; the largest allocation over
/// it, if any.
fn within_budget(len: usize, f: impl FnOnce()) -> Option<usize> {
    OVER.with(|o| o.set(0));
    BUDGET.with(|b| b.set(64 * len + (1 << 20)));
    f();
    BUDGET.with(|b| b.set(0));
    let over = OVER.with(Cell::get);
    (over > 0).then_some(over)
}

const N_USERS: usize = 20;
const N_ITEMS: usize = 10;

/// A valid file: weights, the seen pattern, both id lists.
fn sample() -> Vec<u8> {
    let (mut u, mut i) = (Vec::new(), Vec::new());
    for user in 0..N_USERS as u32 {
        for item in 0..N_ITEMS as u32 {
            if (user * 7 + item * 3) % 4 == 0 {
                u.push(user);
                i.push(item);
            }
        }
    }
    let v = vec![1.0; u.len()];
    let seen = CsrMatrix::from_triplets(N_USERS, N_ITEMS, &u, &i, &v, DuplicatePolicy::Error)
        .expect("a valid pattern");
    let w: Vec<f32> = (0..N_ITEMS * 3).map(|x| x as f32 * 0.5 - 3.0).collect();
    let mut meta = ModelMeta::new("toy", "1", serde_json::json!({"factors": 3, "lr": 0.5}));
    meta.training = serde_json::json!({"n_users": N_USERS, "global_mean": 3.5});
    let mut wr = ModelWriter::new(meta);
    wr.f32("w", &[N_ITEMS, 3], &w).unwrap();
    let cat = Catalog {
        user_ids: Some((0..N_USERS).map(|u| format!("user{u}")).collect()),
        item_ids: Some((0..N_ITEMS).map(|i| format!("ítem{i}")).collect()),
        seen: Some(seen),
    };
    cat.write_to(&mut wr).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.recs");
    wr.write(&p).unwrap();
    std::fs::read(p).unwrap()
}

/// Everything a reader of the file would ask for; errors are fine, panics are not.
fn exercise(bytes: Vec<u8>) {
    let Ok(r) = ModelReader::from_bytes(Path::new("fuzz.recs"), bytes) else {
        return;
    };
    let _ = r.params::<serde_json::Value>();
    let _ = r.f32("w", &[N_ITEMS, 3]);
    let _ = r.f32_any("w");
    let _ = r.u32(SEEN_INDICES, &[3], N_ITEMS as u64);
    let _ = Catalog::read(&r, N_USERS, N_ITEMS);
    let _ = Catalog::read_ids(&r, N_USERS, N_ITEMS);
    let _ = r.strings(USER_IDS, None);
    let _ = r.strings(ITEM_IDS, Some(N_ITEMS));
    for row in [0, 1, N_USERS - 1, N_USERS] {
        let _ = r.csr_row(SEEN_INDPTR, SEEN_INDICES, N_USERS, N_ITEMS, row);
    }
}

fn check(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let len = bytes.len();
    let over = within_budget(len, || exercise(bytes));
    prop_assert!(
        over.is_none(),
        "an allocation of {over:?} bytes for a {len}-byte file"
    );
    Ok(())
}

/// Values that break assumptions: zero, one, small, the edges of u32/u64, huge.
fn nasty_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        0u64..64,
        Just(u32::MAX as u64),
        Just(u32::MAX as u64 + 1),
        Just(1 << 40),
        Just(u64::MAX / 8),
        Just(u64::MAX),
        any::<u64>(),
    ]
}

fn nasty_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        nasty_u64().prop_map(|v| json!(v)),
        Just(json!(-1)),
        Just(json!(1e300)),
        Just(json!(0.5)),
        Just(json!("text")),
        Just(json!(null)),
        Just(json!([1, 2])),
        Just(json!({})),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Shape(usize, Vec<u64>),
    Offsets(usize, u64, u64),
    Dtype(usize, &'static str),
    Drop(usize),
    Rename(usize, &'static str),
    /// A little-endian word (4 or 8 bytes) at a position of the data.
    Word(usize, u64, bool),
    /// A value of the metadata document: (leaf index, new value).
    Meta(usize, serde_json::Value),
}

const NAMES: &[&str] = &[
    "w",
    SEEN_INDPTR,
    SEEN_INDICES,
    USER_IDS,
    "data.user_ids.offsets",
    ITEM_IDS,
    "data.item_ids.offsets",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), prop::collection::vec(nasty_u64(), 0..4))
            .prop_map(|(i, s)| Mutation::Shape(i, s)),
        (any::<usize>(), nasty_u64(), nasty_u64()).prop_map(|(i, a, b)| Mutation::Offsets(i, a, b)),
        (
            any::<usize>(),
            prop::sample::select(vec!["F32", "U32", "U64", "U8", "F64", "I8", "BOOL", "X"])
        )
            .prop_map(|(i, d)| Mutation::Dtype(i, d)),
        any::<usize>().prop_map(Mutation::Drop),
        (any::<usize>(), prop::sample::select(NAMES.to_vec()))
            .prop_map(|(i, n)| Mutation::Rename(i, n)),
        (any::<usize>(), nasty_u64(), any::<bool>()).prop_map(|(p, v, w)| Mutation::Word(p, v, w)),
        (any::<usize>(), nasty_json()).prop_map(|(i, v)| Mutation::Meta(i, v)),
    ]
}

/// The metadata document's leaves, in a fixed order, as mutable references.
fn leaves(v: &mut serde_json::Value) -> Vec<&mut serde_json::Value> {
    match v {
        serde_json::Value::Object(o) => o.values_mut().flat_map(leaves).collect(),
        serde_json::Value::Array(a) => a.iter_mut().flat_map(leaves).collect(),
        leaf => vec![leaf],
    }
}

/// `good` with `muts` applied to its header and data, resealed.
fn mutate(good: &[u8], muts: &[Mutation]) -> Option<Vec<u8>> {
    use serde_json::{Value, json};
    let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut head: serde_json::Map<String, Value> = serde_json::from_slice(&good[8..8 + n]).ok()?;
    let mut data = good[8 + n..].to_vec();
    let mut meta: Value =
        serde_json::from_str(head["__metadata__"][modelfile::META_KEY].as_str()?).ok()?;
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
            Mutation::Offsets(i, a, b) => {
                if let Some(k) = pick(*i) {
                    head[&k]["data_offsets"] = json!([a, b]);
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
            Mutation::Rename(i, to) => {
                if let Some(k) = pick(*i)
                    && let Some(t) = head.remove(&k)
                {
                    head.insert(to.to_string(), t);
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
                if len > 0 {
                    *l[i % len] = v.clone();
                }
            }
        }
    }
    head.get_mut("__metadata__")?
        .as_object_mut()?
        .insert(modelfile::META_KEY.into(), Value::String(meta.to_string()));
    let mut h = serde_json::to_vec(&head).ok()?;
    h.resize(h.len().next_multiple_of(8), b' ');
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&data);
    // Reseal where the header still describes tensors in the file; else the raw bytes.
    Some(modelfile::reseal(&out).unwrap_or(out))
}

fn cases() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(300);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[test]
fn resealing_an_untouched_file_keeps_it_valid() {
    let good = sample();
    // The fuzzer's resealing computes the checksum the reader checks (else every
    // structural mutation would stop at the checksum and test nothing behind it).
    let again = mutate(&good, &[]).unwrap();
    let r = ModelReader::from_bytes(Path::new("m"), again).unwrap();
    assert!(Catalog::read(&r, N_USERS, N_ITEMS).unwrap().seen.is_some());
    assert!(check(good).is_ok());
}

#[test]
fn mutations_reach_the_checks_behind_the_checksum_and_the_guard_sees_big_allocations() {
    let good = sample();
    // An out-of-range item index in the seen pattern: past the checksum (resealed), caught
    // by the index check.
    let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let head: serde_json::Value = serde_json::from_slice(&good[8..8 + n]).unwrap();
    let at = head[SEEN_INDICES]["data_offsets"][0].as_u64().unwrap() as usize;
    let b = mutate(&good, &[Mutation::Word(at, u32::MAX as u64, false)]).unwrap();
    let r = ModelReader::from_bytes(Path::new("m"), b).unwrap();
    let e = Catalog::read(&r, N_USERS, N_ITEMS).unwrap_err().to_string();
    assert!(e.contains("out of range"), "{e}");
    // The guard reports an allocation proportional to a length field.
    let over = within_budget(100, || drop(std::hint::black_box(vec![0u8; 10 << 20])));
    assert_eq!(over, Some(10 << 20));
}

#[test]
fn forged_header_lengths_are_errors_without_allocating() {
    let good = sample();
    for n in [
        u64::MAX,
        u64::MAX / 2,
        1 << 40,
        100_000_001,
        good.len() as u64,
        0,
        7,
    ] {
        let mut b = good.clone();
        b[..8].copy_from_slice(&n.to_le_bytes());
        check(b.clone()).unwrap();
        assert!(
            ModelReader::from_bytes(Path::new("m"), b).is_err(),
            "length {n}"
        );
    }
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn raw_byte_mutations_are_errors(
        flips in prop::collection::vec((any::<usize>(), 1u8..=255), 0..8),
        cut in prop::option::of(any::<usize>()),
        grow in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut b = sample();
        let good = b.clone();
        for (at, x) in &flips {
            let i = at % b.len();
            b[i] ^= x;
        }
        if let Some(c) = cut {
            b.truncate(c % (good.len() + 1));
        }
        b.extend_from_slice(&grow);
        let changed = b != good;
        check(b.clone())?;
        if changed {
            // The checksum (or the header parse) catches every raw change.
            prop_assert!(ModelReader::from_bytes(Path::new("m"), b).is_err());
        }
    }

    #[test]
    fn resealed_structural_mutations_are_errors_or_consistent(
        muts in prop::collection::vec(mutation(), 1..5),
    ) {
        let good = sample();
        if let Some(b) = mutate(&good, &muts) {
            check(b)?;
        }
    }
}
