//! The one model-file format of recs, version 2.
//!
//! A model file is one [safetensors](https://huggingface.co/docs/safetensors) file:
//!
//! - **tensors** hold everything that grows with the data: the model's weights (`f32`), and,
//!   where the writer records them, the training catalogue: each user's training items as a
//!   CSR pattern ([`SEEN_INDPTR`] `u64`, [`SEEN_INDICES`] `u32`) and the external ids as one
//!   UTF-8 byte tensor plus `u64` offsets each ([`USER_IDS`], [`ITEM_IDS`]);
//! - the **header** holds, under [`META_KEY`], a small JSON [`ModelMeta`] (format version,
//!   model kind, crate version, params, training facts, a free `extra` document), at most
//!   [`MAX_META_BYTES`] whatever the data size, and under [`CHECKSUM_KEY`] an xxh3-128
//!   checksum over the metadata and every tensor's name, dtype, shape and bytes.
//!
//! [`ModelReader::open`] maps the file read-only (or reads it once, where it cannot be
//! mapped or `RECS_MMAP=0` says not to), verifies the checksum over every byte, the version
//! and every floating-point scalar in the metadata, and then hands out tensors checked
//! against the dtype and shape the caller expects (and `f32` values checked finite).
//! [`ModelReader::f32_shared`] hands out an `f32` tensor in place ([`Floats`]): a model
//! that keeps its weights so reads them from the mapping, and every process that opens the
//! same file shares the same pages of memory.
//!
//! The mapping and the file: recs replaces a file by renaming a new one over it, so a file
//! recs has mapped is never changed under it (the mapping keeps the old inode). Another
//! program that truncates a mapped file in place makes the reading process's next access to
//! a lost page raise `SIGBUS`, which ends the process, as it does for every reader that maps
//! files (numpy's `memmap`, safetensors' `safe_open`); set `RECS_MMAP=0` where files may be
//! rewritten in place, and they are read into memory instead. Indices are checked
//! against the shapes they point into ([`ModelReader::csr`]). Writes go to a temporary file
//! in the target's directory, then are renamed over it, so a reader never sees half a file.
//!
//! ```
//! use recs_core::modelfile::{ModelMeta, ModelReader, ModelWriter};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("m.recs");
//! let mut w = ModelWriter::new(ModelMeta::new("toy", "0.1.0", serde_json::json!({"k": 2})));
//! w.f32("w", &[2, 2], &[1.0, 2.0, 3.0, 4.0])?;
//! w.write(&path)?;
//! let r = ModelReader::open(&path)?;
//! assert_eq!(r.kind(), "toy");
//! assert_eq!(r.f32("w", &[2, 2])?, [1.0, 2.0, 3.0, 4.0]);
//! assert!(r.f32("w", &[4]).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use recs_sparse::CsrMatrix;
use safetensors::tensor::{Dtype, Metadata, TensorInfo};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

/// The safetensors metadata key that holds a model's [`ModelMeta`] as JSON.
pub const META_KEY: &str = "recs.meta";
/// The safetensors metadata key that holds the file's checksum (`xxh3-128:<hex>`).
pub const CHECKSUM_KEY: &str = "recs.checksum";
/// The version of the file layout this crate writes, and the only one it reads.
pub const FORMAT_VERSION: u32 = 2;
/// The most bytes the JSON metadata may take: whatever grows with the data is a tensor.
pub const MAX_META_BYTES: usize = 64 * 1024;

/// The largest header a model file may have: its metadata and checksum, and an entry of
/// tens of bytes per tensor (models have tens of tensors).
pub const MAX_HEADER_BYTES: u64 = 1 << 20;
/// Tensor: row pointers of the users' training items (`u64`, `n_users + 1`).
pub const SEEN_INDPTR: &str = "data.seen.indptr";
/// Tensor: the users' training items, row after row (`u32` item indices, increasing per row).
pub const SEEN_INDICES: &str = "data.seen.indices";
/// Tensor prefix: external user ids (`data.user_ids` bytes, `data.user_ids.offsets`).
pub const USER_IDS: &str = "data.user_ids";
/// Tensor prefix: external item ids (`data.item_ids` bytes, `data.item_ids.offsets`).
pub const ITEM_IDS: &str = "data.item_ids";

/// What can go wrong reading or writing a model file. Messages name the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// The file could not be read or written (the OS error is the source).
    #[error("cannot read or write {}", path.display())]
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
    /// A file in an older layout.
    #[error(
        "{}: written by an older recs (model-file format {found}; this build reads {FORMAT_VERSION}): retrain the model",
        path.display()
    )]
    OldFormat {
        /// The file.
        path: PathBuf,
        /// The version it records.
        found: u32,
    },
    /// Something the writer was given cannot be written.
    #[error("cannot write the model: {0}")]
    Write(String),
}

/// Shorthand for this module's results.
pub type Result<T, E = ModelFileError> = std::result::Result<T, E>;

/// The JSON document stored with a model's tensors (kept small: see [`MAX_META_BYTES`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMeta {
    /// Layout version ([`FORMAT_VERSION`] when written by this crate).
    pub format_version: u32,
    /// The model kind, as the registry names it (`"bivae"`, `"mf"`, `"bpr"`, …).
    pub model: String,
    /// The version of the crate that wrote the file.
    pub crate_version: String,
    /// The model's hyper-parameters, as its params type serialises.
    pub params: serde_json::Value,
    /// Facts about the training run (e.g. `{"epochs_trained": 500}`); `null` if none.
    #[serde(default)]
    pub training: serde_json::Value,
    /// Anything a caller attached (provenance: source, split, seed, fingerprint); `null`
    /// when nothing was.
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
            training: serde_json::Value::Null,
            extra: serde_json::Value::Null,
        }
    }
}

/// Element types a model file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    F32,
    U32,
    U64,
    U8,
}

impl Kind {
    fn dtype(self) -> Dtype {
        match self {
            Kind::F32 => Dtype::F32,
            Kind::U32 => Dtype::U32,
            Kind::U64 => Dtype::U64,
            Kind::U8 => Dtype::U8,
        }
    }

    fn size(self) -> usize {
        match self {
            Kind::F32 | Kind::U32 => 4,
            Kind::U64 => 8,
            Kind::U8 => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::F32 => "F32",
            Kind::U32 => "U32",
            Kind::U64 => "U64",
            Kind::U8 => "U8",
        }
    }
}

/// One tensor to write: little-endian bytes, borrowed where the caller's buffer allows.
#[derive(Debug)]
struct Pending<'a> {
    kind: Kind,
    shape: Vec<usize>,
    bytes: Cow<'a, [u8]>,
}

fn le_bytes<T: bytemuck::Pod>(data: &[T]) -> Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        Cow::Borrowed(bytemuck::cast_slice(data))
    } else {
        // The file is little-endian; a big-endian host reverses each element's bytes.
        let size = std::mem::size_of::<T>();
        let mut v = bytemuck::cast_slice::<T, u8>(data).to_vec();
        v.chunks_exact_mut(size).for_each(|c| c.reverse());
        Cow::Owned(v)
    }
}

fn from_le<T: bytemuck::Pod>(bytes: &[u8]) -> Vec<T> {
    let mut v: Vec<T> = bytemuck::allocation::pod_collect_to_vec(bytes);
    if cfg!(target_endian = "big") {
        let size = std::mem::size_of::<T>();
        bytemuck::cast_slice_mut::<T, u8>(&mut v)
            .chunks_exact_mut(size)
            .for_each(|c| c.reverse());
    }
    v
}

/// The checksum over the metadata JSON and every tensor (by name order): name, dtype,
/// shape, bytes.
fn checksum<'b>(
    meta_json: &str,
    tensors: impl Iterator<Item = (&'b str, &'b str, &'b [usize], &'b [u8])>,
) -> String {
    let mut h = Xxh3::new();
    h.update(&(meta_json.len() as u64).to_le_bytes());
    h.update(meta_json.as_bytes());
    for (name, dtype, shape, bytes) in tensors {
        h.update(&(name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(dtype.as_bytes());
        h.update(&(shape.len() as u64).to_le_bytes());
        for &d in shape {
            h.update(&(d as u64).to_le_bytes());
        }
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    format!("xxh3-128:{:032x}", h.digest128())
}

/// Builds a model file: the metadata, then tensors by name, then [`ModelWriter::write`].
#[derive(Debug)]
pub struct ModelWriter<'a> {
    meta: ModelMeta,
    tensors: BTreeMap<String, Pending<'a>>,
}

impl<'a> ModelWriter<'a> {
    /// A writer for a model described by `meta`.
    pub fn new(meta: ModelMeta) -> Self {
        Self {
            meta,
            tensors: BTreeMap::new(),
        }
    }

    /// The metadata document (to set `training` or `extra`).
    pub fn meta_mut(&mut self) -> &mut ModelMeta {
        &mut self.meta
    }

    /// The metadata document.
    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    fn put<T: bytemuck::Pod>(
        &mut self,
        name: &str,
        kind: Kind,
        shape: &[usize],
        data: &'a [T],
    ) -> Result<()> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(ModelFileError::Write(format!(
                "tensor `{name}`: shape {shape:?} does not hold {} values",
                data.len()
            )));
        }
        self.tensors.insert(
            name.to_string(),
            Pending {
                kind,
                shape: shape.to_vec(),
                bytes: le_bytes(data),
            },
        );
        Ok(())
    }

    /// Adds (or replaces) an `f32` tensor; every value must be finite.
    pub fn f32(&mut self, name: &str, shape: &[usize], data: &'a [f32]) -> Result<()> {
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(ModelFileError::Write(format!(
                "tensor `{name}` holds a non-finite value ({}) at {i}",
                data[i]
            )));
        }
        self.put(name, Kind::F32, shape, data)
    }

    /// Adds (or replaces) a `u32` tensor (indices).
    pub fn u32(&mut self, name: &str, shape: &[usize], data: &'a [u32]) -> Result<()> {
        self.put(name, Kind::U32, shape, data)
    }

    /// Adds (or replaces) a `u64` tensor (offsets, counts).
    pub fn u64(&mut self, name: &str, shape: &[usize], data: &'a [u64]) -> Result<()> {
        self.put(name, Kind::U64, shape, data)
    }

    /// Adds (or replaces) a `u8` tensor (text bytes).
    pub fn u8(&mut self, name: &str, data: &'a [u8]) -> Result<()> {
        self.put(name, Kind::U8, &[data.len()], data)
    }

    /// Adds (or replaces) an owned `u64` tensor.
    fn u64_owned(&mut self, name: &str, data: Vec<u64>) {
        let bytes = le_bytes(&data).into_owned();
        self.tensors.insert(
            name.to_string(),
            Pending {
                kind: Kind::U64,
                shape: vec![data.len()],
                bytes: Cow::Owned(bytes),
            },
        );
    }

    /// Records a list of strings as `name` (UTF-8 bytes, concatenated) and `name.offsets`
    /// (`u64`, `len + 1`, starting at 0).
    pub fn strings(&mut self, name: &str, values: &[String]) {
        let mut bytes = Vec::with_capacity(values.iter().map(String::len).sum());
        let mut offsets = Vec::with_capacity(values.len() + 1);
        offsets.push(0u64);
        for v in values {
            bytes.extend_from_slice(v.as_bytes());
            offsets.push(bytes.len() as u64);
        }
        self.tensors.insert(
            name.to_string(),
            Pending {
                kind: Kind::U8,
                shape: vec![bytes.len()],
                bytes: Cow::Owned(bytes),
            },
        );
        self.u64_owned(&format!("{name}.offsets"), offsets);
    }

    /// Records the pattern of a CSR matrix as `prefix.indptr` (`u64`) and `prefix.indices`
    /// (`u32`); values are not kept.
    pub fn csr_pattern(&mut self, indptr: &str, indices: &str, m: &'a CsrMatrix) -> Result<()> {
        self.u64_owned(indptr, m.indptr().iter().map(|&p| p as u64).collect());
        self.u32(indices, &[m.nnz()], m.indices())
    }

    /// Records each user's training items (see [`SEEN_INDPTR`]).
    pub fn seen(&mut self, m: &'a CsrMatrix) -> Result<()> {
        self.csr_pattern(SEEN_INDPTR, SEEN_INDICES, m)
    }

    /// Whether a tensor of this name was added.
    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The header's bytes: the metadata JSON and its checksum under `__metadata__`, then
    /// the tensors' entries.
    fn encoded_header(&self) -> Result<Vec<u8>> {
        let json = serde_json::to_string(&self.meta)
            .map_err(|e| ModelFileError::Write(format!("cannot encode metadata: {e}")))?;
        if json.len() > MAX_META_BYTES {
            return Err(ModelFileError::Write(format!(
                "the metadata takes {} bytes, more than {MAX_META_BYTES}: data that grows with the \
                 training set belongs in a tensor",
                json.len()
            )));
        }
        let sum = checksum(
            &json,
            self.tensors
                .iter()
                .map(|(n, t)| (n.as_str(), t.kind.name(), t.shape.as_slice(), &*t.bytes)),
        );
        let header = self.header(json, sum)?;
        // What a reader refuses is not written.
        if header.len() as u64 > MAX_HEADER_BYTES {
            return Err(ModelFileError::Write(format!(
                "the header takes {} bytes, more than {MAX_HEADER_BYTES}: too many tensors",
                header.len()
            )));
        }
        Ok(header)
    }

    /// The file's bytes, exactly what [`ModelWriter::write`] writes (for pickles and file
    /// objects).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let header = self.encoded_header()?;
        let data: usize = self.tensors.values().map(|t| t.bytes.len()).sum();
        let mut out = Vec::with_capacity(8 + header.len() + data);
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        for (_, t) in self.file_order() {
            out.extend_from_slice(&t.bytes);
        }
        Ok(out)
    }

    /// Writes the file to `path` atomically (see [`crate::atomic::write`]: a temporary file
    /// in the same directory, synced, then renamed; the umask's permissions; a directory,
    /// FIFO, device or socket at `path` refused). The same model gives the same bytes.
    pub fn write(&self, path: &Path) -> Result<()> {
        let header = self.encoded_header()?;
        crate::atomic::write(path, |w| {
            w.write_all(&(header.len() as u64).to_le_bytes())?;
            w.write_all(&header)?;
            for (_, t) in self.file_order() {
                w.write_all(&t.bytes)?;
            }
            Ok(())
        })
        .map_err(|source| ModelFileError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The tensors in the order their bytes are laid out: by element size, largest first
    /// (so every tensor is aligned as safetensors lays files out), then by name.
    fn file_order(&self) -> Vec<(&String, &Pending<'a>)> {
        let mut v: Vec<_> = self.tensors.iter().collect();
        v.sort_by(|(a, x), (b, y)| y.kind.size().cmp(&x.kind.size()).then(a.cmp(b)));
        v
    }

    /// The safetensors header, byte for byte the same for the same model: keys in a fixed
    /// order (safetensors' own writer takes the metadata as a `HashMap`, whose order changes
    /// from run to run), padded with spaces to a multiple of 8 bytes.
    fn header(&self, json: String, sum: String) -> Result<Vec<u8>> {
        use serde_json::{Map, Value};
        let mut meta = Map::new();
        meta.insert(CHECKSUM_KEY.into(), Value::String(sum));
        meta.insert(META_KEY.into(), Value::String(json));
        let mut head = Map::new();
        head.insert("__metadata__".into(), Value::Object(meta));
        let mut offset = 0usize;
        for (name, t) in self.file_order() {
            let end = offset + t.bytes.len();
            head.insert(
                name.clone(),
                serde_json::json!({"dtype": t.kind.name(), "shape": t.shape, "data_offsets": [offset, end]}),
            );
            offset = end;
        }
        let mut bytes = serde_json::to_vec(&Value::Object(head))
            .map_err(|e| ModelFileError::Write(format!("cannot encode the header: {e}")))?;
        bytes.resize(bytes.len().next_multiple_of(8), b' ');
        Ok(bytes)
    }
}

/// A model file's bytes: read into memory, or mapped read-only.
#[derive(Debug, Clone)]
enum Storage {
    Owned(Arc<Vec<u8>>),
    Mapped(Arc<Mmap>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Owned(v) => v,
            Storage::Mapped(m) => m,
        }
    }
}

/// Whether [`ModelReader::open`] maps files: unless `RECS_MMAP` is `0`.
fn mmap_wanted() -> bool {
    std::env::var_os("RECS_MMAP").is_none_or(|v| v != "0")
}

/// Values of a model (`f32` weights, `u32` indices): its own, or read in place from a
/// mapped model file (shared with every process that maps the same file). Dereferences to
/// `[T]`.
pub use recs_sparse::Shared;

/// `f32` weights, owned or in place ([`Shared`]).
pub type Floats = Shared<f32>;

/// A CSR pattern read from a model file (each user's training items): the row pointers
/// copied, the column indices in place where the file is mapped ([`ModelReader::pattern`]).
#[derive(Debug, Clone)]
pub struct Pattern {
    indptr: Vec<usize>,
    indices: Shared<u32>,
    n_cols: usize,
}

impl Pattern {
    /// Rows.
    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Columns.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Row `r`'s columns, increasing (`r` below [`Pattern::n_rows`]).
    pub fn row(&self, r: usize) -> &[u32] {
        &self.indices[self.indptr[r]..self.indptr[r + 1]]
    }

    /// Whether the column indices are read in place from a mapped file.
    pub fn is_mapped(&self) -> bool {
        self.indices.is_mapped()
    }

    /// The pattern as a matrix of its own (values 1): a copy.
    pub fn to_csr(&self) -> std::result::Result<CsrMatrix, recs_sparse::SparseError> {
        CsrMatrix::from_parts(
            self.n_rows(),
            self.n_cols,
            self.indptr.clone(),
            self.indices.to_vec(),
            vec![1.0; self.indices.len()],
        )
    }
}

/// A model file read once (or mapped) and verified: its metadata and its tensors, handed
/// out checked.
#[derive(Debug)]
pub struct ModelReader {
    path: PathBuf,
    meta: ModelMeta,
    bytes: Storage,
    data_start: usize,
    tensors: BTreeMap<String, TensorInfo>,
}

fn bad(path: &Path, message: impl Into<String>) -> ModelFileError {
    ModelFileError::Bad {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Every floating-point number in `v` must be finite as an `f32` (model scalars are `f32`
/// or `f64` that fit it); integers are counts, sizes and seeds and are left alone.
fn check_numbers(v: &serde_json::Value, at: &str) -> Result<(), String> {
    match v {
        serde_json::Value::Number(n) if !(n.is_u64() || n.is_i64()) => {
            let x = n.as_f64().unwrap_or(f64::INFINITY);
            if x.is_finite() && x.abs() <= f32::MAX as f64 {
                Ok(())
            } else {
                Err(format!("metadata `{at}` = {n} is not a finite number"))
            }
        }
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| check_numbers(x, &format!("{at}[{i}]"))),
        serde_json::Value::Object(o) => o
            .iter()
            .try_for_each(|(k, x)| check_numbers(x, &format!("{at}.{k}"))),
        _ => Ok(()),
    }
}

impl ModelReader {
    /// Reads the file at `path` (once), checks that it is a recs model file of this format
    /// version, and verifies its checksum and the metadata's scalars.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, mmap_wanted())
    }

    /// As [`ModelReader::open`], mapping the file only when `map` (and reading it into
    /// memory otherwise): a server whose files are rewritten in place reads them.
    pub fn open_with(path: &Path, map: bool) -> Result<Self> {
        let io = |source| ModelFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        // A directory, FIFO or device is refused before it is read: reading a FIFO waits
        // for a writer, and `/dev/zero` never ends.
        let m = std::fs::metadata(path).map_err(io)?;
        if !m.is_file() {
            let what = if m.is_dir() {
                "a directory"
            } else {
                "not a regular file (a FIFO, device or socket)"
            };
            return Err(bad(path, format!("it is {what}, not a model file")));
        }
        if map && m.len() > 0 {
            let file = std::fs::File::open(path).map_err(io)?;
            // SAFETY: the mapping is read-only and private to this reader, and Rust code
            // only reads it through `&[u8]` (and `&[f32]` views, checked aligned). Its
            // contents change only if another process writes the file in place: recs
            // never does (it replaces files by rename, which leaves this mapping on the old
            // inode); a truncation by someone else raises SIGBUS on the next access to a
            // lost page, which the module documentation states, and `RECS_MMAP=0` avoids.
            let map = unsafe { memmap2::MmapOptions::new().map(&file) }.map_err(io)?;
            return Self::from_storage(path, Storage::Mapped(Arc::new(map)));
        }
        let bytes = std::fs::read(path).map_err(io)?;
        Self::from_bytes(path, bytes)
    }

    /// Whether the file is mapped (its `f32` tensors then read in place).
    pub fn is_mapped(&self) -> bool {
        matches!(self.bytes, Storage::Mapped(_))
    }

    /// As [`ModelReader::open`], from the file's bytes (`path` names it in errors).
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self> {
        Self::from_storage(path, Storage::Owned(Arc::new(bytes)))
    }

    fn from_storage(path: &Path, storage: Storage) -> Result<Self> {
        let bytes = storage.bytes();
        // The header is the metadata (at most MAX_META_BYTES) and a line per tensor: a larger
        // one is not a recs file, and is refused before it is parsed.
        let declared = bytes
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
        if let Some(n) = declared.filter(|&n| n > MAX_HEADER_BYTES) {
            return Err(bad(
                path,
                format!(
                    "not a safetensors file, or corrupt (its header declares {n} bytes, more than the {MAX_HEADER_BYTES} a model file's header holds)"
                ),
            ));
        }
        let (n, header): (usize, Metadata) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| {
                bad(
                    path,
                    format!("not a safetensors file, or truncated or corrupt ({e})"),
                )
            })?;
        let info = header.metadata().clone().unwrap_or_default();
        let json = info.get(META_KEY).ok_or_else(|| {
            bad(
                path,
                format!("no `{META_KEY}` metadata: not a model saved by recs"),
            )
        })?;
        if json.len() > MAX_META_BYTES {
            return Err(bad(
                path,
                format!(
                    "the `{META_KEY}` metadata takes {} bytes, more than the {MAX_META_BYTES} a model file's metadata holds",
                    json.len()
                ),
            ));
        }
        let raw: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| bad(path, format!("unreadable `{META_KEY}` metadata: {e}")))?;
        let version = raw
            .get("format_version")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| bad(path, "the metadata has no format_version"))?;
        if version < FORMAT_VERSION as u64 {
            return Err(ModelFileError::OldFormat {
                path: path.to_path_buf(),
                found: version as u32,
            });
        }
        if version > FORMAT_VERSION as u64 {
            return Err(bad(
                path,
                format!(
                    "model-file format {version} is newer than this build reads ({FORMAT_VERSION}): upgrade recs"
                ),
            ));
        }
        let stored = info.get(CHECKSUM_KEY).ok_or_else(|| {
            bad(
                path,
                format!("no `{CHECKSUM_KEY}`: the file cannot be verified"),
            )
        })?;
        let data_start = 8 + n;
        let tensors: BTreeMap<String, TensorInfo> = header
            .tensors()
            .into_iter()
            .map(|(k, v)| (k, v.clone()))
            .collect();
        let data = &bytes[data_start..];
        let dtype_names: Vec<(&str, &'static str)> = tensors
            .iter()
            .map(|(name, t)| {
                let d = match t.dtype {
                    Dtype::F32 => "F32",
                    Dtype::U32 => "U32",
                    Dtype::U64 => "U64",
                    Dtype::U8 => "U8",
                    _ => "?",
                };
                (name.as_str(), d)
            })
            .collect();
        if let Some((name, _)) = dtype_names.iter().find(|(_, d)| *d == "?") {
            return Err(bad(
                path,
                format!("tensor `{name}` has a dtype recs never writes"),
            ));
        }
        let sum = checksum(
            json,
            tensors.iter().zip(&dtype_names).map(|((name, t), (_, d))| {
                (
                    name.as_str(),
                    *d,
                    t.shape.as_slice(),
                    &data[t.data_offsets.0..t.data_offsets.1],
                )
            }),
        );
        if &sum != stored {
            return Err(bad(
                path,
                "checksum mismatch: the file is corrupt (changed after it was written)",
            ));
        }
        check_numbers(&raw, "meta").map_err(|m| bad(path, m))?;
        let meta: ModelMeta = serde_json::from_value(raw)
            .map_err(|e| bad(path, format!("unreadable `{META_KEY}` metadata: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            meta,
            bytes: storage,
            data_start,
            tensors,
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The metadata document.
    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    /// The model kind the file holds.
    pub fn kind(&self) -> &str {
        &self.meta.model
    }

    /// An error naming this file.
    pub fn error(&self, message: impl Into<String>) -> ModelFileError {
        bad(&self.path, message)
    }

    /// The model's params, as its params type reads them.
    pub fn params<P: serde::de::DeserializeOwned>(&self) -> Result<P> {
        serde_json::from_value(self.meta.params.clone())
            .map_err(|e| self.error(format!("params do not fit a `{}` model: {e}", self.kind())))
    }

    /// Whether the file has a tensor called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The shape of tensor `name`, if present.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|t| t.shape.as_slice())
    }

    fn raw(&self, name: &str, kind: Kind, shape: Option<&[usize]>) -> Result<(&[usize], &[u8])> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| self.error(format!("tensor `{name}` is missing")))?;
        if t.dtype != kind.dtype() {
            return Err(self.error(format!(
                "tensor `{name}` is {:?}, expected {}",
                t.dtype,
                kind.name()
            )));
        }
        if let Some(want) = shape
            && t.shape != want
        {
            return Err(self.error(format!(
                "tensor `{name}` has shape {:?}, expected {want:?}",
                t.shape
            )));
        }
        let b = &self.bytes.bytes()
            [self.data_start + t.data_offsets.0..self.data_start + t.data_offsets.1];
        debug_assert_eq!(b.len(), t.shape.iter().product::<usize>() * kind.size());
        Ok((&t.shape, b))
    }

    /// The `f32` tensor `name` of exactly this shape, every value finite.
    pub fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (_, b) = self.raw(name, Kind::F32, Some(shape))?;
        self.finite(name, from_le(b))
    }

    /// As [`ModelReader::f32`], in place where the file is mapped (on a little-endian host,
    /// the tensor 4-byte aligned in the mapping, as recs writes it): no copy, the pages
    /// shared with every process that maps the file. A copy otherwise.
    pub fn f32_shared(&self, name: &str, shape: &[usize]) -> Result<Floats> {
        let (_, b) = self.raw(name, Kind::F32, Some(shape))?;
        if let Some(values) = self.in_place::<f32>(b) {
            if let Some(i) = values.iter().position(|x| !x.is_finite()) {
                return Err(self.error(format!("tensor `{name}` holds a non-finite value at {i}")));
            }
            return Ok(values);
        }
        self.f32(name, shape).map(Floats::from)
    }

    /// `b` (bytes of this file's tensor) as values in place, where the file is mapped, the
    /// host little-endian and `b` aligned for `T`.
    fn in_place<T: bytemuck::Pod>(&self, b: &[u8]) -> Option<Shared<T>> {
        let Storage::Mapped(map) = &self.bytes else {
            return None;
        };
        let start = (b.as_ptr() as usize).checked_sub(map.as_ptr() as usize)?;
        let backing: recs_sparse::Backing = Arc::clone(map) as _;
        Shared::in_place(backing, start, b.len() / std::mem::size_of::<T>().max(1))
            .filter(|_| b.len() % std::mem::size_of::<T>().max(1) == 0)
    }

    /// The `f32` tensor `name` whatever its shape, with the shape; every value finite.
    pub fn f32_any(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let (s, b) = self.raw(name, Kind::F32, None)?;
        let s = s.to_vec();
        Ok((s, self.finite(name, from_le(b))?))
    }

    fn finite(&self, name: &str, v: Vec<f32>) -> Result<Vec<f32>> {
        match v.iter().position(|x| !x.is_finite()) {
            Some(i) => Err(self.error(format!("tensor `{name}` holds a non-finite value at {i}"))),
            None => Ok(v),
        }
    }

    /// The `u32` tensor `name` of exactly this shape, every value below `bound` (the size
    /// of what it indexes).
    pub fn u32(&self, name: &str, shape: &[usize], bound: u64) -> Result<Vec<u32>> {
        let (_, b) = self.raw(name, Kind::U32, Some(shape))?;
        let v: Vec<u32> = from_le(b);
        if let Some(i) = v.iter().position(|&x| x as u64 >= bound) {
            return Err(self.error(format!(
                "tensor `{name}`[{i}] = {} is out of range (< {bound})",
                v[i]
            )));
        }
        Ok(v)
    }

    /// The `u64` tensor `name` whatever its length (a vector).
    fn u64_vec(&self, name: &str) -> Result<Vec<u64>> {
        let (s, b) = self.raw(name, Kind::U64, None)?;
        if s.len() != 1 {
            return Err(self.error(format!(
                "tensor `{name}` has shape {s:?}, expected a vector"
            )));
        }
        Ok(from_le(b))
    }

    /// The stored entries of a CSR matrix whose column indices are the tensor `indices`
    /// (its first dimension; 0 when absent).
    fn entries(&self, indices: &str) -> usize {
        self.shape(indices)
            .and_then(|s| s.first().copied())
            .unwrap_or(0)
    }

    /// Offsets that start at 0, never decrease and end at `end`, `n + 1` of them.
    fn offsets(&self, name: &str, n: Option<usize>, end: usize) -> Result<Vec<usize>> {
        let off = self.u64_vec(name)?;
        if let Some(n) = n
            && n.checked_add(1) != Some(off.len())
        {
            return Err(self.error(format!(
                "tensor `{name}` has {} entries, expected {}",
                off.len(),
                n + 1
            )));
        }
        if off.first() != Some(&0) || off.last() != Some(&(end as u64)) {
            return Err(self.error(format!("tensor `{name}` must run from 0 to {end}")));
        }
        if let Some(i) = off.windows(2).position(|w| w[0] > w[1]) {
            return Err(self.error(format!("tensor `{name}` decreases at {}", i + 1)));
        }
        Ok(off.into_iter().map(|o| o as usize).collect())
    }

    /// The strings recorded by [`ModelWriter::strings`] as `name`, if present; checked: the
    /// offsets fit the bytes, every string is UTF-8, and there are `n` of them when given.
    pub fn strings(&self, name: &str, n: Option<usize>) -> Result<Option<Vec<String>>> {
        if !self.has(name) {
            return Ok(None);
        }
        let (_, bytes) = self.raw(name, Kind::U8, None)?;
        let off = self.offsets(&format!("{name}.offsets"), n, bytes.len())?;
        let text = std::str::from_utf8(bytes)
            .map_err(|e| self.error(format!("tensor `{name}` is not UTF-8 ({e})")))?;
        off.windows(2)
            .enumerate()
            .map(|(i, w)| {
                text.get(w[0]..w[1]).map(str::to_string).ok_or_else(|| {
                    self.error(format!("tensor `{name}`: id {i} splits a character"))
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// The CSR pattern recorded as (`indptr`, `indices`) for an `n_rows × n_cols` matrix
    /// (values 1), if present; checked as [`ModelReader::pattern`] checks it.
    pub fn csr(
        &self,
        indptr: &str,
        indices: &str,
        n_rows: usize,
        n_cols: usize,
    ) -> Result<Option<CsrMatrix>> {
        self.pattern(indptr, indices, n_rows, n_cols)?
            .map(|p| {
                p.to_csr()
                    .map_err(|e| self.error(format!("`{indptr}`/`{indices}`: {e}")))
            })
            .transpose()
    }

    /// The `n_rows × n_cols` matrix recorded as (`indptr`, `indices`, `values`: `u64` row
    /// pointers, `u32` columns, `f32` values), if present; read in place where the file is
    /// mapped (on a little-endian 64-bit host, as recs writes it), so the matrix holds no
    /// copy of its arrays. Checked: row pointers from 0 to the number of entries, never
    /// decreasing; columns below `n_cols`, increasing within a row; values finite.
    pub fn csr_matrix(
        &self,
        indptr: &str,
        indices: &str,
        values: &str,
        n_rows: usize,
        n_cols: usize,
    ) -> Result<Option<CsrMatrix>> {
        if !self.has(indptr) && !self.has(indices) && !self.has(values) {
            return Ok(None);
        }
        let nnz = self.entries(indices);
        // Checked on a copy; used in place where `usize` is the file's `u64`.
        let ptr_copy = self.offsets(indptr, Some(n_rows), nnz)?;
        let (_, b) = self.raw(indptr, Kind::U64, Some(&[n_rows + 1]))?;
        let ptr: Shared<usize> = (std::mem::size_of::<usize>() == 8)
            .then(|| self.in_place::<usize>(b))
            .flatten()
            .unwrap_or_else(|| ptr_copy.into());
        let (_, b) = self.raw(indices, Kind::U32, Some(&[nnz]))?;
        let idx: Shared<u32> = self
            .in_place::<u32>(b)
            .unwrap_or_else(|| from_le::<u32>(b).into());
        let (_, b) = self.raw(values, Kind::F32, Some(&[nnz]))?;
        let vals: Shared<f32> = self
            .in_place::<f32>(b)
            .unwrap_or_else(|| from_le::<f32>(b).into());
        CsrMatrix::from_shared_parts(n_rows, n_cols, ptr, idx, vals)
            .map(Some)
            .map_err(|e| self.error(format!("`{indptr}`/`{indices}`/`{values}`: {e}")))
    }

    /// The CSR pattern recorded as (`indptr`, `indices`) for an `n_rows × n_cols` matrix,
    /// if present: the row pointers copied (8 bytes a row), the indices in place where the
    /// file is mapped. Checked: row pointers from 0 to the number of indices, never
    /// decreasing, every column below `n_cols` and increasing within a row.
    pub fn pattern(
        &self,
        indptr: &str,
        indices: &str,
        n_rows: usize,
        n_cols: usize,
    ) -> Result<Option<Pattern>> {
        if !self.has(indptr) && !self.has(indices) {
            return Ok(None);
        }
        let nnz = self.entries(indices);
        let ptr = self.offsets(indptr, Some(n_rows), nnz)?;
        let (_, b) = self.raw(indices, Kind::U32, Some(&[nnz]))?;
        let idx: Shared<u32> = match self.in_place::<u32>(b) {
            Some(v) => v,
            None => from_le::<u32>(b).into(),
        };
        if let Some(i) = idx.iter().position(|&x| x as u64 >= n_cols as u64) {
            return Err(self.error(format!(
                "tensor `{indices}`[{i}] = {} is out of range (< {n_cols})",
                idx[i]
            )));
        }
        for r in 0..n_rows {
            let row = &idx[ptr[r]..ptr[r + 1]];
            if row.windows(2).any(|w| w[0] >= w[1]) {
                return Err(self.error(format!(
                    "tensor `{indices}`: row {r}'s columns do not strictly increase"
                )));
            }
        }
        Ok(Some(Pattern {
            indptr: ptr,
            indices: idx,
            n_cols,
        }))
    }

    /// Row `row` of the CSR pattern recorded as (`indptr`, `indices`) for an `n_rows × n_cols`
    /// matrix, if recorded, read straight from the file (no copy of the whole matrix):
    /// the row pointers are checked as [`ModelReader::csr`] checks them, the row's columns
    /// below `n_cols` and strictly increasing.
    pub fn csr_row(
        &self,
        indptr: &str,
        indices: &str,
        n_rows: usize,
        n_cols: usize,
        row: usize,
    ) -> Result<Option<Vec<u32>>> {
        if !self.has(indptr) && !self.has(indices) {
            return Ok(None);
        }
        if row >= n_rows {
            return Err(self.error(format!("row {row} is out of range ({n_rows} rows)")));
        }
        let nnz = self.entries(indices);
        let ptr = self.offsets(indptr, Some(n_rows), nnz)?;
        let (_, bytes) = self.raw(indices, Kind::U32, Some(&[nnz]))?;
        let cols: Vec<u32> = from_le(&bytes[ptr[row] * 4..ptr[row + 1] * 4]);
        if let Some(c) = cols.iter().find(|&&c| c as usize >= n_cols) {
            return Err(self.error(format!(
                "tensor `{indices}`: row {row} holds column {c}, out of range (< {n_cols})"
            )));
        }
        if cols.windows(2).any(|w| w[0] >= w[1]) {
            return Err(self.error(format!(
                "tensor `{indices}`: row {row}'s columns do not strictly increase"
            )));
        }
        Ok(Some(cols))
    }

    /// Each user's training items (see [`SEEN_INDPTR`]), if recorded.
    pub fn seen(&self, n_users: usize, n_items: usize) -> Result<Option<CsrMatrix>> {
        self.csr(SEEN_INDPTR, SEEN_INDICES, n_users, n_items)
    }

    /// As [`ModelReader::seen`], the items in place where the file is mapped.
    pub fn seen_pattern(&self, n_users: usize, n_items: usize) -> Result<Option<Pattern>> {
        self.pattern(SEEN_INDPTR, SEEN_INDICES, n_users, n_items)
    }
}

/// For fuzzing only: `bytes` (a model file, perhaps mutated) with its checksum recomputed,
/// so that a mutation reaches the checks behind the checksum; `None` when the header is not
/// a JSON object of tensors whose offsets lie in the file. Not part of the stable API.
#[doc(hidden)]
pub fn reseal(bytes: &[u8]) -> Option<Vec<u8>> {
    use serde_json::Value;
    let n = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let header = bytes.get(8..8usize.checked_add(n)?)?;
    let data = &bytes[8 + n..];
    let mut head: serde_json::Map<String, Value> = serde_json::from_slice(header).ok()?;
    let meta = head
        .get("__metadata__")?
        .get(META_KEY)?
        .as_str()?
        .to_string();
    let mut tensors = BTreeMap::new();
    for (name, t) in &head {
        if name == "__metadata__" {
            continue;
        }
        let dtype = t.get("dtype")?.as_str()?;
        let shape: Vec<usize> = t
            .get("shape")?
            .as_array()?
            .iter()
            .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
            .collect::<Option<_>>()?;
        let off = t.get("data_offsets")?.as_array()?;
        let (a, b) = (
            usize::try_from(off.first()?.as_u64()?).ok()?,
            usize::try_from(off.get(1)?.as_u64()?).ok()?,
        );
        tensors.insert(name.clone(), (dtype.to_string(), shape, data.get(a..b)?));
    }
    let sum = checksum(
        &meta,
        tensors
            .iter()
            .map(|(n, (d, s, b))| (n.as_str(), d.as_str(), s.as_slice(), *b)),
    );
    head.get_mut("__metadata__")?
        .as_object_mut()?
        .insert(CHECKSUM_KEY.into(), Value::String(sum));
    let mut h = serde_json::to_vec(&head).ok()?;
    h.resize(h.len().next_multiple_of(8), b' ');
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    Some(out)
}

/// What a model file records about the training data besides the model: external ids by
/// index and each user's training items (for excluding seen items, and for models that
/// score known users from their rows).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// External user ids, by user index.
    pub user_ids: Option<Vec<String>>,
    /// External item ids, by item index.
    pub item_ids: Option<Vec<String>>,
    /// Each user's training items (a users × items pattern).
    pub seen: Option<CsrMatrix>,
}

impl Catalog {
    /// Adds what is recorded to `out` (replacing tensors of the same names).
    pub fn write_to<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<()> {
        if let Some(ids) = &self.user_ids {
            out.strings(USER_IDS, ids);
        }
        if let Some(ids) = &self.item_ids {
            out.strings(ITEM_IDS, ids);
        }
        if let Some(seen) = &self.seen {
            out.seen(seen)?;
        }
        Ok(())
    }

    /// Reads what `file` records, checked against the model's `n_users × n_items`.
    pub fn read(file: &ModelReader, n_users: usize, n_items: usize) -> Result<Self> {
        Ok(Self {
            seen: file.seen(n_users, n_items)?,
            ..Self::read_ids(file, n_users, n_items)?
        })
    }

    /// Reads the ids only (`seen` left `None`: read one user's row with
    /// [`ModelReader::csr_row`], or all with [`ModelReader::seen`]).
    /// An id given twice in either list is an error (which user or item would it name?).
    pub fn read_ids(file: &ModelReader, n_users: usize, n_items: usize) -> Result<Self> {
        let unique = |name: &str, ids: Option<Vec<String>>| -> Result<Option<Vec<String>>> {
            if let Some(v) = &ids {
                let mut first = std::collections::HashMap::with_capacity(v.len());
                for (k, id) in v.iter().enumerate() {
                    if let Some(j) = first.insert(id.as_str(), k) {
                        return Err(file.error(format!(
                            "tensor `{name}`: the id `{}` is given twice (at {j} and {k}): the file is ambiguous",
                            id.chars().take(64).collect::<String>().escape_debug()
                        )));
                    }
                }
            }
            Ok(ids)
        };
        Ok(Self {
            user_ids: unique(USER_IDS, file.strings(USER_IDS, Some(n_users))?)?,
            item_ids: unique(ITEM_IDS, file.strings(ITEM_IDS, Some(n_items))?)?,
            seen: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recs_sparse::DuplicatePolicy;
    use std::collections::HashMap;

    fn sample(dir: &Path) -> PathBuf {
        let p = dir.join("m.recs");
        let seen = CsrMatrix::from_triplets(
            3,
            4,
            &[0, 0, 2],
            &[1, 3, 0],
            &[1.0, 5.0, 2.0],
            DuplicatePolicy::Error,
        )
        .unwrap();
        let mut meta = ModelMeta::new("toy", "1", serde_json::json!({"k": 3, "lr": 0.5}));
        meta.training = serde_json::json!({"global_mean": 3.5});
        let w = [0.5f32, 1.5, -2.0, 4.0, 0.0, 1.0];
        let mut wr = ModelWriter::new(meta);
        wr.f32("w", &[2, 3], &w).unwrap();
        wr.seen(&seen).unwrap();
        wr.strings(USER_IDS, &["u1".into(), "ü2".into(), "".into()]);
        wr.write(&p).unwrap();
        p
    }

    /// An opened file is mapped and its `f32` tensors are handed out in place: the values
    /// point into the mapping, nothing copied; from bytes they are copies. A file changed
    /// after it was written is refused from the mapping as from memory.
    #[test]
    fn mapped_tensors_are_read_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = sample(dir.path());
        let r = ModelReader::open(&p).unwrap();
        if std::env::var_os("RECS_MMAP").is_some_and(|v| v == "0") {
            assert!(!r.is_mapped());
            return;
        }
        assert!(r.is_mapped());
        let w = r.f32_shared("w", &[2, 3]).unwrap();
        assert!(w.is_mapped());
        assert_eq!(&*w, &[0.5f32, 1.5, -2.0, 4.0, 0.0, 1.0]);
        let Storage::Mapped(map) = &r.bytes else {
            panic!("not mapped")
        };
        let range = map.as_ptr_range();
        assert!(
            range.contains(&(w.as_ptr() as *const u8)),
            "the values lie in the mapping"
        );
        assert_eq!(w.as_ptr() as usize % 4, 0);
        // The weights outlive the reader: they hold the mapping.
        drop(r);
        assert_eq!(w[3], 4.0);
        assert_eq!(w.clone().into_vec(), [0.5f32, 1.5, -2.0, 4.0, 0.0, 1.0]);
        assert!(r_shape_errors(&p));
        let owned = ModelReader::from_bytes(&p, std::fs::read(&p).unwrap()).unwrap();
        assert!(!owned.is_mapped());
        let copy = owned.f32_shared("w", &[2, 3]).unwrap();
        assert!(!copy.is_mapped());
        assert_eq!(copy, w);
        // One flipped byte in a tensor: the mapping's checksum refuses it.
        let mut bytes = std::fs::read(&p).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x55;
        std::fs::write(&p, &bytes).unwrap();
        let e = ModelReader::open(&p).unwrap_err().to_string();
        assert!(e.contains("checksum mismatch"), "{e}");
    }

    /// A mapped tensor is checked as a copied one: its shape, and every value finite.
    fn r_shape_errors(p: &Path) -> bool {
        let r = ModelReader::open(p).unwrap();
        r.f32_shared("w", &[3, 2]).is_err() && r.f32_shared("nope", &[1]).is_err()
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = sample(dir.path());
        let r = ModelReader::open(&p).unwrap();
        assert_eq!(r.kind(), "toy");
        assert_eq!(r.meta().training["global_mean"], 3.5);
        assert_eq!(r.f32("w", &[2, 3]).unwrap()[3], 4.0);
        assert_eq!(
            r.csr_row(SEEN_INDPTR, SEEN_INDICES, 3, 4, 0).unwrap(),
            Some(vec![1, 3])
        );
        assert_eq!(
            r.csr_row(SEEN_INDPTR, SEEN_INDICES, 3, 4, 1).unwrap(),
            Some(vec![])
        );
        assert!(r.csr_row(SEEN_INDPTR, SEEN_INDICES, 3, 4, 3).is_err());
        assert!(
            r.csr_row(SEEN_INDPTR, SEEN_INDICES, 3, 3, 0).is_err(),
            "column 3 of 3"
        );
        let seen = r.seen(3, 4).unwrap().unwrap();
        assert_eq!(seen.row(0).indices, &[1, 3]);
        assert_eq!(seen.row(1).indices, &[] as &[u32]);
        assert_eq!(seen.row(2).indices, &[0]);
        assert_eq!(
            r.strings(USER_IDS, Some(3)).unwrap().unwrap(),
            ["u1", "ü2", ""]
        );
        assert!(r.strings(ITEM_IDS, None).unwrap().is_none());
        // Wrong expectations are errors naming the tensor.
        assert!(r.f32("w", &[3, 2]).unwrap_err().to_string().contains("`w`"));
        assert!(
            r.seen(3, 3).is_err(),
            "column 3 is out of range for 3 items"
        );
        assert!(r.seen(2, 4).is_err(), "row count differs");
        assert!(r.strings(USER_IDS, Some(4)).is_err());
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn to_bytes_is_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = sample(dir.path());
        let r = ModelReader::open(&p).unwrap();
        let mut w = ModelWriter::new(r.meta().clone());
        let (shape, data) = r.f32_any("w").unwrap();
        w.f32("w", &shape, &data).unwrap();
        let seen = r.seen(3, 4).unwrap().unwrap();
        w.seen(&seen).unwrap();
        w.strings(USER_IDS, &r.strings(USER_IDS, Some(3)).unwrap().unwrap());
        let bytes = w.to_bytes().unwrap();
        assert_eq!(bytes, std::fs::read(&p).unwrap());
        let back = ModelReader::from_bytes(Path::new("pickle"), bytes).unwrap();
        assert_eq!(back.f32("w", &[2, 3]).unwrap(), data);
        assert_eq!(back.meta().params, r.meta().params);
        assert_eq!(back.seen(3, 4).unwrap().unwrap().indices(), seen.indices());
    }

    #[test]
    fn same_model_same_bytes_and_special_files_refused() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (pa, pb) = (sample(a.path()), sample(b.path()));
        assert_eq!(std::fs::read(&pa).unwrap(), std::fs::read(&pb).unwrap());
        // safetensors' own reader reads it.
        let bytes = std::fs::read(&pa).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(st.tensor("w").unwrap().shape(), &[2, 3]);
        let e = ModelReader::open(a.path()).unwrap_err().to_string();
        assert!(e.contains("a directory"), "{e}");
        if Path::new("/dev/zero").exists() {
            let e = ModelReader::open(Path::new("/dev/zero"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("not a regular file"), "{e}");
        }
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let p = sample(dir.path());
        let good = std::fs::read(&p).unwrap();
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x10;
            assert!(
                ModelReader::from_bytes(&p, b).is_err(),
                "flipping byte {i} of {} went unnoticed",
                good.len()
            );
        }
        for len in [0, 7, 8, good.len() / 2, good.len() - 1] {
            assert!(ModelReader::from_bytes(&p, good[..len].to_vec()).is_err());
        }
    }

    #[test]
    fn metadata_is_small_and_scalars_finite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.recs");
        let mut meta = ModelMeta::new("toy", "1", serde_json::json!({}));
        meta.extra = serde_json::json!({"big": "x".repeat(MAX_META_BYTES)});
        assert!(ModelWriter::new(meta).write(&p).is_err());
        assert!(!p.exists());
        assert!(check_numbers(&serde_json::json!({"a": [1.0, 2]}), "m").is_ok());
        let e = check_numbers(&serde_json::json!({"a": {"mu": 1e39}}), "meta").unwrap_err();
        assert!(e.contains("meta.a.mu"), "{e}");
        assert!(check_numbers(&serde_json::json!({"seed": u64::MAX}), "m").is_ok());
        let w = [f32::NAN];
        let mut wr = ModelWriter::new(ModelMeta::new("toy", "1", serde_json::json!({})));
        assert!(wr.f32("w", &[1], &w).is_err());
    }

    /// The size limits are checked on read too (a checksum is not a signature: anyone can
    /// reseal a file), and an id list naming one id twice is refused.
    #[test]
    fn oversized_metadata_and_repeated_ids_are_refused_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = sample(dir.path());
        let good = std::fs::read(&p).unwrap();
        let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
        let mut head: serde_json::Value = serde_json::from_slice(&good[8..8 + n]).unwrap();
        let mut meta: serde_json::Value =
            serde_json::from_str(head["__metadata__"][META_KEY].as_str().unwrap()).unwrap();
        meta["extra"] = serde_json::json!({"big": "x".repeat(2 * MAX_META_BYTES)});
        head["__metadata__"][META_KEY] = meta.to_string().into();
        let mut h = serde_json::to_vec(&head).unwrap();
        h.resize(h.len().next_multiple_of(8), b' ');
        let mut b = (h.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(&h);
        b.extend_from_slice(&good[8 + n..]);
        let b = reseal(&b).unwrap();
        let e = ModelReader::from_bytes(&p, b).unwrap_err().to_string();
        assert!(e.contains("more than the 65536"), "{e}");

        let mut huge = good.clone();
        huge[..8].copy_from_slice(&(50u64 << 20).to_le_bytes());
        let e = ModelReader::from_bytes(&p, huge).unwrap_err().to_string();
        assert!(e.contains("header declares 52428800 bytes"), "{e}");

        let mut wr = ModelWriter::new(ModelMeta::new("toy", "1", serde_json::json!({})));
        wr.strings(ITEM_IDS, &["a".into(), "b".into(), "a".into()]);
        wr.write(&p).unwrap();
        let r = ModelReader::open(&p).unwrap();
        let e = Catalog::read_ids(&r, 0, 3).unwrap_err().to_string();
        assert!(e.contains("`a` is given twice (at 0 and 2)"), "{e}");
    }

    #[test]
    fn old_and_foreign_files_get_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("old.recs");
        let meta = serde_json::json!({"format_version": 1, "model": "bpr", "crate_version": "0.1.0",
            "params": {}, "shapes": {}});
        let info = HashMap::from([(META_KEY.to_string(), meta.to_string())]);
        let empty: Vec<(&str, safetensors::tensor::TensorView<'_>)> = Vec::new();
        std::fs::write(&p, safetensors::serialize(empty, Some(info)).unwrap()).unwrap();
        let e = ModelReader::open(&p).unwrap_err().to_string();
        assert!(e.contains("older recs") && e.contains("retrain"), "{e}");
        std::fs::write(&p, b"hello world, not a model").unwrap();
        assert!(ModelReader::open(&p).is_err());
        let e = ModelReader::open(&dir.path().join("missing")).unwrap_err();
        assert!(matches!(e, ModelFileError::Io { .. }));
    }
}
