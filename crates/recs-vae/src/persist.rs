//! Model files, in the one format every recs model uses ([`recs_modelfile`]): one
//! safetensors file holding the tensors, with a JSON [`ModelMeta`] (model kind, crate
//! version, params, shapes, training facts and a free `extra` field for callers such as the
//! CLI's id maps) in the header under [`META_KEY`]. Written to a temporary file in the same
//! directory, then renamed over the target.

use std::path::Path;

pub use recs_modelfile::{FORMAT_VERSION, META_KEY, ModelMeta};

pub(crate) use recs_modelfile::Tensor as NamedTensor;
pub(crate) use recs_modelfile::Tensors;

use crate::error::{Result, VaeError};

fn convert(e: recs_modelfile::ModelFileError) -> VaeError {
    match e {
        recs_modelfile::ModelFileError::Io { path, source } => VaeError::Io { path, source },
        recs_modelfile::ModelFileError::Bad { path, message } => {
            VaeError::BadModelFile { path, message }
        }
    }
}

/// Writes `tensors` and `meta` (whose `shapes` is filled in here) to `path` atomically.
pub(crate) fn write_model(path: &Path, meta: ModelMeta, tensors: &[NamedTensor<'_>]) -> Result<()> {
    recs_modelfile::write(path, meta, tensors).map_err(convert)
}

/// Reads a model file, checking that it holds a `model` model, that every tensor is `f32`
/// with the shape its metadata records, and that every value is finite.
pub(crate) fn read_model(path: &Path, model: &str) -> Result<(ModelMeta, Tensors)> {
    recs_modelfile::read(path, model).map_err(convert)
}

/// Takes tensor `name` out of `tensors`, checking its shape.
pub(crate) fn take(
    path: &Path,
    tensors: &mut Tensors,
    name: &str,
    shape: &[usize],
) -> Result<Vec<f32>> {
    recs_modelfile::take(path, tensors, name, shape).map_err(convert)
}
