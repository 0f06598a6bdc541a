//! The one registry of models: every model registers once, here, with its name, a one-line
//! description and its reproduction defaults; `recs train`, `recs compare`, `--help`'s model
//! list, the experiments (and later the Python package and the server) all read it, and a
//! front-end never names a model type.
//!
//! Adding a model is one [`Recommender`](recs_core::Recommender) impl in its crate plus one
//! line in [`MODELS`]; the conformance kit ([`conformance`]) then tests it with everything
//! else.
//!
//! Hyper-parameters from a front-end come as [`HyperParams`], the shared vocabulary
//! (`factors`, `epochs`, `learning_rate`, `reg`, `batch_size`, `hidden`, `threads`, `seed`,
//! plus model-specific keys). Since every model's params use those names, the mapping is
//! generic: a key the model's params do not have is an error that lists the ones it does.
#![deny(missing_docs)]

pub mod conformance;
pub mod defaults;
pub mod query;

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::path::Path;

use recs_core::modelfile::{Catalog, ModelMeta, ModelReader};
use recs_core::{DynModel, ModelError, ModelParams, Progress, Recommender, TrainData};
use serde_json::Value;

/// What the registry reports.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No model of this name.
    #[error("unknown model `{name}`; known models: {known}")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The registry's names, comma-separated.
        known: String,
    },
    /// A hyper-parameter the model does not take.
    #[error("model `{model}` does not take `{param}`; it takes: {takes}")]
    NotTaken {
        /// The model.
        model: &'static str,
        /// The parameter given.
        param: String,
        /// What it takes, comma-separated.
        takes: String,
    },
    /// A hyper-parameter value that does not fit the parameter's type.
    #[error("model `{model}`: bad parameters: {message}")]
    BadValue {
        /// The model.
        model: &'static str,
        /// What serde said.
        message: String,
    },
    /// Fitting, saving or loading failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The model file could not be read or written.
    #[error(transparent)]
    File(#[from] recs_core::ModelFileError),
}

/// Shorthand for the registry's results.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Hyper-parameters in the shared vocabulary; `None` keeps the model's registered default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HyperParams {
    /// Latent size (factors, BiVAE's and Mult-VAE's latent dimension, AutoRec's hidden units).
    pub factors: Option<usize>,
    /// Training epochs (iterations).
    pub epochs: Option<usize>,
    /// Learning rate.
    pub learning_rate: Option<f64>,
    /// Regularisation weight.
    pub reg: Option<f64>,
    /// Mini-batch size.
    pub batch_size: Option<usize>,
    /// Encoder hidden layer sizes.
    pub hidden: Option<Vec<usize>>,
    /// Worker threads (0: all cores). Ignored by models without a thread setting.
    pub threads: Option<usize>,
    /// Seed of every random draw. Ignored by models that draw nothing.
    pub seed: Option<u64>,
    /// Where the autoencoders train: `native` (hand-written CPU kernels, their default),
    /// `cpu` (candle on the CPU) or `cuda` / `cuda:N` (candle on GPU N; a build with the
    /// `cuda` feature). Ignored by models without a device setting (they train on the CPU).
    pub device: Option<String>,
    /// Model-specific parameters by their params field name (`negatives`, `beta_kl`, …).
    pub extra: BTreeMap<String, Value>,
}

impl HyperParams {
    /// The names of the parameters set that a model must take (all but `threads`, `seed`
    /// and `device`, which models without them ignore).
    pub fn required_names(&self) -> Vec<String> {
        self.pairs()
            .into_iter()
            .filter(|(_, _, lenient)| !lenient)
            .map(|(k, _, _)| k)
            .collect()
    }

    /// The set parameters as (name, JSON value, whether a model without it ignores it).
    fn pairs(&self) -> Vec<(String, Value, bool)> {
        let mut v = Vec::new();
        let mut put = |k: &str, x: Option<Value>, lenient: bool| {
            if let Some(x) = x {
                v.push((k.to_string(), x, lenient));
            }
        };
        put("factors", self.factors.map(Value::from), false);
        put("epochs", self.epochs.map(Value::from), false);
        put("learning_rate", self.learning_rate.map(Value::from), false);
        put("reg", self.reg.map(Value::from), false);
        put("batch_size", self.batch_size.map(Value::from), false);
        put("hidden", self.hidden.clone().map(Value::from), false);
        put("threads", self.threads.map(Value::from), true);
        put("seed", self.seed.map(Value::from), true);
        put("device", self.device.clone().map(Value::from), true);
        for (k, x) in &self.extra {
            v.push((k.clone(), x.clone(), false));
        }
        v
    }
}

/// A registered model, type-erased: what front-ends use.
pub trait Entry: Sync {
    /// Its name (the model file's kind too).
    fn kind(&self) -> &'static str;
    /// Its display name, the Python class's (`BPR`, `BiVAE`, `MultVAE`).
    fn title(&self) -> &'static str;
    /// One line saying what it is.
    fn about(&self) -> &'static str;
    /// Its registered defaults (the settings its reproduction uses) as JSON.
    fn defaults(&self) -> Value;
    /// Its params' documented `Default` as JSON (before the registry's reproduction settings).
    fn type_defaults(&self) -> Value;
    /// The defaults with `hp` applied, validated; a key the model does not take is an
    /// error listing those it does (unless `lenient`: then it is skipped).
    fn params_for(&self, hp: &HyperParams, lenient: bool) -> Result<Value>;
    /// Trains with `params` (JSON as [`Entry::params_for`] gives).
    fn fit(
        &self,
        params: &Value,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Box<dyn DynModel>>;
    /// Rebuilds a model of this kind from a verified file.
    fn load(&self, file: &ModelReader) -> Result<Box<dyn DynModel>>;
}

/// A model type with its registry line's facts.
pub struct Registered<M: Recommender> {
    title: &'static str,
    about: &'static str,
    defaults: fn() -> M::Params,
    _model: PhantomData<fn() -> M>,
}

impl<M: Recommender> std::fmt::Debug for Registered<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("kind", &M::KIND)
            .finish()
    }
}

/// One registry line: the model type, its display name (a Python identifier), a one-line
/// description, its reproduction defaults.
pub const fn register<M: Recommender>(
    title: &'static str,
    about: &'static str,
    defaults: fn() -> M::Params,
) -> Registered<M> {
    Registered {
        title,
        about,
        defaults,
        _model: PhantomData,
    }
}

impl<M: Recommender> Registered<M> {
    fn parse(&self, v: Value) -> Result<M::Params> {
        let p: M::Params = serde_json::from_value(v).map_err(|e| RegistryError::BadValue {
            model: M::KIND,
            message: e.to_string(),
        })?;
        p.validate().map_err(ModelError::from)?;
        Ok(p)
    }
}

impl<M: Recommender> Entry for Registered<M> {
    fn kind(&self) -> &'static str {
        M::KIND
    }

    fn title(&self) -> &'static str {
        self.title
    }

    fn about(&self) -> &'static str {
        self.about
    }

    fn defaults(&self) -> Value {
        serde_json::to_value((self.defaults)()).unwrap_or(Value::Null)
    }

    fn type_defaults(&self) -> Value {
        serde_json::to_value(M::Params::default()).unwrap_or(Value::Null)
    }

    fn params_for(&self, hp: &HyperParams, lenient: bool) -> Result<Value> {
        let mut v = self.defaults();
        let obj = v.as_object_mut().ok_or_else(|| RegistryError::BadValue {
            model: M::KIND,
            message: "params do not serialise as an object".into(),
        })?;
        for (k, x, skippable) in hp.pairs() {
            if obj.contains_key(&k) {
                obj.insert(k, x);
            } else if !(skippable || lenient) {
                let mut takes: Vec<&str> = obj.keys().map(String::as_str).collect();
                takes.sort_unstable();
                let takes = if takes.is_empty() {
                    "no parameters".to_string()
                } else {
                    takes.join(", ")
                };
                return Err(RegistryError::NotTaken {
                    model: M::KIND,
                    param: k,
                    takes,
                });
            }
        }
        let p = self.parse(v)?;
        Ok(serde_json::to_value(p).unwrap_or(Value::Null))
    }

    fn fit(
        &self,
        params: &Value,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Box<dyn DynModel>> {
        let p = self.parse(params.clone())?;
        Ok(Box::new(M::fit(&p, data, progress)?))
    }

    fn load(&self, file: &ModelReader) -> Result<Box<dyn DynModel>> {
        Ok(Box::new(M::load(file)?))
    }
}

/// Every model, in the order `--help` lists them.
pub static MODELS: &[&dyn Entry] = defaults::MODELS;

/// The registry's names, in order.
pub fn names() -> Vec<&'static str> {
    MODELS.iter().map(|e| e.kind()).collect()
}

/// The model called `name`.
pub fn find(name: &str) -> Result<&'static dyn Entry> {
    MODELS
        .iter()
        .copied()
        .find(|e| e.kind() == name)
        .ok_or_else(|| RegistryError::UnknownModel {
            name: name.to_string(),
            known: names().join(", "),
        })
}

/// A model file read once: the model, the ids the file records, its metadata, and the file
/// itself (verified) for what is read on demand: each user's training items.
#[derive(Debug)]
pub struct Loaded {
    /// The model.
    pub model: Box<dyn DynModel>,
    /// External ids, where the writer recorded them (`catalog.seen` is `None`: see
    /// [`Loaded::seen`] and [`Loaded::seen_row`]).
    pub catalog: Catalog,
    /// The file's metadata (kind, params, training facts, `extra`).
    pub meta: ModelMeta,
    file: ModelReader,
}

impl Loaded {
    /// Every user's training items (users × items pattern), where the writer recorded them.
    pub fn seen(&self) -> Result<Option<recs_sparse::CsrMatrix>> {
        Ok(self.file.seen(self.model.n_users(), self.model.n_items())?)
    }

    /// One user's training items, read straight from the file, where the writer recorded them.
    pub fn seen_row(&self, user: u32) -> Result<Option<Vec<u32>>> {
        Ok(self.file.csr_row(
            recs_core::modelfile::SEEN_INDPTR,
            recs_core::modelfile::SEEN_INDICES,
            self.model.n_users(),
            self.model.n_items(),
            user as usize,
        )?)
    }
}

/// Reads the model file at `path` (once, verified), whatever model it holds.
pub fn load(path: &Path) -> Result<Loaded> {
    load_reader(ModelReader::open(path)?)
}

/// As [`load`], from a model file's bytes (`name` names it in errors): pickles, file objects.
pub fn load_bytes(name: &Path, bytes: Vec<u8>) -> Result<Loaded> {
    load_reader(ModelReader::from_bytes(name, bytes)?)
}

/// As [`load`], from a file already read and verified.
pub fn load_reader(file: ModelReader) -> Result<Loaded> {
    let entry = find(file.kind()).map_err(|_| {
        file.error(format!(
            "it holds a `{}` model, which this build does not know (known: {})",
            file.kind(),
            names().join(", ")
        ))
    })?;
    let model = entry.load(&file)?;
    let catalog = Catalog::read_ids(&file, model.n_users(), model.n_items())?;
    Ok(Loaded {
        model,
        catalog,
        meta: file.meta().clone(),
        file,
    })
}

/// Writes `model` to `path` (atomically) with the training `catalog` and an `extra`
/// document (provenance).
pub fn save(model: &dyn DynModel, catalog: &Catalog, extra: Value, path: &Path) -> Result<()> {
    let mut w = model.writer()?;
    catalog.write_to(&mut w)?;
    w.meta_mut().extra = extra;
    w.write(path)?;
    Ok(())
}

/// As [`save`], into bytes: the same file, for pickles and file objects.
pub fn save_bytes(model: &dyn DynModel, catalog: &Catalog, extra: Value) -> Result<Vec<u8>> {
    let mut w = model.writer()?;
    catalog.write_to(&mut w)?;
    w.meta_mut().extra = extra;
    Ok(w.to_bytes()?)
}
