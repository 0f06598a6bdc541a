//! A small fork-join team for the training loop's many short parallel regions.
//!
//! A batch step is a handful of parallel regions of 0.1–1 ms separated by short serial
//! work. Rayon's idle workers go to sleep between such regions, and waking a sleeping
//! thread (a futex, and on a virtual machine an interrupt to a halted virtual CPU) costs
//! about as much as the region itself. A [`Team`] keeps its helper threads spinning for the
//! length of one epoch, so dispatching a region costs well under a microsecond; the
//! calling thread works alongside them.
//!
//! The active team is found through a thread-local set by [`Team::run_with`]; with no team
//! active, [`for_each`] runs serially on the calling thread. Results never depend on the
//! number of threads: tasks are fixed pieces of work, each writing only its own output.

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Busy-wait iterations (`spin_loop` hints, some tens of nanoseconds each) before a waiting
/// thread starts yielding its CPU: long enough to bridge the serial gaps between a batch
/// step's regions, short enough not to starve other work on a shared machine.
const SPINS: u32 = 1 << 12;

/// A task body: called with task indices `0..n`.
type Job<'a> = dyn Fn(usize) + Sync + 'a;

/// The current region, as published to the helpers.
#[derive(Clone, Copy)]
struct Published {
    generation: u32,
    /// Erased to `'static`; only dereferenced while the region is live (see `claim`).
    job: *const Job<'static>,
    n: u32,
}

// SAFETY: the job pointer is only dereferenced by helpers while the region that published
// it is live (the caller of `for_each` waits for every claimed task to finish), and the
// job itself is `Sync`.
unsafe impl Send for Published {}

struct Shared {
    /// `generation << 32 | next task index` of the current region.
    state: AtomicU64,
    /// Tasks of the current region not yet finished.
    remaining: AtomicUsize,
    published: Mutex<Option<Published>>,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    stop: AtomicBool,
}

/// A fork-join team (see the module documentation). Create it with [`Team::run_with`].
pub(crate) struct Team {
    shared: Shared,
}

thread_local! {
    static ACTIVE: Cell<*const Team> = const { Cell::new(std::ptr::null()) };
}

impl Team {
    /// Runs `f` on the calling thread with a team of `threads` threads (the caller and
    /// `threads - 1` spinning helpers) active for every [`for_each`] inside it. With
    /// `threads <= 1`, `f` just runs.
    pub(crate) fn run_with<R>(threads: usize, f: impl FnOnce() -> R) -> R {
        if threads <= 1 {
            return f();
        }
        let team = Team {
            shared: Shared {
                state: AtomicU64::new(0),
                remaining: AtomicUsize::new(0),
                published: Mutex::new(None),
                panic: Mutex::new(None),
                stop: AtomicBool::new(false),
            },
        };
        std::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(|| team.helper());
            }
            struct Reset<'a>(&'a AtomicBool, *const Team);
            impl Drop for Reset<'_> {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::Release);
                    ACTIVE.with(|a| a.set(self.1));
                }
            }
            let previous = ACTIVE.with(|a| a.replace(&team));
            // Stops the helpers and restores the previous team even if `f` panics.
            let _reset = Reset(&team.shared.stop, previous);
            f()
        })
    }

    fn helper(&self) {
        let mut idle = 0u32;
        let mut seen = u64::MAX;
        while !self.shared.stop.load(Ordering::Acquire) {
            let state = self.shared.state.load(Ordering::Acquire);
            if state != seen {
                if self.work() {
                    idle = 0;
                }
                seen = state;
                continue;
            }
            idle = idle.saturating_add(1);
            if idle < SPINS {
                std::hint::spin_loop();
            } else {
                // Idle for a while (the caller is busy with serial work): stay ready, but
                // let other threads on a shared machine run.
                std::thread::yield_now();
            }
        }
    }

    /// Claims and runs tasks of the current region until none is left; returns whether it
    /// ran any.
    fn work(&self) -> bool {
        let state = self.shared.state.load(Ordering::Acquire);
        let Some(p) = *self
            .shared
            .published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
        else {
            return false;
        };
        if (state >> 32) as u32 != p.generation || (state as u32) >= p.n {
            return false;
        }
        let mut ran = false;
        while let Some(i) = self.claim(p.generation, p.n) {
            // SAFETY: `claim` succeeded for generation `p.generation`, so task `i` of that
            // region is ours and unfinished; the region's caller waits for it, so the job
            // is still alive.
            let job = unsafe { &*p.job };
            self.run_task(job, i);
            ran = true;
        }
        ran
    }

    /// Claims the next task of region `generation` (of `n` tasks), if it still has one.
    fn claim(&self, generation: u32, n: u32) -> Option<usize> {
        let mut cur = self.shared.state.load(Ordering::Acquire);
        loop {
            let (g, i) = ((cur >> 32) as u32, cur as u32);
            if g != generation || i >= n {
                return None;
            }
            match self.shared.state.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(i as usize),
                Err(now) => cur = now,
            }
        }
    }

    fn run_task(&self, job: &Job<'_>, i: usize) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| job(i))) {
            let mut slot = self.shared.panic.lock().unwrap_or_else(|e| e.into_inner());
            slot.get_or_insert(payload);
        }
        self.shared.remaining.fetch_sub(1, Ordering::AcqRel);
    }

    fn for_each(&self, n: usize, job: &Job<'_>) {
        // Nested regions (a task that itself calls `for_each`) run serially: the team is
        // busy with this one.
        let me = ACTIVE.with(|a| a.replace(std::ptr::null()));
        struct Restore(*const Team);
        impl Drop for Restore {
            fn drop(&mut self) {
                ACTIVE.with(|a| a.set(self.0));
            }
        }
        let _restore = Restore(me);
        let generation = {
            let mut slot = self
                .shared
                .published
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let generation = slot.map_or(1, |p| p.generation.wrapping_add(1));
            // SAFETY: erasing the lifetime is sound because this function does not return
            // before every task has finished, and helpers only dereference the pointer
            // after claiming a task of this generation (see `work`).
            let job: *const Job<'static> = unsafe { std::mem::transmute(job as *const Job<'_>) };
            *slot = Some(Published {
                generation,
                job,
                n: n as u32,
            });
            self.shared.remaining.store(n, Ordering::Release);
            self.shared
                .state
                .store((generation as u64) << 32, Ordering::Release);
            generation
        };
        while let Some(i) = self.claim(generation, n as u32) {
            self.run_task(job, i);
        }
        // Wait for the helpers' last tasks: spin briefly, then yield, in case a helper was
        // descheduled (the machine may be shared) and needs this CPU to finish.
        let mut spins = 0u32;
        while self.shared.remaining.load(Ordering::Acquire) != 0 {
            if spins < SPINS {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        if let Some(payload) = self
            .shared
            .panic
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            resume_unwind(payload);
        }
    }
}

/// Runs `job(i)` for every `i` in `0..n`: spread over the active team if there is one (and
/// `n > 1`), else in order on this thread. Returns when all are done; a panic in a task is
/// re-raised here.
pub(crate) fn for_each(n: usize, job: impl Fn(usize) + Sync) {
    let team = ACTIVE.with(|a| a.get());
    if team.is_null() || n <= 1 || n > u32::MAX as usize {
        (0..n).for_each(job);
        return;
    }
    // SAFETY: ACTIVE points at a team that lives until `run_with` (on this thread, further
    // up the stack) returns, and is reset before that.
    let team = unsafe { &*team };
    team.for_each(n, &job);
}

/// `f(i)` for `i` in `0..n`, in order, computed as [`for_each`] spreads them.
pub(crate) fn map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let slots: Vec<Mutex<Option<T>>> = (0..n).map(|_| Mutex::new(None)).collect();
    for_each(n, |i| {
        let v = f(i);
        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every task ran")
        })
        .collect()
}

/// Runs `a` and `b`, in parallel on the active team if there is one.
#[cfg_attr(not(feature = "candle"), allow(dead_code))] // used by the candle engine (and tests)
pub(crate) fn join<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    let a = Mutex::new(Some(a));
    let b = Mutex::new(Some(b));
    let (ra, rb) = (Mutex::new(None), Mutex::new(None));
    for_each(2, |i| {
        if i == 0 {
            let f = a
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .expect("runs once");
            *ra.lock().unwrap_or_else(|e| e.into_inner()) = Some(f());
        } else {
            let f = b
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .expect("runs once");
            *rb.lock().unwrap_or_else(|e| e.into_inner()) = Some(f());
        }
    });
    fn unwrap<T>(m: Mutex<Option<T>>) -> T {
        m.into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .expect("ran")
    }
    (unwrap(ra), unwrap(rb))
}

/// Runs `f` on every element of `items`, spread as [`for_each`] spreads tasks.
pub(crate) fn for_each_mut<T: Send>(items: &mut [T], f: impl Fn(&mut T) + Sync) {
    let slots: Vec<Mutex<&mut T>> = items.iter_mut().map(Mutex::new).collect();
    for_each(slots.len(), |i| {
        f(&mut slots[i].lock().unwrap_or_else(|e| e.into_inner()))
    });
}

/// Most threads a team gets: a batch step splits into about eight row chunks, so more
/// threads would only spin.
const MAX_THREADS: usize = 8;

/// How many threads a team should have: rayon's setting (`RAYON_NUM_THREADS`, else the
/// number of CPUs), at most eight.
pub(crate) fn default_threads() -> usize {
    rayon::current_num_threads().clamp(1, MAX_THREADS)
}

/// Chooses, epoch by epoch, whether the next epoch runs on a team or on the calling thread
/// alone, by timing both. On a machine shared with other work, a spinning team can lose to
/// one thread (a helper descheduled in the middle of a task stalls every region); which one
/// wins changes as the load does. Results do not depend on the choice.
///
/// The second epoch and then every [`ThreadChoice::PROBE_EVERY`]-th one run the mode not in
/// favour; every other epoch runs the mode whose latest timing (a moving average over
/// consecutive epochs) is lower.
#[derive(Debug, Clone)]
pub(crate) struct ThreadChoice {
    threads: usize,
    epochs: usize,
    team_seconds: Option<f64>,
    alone_seconds: Option<f64>,
    last: usize,
}

impl ThreadChoice {
    /// Epochs between two probes of the mode not in favour.
    pub(crate) const PROBE_EVERY: usize = 20;

    /// A choice between `threads` threads and one.
    pub(crate) fn new(threads: usize) -> Self {
        Self {
            threads: threads.max(1),
            epochs: 0,
            team_seconds: None,
            alone_seconds: None,
            last: 0,
        }
    }

    fn favoured(&self) -> usize {
        match (self.team_seconds, self.alone_seconds) {
            (Some(t), Some(a)) if a < t => 1,
            _ => self.threads,
        }
    }

    /// The number of threads for the next epoch.
    pub(crate) fn next(&self) -> usize {
        if self.threads == 1 {
            return 1;
        }
        let probe = self.epochs == 1 || (self.epochs > 1 && self.epochs % Self::PROBE_EVERY == 0);
        match (probe, self.favoured()) {
            (true, 1) => self.threads,
            (true, _) => 1,
            (false, f) => f,
        }
    }

    /// Records that an epoch on `threads` threads took `seconds`: averaged with the
    /// previous epoch's time if that ran the same way, else (a probe; the old time may be
    /// many epochs stale) replacing it.
    pub(crate) fn record(&mut self, threads: usize, seconds: f64) {
        self.epochs += 1;
        let same = (threads > 1) == (self.last > 1);
        self.last = threads;
        let slot = if threads > 1 {
            &mut self.team_seconds
        } else {
            &mut self.alone_seconds
        };
        *slot = Some(match *slot {
            Some(old) if same => 0.5 * (old + seconds),
            _ => seconds,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_task_runs_once_with_and_without_a_team() {
        for threads in [1, 2, 4] {
            Team::run_with(threads, || {
                for n in [0, 1, 2, 7, 100] {
                    let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                    for_each(n, |i| {
                        hits[i].fetch_add(1, Ordering::Relaxed);
                    });
                    assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
                    assert_eq!(map(n, |i| i * 2), (0..n).map(|i| i * 2).collect::<Vec<_>>());
                }
                let (a, b) = join(|| 1, || "two");
                assert_eq!((a, b), (1, "two"));
                // Nested regions run serially and still see every task.
                let total = AtomicUsize::new(0);
                for_each(4, |_| {
                    for_each(3, |_| {
                        total.fetch_add(1, Ordering::Relaxed);
                    })
                });
                assert_eq!(total.load(Ordering::Relaxed), 12);
                let mut v = vec![1, 2, 3];
                for_each_mut(&mut v, |x| *x *= 10);
                assert_eq!(v, vec![10, 20, 30]);
            });
        }
    }

    #[test]
    fn the_choice_follows_the_faster_mode_and_keeps_probing() {
        let mut c = ThreadChoice::new(2);
        assert_eq!(c.next(), 2);
        c.record(2, 1.0);
        assert_eq!(c.next(), 1, "the second epoch probes one thread");
        c.record(1, 0.5);
        assert_eq!(c.next(), 1, "one thread was faster");
        for _ in 2..ThreadChoice::PROBE_EVERY {
            let t = c.next();
            c.record(t, if t == 1 { 0.5 } else { 1.0 });
        }
        assert_eq!(c.next(), 2, "a probe of the team");
        c.record(2, 0.1);
        assert_eq!(c.next(), 2, "the team got faster");
        let single = ThreadChoice::new(1);
        assert_eq!(single.next(), 1);
    }

    #[test]
    fn a_panicking_task_is_reraised_and_the_team_stops() {
        let r = std::panic::catch_unwind(|| {
            Team::run_with(2, || {
                for_each(8, |i| {
                    if i == 5 {
                        panic!("task 5");
                    }
                });
            })
        });
        assert!(r.is_err());
        // No team is left active on this thread.
        let mut order = Vec::new();
        let m = Mutex::new(&mut order);
        for_each(3, |i| m.lock().unwrap().push(i));
        assert_eq!(order, vec![0, 1, 2]);
    }
}
