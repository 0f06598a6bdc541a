//! BPR's per-row solve with the other side fixed: the SGD of training, on one user's (or
//! one item's) triples only. The solved vectors follow implicit's layout for BPR, the item
//! bias as an extra column: a user's `[p_u, 1]`, an item's `[q_i, b_i]`, so that their dot
//! product is the score.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recs_core::{RowSolver, ScoreError};

use super::model::Bpr;

fn sigmoid_neg(x: f32) -> f32 {
    1.0 / (1.0 + x.exp())
}

impl Bpr {
    /// Checks a row's indices (below `n`) and values (finite, one per index).
    fn check_row(
        &self,
        idx: &[u32],
        values: &[f32],
        n: usize,
        what: &str,
    ) -> Result<(), ScoreError> {
        recs_core::model::check_rated(idx, values, None)?;
        if let Some(&bad) = idx.iter().find(|&&i| i as usize >= n) {
            return Err(ScoreError::Model(format!(
                "{what} index {bad} is out of range: the model knows {n} {what}s"
            )));
        }
        Ok(())
    }

    /// A generator seeded by the model's seed and the row's indices: the same row gives the
    /// same solve.
    fn row_rng(&self, idx: &[u32]) -> ChaCha8Rng {
        let mut h = self.params.seed ^ 0x9e37_79b9_7f4a_7c15;
        for &i in idx {
            h = (h ^ u64::from(i)).wrapping_mul(0x0100_0000_01b3);
        }
        ChaCha8Rng::seed_from_u64(h)
    }

    fn check_out(&self, out: &[f32]) -> Result<(), ScoreError> {
        let dim = self.params.factors + 1;
        if out.len() == dim {
            Ok(())
        } else {
            Err(ScoreError::BufferLength {
                got: out.len(),
                expected: dim,
            })
        }
    }
}

impl RowSolver for Bpr {
    fn dim(&self) -> usize {
        self.params.factors + 1
    }

    /// `epochs` passes over the user's items, each against an item the user has not seen,
    /// drawn uniformly; values are not used (BPR ranks from implicit feedback).
    fn solve_user(&self, items: &[u32], values: &[f32], out: &mut [f32]) -> Result<(), ScoreError> {
        self.check_row(items, values, self.n_items, "item")?;
        self.check_out(out)?;
        let k = self.params.factors;
        let (lr, reg) = (self.params.learning_rate as f32, self.params.reg as f32);
        let mut seen: Vec<u32> = items.to_vec();
        seen.sort_unstable();
        seen.dedup();
        let p = &mut out[..k];
        p.fill(0.0);
        if seen.is_empty() || seen.len() >= self.n_items {
            out[k] = 1.0;
            return Ok(());
        }
        let mut rng = self.row_rng(&seen);
        let q = |i: u32| &self.item_factors[i as usize * k..(i as usize + 1) * k];
        for _ in 0..self.params.epochs {
            for _ in 0..seen.len() {
                let i = seen[rng.random_range(0..seen.len())];
                let j = loop {
                    let j = rng.random_range(0..self.n_items as u32);
                    if seen.binary_search(&j).is_err() {
                        break j;
                    }
                };
                let (qi, qj) = (q(i), q(j));
                let x = self.item_bias[i as usize] - self.item_bias[j as usize]
                    + p.iter()
                        .zip(qi.iter().zip(qj))
                        .map(|(a, (b, c))| a * (b - c))
                        .sum::<f32>();
                let g = sigmoid_neg(x);
                for (pv, (b, c)) in p.iter_mut().zip(qi.iter().zip(qj)) {
                    *pv += lr * (g * (b - c) - reg * *pv);
                }
            }
        }
        out[k] = 1.0;
        Ok(())
    }

    /// `epochs` passes over the item's users, each against an item drawn uniformly (other
    /// than this one); the item's factors and bias are solved, everything else fixed.
    fn solve_item(&self, users: &[u32], values: &[f32], out: &mut [f32]) -> Result<(), ScoreError> {
        self.check_row(users, values, self.n_users, "user")?;
        self.check_out(out)?;
        let k = self.params.factors;
        let (lr, reg) = (self.params.learning_rate as f32, self.params.reg as f32);
        out.fill(0.0);
        if users.is_empty() || self.n_items < 2 {
            return Ok(());
        }
        let mut rng = self.row_rng(users);
        let (q, b) = out.split_at_mut(k);
        let b = &mut b[0];
        for _ in 0..self.params.epochs {
            for _ in 0..users.len() {
                let u = users[rng.random_range(0..users.len())] as usize;
                let j = rng.random_range(0..self.n_items);
                let pu = &self.user_factors[u * k..(u + 1) * k];
                let qj = &self.item_factors[j * k..(j + 1) * k];
                let x = *b - self.item_bias[j]
                    + pu.iter()
                        .zip(q.iter().zip(qj))
                        .map(|(a, (c, d))| a * (c - d))
                        .sum::<f32>();
                let g = sigmoid_neg(x);
                for (qv, &a) in q.iter_mut().zip(pu) {
                    *qv += lr * (g * a - reg * *qv);
                }
                *b += lr * (g - reg * *b);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use recs_core::{NoProgress, Recommender, RowSolver, Scorer, TrainData};
    use recs_sparse::{CsrMatrix, DuplicatePolicy};

    use super::super::{Bpr, BprParams};

    #[test]
    fn a_solved_user_ranks_their_kind_of_items_first() {
        // Two blocks: users 0..20 like items 0..10, users 20..40 like items 10..20.
        let (mut u, mut i) = (Vec::new(), Vec::new());
        for user in 0..40u32 {
            for item in 0..10u32 {
                if (user + item) % 3 != 0 {
                    u.push(user);
                    i.push(item + if user < 20 { 0 } else { 10 });
                }
            }
        }
        let v = vec![1.0; u.len()];
        let x = CsrMatrix::from_triplets(40, 20, &u, &i, &v, DuplicatePolicy::KeepLast).unwrap();
        let p = BprParams {
            factors: 8,
            epochs: 40,
            threads: 1,
            ..BprParams::default()
        };
        let m = Bpr::fit(&p, &TrainData::new(&x), &mut NoProgress).unwrap();
        let mut row = vec![0.0; m.dim()];
        m.solve_user(&[1, 2, 3], &[1.0; 3], &mut row).unwrap();
        assert_eq!(row[8], 1.0);
        // Its scores through the item vectors with the bias column.
        let score = |j: usize| {
            let q = &m.item_factors()[j * 8..(j + 1) * 8];
            m.item_bias()[j] + row[..8].iter().zip(q).map(|(a, b)| a * b).sum::<f32>()
        };
        let first: f32 = (4..10).map(score).sum::<f32>() / 6.0;
        let second: f32 = (10..20).map(score).sum::<f32>() / 10.0;
        assert!(first > second, "{first} vs {second}");
        assert_eq!(m.n_items(), 20);
        let mut item = vec![0.0; m.dim()];
        m.solve_item(&[0, 1, 2, 3], &[1.0; 4], &mut item).unwrap();
        assert!(item.iter().all(|v| v.is_finite()));
        assert!(m.solve_item(&[40], &[1.0], &mut item).is_err());
    }
}
