//! The model file: biases, factors and per-user/per-item rating counts as tensors; sizes,
//! μ and the clip range as training facts.

use recs_core::ModelError;
use recs_core::ModelParams as _;
use recs_core::modelfile::{ModelReader, ModelWriter};

use super::model::BiasedMf;
use super::params::MfParams;
use crate::common::{meta_clip, meta_f64, meta_size};

/// Adds the model's facts and tensors to `out`.
pub(super) fn save<'a>(m: &'a BiasedMf, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
    let (nu, ni, k) = (m.n_users, m.n_items, m.params.factors);
    out.meta_mut().training = serde_json::json!({
        "n_users": nu,
        "n_items": ni,
        "global_mean": m.global_mean,
        "clip": [m.clip.0, m.clip.1],
    });
    out.f32("user_bias", &[nu], &m.user_bias)?;
    out.f32("item_bias", &[ni], &m.item_bias)?;
    out.f32("user_factors", &[nu, k], &m.user_factors)?;
    out.f32("item_factors", &[ni, k], &m.item_factors)?;
    out.f32("user_count", &[nu], &m.user_count)?;
    out.f32("item_count", &[ni], &m.item_count)?;
    Ok(())
}

/// Rebuilds the model from a verified file of its kind (each tensor checked against the
/// shape the facts and params give before it is copied).
pub(super) fn load(file: &ModelReader) -> Result<BiasedMf, ModelError> {
    let params: MfParams = file.params()?;
    params.validate().map_err(|e| file.error(e.to_string()))?;
    let nu = meta_size(file, "n_users")?;
    let ni = meta_size(file, "n_items")?;
    let mu = meta_f64(file, "global_mean")? as f32;
    let clip = meta_clip(file)?;
    let k = params.factors;
    Ok(BiasedMf {
        user_bias: file.f32("user_bias", &[nu])?,
        item_bias: file.f32("item_bias", &[ni])?,
        user_factors: file.f32_shared("user_factors", &[nu, k])?,
        item_factors: file.f32_shared("item_factors", &[ni, k])?,
        user_count: file.f32("user_count", &[nu])?,
        item_count: file.f32("item_count", &[ni])?,
        params,
        n_users: nu,
        n_items: ni,
        global_mean: mu,
        clip,
    })
}
