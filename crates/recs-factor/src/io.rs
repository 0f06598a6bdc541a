//! Saving and loading models in the one recs model-file format ([`recs_modelfile`]):
//! safetensors tensors plus a JSON document in the header. The model's parameters go to the
//! document's `params`, everything the loader needs (sizes, μ, clip range, params) to its
//! `training` field.

use std::collections::HashMap;
use std::path::Path;

use recs_modelfile::{ModelFileError, ModelMeta, Tensor};

use crate::FactorError;

fn convert(e: ModelFileError) -> FactorError {
    match e {
        ModelFileError::Io { path, source } => FactorError::Io { path, source },
        ModelFileError::Bad { path, message } => FactorError::Format {
            path,
            reason: message,
        },
    }
}

/// Writes named f32 tensors and metadata to `path` atomically (temp file in the same
/// directory, then rename). `model` names the model kind; `meta` is the JSON the loader
/// reads back (its `params` field, if any, is also the document's `params`).
pub(crate) fn save(
    path: &Path,
    model: &str,
    meta: serde_json::Value,
    tensors: &[(&str, Vec<usize>, &[f32])],
) -> Result<(), FactorError> {
    let params = meta
        .get("params")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let mut doc = ModelMeta::new(model, env!("CARGO_PKG_VERSION"), params);
    doc.training = meta;
    let list: Vec<Tensor<'_>> = tensors
        .iter()
        .map(|(name, shape, data)| Tensor {
            name: name.to_string(),
            shape: shape.clone(),
            data,
        })
        .collect();
    recs_modelfile::write(path, doc, &list).map_err(convert)
}

/// A loaded file: its metadata JSON and its tensors.
pub(crate) struct Loaded {
    pub(crate) meta: serde_json::Value,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    path: std::path::PathBuf,
}

impl Loaded {
    /// Takes the tensor `name`, checking its shape.
    pub(crate) fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, FactorError> {
        let (s, d) = self
            .tensors
            .remove(name)
            .ok_or_else(|| FactorError::Format {
                path: self.path.clone(),
                reason: format!("tensor `{name}` is missing"),
            })?;
        if s != shape {
            return Err(FactorError::Format {
                path: self.path.clone(),
                reason: format!("tensor `{name}` has shape {s:?}, expected {shape:?}"),
            });
        }
        if d.iter().any(|v| !v.is_finite()) {
            return Err(FactorError::Format {
                path: self.path.clone(),
                reason: format!("tensor `{name}` holds a non-finite value"),
            });
        }
        Ok(d)
    }

    /// A format error about this file.
    pub(crate) fn bad(&self, reason: impl Into<String>) -> FactorError {
        FactorError::Format {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// Reads a metadata field as u64.
    pub(crate) fn meta_u64(&self, key: &str) -> Result<u64, FactorError> {
        self.meta.get(key).and_then(|v| v.as_u64()).ok_or_else(|| {
            self.bad(format!(
                "metadata field `{key}` is missing or not an integer"
            ))
        })
    }

    /// Reads a metadata field as f64.
    pub(crate) fn meta_f64(&self, key: &str) -> Result<f64, FactorError> {
        self.meta
            .get(key)
            .and_then(|v| v.as_f64())
            .ok_or_else(|| self.bad(format!("metadata field `{key}` is missing or not a number")))
    }

    /// The length of the 1-D tensor `name` (0 when absent; `take` then reports it).
    pub(crate) fn meta_shape_len(&self, name: &str) -> Result<usize, FactorError> {
        match self.tensors.get(name) {
            Some((s, _)) if s.len() == 1 => Ok(s[0]),
            Some((s, _)) => Err(self.bad(format!("tensor `{name}` has shape {s:?}, expected 1-D"))),
            None => Err(self.bad(format!("tensor `{name}` is missing"))),
        }
    }

    /// Deserialises a metadata field.
    pub(crate) fn meta_de<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<T, FactorError> {
        let v = self
            .meta
            .get(key)
            .ok_or_else(|| self.bad(format!("metadata field `{key}` is missing")))?;
        serde_json::from_value(v.clone())
            .map_err(|e| self.bad(format!("metadata field `{key}`: {e}")))
    }
}

/// Reads `path`, checking that it is a recs model file of kind `model`.
pub(crate) fn load(path: &Path, model: &str) -> Result<Loaded, FactorError> {
    let (doc, tensors) = recs_modelfile::read(path, model).map_err(convert)?;
    Ok(Loaded {
        meta: doc.training,
        tensors,
        path: path.to_path_buf(),
    })
}
