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
//! With `n_threads == 1` training is single-threaded and deterministic: the same seed gives
//! bit-identical factors. With more threads, the workers update the shared factors without
//! locks (Hogwild, Niu et al. 2011), like Cornac and implicit; results then vary slightly
//! from run to run.

use std::path::Path;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use recs_metrics::{ScoreError, Scorer};
use recs_sparse::CsrMatrix;
use serde::{Deserialize, Serialize};

use crate::baseline::score_checks;
use crate::common::{
    check_user, dot, dot_diff, excluded_items, has_avx2, similar_by_cosine, top_k,
};
use crate::mf::param_err;
use crate::{EpochReport, FactorError, io};

/// How negative items are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum NegativeSampling {
    /// Uniformly over all items (Cornac; default).
    #[default]
    Uniform,
    /// Proportionally to item popularity: the item of a uniformly drawn training interaction
    /// (implicit's sampler).
    Popularity,
}

/// Hyper-parameters of [`Bpr`]; the defaults are Cornac `BPR`'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BprParams {
    /// Latent factors (default 10; 1..=4096).
    pub n_factors: usize,
    /// Epochs; each draws as many pairs as there are interactions (default 100; 1..=100000).
    pub n_epochs: usize,
    /// SGD learning rate (default 0.001; > 0 and ≤ 10).
    pub lr: f32,
    /// L2 regularization λ of factors and item biases (default 0.01; ≥ 0 and ≤ 100).
    pub reg: f32,
    /// Negative sampling (default [`NegativeSampling::Uniform`]).
    pub negatives: NegativeSampling,
    /// Redraws of a negative the user has interacted with before the pair is skipped
    /// (default 100; ≤ 100000; 0 skips at once, as Cornac does).
    pub max_resample: usize,
    /// Worker threads (default 0: rayon's pool size). 1 is the deterministic mode; more run
    /// lock-free (Hogwild) on rayon's pool.
    pub n_threads: usize,
    /// Seed of the initialization and every draw (default 42).
    pub seed: u64,
}

impl Default for BprParams {
    fn default() -> Self {
        Self {
            n_factors: 10,
            n_epochs: 100,
            lr: 0.001,
            reg: 0.01,
            negatives: NegativeSampling::Uniform,
            max_resample: 100,
            n_threads: 0,
            seed: 42,
        }
    }
}

impl BprParams {
    /// Checks every parameter against its documented range.
    pub fn validate(&self) -> Result<(), FactorError> {
        if !(1..=4096).contains(&self.n_factors) {
            return Err(param_err("n_factors", self.n_factors, "1..=4096"));
        }
        if !(1..=100_000).contains(&self.n_epochs) {
            return Err(param_err("n_epochs", self.n_epochs, "1..=100000"));
        }
        if !(self.lr > 0.0 && self.lr <= 10.0) {
            return Err(param_err("lr", self.lr, "> 0 and <= 10"));
        }
        if !(self.reg >= 0.0 && self.reg <= 100.0) {
            return Err(param_err("reg", self.reg, ">= 0 and <= 100"));
        }
        if self.max_resample > 100_000 {
            return Err(param_err("max_resample", self.max_resample, "0..=100000"));
        }
        if self.n_threads > 1024 {
            return Err(param_err(
                "n_threads",
                self.n_threads,
                "0..=1024 (0: rayon's pool size)",
            ));
        }
        Ok(())
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

/// A buffer the Hogwild workers share.
#[derive(Clone, Copy)]
struct Shared {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: `Shared` is only a pointer and a length; what makes sharing it across threads
// acceptable is documented at its single use, `Shared::slice`.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    fn new(v: &mut [f32]) -> Self {
        Self {
            ptr: v.as_mut_ptr(),
            len: v.len(),
        }
    }

    /// The `len` values starting at `at`, as a mutable slice.
    ///
    /// # Safety
    /// `at + len <= self.len`, the buffer outlives `'a`, and the calling thread holds no
    /// other slice overlapping this range while it uses the result (the training loop takes
    /// a user row from one buffer and two *distinct* item rows from another, so one thread's
    /// slices never overlap).
    ///
    /// Other threads may hold the same rows at the same time: that is Hogwild's deliberate
    /// unsynchronised sharing (Niu et al. 2011; Cornac and implicit do the same in C++).
    /// Concurrent plain `f32` loads and stores can only mix old and new values element by
    /// element; every bit pattern is a valid `f32`, values are never used as indices or
    /// lengths, and after the workers join the buffers are only read through their owning
    /// `Vec`s again. Strictly, Rust's memory model calls such a race undefined behaviour;
    /// the deterministic mode (`n_threads == 1`) never has two workers and so never races.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice<'a>(self, at: usize, len: usize) -> &'a mut [f32] {
        debug_assert!(at + len <= self.len);
        // SAFETY: in bounds and live by the caller's contract; see above for sharing.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(at), len) }
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

struct Job<'a> {
    train: &'a CsrMatrix,
    /// Dense user × item membership bits when they fit [`BITSET_MAX_BYTES`] (a negative
    /// check is then one cached load instead of a binary search over the user's row).
    seen: Option<&'a [u64]>,
    /// (user, item) of every stored entry, so a positive draw is one memory read.
    pairs: &'a [(u32, u32)],
    k: usize,
    n_items: usize,
    params: &'a BprParams,
    uf: Shared,
    itf: Shared,
    ib: Shared,
    avx2: bool,
}

impl Job<'_> {
    /// Runs `n_samples` draws with `rng`.
    ///
    /// # Safety
    /// The shared buffers hold `n_users × k`, `n_items × k` and `n_items` values and outlive
    /// the call; concurrent callers are Hogwild workers (see [`Shared::slice`]).
    unsafe fn run(&self, n_samples: u64, rng: &mut ChaCha8Rng) -> Tally {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is only set when the CPU has AVX2 and FMA; the caller's contract
            // is passed on.
            return unsafe { self.run_avx2(n_samples, rng) };
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { self.run_body(n_samples, rng) }
    }

    /// [`Job::run_body`] compiled for AVX2 + FMA.
    ///
    /// # Safety
    /// As for [`Job::run`], and the CPU must support AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, n_samples: u64, rng: &mut ChaCha8Rng) -> Tally {
        // SAFETY: the caller's contract is passed on.
        unsafe { self.run_body(n_samples, rng) }
    }

    /// The sampling and update loop, software-pipelined: the positive pair of step `t + 2`
    /// and the user, item and first negative candidate of step `t + 1` are drawn ahead and
    /// their memory prefetched, so the random reads (pair array, membership bits, factor
    /// rows) overlap the arithmetic of step `t` instead of stalling it. The draws come from
    /// one stream in a fixed order, so a seed still fixes every sample.
    ///
    /// # Safety
    /// As for [`Job::run`].
    #[inline(always)]
    unsafe fn run_body(&self, n_samples: u64, rng: &mut ChaCha8Rng) -> Tally {
        let k = self.k;
        let indices = self.train.indices();
        let nnz = indices.len();
        let mut t = Tally::default();
        if n_samples == 0 {
            return t;
        }
        let negative = |rng: &mut ChaCha8Rng| match self.params.negatives {
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
        let stage = |u: usize, i: usize, c: usize| {
            match self.seen {
                Some(bits) => prefetch(bits.as_ptr().wrapping_add((u * self.n_items + c) / 64)),
                None => prefetch(indices.as_ptr().wrapping_add(self.train.indptr()[u])),
            }
            prefetch_row(self.uf.ptr.wrapping_add(u * k), k);
            prefetch_row(self.itf.ptr.wrapping_add(i * k), k);
            prefetch_row(self.itf.ptr.wrapping_add(c * k), k);
            prefetch(self.ib.ptr.wrapping_add(i));
            prefetch(self.ib.ptr.wrapping_add(c));
        };
        let (u, i) = self.pairs[rng.random_range(0..nnz)];
        let mut next = (u as usize, i as usize, negative(rng));
        stage(next.0, next.1, next.2);
        let mut ahead = rng.random_range(0..nnz);
        prefetch(self.pairs.as_ptr().wrapping_add(ahead));
        for s in 0..n_samples {
            let (u, i, first) = next;
            if s + 1 < n_samples {
                let (nu, ni) = self.pairs[ahead];
                next = (nu as usize, ni as usize, negative(rng));
                stage(next.0, next.1, next.2);
                ahead = rng.random_range(0..nnz);
                prefetch(self.pairs.as_ptr().wrapping_add(ahead));
            }
            let mut j = None;
            let mut c = first;
            for attempt in 0..=self.params.max_resample {
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
            debug_assert_ne!(i, j);
            // SAFETY: u < n_users and i, j < n_items (CSR invariants), so every range is in
            // bounds; i != j (j is not in the user's row, i is), so this thread's five slices
            // are disjoint; the caller guarantees the buffers live and documents the sharing.
            let (pu, qi, qj, bi, bj) = unsafe {
                (
                    self.uf.slice(u * k, k),
                    self.itf.slice(i * k, k),
                    self.itf.slice(j * k, k),
                    self.ib.slice(i, 1),
                    self.ib.slice(j, 1),
                )
            };
            let (x, loss) = bpr_step(
                pu,
                qi,
                qj,
                &mut bi[0],
                &mut bj[0],
                self.params.lr,
                self.params.reg,
            );
            t.pairs += 1;
            if x > 0.0 {
                t.correct += 1;
            }
            t.loss += f64::from(loss);
        }
        t
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

impl Bpr {
    /// Trains on the interactions of `train` (users × items; every stored entry is a
    /// positive, whatever its value), calling `progress` after every epoch with the mean
    /// BPR loss and the fraction of sampled pairs ordered correctly (`train_auc`).
    ///
    /// Errors when the parameters are out of range, `train` has no interaction or no
    /// user lacks some item, or the loss stops being finite.
    pub fn fit(
        params: &BprParams,
        train: &CsrMatrix,
        progress: Option<&mut dyn FnMut(&EpochReport)>,
    ) -> Result<Self, FactorError> {
        Self::fit_with(params, train, progress, BITSET_MAX_BYTES)
    }

    /// [`Bpr::fit`] with the bitset size limit as an argument (tests use 0 to exercise the
    /// binary-search path).
    fn fit_with(
        params: &BprParams,
        train: &CsrMatrix,
        mut progress: Option<&mut dyn FnMut(&EpochReport)>,
        bitset_max_bytes: usize,
    ) -> Result<Self, FactorError> {
        params.validate()?;
        let (nu, ni, k) = (train.n_rows(), train.n_cols(), params.n_factors);
        let nnz = train.nnz();
        if nnz == 0 {
            return Err(FactorError::Data("no interaction to train on".into()));
        }
        if nnz >= nu * ni {
            return Err(FactorError::Data(
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
        let threads = if params.n_threads == 0 {
            rayon::current_num_threads().max(1)
        } else {
            params.n_threads
        };
        let avx2 = has_avx2();
        let seen = (nu * ni / 8 <= bitset_max_bytes).then(|| {
            let mut bits = vec![0u64; (nu * ni).div_ceil(64)];
            for &(u, i) in &pairs {
                let b = u as usize * ni + i as usize;
                bits[b / 64] |= 1 << (b % 64);
            }
            bits
        });
        for epoch in 1..=params.n_epochs {
            let t0 = Instant::now();
            let job = Job {
                train,
                seen: seen.as_deref(),
                pairs: &pairs,
                k,
                n_items: ni,
                params,
                uf: Shared::new(&mut uf),
                itf: Shared::new(&mut itf),
                ib: Shared::new(&mut ib),
                avx2,
            };
            let per = nnz as u64 / threads as u64;
            let extra = nnz as u64 % threads as u64;
            let worker = |w: usize| {
                let mut r = ChaCha8Rng::seed_from_u64(params.seed);
                r.set_stream(((epoch as u64) << 16) | w as u64);
                let n = per + u64::from((w as u64) < extra);
                // SAFETY: the three buffers are alive for the whole loop (borrowed by
                // `Shared::new` above and not touched otherwise until the workers join) and
                // have the sizes `run` expects.
                unsafe { job.run(n, &mut r) }
            };
            let tallies: Vec<Tally> = if threads == 1 {
                vec![worker(0)]
            } else {
                (0..threads).into_par_iter().map(worker).collect()
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
                return Err(FactorError::Diverged { epoch, loss });
            }
            if let Some(cb) = progress.as_deref_mut() {
                cb(&EpochReport {
                    epoch,
                    loss,
                    train_auc: (t.pairs > 0).then(|| t.correct as f64 / t.pairs as f64),
                    seconds: t0.elapsed().as_secs_f64(),
                });
            }
        }
        Ok(Self {
            params: params.clone(),
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

    /// User factors, row-major `n_users × n_factors`.
    pub fn user_factors(&self) -> &[f32] {
        &self.user_factors
    }

    /// Item factors, row-major `n_items × n_factors`.
    pub fn item_factors(&self) -> &[f32] {
        &self.item_factors
    }

    /// Item biases.
    pub fn item_bias(&self) -> &[f32] {
        &self.item_bias
    }

    fn fill_scores(&self, user: u32, out: &mut [f32]) {
        let k = self.params.n_factors;
        let p = &self.user_factors[user as usize * k..(user as usize + 1) * k];
        for ((o, q), b) in out
            .iter_mut()
            .zip(self.item_factors.chunks_exact(k))
            .zip(&self.item_bias)
        {
            *o = b + dot(p, q);
        }
    }

    /// The `k` highest-scoring items for `user`, best first, leaving out the user's row of
    /// `exclude` (typically the training matrix).
    pub fn recommend(
        &self,
        user: u32,
        k: usize,
        exclude: Option<&CsrMatrix>,
    ) -> Result<Vec<(u32, f32)>, FactorError> {
        check_user(user, self.n_users)?;
        let mut s = vec![0f32; self.n_items];
        self.fill_scores(user, &mut s);
        Ok(top_k(&s, k, excluded_items(exclude, user)))
    }

    /// The `k` items whose factor vectors have the largest cosine with `item`'s.
    pub fn similar_items(&self, item: u32, k: usize) -> Result<Vec<(u32, f32)>, FactorError> {
        similar_by_cosine(&self.item_factors, self.params.n_factors, item, k)
    }

    /// Writes the model to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), FactorError> {
        let k = self.params.n_factors;
        let meta = serde_json::json!({
            "params": self.params,
            "n_users": self.n_users,
            "n_items": self.n_items,
        });
        io::save(
            path,
            "bpr",
            meta,
            &[
                ("user_factors", vec![self.n_users, k], &self.user_factors),
                ("item_factors", vec![self.n_items, k], &self.item_factors),
                ("item_bias", vec![self.n_items], &self.item_bias),
            ],
        )
    }

    /// Reads a model written by [`Bpr::save`].
    pub fn load(path: &Path) -> Result<Self, FactorError> {
        let mut f = io::load(path, "bpr")?;
        let params: BprParams = f.meta_de("params")?;
        params.validate().map_err(|e| f.bad(e.to_string()))?;
        let nu = f.meta_u64("n_users")? as usize;
        let ni = f.meta_u64("n_items")? as usize;
        let k = params.n_factors;
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
            n_factors: 4,
            n_epochs: 5,
            lr: 0.05,
            n_threads: 1,
            ..BprParams::default()
        };
        let a = Bpr::fit_with(&p, &x, None, usize::MAX).unwrap();
        let b = Bpr::fit_with(&p, &x, None, 0).unwrap();
        assert_eq!(a, b);
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
        assert!(BprParams::default().validate().is_ok());
    }
}
