//! The model file: the users' training items as a CSR pattern and `B` as tensors, the sizes
//! as training facts.

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{ModelError, ModelParams as _, Scorer as _};

use super::model::Ease;
use super::params::EaseParams;
use crate::common::meta_size;

const USER_INDPTR: &str = "ease.user_items.indptr";
const USER_INDICES: &str = "ease.user_items.indices";
const WEIGHTS: &str = "ease.b";

/// Adds the model's facts and tensors to `out`.
pub(super) fn save<'a>(m: &'a Ease, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
    out.meta_mut().training = serde_json::json!({
        "n_users": m.n_users(),
        "n_items": m.n_items(),
    });
    out.csr_pattern(USER_INDPTR, USER_INDICES, &m.user_items)?;
    let n = m.n_items();
    out.f32(WEIGHTS, &[n, n], &m.b)?;
    Ok(())
}

/// Rebuilds the model from a verified file of its kind.
pub(super) fn load(file: &ModelReader) -> Result<Ease, ModelError> {
    let params: EaseParams = file.params()?;
    params.validate()?;
    let n_users = meta_size(file, "n_users")?;
    let n_items = meta_size(file, "n_items")?;
    // The shape is compared before the tensor is read, so a size in the metadata that
    // the file does not hold allocates nothing.
    let b = file.f32_shared(WEIGHTS, &[n_items, n_items])?;
    let user_items = file
        .csr(USER_INDPTR, USER_INDICES, n_users, n_items)?
        .ok_or_else(|| file.error("the users' items are missing"))?;
    if let Some(i) = (0..n_items).find(|&i| b[i * n_items + i] != 0.0) {
        return Err(file
            .error(format!("B's diagonal is not 0 at item {i}"))
            .into());
    }
    Ok(Ease {
        params,
        user_items,
        b,
    })
}
