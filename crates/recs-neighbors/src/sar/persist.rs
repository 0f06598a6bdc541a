//! The model file: the affinities as CSR tensors, the similarity as CSR tensors or, held
//! dense, as one `n_items × n_items` tensor (`sar.similarity.dense`), the sizes and the
//! decay's reference time as training facts; the popularity is recomputed from the
//! affinities' pattern.

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{ModelError, ModelParams as _, Recommender as _};

use super::fit::popularity;
use super::model::Sar;
use super::params::SarParams;
use crate::common::{
    ItemMatrix, load_item_item, load_user_items, meta_size, save_item_item, save_user_items,
};

/// The dense similarity's tensor.
const DENSE: &str = "sar.similarity.dense";

/// Adds the model's facts and tensors to `out`.
pub(super) fn save<'a>(m: &'a Sar, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
    match &m.similarity {
        ItemMatrix::Sparse(s) => save_item_item(out, Sar::KIND, &m.affinity, s)?,
        ItemMatrix::Dense { n, values } => {
            save_user_items(out, Sar::KIND, &m.affinity, *n)?;
            out.f32(DENSE, &[*n, *n], values)?;
        }
    }
    out.meta_mut().training["time_now"] = serde_json::json!(m.time_now);
    Ok(())
}

/// Rebuilds the model from a verified file of its kind.
pub(super) fn load(file: &ModelReader) -> Result<Sar, ModelError> {
    let params: SarParams = file.params()?;
    params.validate()?;
    let (affinity, similarity) = if file.has(DENSE) {
        let n = meta_size(file, "n_items")?;
        let values = file.f32_shared(DENSE, &[n, n])?;
        (
            load_user_items(file, Sar::KIND)?,
            ItemMatrix::Dense { n, values },
        )
    } else {
        let (affinity, s) = load_item_item(file, Sar::KIND, None)?;
        (affinity, ItemMatrix::Sparse(s))
    };
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
