//! Test support for comparing the SIMD paths (see [`recs_core::simd`]).
//!
//! Forcing a path caps the level for the whole process, and the unit tests run in threads
//! of one process: a test that forces paths holds [`LOCK`] for writing (through
//! [`each_level`]), and a test that compares two computations bit for bit holds it for
//! reading ([`same_level`]), so that no path changes under it. (Paths only differ in the
//! last bits, so every other test is unaffected.)

use std::sync::{RwLock, RwLockReadGuard};

use recs_core::simd::{self, Level};

static LOCK: RwLock<()> = RwLock::new(());

/// Lifts the cap again even when a forced run panics.
struct Uncap;

impl Drop for Uncap {
    fn drop(&mut self) {
        simd::set_max_level(None);
    }
}

/// Runs `f` at every level this CPU supports (narrowest first), holding the lock.
pub(crate) fn each_level<T>(f: impl FnMut(Level) -> T) -> Vec<(Level, T)> {
    let _lock = LOCK.write().unwrap_or_else(|e| e.into_inner());
    let _uncap = Uncap;
    simd::at_each_level(f)
}

/// Holds the level fixed (no test forces a path) while the guard lives.
pub(crate) fn same_level() -> RwLockReadGuard<'static, ()> {
    LOCK.read().unwrap_or_else(|e| e.into_inner())
}

/// Asserts what the crate's SIMD idiom promises of `runs` (one result per level): the
/// AVX2 and AVX-512 results are identical, and the portable result is within `tol` of the
/// widest one, relative to the largest magnitude of the latter (at least 1).
pub(crate) fn assert_paths_agree(what: &str, runs: &[(Level, Vec<f32>)], tol: f32) {
    let get = |l: Level| runs.iter().find(|(x, _)| *x == l).map(|(_, v)| v);
    if let (Some(a), Some(b)) = (get(Level::Avx2), get(Level::Avx512)) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                "{what}[{i}]: AVX2 {x} vs AVX-512 {y}"
            );
        }
    }
    let (_, widest) = runs.last().expect("at least the portable path");
    let portable = get(Level::Portable).expect("the portable path always runs");
    assert_eq!(portable.len(), widest.len(), "{what}: lengths");
    let scale = widest.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (x, y)) in portable.iter().zip(widest).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale,
            "{what}[{i}]: portable {x} vs vector {y} (tolerance {tol} × {scale})"
        );
    }
}

#[test]
fn every_level_runs_and_the_cap_is_lifted() {
    let runs = each_level(|l| simd::level() == l);
    assert!(runs.iter().all(|&(_, ok)| ok));
    assert_eq!(runs[0].0, Level::Portable);
    assert_eq!(simd::level(), simd::detected());
    let r = std::panic::catch_unwind(|| {
        each_level(|l| {
            if l == Level::Portable {
                panic!("forced");
            }
        })
    });
    assert!(r.is_err());
    assert_eq!(
        simd::level(),
        simd::detected(),
        "the cap is lifted after a panic"
    );
}
