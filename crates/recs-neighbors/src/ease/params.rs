//! [`EaseParams`] and [`Dtype`]: EASE's hyper-parameters, their schema, and the memory
//! check.

use recs_core::schema::{ParamSpec, Scale};
use recs_core::{ModelParams, ParamError};
use serde::{Deserialize, Serialize};

use crate::common::MAX_THREADS;

/// The floating-point precision of EASE's Gram matrix and its inverse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dtype {
    /// 4-byte floats (default): half the memory and about twice the speed.
    #[default]
    #[serde(rename = "f32", alias = "float32")]
    F32,
    /// 8-byte floats: for badly conditioned Gram matrices (a small `reg` on many items).
    #[serde(rename = "f64", alias = "float64")]
    F64,
}

impl Dtype {
    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }

    /// The name params use.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
        }
    }
}

/// EASE's hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EaseParams {
    /// λ, the L2 weight added to the Gram matrix's diagonal (default 500: Steck's setting
    /// for MovieLens-20M in the paper's code; RecBole's default is 250). Must be > 0.
    pub reg: f64,
    /// Precision of the Gram matrix and its inverse: `"f32"` (default) or `"f64"`.
    pub dtype: Dtype,
    /// The most memory, in GB (10^9 bytes), the fit's dense `items × items` matrices may take
    /// (default 8). The fit holds two of them in `dtype` (items² × 4 × 2 bytes in `f32`,
    /// × 8 × 2 in `f64`) and refuses, before allocating, data that would need more.
    pub max_memory_gb: f64,
    /// Worker threads for the fit (default 0: all of rayon's pool). With 1 the fit is
    /// sequential; the same data and thread count give the same model.
    pub threads: usize,
}

impl Default for EaseParams {
    fn default() -> Self {
        Self {
            reg: 500.0,
            dtype: Dtype::F32,
            max_memory_gb: 8.0,
            threads: 0,
        }
    }
}

impl ModelParams for EaseParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::float_above(
            "reg",
            0.0,
            f64::INFINITY,
            "L2 weight λ added to the Gram matrix's diagonal",
        )
        .tuned(1.0, 5000.0, Scale::Log),
        ParamSpec::choice(
            "dtype",
            &["f32", "f64", "float32", "float64"],
            "precision of the dense solve",
        ),
        ParamSpec::float_above(
            "max_memory_gb",
            0.0,
            f64::INFINITY,
            "largest dense working set allowed, in GB",
        ),
        ParamSpec::int(
            "threads",
            0,
            MAX_THREADS as u64,
            "worker threads (0: all cores)",
        ),
    ];
}

impl EaseParams {
    /// Bytes the fit's dense matrices take for `n_items` items (two `items × items`
    /// matrices in `dtype`).
    pub fn dense_bytes(&self, n_items: usize) -> u128 {
        2 * (n_items as u128) * (n_items as u128) * self.dtype.size() as u128
    }

    /// `Ok` when [`EaseParams::dense_bytes`] fits `max_memory_gb`; otherwise the error names
    /// the parameter, its value and what the data needs.
    pub fn check_memory(&self, n_items: usize) -> Result<(), ParamError> {
        let need = self.dense_bytes(n_items);
        if need as f64 <= self.max_memory_gb * 1e9 {
            return Ok(());
        }
        Err(ParamError::new(
            "max_memory_gb",
            self.max_memory_gb,
            format!(
                ">= {:.2} for EASE on {n_items} items in {}: the fit holds two dense \
                 {n_items} × {n_items} matrices of {}-byte values ({need} bytes); raise \
                 `max_memory_gb` if the machine has the memory, or use fewer items",
                need as f64 / 1e9,
                self.dtype.name(),
                self.dtype.size(),
            ),
        ))
    }
}
