//! The model file: the training matrix and `W` as CSR tensors, the sizes as training facts.

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{ModelError, ModelParams as _, Recommender as _};

use super::model::Rp3Beta;
use super::params::Rp3BetaParams;
use crate::common::{load_item_item, save_item_item};

/// Adds the model's facts and tensors to `out`.
pub(super) fn save<'a>(m: &'a Rp3Beta, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
    save_item_item(out, Rp3Beta::KIND, &m.user_items, &m.similarity)
}

/// Rebuilds the model from a verified file of its kind.
pub(super) fn load(file: &ModelReader) -> Result<Rp3Beta, ModelError> {
    let params: Rp3BetaParams = file.params()?;
    params.validate()?;
    let (user_items, similarity) =
        load_item_item(file, Rp3Beta::KIND, Some((params.neighbours, "neighbours")))?;
    Ok(Rp3Beta {
        params,
        user_items,
        similarity,
    })
}
