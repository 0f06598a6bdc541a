//! Model files: one safetensors file holding the tensors, with a small JSON document (model
//! kind, crate version, params, shapes, and a free `extra` field for callers such as the
//! CLI's id maps) in the safetensors header's metadata under the key [`META_KEY`].
//! Written to a temporary file in the same directory, then renamed over the target.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::error::{Result, VaeError};

/// The safetensors metadata key that holds a model's [`ModelMeta`] as JSON.
pub const META_KEY: &str = "recs.meta";
/// The version of the file layout this crate writes (and the newest it reads).
pub const FORMAT_VERSION: u32 = 1;

/// The JSON document stored with a model's tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Layout version ([`FORMAT_VERSION`] when written by this crate).
    pub format_version: u32,
    /// The model kind (`"bivae"`, …).
    pub model: String,
    /// The version of `recs-vae` that wrote the file.
    pub crate_version: String,
    /// The model's hyper-parameters, as its params struct serialises.
    pub params: serde_json::Value,
    /// The shape of every tensor in the file, by name.
    pub shapes: BTreeMap<String, Vec<usize>>,
    /// Facts about the training run (e.g. `{"epochs_trained": 500}`); `null` if none.
    #[serde(default)]
    pub training: serde_json::Value,
    /// Anything the caller attached (id maps, provenance); `null` when nothing was.
    #[serde(default)]
    pub extra: serde_json::Value,
}

/// A named `f32` tensor to be written.
pub(crate) struct NamedTensor<'a> {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: &'a [f32],
}

fn bad(path: &Path, message: impl Into<String>) -> VaeError {
    VaeError::BadModelFile {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn io(path: &Path, source: std::io::Error) -> VaeError {
    VaeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `tensors` and `meta` (whose `shapes` is filled in here) to `path` atomically.
pub(crate) fn write_model(
    path: &Path,
    mut meta: ModelMeta,
    tensors: &[NamedTensor<'_>],
) -> Result<()> {
    meta.shapes = tensors
        .iter()
        .map(|t| (t.name.clone(), t.shape.clone()))
        .collect();
    let json = serde_json::to_string(&meta)
        .map_err(|e| bad(path, format!("cannot encode metadata: {e}")))?;
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|t| {
            debug_assert_eq!(t.shape.iter().product::<usize>(), t.data.len());
            let b = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            (t.name.clone(), b, t.shape.clone())
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, b, shape)| {
            TensorView::new(Dtype::F32, shape.clone(), b)
                .map(|v| (name.clone(), v))
                .map_err(|e| bad(path, format!("tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let info = HashMap::from([(META_KEY.to_string(), json)]);
    let buffer = safetensors::serialize(views, Some(info))
        .map_err(|e| bad(path, format!("cannot serialise: {e}")))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io(path, e))?;
    tmp.write_all(&buffer).map_err(|e| io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| io(path, e))?;
    tmp.persist(path).map_err(|e| io(path, e.error))?;
    Ok(())
}

/// The tensors of a model file, by name: `(shape, values)`.
pub(crate) type Tensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Reads a model file written by [`write_model`], checking that it holds a `model` model,
/// that every tensor is `f32` with the shape its metadata records, and that every value is
/// finite.
pub(crate) fn read_model(path: &Path, model: &str) -> Result<(ModelMeta, Tensors)> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(path, format!("not a safetensors file, or truncated ({e})")))?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(path, format!("not a safetensors file, or truncated ({e})")))?;
    let json = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or_else(|| {
            bad(
                path,
                format!("no `{META_KEY}` metadata: not a model saved by recs"),
            )
        })?;
    let meta: ModelMeta = serde_json::from_str(json)
        .map_err(|e| bad(path, format!("unreadable `{META_KEY}` metadata: {e}")))?;
    if meta.format_version > FORMAT_VERSION || meta.format_version == 0 {
        return Err(bad(
            path,
            format!(
                "file format version {} (this build reads 1..={FORMAT_VERSION})",
                meta.format_version
            ),
        ));
    }
    if meta.model != model {
        return Err(bad(
            path,
            format!("it holds a `{}` model, not a `{model}` model", meta.model),
        ));
    }
    let mut out = Tensors::new();
    for (name, shape) in &meta.shapes {
        let view = st
            .tensor(name)
            .map_err(|e| bad(path, format!("tensor `{name}` is missing ({e})")))?;
        if view.dtype() != Dtype::F32 {
            return Err(bad(
                path,
                format!("tensor `{name}` is {:?}, expected F32", view.dtype()),
            ));
        }
        if view.shape() != shape.as_slice() {
            return Err(bad(
                path,
                format!(
                    "tensor `{name}` has shape {:?}, metadata says {shape:?}",
                    view.shape()
                ),
            ));
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(bad(
                path,
                format!("tensor `{name}` holds a non-finite value at {i}"),
            ));
        }
        out.insert(name.clone(), (shape.clone(), data));
    }
    Ok((meta, out))
}

/// Takes tensor `name` out of `tensors`, checking its shape.
pub(crate) fn take(
    path: &Path,
    tensors: &mut Tensors,
    name: &str,
    shape: &[usize],
) -> Result<Vec<f32>> {
    let (s, data) = tensors
        .remove(name)
        .ok_or_else(|| bad(path, format!("tensor `{name}` is missing")))?;
    if s != shape {
        return Err(bad(
            path,
            format!("tensor `{name}` has shape {s:?}, expected {shape:?}"),
        ));
    }
    Ok(data)
}
