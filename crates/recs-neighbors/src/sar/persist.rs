//! The model file: the affinities and the similarity as CSR tensors, the sizes and the
//! decay's reference time as training facts; the popularity is recomputed from the
//! affinities' pattern.

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{ModelError, ModelParams as _, Recommender as _};

use super::fit::popularity;
use super::model::Sar;
use super::params::SarParams;
use crate::common::{load_item_item, save_item_item};

/// Adds the model's facts and tensors to `out`.
pub(super) fn save<'a>(m: &'a Sar, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
    save_item_item(out, Sar::KIND, &m.affinity, &m.similarity)?;
    out.meta_mut().training["time_now"] = serde_json::json!(m.time_now);
    Ok(())
}

/// Rebuilds the model from a verified file of its kind.
pub(super) fn load(file: &ModelReader) -> Result<Sar, ModelError> {
    let params: SarParams = file.params()?;
    params.validate()?;
    let (affinity, similarity) = load_item_item(file, Sar::KIND, None)?;
    let time_now = match file.meta().training.get("time_now") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| {
            file.error("metadata field `training.time_now` is not an integer".to_string())
        })?),
    };
    if params.time_decay != time_now.is_some() {
        return Err(file
            .error(format!(
                "metadata field `training.time_now` is {} but `time_decay` is {}",
                if time_now.is_some() { "set" } else { "missing" },
                params.time_decay
            ))
            .into());
    }
    Ok(Sar {
        popularity: popularity(&affinity.col_counts(), params.threshold),
        params,
        affinity,
        similarity,
        time_now,
    })
}
