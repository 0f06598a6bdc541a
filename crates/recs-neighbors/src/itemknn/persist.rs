//! The model file: the training matrix and the similarity as CSR tensors (`indptr`,
//! `indices`, `values`), the sizes as training facts.

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{ModelError, ModelParams as _, Recommender as _};

use super::model::ItemKnn;
use super::params::ItemKnnParams;
use crate::common::{load_item_item, save_item_item};

/// Adds the model's facts and tensors to `out`.
pub(super) fn save<'a>(m: &'a ItemKnn, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
    save_item_item(out, ItemKnn::KIND, &m.user_items, &m.similarity)
}

/// Rebuilds the model from a verified file of its kind.
pub(super) fn load(file: &ModelReader) -> Result<ItemKnn, ModelError> {
    let params: ItemKnnParams = file.params()?;
    params.validate()?;
    let (user_items, similarity) =
        load_item_item(file, ItemKnn::KIND, Some((params.neighbours, "neighbours")))?;
    Ok(ItemKnn {
        params,
        user_items,
        similarity,
    })
}
