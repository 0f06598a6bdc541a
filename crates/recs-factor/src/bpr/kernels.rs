//! The sampling and update loop: the BPR step, the stores it updates (the only worker's own
//! buffers here, the shared ones in `shared`), and the software-pipelined epoch loop, one
//! build per SIMD level.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use recs_sparse::CsrMatrix;

use super::params::NegativeSampling;
use crate::common::dot_diff;

/// What one worker counted in one epoch.
#[derive(Default, Clone, Copy)]
pub(super) struct Tally {
    pub(super) pairs: u64,
    pub(super) correct: u64,
    pub(super) skipped: u64,
    pub(super) loss: f64,
}

/// One BPR update (Cornac's order) in place; returns x_uij before the update and the pair's
/// loss ln(1 + e^(−x_uij)), both from one exponential (e^(−|x|), so neither overflows).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn bpr_step(
    pu: &mut [f32],
    qi: &mut [f32],
    qj: &mut [f32],
    bi: &mut f32,
    bj: &mut f32,
    lr: f32,
    reg: f32,
) -> (f32, f32) {
    let x = *bi - *bj + dot_diff(pu, qi, qj);
    let e = (-x.abs()).exp();
    // z = σ(−x) = 1 / (1 + e^x)
    let (z, loss) = if x >= 0.0 {
        (e / (1.0 + e), e.ln_1p())
    } else {
        (1.0 / (1.0 + e), e.ln_1p() - x)
    };
    for ((p, a), b) in pu.iter_mut().zip(qi.iter_mut()).zip(qj.iter_mut()) {
        let u = *p;
        *p += lr * (z * (*a - *b) - reg * u);
        *a += lr * (z * u - reg * *a);
        *b += lr * (-z * u - reg * *b);
    }
    *bi += lr * (z - reg * *bi);
    *bj += lr * (-z - reg * *bj);
    (x, loss)
}

/// The factors and biases one BPR step reads and updates: the only worker's own buffers
/// ([`Exclusive`], the deterministic mode) or buffers shared between workers
/// (`SharedFactors`, in `shared`). Both run the same [`bpr_step`] in place, so on one worker
/// they give the same numbers.
///
/// No closure carries the step: a closure is a function of its own, compiled without the
/// SIMD build's target features unless LLVM inlines it, and one that was not cost 45 %.
pub(super) trait Store {
    /// [`bpr_step`] on user row `u`, positive item row `i` and negative item row `j`
    /// (`i != j`).
    fn step(&mut self, u: usize, i: usize, j: usize, lr: f32, reg: f32) -> (f32, f32);
    /// Prefetch hints for a step on user `u`, item `i` and candidate negative `c`.
    fn prefetch(&self, u: usize, i: usize, c: usize);
}

/// The buffers of the only worker, updated in place.
pub(super) struct Exclusive<'a> {
    pub(super) uf: &'a mut [f32],
    pub(super) itf: &'a mut [f32],
    pub(super) ib: &'a mut [f32],
    pub(super) k: usize,
}

/// Rows `a` and `b` (`a != b`) of width `w` of `v`, both mutable.
#[inline(always)]
fn two_rows(v: &mut [f32], a: usize, b: usize, w: usize) -> (&mut [f32], &mut [f32]) {
    debug_assert_ne!(a, b);
    if a < b {
        let (lo, hi) = v.split_at_mut(b * w);
        (&mut lo[a * w..(a + 1) * w], &mut hi[..w])
    } else {
        let (lo, hi) = v.split_at_mut(a * w);
        (&mut hi[..w], &mut lo[b * w..(b + 1) * w])
    }
}

impl Store for Exclusive<'_> {
    #[inline(always)]
    fn step(&mut self, u: usize, i: usize, j: usize, lr: f32, reg: f32) -> (f32, f32) {
        let k = self.k;
        let pu = &mut self.uf[u * k..(u + 1) * k];
        let (qi, qj) = two_rows(self.itf, i, j, k);
        let (bi, bj) = two_rows(self.ib, i, j, 1);
        bpr_step(pu, qi, qj, &mut bi[0], &mut bj[0], lr, reg)
    }

    #[inline(always)]
    fn prefetch(&self, u: usize, i: usize, c: usize) {
        let k = self.k;
        prefetch_row(self.uf.as_ptr().wrapping_add(u * k), k);
        prefetch_row(self.itf.as_ptr().wrapping_add(i * k), k);
        prefetch_row(self.itf.as_ptr().wrapping_add(c * k), k);
        prefetch(self.ib.as_ptr().wrapping_add(i));
        prefetch(self.ib.as_ptr().wrapping_add(c));
    }
}

/// What every worker of an epoch reads: the data, the sampling settings and the step sizes.
pub(super) struct Job<'a> {
    pub(super) train: &'a CsrMatrix,
    /// Dense user × item membership bits when they fit `BITSET_MAX_BYTES` (a negative check
    /// is then one cached load instead of a binary search over the user's row).
    pub(super) seen: Option<&'a [u64]>,
    /// (user, item) of every stored entry, so a positive draw is one memory read.
    pub(super) pairs: &'a [(u32, u32)],
    pub(super) n_items: usize,
    pub(super) negatives: NegativeSampling,
    pub(super) max_resample: usize,
    pub(super) lr: f32,
    pub(super) reg: f32,
}

impl Job<'_> {
    /// The sampling and update loop for `n_samples` draws from `rng`, software-pipelined:
    /// the positive pair of step `t + 2` and the user, item and first negative candidate of
    /// step `t + 1` are drawn ahead and their memory prefetched, so the random reads (pair
    /// array, membership bits, factor rows) overlap the arithmetic of step `t` instead of
    /// stalling it. The draws come from one stream in a fixed order, so a seed still fixes
    /// every sample. `#[inline(always)]` so that it is compiled inside each SIMD build of
    /// [`run_exclusive`] and
    /// `shared::run_shared`.
    #[inline(always)]
    pub(super) fn run_body<S: Store>(
        &self,
        store: &mut S,
        n_samples: u64,
        rng: &mut ChaCha8Rng,
    ) -> Tally {
        let indices = self.train.indices();
        let nnz = indices.len();
        let mut t = Tally::default();
        if n_samples == 0 {
            return t;
        }
        let negative = |rng: &mut ChaCha8Rng| match self.negatives {
            NegativeSampling::Uniform => rng.random_range(0..self.n_items),
            NegativeSampling::Popularity => indices[rng.random_range(0..nnz)] as usize,
        };
        let has = |u: usize, c: usize| match self.seen {
            Some(bits) => {
                let b = u * self.n_items + c;
                bits[b / 64] >> (b % 64) & 1 == 1
            }
            None => self.train.row(u).indices.binary_search(&(c as u32)).is_ok(),
        };
        // Prefetches what step (u, i, c) will read.
        let stage = |store: &S, u: usize, i: usize, c: usize| {
            match self.seen {
                Some(bits) => prefetch(bits.as_ptr().wrapping_add((u * self.n_items + c) / 64)),
                None => prefetch(indices.as_ptr().wrapping_add(self.train.indptr()[u])),
            }
            store.prefetch(u, i, c);
        };
        let (u, i) = self.pairs[rng.random_range(0..nnz)];
        let mut next = (u as usize, i as usize, negative(rng));
        stage(store, next.0, next.1, next.2);
        let mut ahead = rng.random_range(0..nnz);
        prefetch(self.pairs.as_ptr().wrapping_add(ahead));
        for s in 0..n_samples {
            let (u, i, first) = next;
            if s + 1 < n_samples {
                let (nu, ni) = self.pairs[ahead];
                next = (nu as usize, ni as usize, negative(rng));
                stage(store, next.0, next.1, next.2);
                ahead = rng.random_range(0..nnz);
                prefetch(self.pairs.as_ptr().wrapping_add(ahead));
            }
            let mut j = None;
            let mut c = first;
            for attempt in 0..=self.max_resample {
                if attempt > 0 {
                    c = negative(rng);
                }
                if !has(u, c) {
                    j = Some(c);
                    break;
                }
            }
            let Some(j) = j else {
                t.skipped += 1;
                continue;
            };
            // i is in the user's row and j is not, so they differ.
            debug_assert_ne!(i, j);
            let (x, loss) = store.step(u, i, j, self.lr, self.reg);
            t.pairs += 1;
            if x > 0.0 {
                t.correct += 1;
            }
            t.loss += f64::from(loss);
        }
        t
    }
}

recs_core::multiversion! {
    /// [`Job::run_body`] on the only worker's own buffers, at the widest SIMD level
    /// [`recs_core::simd::level`] allows (no fused multiply-adds: every level computes the
    /// same numbers).
    pub(super) fn run_exclusive(
        job: &Job<'_>,
        store: &mut Exclusive<'_>,
        n_samples: u64,
        rng: &mut ChaCha8Rng,
    ) -> Tally {
        job.run_body(store, n_samples, rng)
    }
}

/// Asks the CPU to bring the cache line holding `p` closer (a hint: it never faults, so any
/// address will do, and it is a no-op off x86-64).
#[inline(always)]
pub(super) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it reads nothing and cannot fault, whatever `p`.
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Prefetches the `len` `f32`s from `p`, one cache line at a time.
#[inline(always)]
pub(super) fn prefetch_row(p: *const f32, len: usize) {
    for off in (0..len).step_by(16) {
        prefetch(p.wrapping_add(off));
    }
}
