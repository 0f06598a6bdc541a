//! Model files, in the one format every recs model uses ([`recs_core::modelfile`], version
//! 2): one safetensors file holding the weights as tensors, with a small JSON [`ModelMeta`]
//! (model kind, crate version, params, training facts, a free `extra` for callers) and a
//! checksum in the header. Written to a temporary file in the same directory, then renamed
//! over the target; verified on every read.

use std::path::Path;

pub use recs_core::modelfile::{FORMAT_VERSION, META_KEY, ModelMeta};
use recs_core::modelfile::{ModelReader, ModelWriter};
use serde::Serialize;

use crate::error::{Result, VaeError};

/// A named `f32` tensor to add to a model file.
pub(crate) struct NamedTensor<'a> {
    /// Its name in the file.
    pub(crate) name: String,
    /// Its shape.
    pub(crate) shape: Vec<usize>,
    /// Its values (row-major).
    pub(crate) data: &'a [f32],
}

/// Adds the `training` facts and `tensors` to `w`.
pub(crate) fn write_model<'a>(
    w: &mut ModelWriter<'a>,
    training: serde_json::Value,
    tensors: Vec<NamedTensor<'a>>,
) -> Result<()> {
    w.meta_mut().training = training;
    for t in tensors {
        w.f32(&t.name, &t.shape, t.data)?;
    }
    Ok(())
}

/// Tensor `name` of `file`, of exactly this shape, every value finite.
pub(crate) fn take(file: &ModelReader, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    Ok(file.f32(name, shape)?)
}

/// An error about `file`'s contents.
pub(crate) fn bad(file: &ModelReader, message: impl Into<String>) -> VaeError {
    VaeError::File(file.error(message))
}

/// Writes a model of `kind` with `params` to `path` alone (no catalogue), its tensors added
/// by `fill`.
pub(crate) fn save_file<'a, P: Serialize>(
    path: &Path,
    kind: &str,
    params: &P,
    fill: impl FnOnce(&mut ModelWriter<'a>) -> Result<()>,
) -> Result<()> {
    let params = serde_json::to_value(params).map_err(|e| VaeError::InvalidData(e.to_string()))?;
    let mut w = ModelWriter::new(ModelMeta::new(kind, env!("CARGO_PKG_VERSION"), params));
    fill(&mut w)?;
    w.write(path)?;
    Ok(())
}

/// Reads and verifies the model file at `path`, which must hold one of `kinds`.
pub(crate) fn open(path: &Path, kinds: &[&str]) -> Result<ModelReader> {
    let file = ModelReader::open(path)?;
    if !kinds.contains(&file.kind()) {
        return Err(bad(
            &file,
            format!(
                "it holds a `{}` model, not a `{}` model",
                file.kind(),
                kinds.join("` or `")
            ),
        ));
    }
    Ok(file)
}
