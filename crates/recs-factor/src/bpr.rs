//! Bayesian personalized ranking (Rendle et al. 2009) with Cornac's update.
//!
//! x_uij = b_i − b_j + p_u · (q_i − q_j) for a positive item i and a negative item j of
//! user u; each SGD step ascends ln σ(x_uij) − λ/2 (‖p_u‖² + ‖q_i‖² + ‖q_j‖² + b_i² + b_j²)
//! with z = σ(−x_uij):
//!
//! ```text
//! p_u += lr (z (q_i − q_j) − λ p_u)     q_i += lr (z p_u − λ q_i)     q_j += lr (−z p_u − λ q_j)
//! b_i += lr (z − λ b_i)                 b_j += lr (−z − λ b_j)
//! ```
//!
//! (q_i, q_j updated with p_u's value before the step), exactly Cornac's `BPR._fit_sgd`. An
//! epoch draws as many (u, i) pairs as there are training interactions, uniformly over the
//! interactions. Negatives are drawn per [`NegativeSampling`] and verified: a draw the user
//! has interacted with is redrawn, up to [`BprParams::max_resample`] times, and the pair is
//! skipped after that (Cornac skips at once).
//!
//! With `threads == 1` training is single-threaded and deterministic: the same seed gives
//! bit-identical factors. With more threads, the workers update the shared factors
//! asynchronously, as in Hogwild (Niu et al. 2011; Cornac and implicit run fully
//! lock-free), so results vary slightly from run to run; but each step holds short spin
//! locks on the three rows it updates (one user, two items), so there is no data race and
//! never two live `&mut` to one row, and the update runs in place with the same vectorised
//! arithmetic as the single-threaded mode. (Lock-free sharing in Rust would need every
//! factor read and written as a scalar atomic, which measured 2.6 times slower at k = 200.)

use recs_core::modelfile::{ModelReader, ModelWriter};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use recs_core::ModelParams as _;
use recs_core::Progress;
use recs_core::{ScoreError, Scorer};
use recs_sparse::CsrMatrix;
use serde::{Deserialize, Serialize};

use crate::common::score_checks;
use crate::common::{
    biased_scores, check_user, dot_diff, excluded_items, report_epoch, similar_by_cosine, top_k,
};
use crate::{ModelError, io};

/// How negative items are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum NegativeSampling {
    /// Uniformly over all items (Cornac; default).
    #[default]
    #[serde(rename = "uniform", alias = "Uniform")]
    Uniform,
    /// Proportionally to item popularity: the item of a uniformly drawn training interaction
    /// (implicit's sampler).
    #[serde(rename = "popularity", alias = "Popularity")]
    Popularity,
}

/// Hyper-parameters of [`Bpr`]; the defaults are Cornac `BPR`'s. Missing fields take their
/// defaults when deserialised; unknown fields are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BprParams {
    /// Latent factors (default 10; 1..=4096).
    pub factors: usize,
    /// Epochs; each draws as many pairs as there are interactions (default 100; 1..=100000).
    pub epochs: usize,
    /// SGD learning rate (default 0.001; in (0, 10]). Training uses it as an `f32`.
    pub learning_rate: f64,
    /// L2 regularization λ of factors and item biases (default 0.01; in [0, 100]). Training
    /// uses it as an `f32`.
    pub reg: f64,
    /// Negative sampling (default [`NegativeSampling::Uniform`]).
    pub negatives: NegativeSampling,
    /// Redraws of a negative the user has interacted with before the pair is skipped
    /// (default 100; 0..=100000; 0 skips at once, as Cornac does).
    pub max_resample: usize,
    /// Worker threads (default 0: all of rayon's pool, which is every core unless the caller
    /// installs a smaller pool; 0..=1024). 1 is the deterministic mode; more train
    /// asynchronously on shared factors (Hogwild-style, with per-row locks) on rayon's pool.
    pub threads: usize,
    /// Seed of the initialization and every draw (default 42).
    pub seed: u64,
}

impl Default for BprParams {
    fn default() -> Self {
        Self {
            factors: 10,
            epochs: 100,
            learning_rate: 0.001,
            reg: 0.01,
            negatives: NegativeSampling::Uniform,
            max_resample: 100,
            threads: 0,
            seed: 42,
        }
    }
}

/// A trained BPR model: score(u, i) = b_i + p_u · q_i.
#[derive(Debug, Clone, PartialEq)]
pub struct Bpr {
    params: BprParams,
    n_users: usize,
    n_items: usize,
    user_factors: Vec<f32>,
    item_factors: Vec<f32>,
    item_bias: Vec<f32>,
}

/// Largest user × item bitset [`Bpr::fit`] builds for checking negatives (16 MiB); larger
/// data is checked by binary search in the user's row.
const BITSET_MAX_BYTES: usize = 16 << 20;

/// A spin lock on its own cache line (so that workers locking neighbouring rows do not
/// bounce one line between their cores).
#[repr(align(64))]
#[derive(Default)]
struct Stripe(AtomicBool);

/// Holds a [`Stripe`] locked; unlocks it when dropped.
struct Locked<'a>(&'a AtomicBool);

impl Drop for Locked<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Stripe {
    /// Spins until this thread holds the lock (yielding after a while, in case the holder
    /// was preempted).
    #[inline(always)]
    fn lock(&self) -> Locked<'_> {
        let mut spins = 0u32;
        while self
            .0
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.0.load(Ordering::Relaxed) {
                if spins < 100 {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
        Locked(&self.0)
    }
}

/// At most this many lock stripes per table (1 MiB): row `r` is guarded by stripe
/// `r & (stripes - 1)`, where `stripes` is the row count rounded up to a power of two, or
/// this.
const MAX_STRIPES: usize = 1 << 14;

/// The factors and biases the parallel workers share, each user row and each item (factor
/// row and bias) guarded by a spin lock.
///
/// A step locks the three rows it touches (user row first, then the two item stripes in
/// increasing order, so that no two workers wait for each other in a cycle), updates them in
/// place with the same vectorised arithmetic as the single-threaded mode, and unlocks them.
/// Every access to the buffers happens inside [`SharedFactors::step`] under the locks of the
/// rows accessed, and a lock's release (`Release`) happens-before its next acquisition
/// (`Acquire`), so there is no data race and every `&mut` formed to a row is the only live
/// reference to it. The workers still train asynchronously on shared factors, as Hogwild does
/// (Niu et al. 2011), and their interleaving varies from run to run; a row is just never
/// updated by two steps at once.
struct SharedFactors<'a> {
    users: *mut f32,
    items: *mut f32,
    bias: *mut f32,
    k: usize,
    n_users: usize,
    n_items: usize,
    /// `user_locks.len() - 1` (a power of two minus one).
    user_mask: usize,
    /// `item_locks.len() - 1`.
    item_mask: usize,
    user_locks: Vec<Stripe>,
    item_locks: Vec<Stripe>,
    /// The buffers stay exclusively borrowed for as long as this value exists.
    _borrow: std::marker::PhantomData<&'a mut [f32]>,
}

// SAFETY: the raw pointers are dereferenced only in `step`, under the locks of the rows
// touched (see the type's documentation), so sharing the value between threads lets them
// reach the buffers only in turn, row by row.
unsafe impl Sync for SharedFactors<'_> {}

impl<'a> SharedFactors<'a> {
    /// Shares `uf` (`n_users × k`), `itf` (`n_items × k`) and `ib` (`n_items`) for as long as
    /// these borrows last.
    fn new(uf: &'a mut [f32], itf: &'a mut [f32], ib: &'a mut [f32], k: usize) -> Self {
        let (n_users, n_items) = (uf.len() / k, ib.len());
        assert!(uf.len() == n_users * k && itf.len() == n_items * k);
        let stripes = |n: usize| {
            let len = n.next_power_of_two().min(MAX_STRIPES);
            (0..len).map(|_| Stripe::default()).collect::<Vec<_>>()
        };
        let (user_locks, item_locks) = (stripes(n_users), stripes(n_items));
        Self {
            users: uf.as_mut_ptr(),
            items: itf.as_mut_ptr(),
            bias: ib.as_mut_ptr(),
            k,
            n_users,
            n_items,
            user_mask: user_locks.len() - 1,
            item_mask: item_locks.len() - 1,
            user_locks,
            item_locks,
            _borrow: std::marker::PhantomData,
        }
    }

    /// [`bpr_step`] on p_u, q_i, q_j, b_i and b_j, in place, holding their locks.
    ///
    /// Panics unless `u < n_users`, `i, j < n_items` and `i != j`.
    #[inline(always)]
    fn step(&self, u: usize, i: usize, j: usize, lr: f32, reg: f32) -> (f32, f32) {
        assert!(u < self.n_users && i < self.n_items && j < self.n_items && i != j);
        let k = self.k;
        let (si, sj) = (i & self.item_mask, j & self.item_mask);
        let (lo, hi) = (si.min(sj), si.max(sj));
        // Locks in a fixed order: user stripe, then item stripes by increasing index.
        let _user = self.user_locks[u & self.user_mask].lock();
        let _lo = self.item_locks[lo].lock();
        let _hi = (hi != lo).then(|| self.item_locks[hi].lock());
        // SAFETY: the indices are in bounds (checked above against the sizes `new` took from
        // the borrowed buffers, which outlive `self`), so every range lies inside its buffer;
        // i != j and the user row is in another buffer, so the five ranges are disjoint. This
        // thread holds the locks of user u and of items i and j, and every access to these
        // rows, by any thread, happens under them (this is the only access), so nothing else
        // reads or writes the ranges while the references live: they end with `bpr_step`,
        // before the guards unlock on return.
        let (pu, qi, qj, bi, bj) = unsafe {
            (
                std::slice::from_raw_parts_mut(self.users.add(u * k), k),
                std::slice::from_raw_parts_mut(self.items.add(i * k), k),
                std::slice::from_raw_parts_mut(self.items.add(j * k), k),
                &mut *self.bias.add(i),
                &mut *self.bias.add(j),
            )
        };
        bpr_step(pu, qi, qj, bi, bj, lr, reg)
    }

    /// Prefetch hints for what a step on (u, i, c) touches: the rows and their locks.
    #[inline(always)]
    fn prefetch(&self, u: usize, i: usize, c: usize) {
        let k = self.k;
        prefetch_row(self.users.wrapping_add(u * k), k);
        prefetch_row(self.items.wrapping_add(i * k), k);
        prefetch_row(self.items.wrapping_add(c * k), k);
        prefetch(self.bias.wrapping_add(i));
        prefetch(self.bias.wrapping_add(c));
        prefetch(self.user_locks.as_ptr().wrapping_add(u & self.user_mask));
        prefetch(self.item_locks.as_ptr().wrapping_add(i & self.item_mask));
        prefetch(self.item_locks.as_ptr().wrapping_add(c & self.item_mask));
    }
}

/// What one worker counted in one epoch.
#[derive(Default, Clone, Copy)]
struct Tally {
    pairs: u64,
    correct: u64,
    skipped: u64,
    loss: f64,
}

/// One BPR update (Cornac's order) in place; returns x_uij before the update and the pair's
/// loss ln(1 + e^(−x_uij)), both from one exponential (e^(−|x|), so neither overflows).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn bpr_step(
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
/// ([`SharedFactors`]). Both run the same [`bpr_step`] in place, so on one worker they give
/// the same numbers.
///
/// No closure carries the step: a closure is a function of its own, compiled without the
/// SIMD build's target features unless LLVM inlines it, and one that was not cost 45 %.
trait Store {
    /// [`bpr_step`] on user row `u`, positive item row `i` and negative item row `j`
    /// (`i != j`).
    fn step(&mut self, u: usize, i: usize, j: usize, lr: f32, reg: f32) -> (f32, f32);
    /// Prefetch hints for a step on user `u`, item `i` and candidate negative `c`.
    fn prefetch(&self, u: usize, i: usize, c: usize);
}

/// The buffers of the only worker, updated in place.
struct Exclusive<'a> {
    uf: &'a mut [f32],
    itf: &'a mut [f32],
    ib: &'a mut [f32],
    k: usize,
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

/// One parallel worker's handle on the shared buffers.
impl Store for &SharedFactors<'_> {
    #[inline(always)]
    fn step(&mut self, u: usize, i: usize, j: usize, lr: f32, reg: f32) -> (f32, f32) {
        SharedFactors::step(self, u, i, j, lr, reg)
    }

    #[inline(always)]
    fn prefetch(&self, u: usize, i: usize, c: usize) {
        SharedFactors::prefetch(self, u, i, c);
    }
}

/// What every worker of an epoch reads: the data, the sampling settings and the step sizes.
struct Job<'a> {
    train: &'a CsrMatrix,
    /// Dense user × item membership bits when they fit [`BITSET_MAX_BYTES`] (a negative
    /// check is then one cached load instead of a binary search over the user's row).
    seen: Option<&'a [u64]>,
    /// (user, item) of every stored entry, so a positive draw is one memory read.
    pairs: &'a [(u32, u32)],
    n_items: usize,
    negatives: NegativeSampling,
    max_resample: usize,
    lr: f32,
    reg: f32,
}

impl Job<'_> {
    /// The sampling and update loop for `n_samples` draws from `rng`, software-pipelined:
    /// the positive pair of step `t + 2` and the user, item and first negative candidate of
    /// step `t + 1` are drawn ahead and their memory prefetched, so the random reads (pair
    /// array, membership bits, factor rows) overlap the arithmetic of step `t` instead of
    /// stalling it. The draws come from one stream in a fixed order, so a seed still fixes
    /// every sample. `#[inline(always)]` so that it is compiled inside each SIMD build of
    /// [`run_exclusive`] and [`run_shared`].
    #[inline(always)]
    fn run_body<S: Store>(&self, store: &mut S, n_samples: u64, rng: &mut ChaCha8Rng) -> Tally {
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
    fn run_exclusive(
        job: &Job<'_>,
        store: &mut Exclusive<'_>,
        n_samples: u64,
        rng: &mut ChaCha8Rng,
    ) -> Tally {
        job.run_body(store, n_samples, rng)
    }
}

recs_core::multiversion! {
    /// [`Job::run_body`] for one parallel worker on the shared buffers, at the widest SIMD
    /// level allowed.
    fn run_shared(
        job: &Job<'_>,
        shared: &SharedFactors<'_>,
        n_samples: u64,
        rng: &mut ChaCha8Rng,
    ) -> Tally {
        job.run_body(&mut { shared }, n_samples, rng)
    }
}

/// Asks the CPU to bring the cache line holding `p` closer (a hint: it never faults, so any
/// address will do, and it is a no-op off x86-64).
#[inline(always)]
fn prefetch<T>(p: *const T) {
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
fn prefetch_row(p: *const f32, len: usize) {
    for off in (0..len).step_by(16) {
        prefetch(p.wrapping_add(off));
    }
}

/// How the workers of [`Bpr::fit_with`] run (tests vary what `fit` fixes).
#[derive(Debug, Clone, Copy)]
struct Tuning {
    /// Largest membership bitset to build (0: always binary search).
    bitset_max_bytes: usize,
    /// Run even a single worker on the shared (locked) buffers.
    always_shared: bool,
}

impl Bpr {
    /// Trains on the interactions of `train` (users × items; every stored entry is a
    /// positive, whatever its value), reporting every epoch to `progress`: the mean BPR loss
    /// `-ln σ(x_uij)` over the epoch's sampled pairs as `"loss"`, and the fraction of those
    /// pairs the model ordered correctly before updating on them (a running training-AUC
    /// estimate) as the validation measure `"train_auc"`. When `progress` returns
    /// [`Control::Stop`], training ends after that epoch and the model is returned as it is
    /// (its [`params`](Bpr::params) then record the epochs actually trained).
    ///
    /// Errors when the parameters are out of range, `train` has no interaction or no
    /// user lacks some item, or the loss stops being finite.
    pub fn fit(
        params: &BprParams,
        train: &CsrMatrix,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        let tuning = Tuning {
            bitset_max_bytes: BITSET_MAX_BYTES,
            always_shared: false,
        };
        Self::fit_with(params, train, progress, tuning)
    }

    /// [`Bpr::fit`] with the workers' tuning as an argument.
    fn fit_with(
        params: &BprParams,
        train: &CsrMatrix,
        progress: &mut dyn Progress,
        tuning: Tuning,
    ) -> Result<Self, ModelError> {
        let started = Instant::now();
        params.validate()?;
        let (nu, ni, k) = (train.n_rows(), train.n_cols(), params.factors);
        let nnz = train.nnz();
        if nnz == 0 {
            return Err(ModelError::Data("no interaction to train on".into()));
        }
        if nnz >= nu * ni {
            return Err(ModelError::Data(
                "every user has every item: there is no negative to sample".into(),
            ));
        }
        let mut pairs = vec![(0u32, 0u32); nnz];
        for u in 0..nu {
            let (a, b) = (train.indptr()[u], train.indptr()[u + 1]);
            for (p, &i) in pairs[a..b].iter_mut().zip(&train.indices()[a..b]) {
                *p = (u as u32, i);
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let scale = 1.0 / k as f32;
        let mut uf: Vec<f32> = (0..nu * k)
            .map(|_| (rng.random::<f32>() - 0.5) * scale)
            .collect();
        let mut itf: Vec<f32> = (0..ni * k)
            .map(|_| (rng.random::<f32>() - 0.5) * scale)
            .collect();
        let mut ib = vec![0f32; ni];
        let threads = if params.threads == 0 {
            rayon::current_num_threads().max(1)
        } else {
            params.threads
        };
        let seen = (nu * ni / 8 <= tuning.bitset_max_bytes).then(|| {
            let mut bits = vec![0u64; (nu * ni).div_ceil(64)];
            for &(u, i) in &pairs {
                let b = u as usize * ni + i as usize;
                bits[b / 64] |= 1 << (b % 64);
            }
            bits
        });
        let job = Job {
            train,
            seen: seen.as_deref(),
            pairs: &pairs,
            n_items: ni,
            negatives: params.negatives,
            max_resample: params.max_resample,
            // The loop runs in f32; the one cast keeps the values the f32 parameters had.
            lr: params.learning_rate as f32,
            reg: params.reg as f32,
        };
        let mut trained = 0;
        for epoch in 1..=params.epochs {
            let t0 = Instant::now();
            let per = nnz as u64 / threads as u64;
            let extra = nnz as u64 % threads as u64;
            let samples = |w: usize| per + u64::from((w as u64) < extra);
            let stream = |w: usize| {
                let mut r = ChaCha8Rng::seed_from_u64(params.seed);
                r.set_stream(((epoch as u64) << 16) | w as u64);
                r
            };
            let tallies: Vec<Tally> = if threads == 1 && !tuning.always_shared {
                let mut store = Exclusive {
                    uf: &mut uf,
                    itf: &mut itf,
                    ib: &mut ib,
                    k,
                };
                vec![run_exclusive(&job, &mut store, samples(0), &mut stream(0))]
            } else {
                let shared = SharedFactors::new(&mut uf, &mut itf, &mut ib, k);
                let worker = |w: usize| run_shared(&job, &shared, samples(w), &mut stream(w));
                if threads == 1 {
                    vec![worker(0)]
                } else {
                    (0..threads).into_par_iter().map(worker).collect()
                }
            };
            let t = tallies.iter().fold(Tally::default(), |a, b| Tally {
                pairs: a.pairs + b.pairs,
                correct: a.correct + b.correct,
                skipped: a.skipped + b.skipped,
                loss: a.loss + b.loss,
            });
            let loss = if t.pairs > 0 {
                t.loss / t.pairs as f64
            } else {
                0.0
            };
            if !loss.is_finite() || uf.iter().chain(&itf).any(|v| !v.is_finite()) {
                return Err(ModelError::Diverged {
                    epoch,
                    what: "loss",
                    value: loss,
                });
            }
            trained = epoch;
            let validation =
                (t.pairs > 0).then(|| ("train_auc", t.correct as f64 / t.pairs as f64));
            if report_epoch(
                progress,
                (epoch, params.epochs),
                loss,
                validation,
                (t0, started),
            ) {
                break;
            }
        }
        Ok(Self {
            params: BprParams {
                epochs: trained,
                ..params.clone()
            },
            n_users: nu,
            n_items: ni,
            user_factors: uf,
            item_factors: itf,
            item_bias: ib,
        })
    }

    /// The parameters the model was trained with.
    pub fn params(&self) -> &BprParams {
        &self.params
    }

    /// User factors, row-major `n_users × factors`.
    pub fn user_factors(&self) -> &[f32] {
        &self.user_factors
    }

    /// Item factors, row-major `n_items × factors`.
    pub fn item_factors(&self) -> &[f32] {
        &self.item_factors
    }

    /// Item biases.
    pub fn item_bias(&self) -> &[f32] {
        &self.item_bias
    }

    fn fill_scores(&self, user: u32, out: &mut [f32]) {
        let k = self.params.factors;
        let p = &self.user_factors[user as usize * k..(user as usize + 1) * k];
        biased_scores(p, &self.item_factors, &self.item_bias, out);
    }

    /// The `k` highest-scoring items for `user`, best first, leaving out the user's row of
    /// `exclude` (typically the training matrix).
    pub fn recommend(
        &self,
        user: u32,
        k: usize,
        exclude: Option<&CsrMatrix>,
    ) -> Result<Vec<(u32, f32)>, ModelError> {
        check_user(user, self.n_users)?;
        let mut s = vec![0f32; self.n_items];
        self.fill_scores(user, &mut s);
        Ok(top_k(&s, k, excluded_items(exclude, user)))
    }

    /// The `k` items whose factor vectors have the largest cosine with `item`'s.
    pub fn similar_items(&self, item: u32, k: usize) -> Result<Vec<(u32, f32)>, ModelError> {
        similar_by_cosine(&self.item_factors, self.params.factors, item, k)
    }

    /// Writes the model alone to `path`, atomically (the registry's writer adds the
    /// training catalogue and provenance).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        io::save_file(path, "bpr", &self.params(), |w| self.write_into(w))
    }

    /// Reads a model of this kind from `path`, verified; a corrupt or foreign file is a
    /// [`ModelError::File`] error naming the file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Self::read_from(&io::open(path, "bpr")?)
    }

    /// Adds the model's tensors and facts to `w`.
    pub(crate) fn write_into<'a>(&'a self, w: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        let k = self.params.factors;
        let meta = serde_json::json!({
            "n_users": self.n_users,
            "n_items": self.n_items,
        });
        io::save(
            w,
            meta,
            &[
                ("user_factors", vec![self.n_users, k], &self.user_factors),
                ("item_factors", vec![self.n_items, k], &self.item_factors),
                ("item_bias", vec![self.n_items], &self.item_bias),
            ],
        )
    }

    /// Rebuilds the model from a verified file of its kind.
    pub(crate) fn read_from(file: &ModelReader) -> Result<Self, ModelError> {
        let f = io::load(file);
        let params: BprParams = f.params()?;
        params.validate().map_err(|e| f.bad(e.to_string()))?;
        let nu = f.meta_size("n_users")?;
        let ni = f.meta_size("n_items")?;
        let k = params.factors;
        Ok(Self {
            user_factors: f.take("user_factors", &[nu, k])?,
            item_factors: f.take("item_factors", &[ni, k])?,
            item_bias: f.take("item_bias", &[ni])?,
            params,
            n_users: nu,
            n_items: ni,
        })
    }
}

impl Scorer for Bpr {
    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        score_checks(user, out, self.n_users, self.n_items)?;
        self.fill_scores(user, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use recs_core::{Control, EpochReport, NoProgress};

    use super::*;

    #[test]
    fn bpr_step_matches_hand_computation() {
        let mut pu = [1.0f32, 0.0];
        let mut qi = [0.5f32, 1.0];
        let mut qj = [-0.5f32, 2.0];
        let (mut bi, mut bj) = (0.0f32, 0.0f32);
        let (x, loss) = bpr_step(&mut pu, &mut qi, &mut qj, &mut bi, &mut bj, 0.1, 0.0);
        // x = 1·(0.5 + 0.5) + 0 = 1; z = σ(−1); loss = ln(1 + e^−1)
        assert!((x - 1.0).abs() < 1e-6);
        assert!((loss - (1.0 + (-1f32).exp()).ln()).abs() < 1e-6);
        let z = 1.0 / (1.0 + 1f32.exp());
        assert!((pu[0] - (1.0 + 0.1 * z)).abs() < 1e-6);
        assert!((pu[1] + 0.1 * z).abs() < 1e-6);
        assert!((qi[0] - (0.5 + 0.1 * z)).abs() < 1e-6);
        assert!((qj[0] - (-0.5 - 0.1 * z)).abs() < 1e-6);
        assert!((qi[1] - 1.0).abs() < 1e-6 && (qj[1] - 2.0).abs() < 1e-6);
        assert!((bi - 0.1 * z).abs() < 1e-6 && (bj + 0.1 * z).abs() < 1e-6);
    }

    #[test]
    fn bitset_and_binary_search_checks_agree() {
        let rows = [0u32, 0, 1, 2, 2, 2, 3];
        let cols = [1u32, 4, 0, 2, 3, 5, 1];
        let x = CsrMatrix::from_triplets(
            4,
            6,
            &rows,
            &cols,
            &[1.0; 7],
            recs_sparse::DuplicatePolicy::Error,
        )
        .unwrap();
        let p = BprParams {
            factors: 4,
            epochs: 5,
            learning_rate: 0.05,
            threads: 1,
            ..BprParams::default()
        };
        let tuning = |bitset_max_bytes| Tuning {
            bitset_max_bytes,
            always_shared: false,
        };
        let a = Bpr::fit_with(&p, &x, &mut NoProgress, tuning(usize::MAX)).unwrap();
        let b = Bpr::fit_with(&p, &x, &mut NoProgress, tuning(0)).unwrap();
        assert_eq!(a, b);
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// The shared store (rows locked, then updated in place) computes exactly what the
    /// exclusive store does when only one worker runs it.
    #[test]
    fn shared_store_on_one_worker_equals_exclusive_bit_for_bit() {
        let mut t = vec![];
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for u in 0..50u32 {
            for i in 0..40u32 {
                if rng.random::<f32>() < 0.2 {
                    t.push((u, i));
                }
            }
        }
        let rows: Vec<u32> = t.iter().map(|p| p.0).collect();
        let cols: Vec<u32> = t.iter().map(|p| p.1).collect();
        let x = CsrMatrix::from_triplets(
            50,
            40,
            &rows,
            &cols,
            &vec![1.0; t.len()],
            recs_sparse::DuplicatePolicy::Error,
        )
        .unwrap();
        for factors in [1, 7, 16, 37] {
            let p = BprParams {
                factors,
                epochs: 4,
                learning_rate: 0.05,
                threads: 1,
                ..BprParams::default()
            };
            let run = |always_shared| {
                let tuning = Tuning {
                    bitset_max_bytes: BITSET_MAX_BYTES,
                    always_shared,
                };
                Bpr::fit_with(&p, &x, &mut NoProgress, tuning).unwrap()
            };
            let (a, b) = (run(false), run(true));
            assert_eq!(
                bits(a.user_factors()),
                bits(b.user_factors()),
                "k {factors}"
            );
            assert_eq!(
                bits(a.item_factors()),
                bits(b.item_factors()),
                "k {factors}"
            );
            assert_eq!(bits(a.item_bias()), bits(b.item_bias()), "k {factors}");
        }
    }

    /// More workers than interactions: some workers draw nothing, the others one pair each.
    #[test]
    fn more_workers_than_interactions_still_train() {
        let rows = [0u32, 0, 1, 2, 2, 2, 3];
        let cols = [1u32, 4, 0, 2, 3, 5, 1];
        let x = CsrMatrix::from_triplets(
            4,
            6,
            &rows,
            &cols,
            &[1.0; 7],
            recs_sparse::DuplicatePolicy::Error,
        )
        .unwrap();
        let p = BprParams {
            factors: 3,
            epochs: 3,
            learning_rate: 0.05,
            threads: 9,
            ..BprParams::default()
        };
        let mut reports = 0;
        let mut cb = |e: &EpochReport| {
            assert!(e.validation.is_some());
            reports += 1;
            Control::Continue
        };
        let m = Bpr::fit(&p, &x, &mut cb).unwrap();
        assert_eq!(reports, 3);
        assert!(m.user_factors().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn params_deserialise_with_defaults_and_refuse_unknown_fields() {
        let p: BprParams = serde_json::from_str(r#"{"factors": 3, "threads": 1}"#).unwrap();
        assert_eq!(
            p,
            BprParams {
                factors: 3,
                threads: 1,
                ..BprParams::default()
            }
        );
        let e = serde_json::from_str::<BprParams>(r#"{"n_factors": 3}"#).unwrap_err();
        assert!(e.to_string().contains("n_factors"), "{e}");
        let back: BprParams = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn step_loss_and_gradient_are_stable_at_large_margins() {
        for (bi, want_loss, want_z) in [
            (0.0f32, 2f64.ln(), 0.5f64),
            (100.0, 0.0, 0.0),
            (-100.0, 100.0, 1.0),
        ] {
            let (mut pu, mut qi, mut qj) = ([0.0f32], [0.0f32], [0.0f32]);
            let (mut b_i, mut b_j) = (bi, 0.0f32);
            let (x, loss) = bpr_step(&mut pu, &mut qi, &mut qj, &mut b_i, &mut b_j, 1.0, 0.0);
            assert_eq!(x, bi);
            assert!(
                (f64::from(loss) - want_loss).abs() < 1e-5,
                "{bi}: loss {loss}"
            );
            // b_i moved by lr · z
            assert!(
                (f64::from(b_i - bi) - want_z).abs() < 1e-4,
                "{bi}: z {}",
                b_i - bi
            );
        }
    }

    #[test]
    fn validate_names_the_parameter() {
        let p = BprParams {
            reg: -0.1,
            ..BprParams::default()
        };
        assert!(p.validate().unwrap_err().to_string().contains("`reg`"));
        for (p, name) in [
            (
                BprParams {
                    factors: 0,
                    ..BprParams::default()
                },
                "factors",
            ),
            (
                BprParams {
                    epochs: 0,
                    ..BprParams::default()
                },
                "epochs",
            ),
            (
                BprParams {
                    learning_rate: 0.0,
                    ..BprParams::default()
                },
                "learning_rate",
            ),
            (
                BprParams {
                    threads: 5000,
                    ..BprParams::default()
                },
                "threads",
            ),
        ] {
            assert_eq!(p.validate().unwrap_err().param, name);
        }
        assert!(BprParams::default().validate().is_ok());
        // fit checks first
        let x = CsrMatrix::from_triplets(
            2,
            2,
            &[0],
            &[0],
            &[1.0],
            recs_sparse::DuplicatePolicy::Error,
        )
        .unwrap();
        assert!(matches!(
            Bpr::fit(&p, &x, &mut NoProgress),
            Err(ModelError::Param(e)) if e.param == "reg"
        ));
    }
}
