//! The model file: the training matrix and the similarity as CSR tensors (`indptr`,
//! `indices`, `values`), the sizes as training facts.

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{ModelError, ModelParams as _, Scorer as _};
use recs_sparse::CsrMatrix;

use super::model::ItemKnn;
use super::params::ItemKnnParams;
use crate::common::meta_size;

const USER_ITEMS: &str = "itemknn.user_items";
const SIMILARITY: &str = "itemknn.similarity";

/// Adds the model's facts and tensors to `out`.
pub(super) fn save<'a>(m: &'a ItemKnn, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
    out.meta_mut().training = serde_json::json!({
        "n_users": m.n_users(),
        "n_items": m.n_items(),
    });
    write_csr(out, USER_ITEMS, &m.user_items)?;
    write_csr(out, SIMILARITY, &m.similarity)
}

/// Rebuilds the model from a verified file of its kind.
pub(super) fn load(file: &ModelReader) -> Result<ItemKnn, ModelError> {
    let params: ItemKnnParams = file.params()?;
    params.validate()?;
    let n_users = meta_size(file, "n_users")?;
    let n_items = meta_size(file, "n_items")?;
    // Both sizes are checked against the tensors' row pointers before anything is
    // allocated by them.
    let similarity = read_csr(file, SIMILARITY, n_items, n_items)?;
    let user_items = read_csr(file, USER_ITEMS, n_users, n_items)?;
    if let Some(i) = (0..n_items).find(|&i| similarity.row(i).len() > params.neighbours) {
        return Err(file
            .error(format!(
                "similarity row {i} holds {} neighbours, more than `neighbours` = {}",
                similarity.row(i).len(),
                params.neighbours
            ))
            .into());
    }
    Ok(ItemKnn {
        params,
        user_items,
        similarity,
    })
}

/// Records `m` as `prefix.indptr` (`u64`), `prefix.indices` (`u32`) and `prefix.values`
/// (`f32`).
fn write_csr<'a>(
    w: &mut ModelWriter<'a>,
    prefix: &str,
    m: &'a CsrMatrix,
) -> Result<(), ModelError> {
    w.csr_pattern(&format!("{prefix}.indptr"), &format!("{prefix}.indices"), m)?;
    w.f32(&format!("{prefix}.values"), &[m.nnz()], m.values())?;
    Ok(())
}

/// The `n_rows × n_cols` matrix recorded by [`write_csr`] as `prefix`, checked (row
/// pointers, columns in range and increasing, as many finite values as indices).
fn read_csr(
    file: &ModelReader,
    prefix: &str,
    n_rows: usize,
    n_cols: usize,
) -> Result<CsrMatrix, ModelError> {
    let (ptr, idx, vals) = (
        format!("{prefix}.indptr"),
        format!("{prefix}.indices"),
        format!("{prefix}.values"),
    );
    let pattern = file
        .csr(&ptr, &idx, n_rows, n_cols)?
        .ok_or_else(|| file.error(format!("tensors `{ptr}` and `{idx}` are missing")))?;
    let values = file.f32(&vals, &[pattern.nnz()])?;
    CsrMatrix::from_parts(
        n_rows,
        n_cols,
        pattern.indptr().to_vec(),
        pattern.indices().to_vec(),
        values,
    )
    .map_err(|e| file.error(format!("`{prefix}`: {e}")).into())
}
