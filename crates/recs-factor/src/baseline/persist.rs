//! The model files: `BaselineOnly`'s biases as tensors with μ and the clip range as
//! training facts; `GlobalMean`'s mean and sizes as training facts (no tensor).

use recs_core::ModelError;
use recs_core::modelfile::{ITEM_IDS, ModelReader, ModelWriter, USER_IDS};

use super::model::{BaselineOnly, GlobalMean};
use super::params::BaselineParams;
use crate::common::{meta_clip, meta_f64, meta_size, vector_len};

/// Adds `BaselineOnly`'s facts and tensors to `out`.
pub(super) fn save_biases<'a>(
    m: &'a BaselineOnly,
    out: &mut ModelWriter<'a>,
) -> Result<(), ModelError> {
    out.meta_mut().training = serde_json::json!({
        "global_mean": m.global_mean,
        "clip": [m.clip.0, m.clip.1],
    });
    out.f32("user_bias", &[m.user_bias.len()], &m.user_bias)?;
    out.f32("item_bias", &[m.item_bias.len()], &m.item_bias)?;
    Ok(())
}

/// Rebuilds `BaselineOnly` from a verified file of its kind.
pub(super) fn load_biases(file: &ModelReader) -> Result<BaselineOnly, ModelError> {
    let params: BaselineParams = file.params()?;
    let nu = vector_len(file, "user_bias")?;
    let ni = vector_len(file, "item_bias")?;
    Ok(BaselineOnly {
        global_mean: meta_f64(file, "global_mean")? as f32,
        clip: meta_clip(file)?,
        user_bias: file.f32("user_bias", &[nu])?,
        item_bias: file.f32("item_bias", &[ni])?,
        params,
    })
}

/// Adds `GlobalMean`'s facts to `out`.
pub(super) fn save_mean(m: &GlobalMean, out: &mut ModelWriter<'_>) {
    out.meta_mut().training = serde_json::json!({
        "mean": m.mean,
        "n_users": m.n_users,
        "n_items": m.n_items,
    });
}

/// Rebuilds `GlobalMean` from a verified file of its kind.
pub(super) fn load_mean(file: &ModelReader) -> Result<GlobalMean, ModelError> {
    let mean = meta_f64(file, "mean")? as f32;
    if !mean.is_finite() {
        return Err(file.error("metadata `mean` is not finite").into());
    }
    // No tensor of a global-mean file has its sizes: they are bounded by the id lists when
    // the file has them (the catalog must then list exactly that many), else by a limit.
    let bounded = |key: &str, ids: &str, what: &str| -> Result<usize, ModelError> {
        let n = meta_size(file, key)?;
        if n > GLOBAL_MEAN_MAX_SIZE && !file.has(&format!("{ids}.offsets")) {
            return Err(file
                .error(format!(
                    "metadata field `training.{key}` = {n}: a global-mean file without its {what} \
                     id list may declare at most {GLOBAL_MEAN_MAX_SIZE} (nothing else in the file \
                     bounds the size)"
                ))
                .into());
        }
        Ok(n)
    };
    Ok(GlobalMean {
        mean,
        n_users: bounded("n_users", USER_IDS, "user")?,
        n_items: bounded("n_items", ITEM_IDS, "item")?,
    })
}

/// The most users or items a global-mean file may declare when it does not carry the id
/// list that bounds them (2^24).
pub const GLOBAL_MEAN_MAX_SIZE: usize = 1 << 24;
