//! The one model-file format of recs: every model, whatever its crate, is a single
//! [safetensors](https://huggingface.co/docs/safetensors) file whose tensors are the model's
//! `f32` weights and whose header metadata holds, under [`META_KEY`], a JSON [`ModelMeta`]:
//! the model kind, the writing crate's version, the parameters, facts about the training run,
//! and a free `extra` document (the CLI puts the id maps, the items each user has seen and a
//! fingerprint of the training data there). Files are written to a temporary file in the same
//! directory and renamed over the target, so a reader never sees half a file.
//!
//! ```
//! use recs_modelfile::{ModelMeta, Tensor, peek, read, take, write};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("m.safetensors");
//! let weights = [1.0f32, 2.0, 3.0, 4.0];
//! let meta = ModelMeta::new("toy", "0.1.0", serde_json::json!({"k": 2}));
//! write(&path, meta, &[Tensor { name: "w".into(), shape: vec![2, 2], data: &weights }])?;
//! assert_eq!(peek(&path)?.model, "toy");
//! let (meta, mut tensors) = read(&path, "toy")?;
//! assert_eq!(meta.params["k"], 2);
//! assert_eq!(take(&path, &mut tensors, "w", &[2, 2])?, weights);
//! assert!(read(&path, "other").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

/// The safetensors metadata key that holds a model's [`ModelMeta`] as JSON.
pub const META_KEY: &str = "recs.meta";
/// The version of the file layout this crate writes (and the newest it reads).
pub const FORMAT_VERSION: u32 = 1;

/// What can go wrong reading or writing a model file. Messages name the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is truncated, corrupt, of another model kind, or not a recs model file.
    #[error("{}: not a usable model file: {message}", path.display())]
    Bad {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// Shorthand for this crate's results.
pub type Result<T, E = ModelFileError> = std::result::Result<T, E>;

/// The JSON document stored with a model's tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Layout version ([`FORMAT_VERSION`] when written by this crate).
    pub format_version: u32,
    /// The model kind (`"bivae"`, `"biased_mf"`, `"bpr"`, …).
    pub model: String,
    /// The version of the crate that wrote the file.
    pub crate_version: String,
    /// The model's hyper-parameters, as its params struct serialises.
    pub params: serde_json::Value,
    /// The shape of every tensor in the file, by name (filled in by [`write`]).
    pub shapes: BTreeMap<String, Vec<usize>>,
    /// Facts about the training run (e.g. `{"epochs_trained": 500}`); `null` if none.
    #[serde(default)]
    pub training: serde_json::Value,
    /// Anything a caller attached (id maps, provenance); `null` when nothing was.
    #[serde(default)]
    pub extra: serde_json::Value,
}

impl ModelMeta {
    /// A document for a `model` written by a crate at `crate_version`, with `params`;
    /// `training` and `extra` start `null`.
    pub fn new(model: &str, crate_version: &str, params: serde_json::Value) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            model: model.into(),
            crate_version: crate_version.into(),
            params,
            shapes: BTreeMap::new(),
            training: serde_json::Value::Null,
            extra: serde_json::Value::Null,
        }
    }
}

/// A named `f32` tensor to be written (row-major, `shape.iter().product() == data.len()`).
#[derive(Debug, Clone)]
pub struct Tensor<'a> {
    /// Its name in the file.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values.
    pub data: &'a [f32],
}

/// The tensors of a model file by name: `(shape, values)`.
pub type Tensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

fn bad(path: &Path, message: impl Into<String>) -> ModelFileError {
    ModelFileError::Bad {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn io(path: &Path, source: std::io::Error) -> ModelFileError {
    ModelFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `tensors` and `meta` (whose `shapes` is filled in here) to `path` atomically.
pub fn write(path: &Path, mut meta: ModelMeta, tensors: &[Tensor<'_>]) -> Result<()> {
    meta.shapes = tensors
        .iter()
        .map(|t| (t.name.clone(), t.shape.clone()))
        .collect();
    let json = serde_json::to_string(&meta)
        .map_err(|e| bad(path, format!("cannot encode metadata: {e}")))?;
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.data.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            if t.shape.iter().product::<usize>() != t.data.len() {
                return Err(bad(
                    path,
                    format!(
                        "tensor {}: shape {:?} does not hold {} values",
                        t.name,
                        t.shape,
                        t.data.len()
                    ),
                ));
            }
            TensorView::new(Dtype::F32, t.shape.clone(), b)
                .map(|v| (t.name.clone(), v))
                .map_err(|e| bad(path, format!("tensor {}: {e}", t.name)))
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

fn meta_of(path: &Path, bytes: &[u8]) -> Result<ModelMeta> {
    let (_, header) = SafeTensors::read_metadata(bytes)
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
    Ok(meta)
}

/// The metadata of the model file at `path`, without checking its tensors (what a caller
/// needs to decide which model type to load it as).
pub fn peek(path: &Path) -> Result<ModelMeta> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    meta_of(path, &bytes)
}

/// Reads a model file, checking that it holds a `model` model, that every tensor its
/// metadata lists is present, `f32` and of the recorded shape, and that every value is
/// finite.
pub fn read(path: &Path, model: &str) -> Result<(ModelMeta, Tensors)> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    let meta = meta_of(path, &bytes)?;
    if meta.model != model {
        return Err(bad(
            path,
            format!("it holds a `{}` model, not a `{model}` model", meta.model),
        ));
    }
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(path, format!("not a safetensors file, or truncated ({e})")))?;
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
pub fn take(path: &Path, tensors: &mut Tensors, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
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

/// Replaces the `extra` document of the model file at `path` (atomically; tensors and the
/// rest of the metadata are kept as they are).
pub fn set_extra(path: &Path, extra: serde_json::Value) -> Result<()> {
    let kind = peek(path)?.model;
    let (mut meta, tensors) = read(path, &kind)?;
    meta.extra = extra;
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let list: Vec<Tensor<'_>> = names
        .into_iter()
        .map(|n| Tensor {
            name: n.clone(),
            shape: tensors[n].0.clone(),
            data: &tensors[n].1,
        })
        .collect();
    write(path, meta, &list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dir: &Path) -> PathBuf {
        let p = dir.join("m.safetensors");
        let w = [0.5f32; 6];
        let meta = ModelMeta::new("toy", "1", serde_json::json!({"k": 3}));
        write(
            &p,
            meta,
            &[Tensor {
                name: "w".into(),
                shape: vec![2, 3],
                data: &w,
            }],
        )
        .unwrap();
        p
    }

    #[test]
    fn extra_is_replaced_and_tensors_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = sample(dir.path());
        set_extra(&p, serde_json::json!({"users": ["a", "b"]})).unwrap();
        let (meta, mut t) = read(&p, "toy").unwrap();
        assert_eq!(meta.extra["users"][1], "b");
        assert_eq!(meta.params["k"], 3);
        assert_eq!(take(&p, &mut t, "w", &[2, 3]).unwrap(), vec![0.5; 6]);
    }

    #[test]
    fn bad_files_are_refused_with_the_path_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = sample(dir.path());
        let bytes = std::fs::read(&p).unwrap();
        let cut = dir.path().join("cut.safetensors");
        std::fs::write(&cut, &bytes[..bytes.len() - 5]).unwrap();
        let e = read(&cut, "toy").unwrap_err().to_string();
        assert!(
            e.contains("cut.safetensors") && e.contains("truncated"),
            "{e}"
        );
        let junk = dir.path().join("junk.bin");
        std::fs::write(&junk, b"hello world, not a model").unwrap();
        assert!(peek(&junk).unwrap_err().to_string().contains("junk.bin"));
        let foreign = dir.path().join("foreign.safetensors");
        let data = [1.0f32];
        let b: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = TensorView::new(Dtype::F32, vec![1], &b).unwrap();
        std::fs::write(
            &foreign,
            safetensors::serialize([("x", view)], None).unwrap(),
        )
        .unwrap();
        assert!(
            peek(&foreign)
                .unwrap_err()
                .to_string()
                .contains("not a model saved by recs")
        );
        assert!(
            read(&p, "other")
                .unwrap_err()
                .to_string()
                .contains("not a `other` model")
        );
        assert!(matches!(
            peek(&dir.path().join("missing")),
            Err(ModelFileError::Io { .. })
        ));
    }
}
