//! Saving and loading models: safetensors tensors plus JSON metadata in `__metadata__`.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};

use crate::FactorError;

/// The `format` metadata value every recs-factor file carries.
pub(crate) const FORMAT: &str = "recs-factor";
/// The file layout version.
pub(crate) const VERSION: &str = "1";

/// Writes named f32 tensors and metadata to `path` atomically (temp file in the same
/// directory, then rename). `model` names the model kind; `meta` is extra JSON metadata.
pub(crate) fn save(
    path: &Path,
    model: &str,
    meta: serde_json::Value,
    tensors: &[(&str, Vec<usize>, &[f32])],
) -> Result<(), FactorError> {
    let io = |source| FactorError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, d)| d.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, shape, _), b) in tensors.iter().zip(&bytes) {
        let v = TensorView::new(Dtype::F32, shape.clone(), b).map_err(|e| FactorError::Format {
            path: path.to_path_buf(),
            reason: format!("tensor {name}: {e}"),
        })?;
        views.push((name.to_string(), v));
    }
    let mut info = HashMap::new();
    info.insert("format".to_string(), FORMAT.to_string());
    info.insert("version".to_string(), VERSION.to_string());
    info.insert("model".to_string(), model.to_string());
    info.insert("meta".to_string(), meta.to_string());
    let buf = safetensors::serialize(views, Some(info)).map_err(|e| FactorError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(&buf).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
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

/// Reads `path`, checking that it is a recs-factor file of kind `model`.
pub(crate) fn load(path: &Path, model: &str) -> Result<Loaded, FactorError> {
    let bytes = std::fs::read(path).map_err(|source| FactorError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |reason: String| FactorError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(format!("{e}")))?;
    let info = header
        .metadata()
        .as_ref()
        .ok_or_else(|| bad("no __metadata__ map (not written by recs-factor)".into()))?;
    if info.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(bad(format!(
            "metadata `format` is {:?}, expected \"{FORMAT}\"",
            info.get("format")
        )));
    }
    if info.get("version").map(String::as_str) != Some(VERSION) {
        return Err(bad(format!(
            "file layout version {:?} is not supported (this build reads {VERSION})",
            info.get("version")
        )));
    }
    if info.get("model").map(String::as_str) != Some(model) {
        return Err(bad(format!(
            "holds a {:?} model, expected {model:?}",
            info.get("model")
        )));
    }
    let meta: serde_json::Value = serde_json::from_str(
        info.get("meta")
            .ok_or_else(|| bad("metadata `meta` is missing".into()))?,
    )
    .map_err(|e| bad(format!("metadata `meta` is not JSON: {e}")))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("{e}")))?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!(
                "tensor `{name}` is {:?}, expected F32",
                view.dtype()
            )));
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        tensors.insert(name, (view.shape().to_vec(), data));
    }
    Ok(Loaded {
        meta,
        tensors,
        path: path.to_path_buf(),
    })
}
