//! The factors the parallel workers share: each user row and each item (factor row and
//! bias) guarded by a spin lock, so asynchronous (Hogwild-style) training has no data race.

use std::sync::atomic::{AtomicBool, Ordering};

use rand_chacha::ChaCha8Rng;

use super::kernels::{Job, Store, Tally, bpr_step, prefetch, prefetch_row};

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
pub(super) struct SharedFactors<'a> {
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
    pub(super) fn new(uf: &'a mut [f32], itf: &'a mut [f32], ib: &'a mut [f32], k: usize) -> Self {
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

recs_core::multiversion! {
    /// [`Job::run_body`] for one parallel worker on the shared buffers, at the widest SIMD
    /// level allowed.
    pub(super) fn run_shared(
        job: &Job<'_>,
        shared: &SharedFactors<'_>,
        n_samples: u64,
        rng: &mut ChaCha8Rng,
    ) -> Tally {
        job.run_body(&mut { shared }, n_samples, rng)
    }
}
