//! [`AlsParams`] and [`AlsSolver`]: ALS's hyper-parameters and their schema.

use recs_core::ModelParams;
use recs_core::schema::{ParamSpec, Scale};
use serde::{Deserialize, Serialize};

/// How each row's least-squares system is solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AlsSolver {
    /// A few conjugate-gradient steps warm-started from the previous factors (implicit's
    /// default, `use_cg=True`; default).
    #[default]
    Cg,
    /// The exact solve by a Cholesky factorisation of each row's system (implicit's
    /// `use_cg=False`).
    Cholesky,
}

/// How λ weighs on a row's factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RegScaling {
    /// λ on every row (implicit's; default).
    #[default]
    None,
    /// λ times the row's count of positive entries (ALS-WR, Zhou et al. 2008: Spark MLlib's
    /// ALS): a heavy user's or popular item's factors are held back as much as its data
    /// pulls them. A row without a positive entry counts 1.
    Count,
}

/// How the factors start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AlsInit {
    /// Uniform in [0, 0.01) (implicit's; default).
    #[default]
    Uniform,
    /// Each row drawn from a standard normal and scaled to unit length (Spark MLlib's ALS):
    /// after a few iterations it ranks better than a near-zero start.
    Normal,
}

/// Hyper-parameters of `Als`; the defaults are implicit's `AlternatingLeastSquares`
/// defaults. Missing fields take their defaults when deserialised; unknown fields are an
/// error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlsParams {
    /// Latent factors (default 100; 1..=4096).
    pub factors: usize,
    /// ALS iterations, each a user and an item half (implicit's `iterations`; default 15;
    /// 1..=100000).
    pub epochs: usize,
    /// L2 regularisation λ added to every row's system (implicit's `regularization`;
    /// default 0.01; in [0, 1e6]). Training uses it as an `f32`. With 0, a row's system
    /// can be singular: the Cholesky solver then refuses.
    pub reg: f64,
    /// How λ scales per row (default [`RegScaling::None`], implicit's; `count` is Spark
    /// MLlib's ALS-WR).
    pub reg_scaling: RegScaling,
    /// Confidence scale α: an entry of value r has confidence α·r (default 1.0; in
    /// (0, 1e6]).
    pub alpha: f64,
    /// The row solver (default [`AlsSolver::Cg`]).
    pub solver: AlsSolver,
    /// Conjugate-gradient steps per row and half-iteration with the `cg` solver (implicit's
    /// `cg_steps`; default 3; 1..=1000).
    pub cg_steps: usize,
    /// How the factors start (default [`AlsInit::Uniform`], implicit's; `normal` is Spark
    /// MLlib's).
    pub init: AlsInit,
    /// Worker threads (default 0: rayon's current pool, every core unless the caller
    /// installs a smaller pool; 0..=1024). The result does not depend on it.
    pub threads: usize,
    /// Seed of the initial factors (default 42).
    pub seed: u64,
}

impl Default for AlsParams {
    fn default() -> Self {
        Self {
            factors: 100,
            epochs: 15,
            reg: 0.01,
            reg_scaling: RegScaling::None,
            alpha: 1.0,
            solver: AlsSolver::Cg,
            cg_steps: 3,
            init: AlsInit::Uniform,
            threads: 0,
            seed: 42,
        }
    }
}

impl ModelParams for AlsParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::int("factors", 1, 4096, "latent factors per user and item").tuned(
            8.0,
            256.0,
            Scale::LogInt,
        ),
        ParamSpec::int(
            "epochs",
            1,
            100_000,
            "alternating sweeps (users, then items)",
        )
        .tuned(3.0, 50.0, Scale::Int),
        ParamSpec::float("reg", 0.0, 1e6, "L2 weight on the factors").tuned(1e-3, 10.0, Scale::Log),
        ParamSpec::choice(
            "reg_scaling",
            &["none", "count"],
            "lambda per row: as given (implicit's) or times the row's positive entries (ALS-WR, Spark MLlib's)",
        ),
        ParamSpec::float_above(
            "alpha",
            0.0,
            1e6,
            "confidence scale: an entry of value r has confidence alpha * r",
        )
        .tuned(0.1, 100.0, Scale::Log),
        ParamSpec::choice(
            "solver",
            &["cg", "cholesky"],
            "per-row solver: conjugate gradient (implicit's default) or exact Cholesky",
        ),
        ParamSpec::int(
            "cg_steps",
            1,
            1000,
            "conjugate-gradient steps per row and sweep",
        ),
        ParamSpec::choice(
            "init",
            &["uniform", "normal"],
            "initial factors: uniform in [0, 0.01) (implicit's) or unit-length normal rows (Spark MLlib's)",
        ),
        ParamSpec::threads(),
        ParamSpec::seed(),
    ];
}
