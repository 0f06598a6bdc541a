//! The model file: factors and item biases as tensors, the sizes as training facts.

use recs_core::ModelError;
use recs_core::ModelParams as _;
use recs_core::modelfile::{ModelReader, ModelWriter};

use super::model::Bpr;
use super::params::BprParams;
use crate::common::meta_size;

/// Adds the model's facts and tensors to `out`.
pub(super) fn save<'a>(m: &'a Bpr, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
    let (nu, ni, k) = (m.n_users, m.n_items, m.params.factors);
    out.meta_mut().training = serde_json::json!({
        "n_users": nu,
        "n_items": ni,
    });
    out.f32("user_factors", &[nu, k], &m.user_factors)?;
    out.f32("item_factors", &[ni, k], &m.item_factors)?;
    out.f32("item_bias", &[ni], &m.item_bias)?;
    Ok(())
}

/// Rebuilds the model from a verified file of its kind (each tensor checked against the
/// shape the facts and params give before it is copied).
pub(super) fn load(file: &ModelReader) -> Result<Bpr, ModelError> {
    let params: BprParams = file.params()?;
    params.validate().map_err(|e| file.error(e.to_string()))?;
    let nu = meta_size(file, "n_users")?;
    let ni = meta_size(file, "n_items")?;
    let k = params.factors;
    Ok(Bpr {
        user_factors: file.f32_shared("user_factors", &[nu, k])?,
        item_factors: file.f32_shared("item_factors", &[ni, k])?,
        item_bias: file.f32("item_bias", &[ni])?,
        params,
        n_users: nu,
        n_items: ni,
    })
}
