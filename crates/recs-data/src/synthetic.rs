//! A seeded synthetic interaction generator with power-law user activity and item
//! popularity, for tests and for measuring loaders and models at scale.

use std::io::Write;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{DataError, Interactions};

/// Parameters of [`generate`].
#[derive(Debug, Clone)]
pub struct SyntheticParams {
    /// Number of users (≥ 1). Default 1,000.
    pub n_users: usize,
    /// Number of items (≥ 1). Default 1,000.
    pub n_items: usize,
    /// Number of interactions drawn (≥ 1; repeated pairs possible). Default 50,000.
    pub n_interactions: usize,
    /// Exponent `a` of user activity: the user of rank `k` is drawn ∝ `(k + 1)^-a`
    /// (0 = uniform; finite, ≥ 0). Default 0.8.
    pub user_exponent: f64,
    /// Exponent of item popularity, likewise. Default 1.0.
    pub item_exponent: f64,
    /// Random seed. Default 0.
    pub seed: u64,
}

impl Default for SyntheticParams {
    fn default() -> Self {
        Self {
            n_users: 1_000,
            n_items: 1_000,
            n_interactions: 50_000,
            user_exponent: 0.8,
            item_exponent: 1.0,
            seed: 0,
        }
    }
}

impl SyntheticParams {
    /// Checks every parameter against its allowed range.
    pub fn validate(&self) -> Result<(), DataError> {
        for (name, v) in [
            ("n_users", self.n_users),
            ("n_items", self.n_items),
            ("n_interactions", self.n_interactions),
        ] {
            if v == 0 || v > u32::MAX as usize {
                return Err(DataError::Param {
                    name,
                    value: v.to_string(),
                    allowed: "1 ..= 4294967295",
                });
            }
        }
        for (name, v) in [
            ("user_exponent", self.user_exponent),
            ("item_exponent", self.item_exponent),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(DataError::Param {
                    name,
                    value: v.to_string(),
                    allowed: "finite and >= 0",
                });
            }
        }
        Ok(())
    }
}

/// Cumulative power-law weights over `n` ranks, for inverse-CDF sampling.
fn cumulative(n: usize, a: f64) -> Vec<f64> {
    let mut acc = 0.0;
    (0..n)
        .map(|k| {
            acc += ((k + 1) as f64).powf(-a);
            acc
        })
        .collect()
}

fn draw(cdf: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let x = rng.random::<f64>() * cdf[cdf.len() - 1];
    cdf.partition_point(|&c| c <= x).min(cdf.len() - 1)
}

/// Draws `n_interactions` rows: user and item by their power laws (user ids `u0..`, item
/// ids `i0..` by rank; the id maps hold all of them, in rank order), rating an integer 1..=5
/// uniformly, timestamps 0, 1, 2, ... in row order. Same parameters → same data.
pub fn generate(p: &SyntheticParams) -> Result<Interactions, DataError> {
    p.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let (cu, ci) = (
        cumulative(p.n_users, p.user_exponent),
        cumulative(p.n_items, p.item_exponent),
    );
    let mut users = Vec::with_capacity(p.n_interactions);
    let mut items = Vec::with_capacity(p.n_interactions);
    let mut values = Vec::with_capacity(p.n_interactions);
    for _ in 0..p.n_interactions {
        users.push(draw(&cu, &mut rng) as u32);
        items.push(draw(&ci, &mut rng) as u32);
        values.push(rng.random_range(1..=5) as f32);
    }
    let ts = (0..p.n_interactions as i64).collect();
    let map = |prefix: &str, n: usize| {
        let mut m = crate::IdMap::new();
        for k in 0..n {
            m.get_or_insert(&format!("{prefix}{k}"));
        }
        std::sync::Arc::new(m)
    };
    Interactions::from_parts(
        users,
        items,
        values,
        Some(ts),
        map("u", p.n_users),
        map("i", p.n_items),
    )
}

/// Writes interactions as `user,item,rating,timestamp` CSV with a header (external ids),
/// through a temporary file renamed into place.
pub fn write_csv(data: &Interactions, path: &Path) -> Result<(), DataError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let tmp = tempfile::NamedTempFile::new_in(dir.unwrap_or(Path::new(".")))
        .map_err(|e| DataError::io(path, e))?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file());
        let io = |e| DataError::io(path, e);
        writeln!(w, "user,item,rating,timestamp").map_err(io)?;
        let ts = data.timestamps();
        for r in 0..data.len() {
            writeln!(
                w,
                "{},{},{},{}",
                data.user_map().external(data.users()[r]),
                data.item_map().external(data.items()[r]),
                data.values()[r],
                ts.map_or(0, |t| t[r])
            )
            .map_err(io)?;
        }
        w.flush().map_err(io)?;
    }
    tmp.persist(path)
        .map_err(|e| DataError::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_power_law_and_csv_round_trip() {
        let p = SyntheticParams {
            n_interactions: 20_000,
            ..Default::default()
        };
        let a = generate(&p).unwrap();
        let b = generate(&p).unwrap();
        assert_eq!((a.users(), a.items()), (b.users(), b.items()));
        let c = generate(&SyntheticParams {
            seed: 1,
            ..p.clone()
        })
        .unwrap();
        assert_ne!(a.items(), c.items());
        // Power law: the top item is far more popular than the median one.
        let ic = a.item_counts();
        assert!(ic[0] > 20 * ic[500].max(1), "{} vs {}", ic[0], ic[500]);
        assert!(
            a.values()
                .iter()
                .all(|&v| (1.0..=5.0).contains(&v) && v.fract() == 0.0)
        );

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.csv");
        write_csv(&a, &f).unwrap();
        let back = crate::load_delimited(&f, &crate::DelimitedOptions::uirt(",", true)).unwrap();
        assert_eq!(back.len(), a.len());
        assert_eq!(back.values(), a.values());
        assert_eq!(
            back.user_map().external(back.users()[7]),
            a.user_map().external(a.users()[7])
        );

        let bad = SyntheticParams {
            item_exponent: -1.0,
            ..p
        };
        assert!(
            generate(&bad)
                .unwrap_err()
                .to_string()
                .contains("item_exponent")
        );
    }
}
