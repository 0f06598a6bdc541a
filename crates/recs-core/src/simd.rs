//! One run-time SIMD dispatch idiom for every crate: [`multiversion!`](crate::multiversion)
//! compiles a function's body for AVX-512, AVX2 + FMA and portable code and picks the widest
//! path that [`level`] allows; tests force each path with [`set_max_level`] (or users with
//! `RECS_SIMD=portable|avx2|avx512`) and check that the paths agree.
//!
//! Kernels written with it must give the same results on the two vector paths (elementwise
//! work, same sum order: only the lane count differs), and results within rounding of the
//! portable path (a fused multiply-add rounds once).

use std::sync::atomic::{AtomicU8, Ordering};

/// Multiply-add as the compiled context allows: fused where FMA is enabled, a multiply and
/// an add otherwise (where `f32::mul_add` would be a slow library call).
pub trait Madd {
    /// `a · b + c`.
    fn madd(a: f32, b: f32, c: f32) -> f32;
}

/// [`Madd`] with the FMA instruction (used on the vector paths).
#[derive(Debug)]
pub struct WithFma;
impl Madd for WithFma {
    #[inline(always)]
    fn madd(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// [`Madd`] as a multiply then an add (the portable path).
#[derive(Debug)]
pub struct NoFma;
impl Madd for NoFma {
    #[inline(always)]
    fn madd(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// A code path, from the narrowest to the widest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Plain Rust, no target features.
    Portable = 0,
    /// AVX2 and FMA.
    Avx2 = 1,
    /// AVX-512F and AVX-512VL besides AVX2 and FMA.
    Avx512 = 2,
}

impl Level {
    /// Every level, narrowest first.
    pub const ALL: [Level; 3] = [Level::Portable, Level::Avx2, Level::Avx512];

    /// Its name as `RECS_SIMD` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Portable => "portable",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    fn from_u8(v: u8) -> Level {
        match v {
            0 => Level::Portable,
            1 => Level::Avx2,
            _ => Level::Avx512,
        }
    }
}

/// The widest level this CPU supports (std caches the feature checks).
pub fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl")
            {
                return Level::Avx512;
            }
            return Level::Avx2;
        }
    }
    Level::Portable
}

const UNSET: u8 = u8::MAX;
static MAX_LEVEL: AtomicU8 = AtomicU8::new(UNSET);

fn from_env() -> u8 {
    match std::env::var("RECS_SIMD").as_deref() {
        Ok("portable") => Level::Portable as u8,
        Ok("avx2") => Level::Avx2 as u8,
        _ => Level::Avx512 as u8,
    }
}

/// The level dispatched code runs at now: the narrower of [`detected`] and the cap set by
/// [`set_max_level`] (or, until that is called, by `RECS_SIMD`; no cap when unset).
#[inline]
pub fn level() -> Level {
    let mut cap = MAX_LEVEL.load(Ordering::Relaxed);
    if cap == UNSET {
        cap = from_env();
        MAX_LEVEL.store(cap, Ordering::Relaxed);
    }
    detected().min(Level::from_u8(cap))
}

/// Caps the level for the whole process (`None` lifts the cap). For tests that compare the
/// paths: other threads running meanwhile compute at the new level (the same results up to
/// the last bits; see [`same_level`] for tests that compare bits). A cap above [`detected`]
/// has no effect.
pub fn set_max_level(max: Option<Level>) {
    MAX_LEVEL.store(
        max.map_or(Level::Avx512 as u8, |l| l as u8),
        Ordering::Relaxed,
    );
}

/// Held for writing while [`at_each_level`] forces levels, for reading by [`same_level`].
static LEVELS: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Lifts the cap again even when a forced run panics.
struct Uncap;

impl Drop for Uncap {
    fn drop(&mut self) {
        set_max_level(None);
    }
}

/// Runs `f` once at every level this CPU supports (narrowest first) and returns the results;
/// restores the cap to none afterwards (also when `f` panics). Tests compare the results.
/// Holds a process-wide lock meanwhile, so that a test holding [`same_level`] never sees
/// the level change under it (the FMA paths round differently from the portable one).
pub fn at_each_level<T>(mut f: impl FnMut(Level) -> T) -> Vec<(Level, T)> {
    let _lock = LEVELS.write().unwrap_or_else(|e| e.into_inner());
    let _uncap = Uncap;
    Level::ALL
        .into_iter()
        .filter(|&l| l <= detected())
        .map(|l| {
            set_max_level(Some(l));
            (l, f(l))
        })
        .collect()
}

/// Keeps the level fixed while the guard lives: [`at_each_level`] waits for it. For tests
/// that compare two runs bit for bit while other tests of the process force levels.
pub fn same_level() -> std::sync::RwLockReadGuard<'static, ()> {
    LEVELS.read().unwrap_or_else(|e| e.into_inner())
}

/// Defines `fn $name(..)` that runs `$body` compiled for AVX-512 + FMA or AVX2 + FMA, the
/// widest that [`simd::level`](crate::simd::level) allows, and the portable build otherwise.
/// Written `fn name<M>(..)`, the body is generic over `M:` [`Madd`](crate::simd::Madd) (use
/// `M::madd` for multiply-adds: fused on the vector paths). The body and every helper it
/// calls must be `#[inline(always)]` so that they are compiled in the vector context.
///
/// ```
/// recs_core::multiversion! {
///     /// `y += a · x`.
///     pub fn axpy<M>(a: f32, x: &[f32], y: &mut [f32]) {
///         for (y, &x) in y.iter_mut().zip(x) {
///             *y = M::madd(a, x, *y);
///         }
///     }
/// }
/// let mut y = [1.0f32; 3];
/// let runs = recs_core::simd::at_each_level(|_| {
///     let mut y = y;
///     axpy(2.0, &[1.0, 2.0, 3.0], &mut y);
///     y
/// });
/// assert!(runs.iter().all(|(_, r)| *r == [3.0, 5.0, 7.0]));
/// # axpy(1.0, &[0.0; 3], &mut y);
/// ```
#[macro_export]
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident<$M:ident>($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name($($a: $t),*) $(-> $r)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body<$M: $crate::simd::Madd>($($a: $t),*) $(-> $r)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($a: $t),*) $(-> $r)? {
                    body::<$crate::simd::WithFma>($($a),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($a: $t),*) $(-> $r)? {
                    body::<$crate::simd::WithFma>($($a),*)
                }
                match $crate::simd::level() {
                    // SAFETY: `level()` never exceeds what the CPU supports (`detected()`).
                    $crate::simd::Level::Avx512 => return unsafe { avx512($($a),*) },
                    // SAFETY: as above: the CPU has AVX2 and FMA.
                    $crate::simd::Level::Avx2 => return unsafe { avx2($($a),*) },
                    $crate::simd::Level::Portable => {}
                }
            }
            body::<$crate::simd::NoFma>($($a),*)
        }
    };
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name($($a: $t),*) $(-> $r)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body($($a: $t),*) $(-> $r)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($a: $t),*) $(-> $r)? {
                    body($($a),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($a: $t),*) $(-> $r)? {
                    body($($a),*)
                }
                match $crate::simd::level() {
                    // SAFETY: `level()` never exceeds what the CPU supports (`detected()`).
                    $crate::simd::Level::Avx512 => return unsafe { avx512($($a),*) },
                    // SAFETY: as above: the CPU has AVX2 and FMA.
                    $crate::simd::Level::Avx2 => return unsafe { avx2($($a),*) },
                    $crate::simd::Level::Portable => {}
                }
            }
            body($($a),*)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::multiversion! {
        fn dot<M>(a: &[f32], b: &[f32]) -> f32 {
            let mut s = 0.0f32;
            for (&x, &y) in a.iter().zip(b) {
                s = M::madd(x, y, s);
            }
            s
        }
    }

    #[test]
    fn level_respects_cap_and_paths_agree_on_exact_inputs() {
        let a: Vec<f32> = (0..37).map(|i| i as f32).collect();
        let runs = at_each_level(|l| {
            assert_eq!(level(), l);
            dot(&a, &a)
        });
        assert_eq!(runs[0].0, Level::Portable);
        let want: f32 = (0..37).map(|i| (i * i) as f32).sum();
        assert!(runs.iter().all(|&(_, v)| v == want));
        set_max_level(Some(Level::Portable));
        assert_eq!(level(), Level::Portable);
        set_max_level(None);
        assert_eq!(level(), detected());
    }
}
