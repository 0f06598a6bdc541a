//! Saving and loading models in the one recs model-file format
//! ([`recs_core::modelfile`]): the model's parameters are the document's `params` (written
//! by the registry's writer), everything else the loader needs (sizes, μ, clip range) goes
//! to its `training` field, and the weights are tensors.

use recs_core::modelfile::{ModelReader, ModelWriter};

use crate::ModelError;

/// Adds `meta` (the loader's facts) and the named f32 `tensors` to `w`.
pub(crate) fn save<'a>(
    w: &mut ModelWriter<'a>,
    meta: serde_json::Value,
    tensors: &[(&str, Vec<usize>, &'a [f32])],
) -> Result<(), ModelError> {
    w.meta_mut().training = meta;
    for (name, shape, data) in tensors {
        w.f32(name, shape, data).map_err(file_err)?;
    }
    Ok(())
}

fn file_err(e: recs_core::ModelFileError) -> ModelError {
    ModelError::File(e)
}

/// A verified file being read: its `training` facts and its tensors.
pub(crate) struct Loaded<'r> {
    pub(crate) meta: &'r serde_json::Value,
    file: &'r ModelReader,
}

impl Loaded<'_> {
    /// The f32 tensor `name`, of exactly this shape, every value finite.
    pub(crate) fn take(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ModelError> {
        self.file.f32(name, shape).map_err(file_err)
    }

    /// A format error about this file.
    pub(crate) fn bad(&self, reason: impl Into<String>) -> ModelError {
        file_err(self.file.error(reason))
    }

    /// Reads a metadata field as u64.
    pub(crate) fn meta_u64(&self, key: &str) -> Result<u64, ModelError> {
        self.meta.get(key).and_then(|v| v.as_u64()).ok_or_else(|| {
            self.bad(format!(
                "metadata field `training.{key}` is missing or not an integer"
            ))
        })
    }

    /// Reads a metadata field as a finite f64.
    pub(crate) fn meta_f64(&self, key: &str) -> Result<f64, ModelError> {
        self.meta
            .get(key)
            .and_then(|v| v.as_f64())
            .filter(|v| v.is_finite())
            .ok_or_else(|| {
                self.bad(format!(
                    "metadata field `training.{key}` is missing or not a finite number"
                ))
            })
    }

    /// The length of the 1-D tensor `name`.
    pub(crate) fn meta_shape_len(&self, name: &str) -> Result<usize, ModelError> {
        match self.file.shape(name) {
            Some([n]) => Ok(*n),
            Some(s) => Err(self.bad(format!("tensor `{name}` has shape {s:?}, expected 1-D"))),
            None => Err(self.bad(format!("tensor `{name}` is missing"))),
        }
    }

    /// The clip range `[lo, hi]` of the rating estimates: finite, `lo <= hi` (a crafted file
    /// could hold anything, and clamping to a reversed range panics).
    pub(crate) fn meta_clip(&self) -> Result<(f32, f32), ModelError> {
        let (lo, hi): (f32, f32) = self.meta_de("clip")?;
        if lo.is_finite() && hi.is_finite() && lo <= hi {
            Ok((lo, hi))
        } else {
            Err(self.bad(format!(
                "metadata field `training.clip` = [{lo}, {hi}] is not a finite range lo <= hi"
            )))
        }
    }

    /// A size (users, items) recorded in the metadata: at most 2^32, the index space of
    /// users and items.
    pub(crate) fn meta_size(&self, key: &str) -> Result<usize, ModelError> {
        let n = self.meta_u64(key)?;
        if n > u32::MAX as u64 + 1 {
            return Err(self.bad(format!(
                "metadata field `training.{key}` = {n} is more than 2^32 (indices are 32-bit)"
            )));
        }
        Ok(n as usize)
    }

    /// Deserialises a metadata field.
    pub(crate) fn meta_de<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<T, ModelError> {
        let v = self
            .meta
            .get(key)
            .ok_or_else(|| self.bad(format!("metadata field `training.{key}` is missing")))?;
        serde_json::from_value(v.clone())
            .map_err(|e| self.bad(format!("metadata field `training.{key}`: {e}")))
    }

    /// The model's params, checked.
    pub(crate) fn params<P: serde::de::DeserializeOwned>(&self) -> Result<P, ModelError> {
        self.file.params().map_err(file_err)
    }
}

/// Writes a model of `kind` with `params` to `path` alone (no catalogue), atomically; its
/// tensors and facts are added by `fill`.
pub(crate) fn save_file<'a, P: serde::Serialize>(
    path: &std::path::Path,
    kind: &str,
    params: &P,
    fill: impl FnOnce(&mut ModelWriter<'a>) -> Result<(), ModelError>,
) -> Result<(), ModelError> {
    let params = serde_json::to_value(params).map_err(|e| ModelError::Data(e.to_string()))?;
    let mut w = ModelWriter::new(recs_core::ModelMeta::new(
        kind,
        env!("CARGO_PKG_VERSION"),
        params,
    ));
    fill(&mut w)?;
    w.write(path).map_err(file_err)
}

/// Reads and verifies the model file at `path`, which must hold a `kind` model.
pub(crate) fn open(path: &std::path::Path, kind: &str) -> Result<ModelReader, ModelError> {
    let file = ModelReader::open(path).map_err(file_err)?;
    if file.kind() != kind {
        return Err(file_err(file.error(format!(
            "it holds a `{}` model, not a `{kind}` model",
            file.kind()
        ))));
    }
    Ok(file)
}

/// The verified file `file`, for a model's loader.
pub(crate) fn load(file: &ModelReader) -> Loaded<'_> {
    Loaded {
        meta: &file.meta().training,
        file,
    }
}
