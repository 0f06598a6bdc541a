//! The one registry of models: every model registers once, here, with its name, a one-line
//! description and its reproduction defaults; `recs train`, `recs compare`, `--help`, the
//! experiments, the Python package and the server all read it, and a front-end never names a
//! model type.
//!
//! Adding a model is one [`Recommender`](recs_core::Recommender) impl in its crate plus one
//! line in [`MODELS`]; the conformance kit ([`conformance`]) then tests it with everything
//! else.
//!
//! What a front-end knows of a model comes from its entry, before any fit: its parameters
//! ([`Entry::schema`]: names, types, ranges, docs, aliases, tuning ranges) and what it can do
//! ([`Entry::capabilities`]; [`with`] and [`without`] list the models by capability, for
//! messages). Hyper-parameters from a front-end come as [`HyperParams`] — names in the
//! shared vocabulary ([`recs_core::schema::WORDS`]), the model's own, or their aliases — and
//! [`Entry::params_for`] checks each against the model's schema: a name the model does not
//! take is an error listing those it does, a value out of range an error naming the
//! parameter, the value and the range, in the same words for every front-end.
#![deny(missing_docs)]

pub mod blocks;
pub mod conformance;
pub mod defaults;
pub mod query;

use std::marker::PhantomData;
use std::path::Path;

use recs_core::modelfile::{Catalog, ModelMeta, ModelReader};
use recs_core::schema::{self, ParamSpec};
use recs_core::{
    Capabilities, Capability, DynModel, ModelError, ModelParams, Progress, Recommender, TrainData,
};
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

/// A value given for a parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Given {
    /// Text from a command line (`--epochs 20`, `--param solver=cg`), parsed by the
    /// parameter's declared type.
    Text(String),
    /// A JSON value (Python keyword arguments, HTTP, code).
    Json(Value),
}

/// Hyper-parameters given by a front-end, by name: a shared word (`factors`, `epochs`,
/// `learning_rate`, `reg`, `batch_size`, `hidden`, `threads`, `seed`, `device`), a model's
/// own parameter (`negatives`, `beta_kl`), or an alias of either (`iterations`,
/// `regularization`, `K`). Anything not given keeps the model's registered default. Each
/// model's [`Entry::params_for`] resolves the names against its schema.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HyperParams {
    given: Vec<(String, Given)>,
}

impl HyperParams {
    /// None given.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to a JSON value (a later value for the same name replaces it).
    pub fn set(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        self.put(name, Given::Json(value.into()))
    }

    /// Sets `name` to command-line text, parsed by the parameter's declared type.
    pub fn set_text(&mut self, name: &str, text: &str) -> &mut Self {
        self.put(name, Given::Text(text.to_string()))
    }

    /// As [`HyperParams::set`], by value (for building in one expression).
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.set(name, value);
        self
    }

    fn put(&mut self, name: &str, g: Given) -> &mut Self {
        self.given.retain(|(n, _)| n != name);
        self.given.push((name.to_string(), g));
        self
    }

    /// The names given, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.given.iter().map(|(n, _)| n.as_str())
    }

    /// What was given for `name` (exactly that name, not an alias).
    pub fn get(&self, name: &str) -> Option<&Given> {
        self.given.iter().find(|(n, _)| n == name).map(|(_, g)| g)
    }

    /// The names given that a model must take (all but the shared words a model without
    /// them ignores: `threads`, `seed`; and `device`, which every model takes).
    pub fn required_names(&self) -> Vec<String> {
        self.names()
            .filter(|n| !schema::word(n).is_some_and(|w| w.ignorable || w.name == "device"))
            .map(str::to_string)
            .collect()
    }
}

/// The spec in `schema` that `name` names, by its name or an alias.
fn resolve(schema: &'static [ParamSpec], name: &str) -> Option<&'static ParamSpec> {
    schema
        .iter()
        .find(|s| s.name == name)
        .or_else(|| schema.iter().find(|s| s.all_aliases().contains(&name)))
}

/// A registered model, type-erased: what front-ends use.
pub trait Entry: Sync {
    /// Its name (the model file's kind too).
    fn kind(&self) -> &'static str;
    /// Its display name, the Python class's (`BPR`, `BiVAE`, `MultVAE`).
    fn title(&self) -> &'static str;
    /// One line saying what it is.
    fn about(&self) -> &'static str;
    /// What it can do beyond ranking known users, as its type declares.
    fn capabilities(&self) -> Capabilities;
    /// Its parameters, as its params type declares them.
    fn schema(&self) -> &'static [ParamSpec];
    /// The parameter `name` (or an alias) names, if the model takes it; `device` is taken
    /// by every model (a model without a GPU path takes `native` and `cpu`).
    fn spec(&self, name: &str) -> Option<&'static ParamSpec> {
        resolve(self.schema(), name).or_else(|| {
            (schema::word(name).map(|w| w.name) == Some("device"))
                .then_some(&schema::CPU_ONLY_DEVICE)
        })
    }
    /// The names it takes, comma-separated (what an error about a name it does not take
    /// lists).
    fn takes(&self) -> String {
        let mut v: Vec<&str> = self.schema().iter().map(|s| s.name).collect();
        if !v.contains(&"device") {
            v.push("device (native or cpu)");
        }
        v.join(", ")
    }
    /// The one-line description with the capabilities it declares: what `--help` lists.
    fn describe(&self) -> String {
        let caps = self.capabilities().names();
        if caps.is_empty() {
            self.about().to_string()
        } else {
            format!("{}; {}", self.about(), caps.join(", "))
        }
    }
    /// Its registered defaults (the settings its reproduction uses) as JSON.
    fn defaults(&self) -> Value;
    /// Its params' documented `Default` as JSON (before the registry's reproduction settings).
    fn type_defaults(&self) -> Value;
    /// The defaults with `hp` applied, validated: each given value checked against its
    /// parameter's declared type and range (the error names it, the value and the range), a
    /// name the model does not take an error listing those it does (unless `lenient`, or a
    /// word models without it ignore: then it is skipped).
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

    fn capabilities(&self) -> Capabilities {
        M::CAPABILITIES
    }

    fn schema(&self) -> &'static [ParamSpec] {
        <M::Params as ModelParams>::SCHEMA
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
        let mut set: Vec<(&str, &str)> = Vec::new();
        for (name, given) in &hp.given {
            let Some(spec) = self.spec(name) else {
                if lenient || schema::word(name).is_some_and(|w| w.ignorable) {
                    continue;
                }
                return Err(RegistryError::NotTaken {
                    model: M::KIND,
                    param: name.clone(),
                    takes: self.takes(),
                });
            };
            if let Some((first, _)) = set.iter().find(|(_, s)| *s == spec.name) {
                return Err(RegistryError::BadValue {
                    model: M::KIND,
                    message: format!("`{name}` given twice (as `{first}` too)"),
                });
            }
            set.push((name, spec.name));
            let value = match given {
                Given::Text(t) => spec.parse_text(t).map_err(ModelError::from)?,
                Given::Json(j) => {
                    spec.check(j).map_err(ModelError::from)?;
                    j.clone()
                }
            };
            if resolve(self.schema(), spec.name).is_some() {
                obj.insert(spec.name.to_string(), value);
            }
        }
        let p: M::Params = serde_json::from_value(v).map_err(|e| RegistryError::BadValue {
            model: M::KIND,
            message: e.to_string(),
        })?;
        p.relations().map_err(ModelError::from)?;
        Ok(serde_json::to_value(p).unwrap_or(Value::Null))
    }

    fn fit(
        &self,
        params: &Value,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Box<dyn DynModel>> {
        // `fit` validates (once): the params may come from anywhere.
        let p: M::Params =
            serde_json::from_value(params.clone()).map_err(|e| RegistryError::BadValue {
                model: M::KIND,
                message: e.to_string(),
            })?;
        Ok(Box::new(M::fit(&p, data, progress)?))
    }

    fn load(&self, file: &ModelReader) -> Result<Box<dyn DynModel>> {
        Ok(Box::new(M::load(file)?))
    }
}

/// Every model, in the order `--help` lists them.
pub static MODELS: &[&dyn Entry] = defaults::MODELS;

/// The names of the models that declare `c`, in the registry's order.
pub fn with(c: Capability) -> Vec<&'static str> {
    MODELS
        .iter()
        .filter(|e| e.capabilities().has(c))
        .map(|e| e.kind())
        .collect()
}

/// The names of the models that do not declare `c`, in the registry's order.
pub fn without(c: Capability) -> Vec<&'static str> {
    MODELS
        .iter()
        .filter(|e| !e.capabilities().has(c))
        .map(|e| e.kind())
        .collect()
}

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

    /// As [`Loaded::seen`], the items in place where the file is mapped (row pointers
    /// copied): what a process that serves the file holds instead of a copy.
    pub fn seen_pattern(&self) -> Result<Option<recs_core::modelfile::Pattern>> {
        Ok(self
            .file
            .seen_pattern(self.model.n_users(), self.model.n_items())?)
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

/// As [`load`], mapping the file only when `map` (see
/// [`ModelReader::open_with`](recs_core::modelfile::ModelReader::open_with)).
pub fn load_with(path: &Path, map: bool) -> Result<Loaded> {
    load_reader(ModelReader::open_with(path, map)?)
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
