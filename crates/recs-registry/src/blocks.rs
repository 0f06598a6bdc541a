//! Training across processes: the kernels an engine (Ray) runs in its tasks, with recs'
//! own code doing the work inside them, and the model they assemble into.
//!
//! Only ALS is trained this way: its half-iterations solve each row independently against
//! one Gram matrix per half-iteration (a sum of parts each block computes), so blocks of rows can be solved on different
//! machines and give the one-process fit's factors bit for bit
//! ([`recs_factor::als::blocks`]).

use recs_core::DynModel;
use serde_json::Value;

use crate::{RegistryError, Result};

/// ALS's half-iterations in blocks of rows.
pub mod als {
    pub use recs_factor::als::blocks::{
        gram, gram_from_parts, gram_parts, gram_rows, initial_factors, reg_norm, solve_block,
    };
    pub use recs_factor::{AlsParams, AlsSolver, RegScaling};

    use super::*;

    /// The registry's kind for ALS: the params of [`params`] are this entry's.
    pub const KIND: &str = <recs_factor::Als as recs_core::Recommender>::KIND;

    /// ALS's params from JSON as [`crate::Entry::params_for`] gives them.
    pub fn params(v: &Value) -> Result<AlsParams> {
        serde_json::from_value(v.clone()).map_err(|e| RegistryError::BadValue {
            model: KIND,
            message: e.to_string(),
        })
    }

    /// The ALS model with these factors (row-major, `n × factors`).
    pub fn model(
        params: &AlsParams,
        user_factors: Vec<f32>,
        item_factors: Vec<f32>,
    ) -> Result<Box<dyn DynModel>> {
        Ok(Box::new(recs_factor::Als::from_factors(
            params.clone(),
            user_factors,
            item_factors,
        )?))
    }
}
