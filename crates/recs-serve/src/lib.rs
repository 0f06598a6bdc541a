//! `recs serve`: an HTTP/JSON recommendation service for any recs model file.
//!
//! The server holds one or more model files, each opened once through the registry
//! ([`recs_registry::query::Opened`]: the same loading and querying `recs recommend` and
//! `recs similar` use), and answers through the model's [`recs_core::DynModel`] face and
//! the capabilities it offers (fold-in, item vectors): it never names a model type, so a
//! model added to the registry is served without a change here.
//!
//! - [`Server`] holds the models behind an `Arc` swapped atomically by [`Server::reload`]:
//!   a request takes the current `Arc` when it starts and finishes on it; a file that fails
//!   to load leaves every model as it was.
//! - [`router`] is the axum `Router` of [`ROUTES`] (the table the OpenAPI file is checked
//!   against); scoring runs on tokio's blocking pool (`spawn_blocking`), never on the
//!   async threads.
//! - [`serve`] runs it on a listener until a shutdown future completes, letting requests in
//!   flight finish; [`shutdown_signal`] is Ctrl-C or SIGTERM, [`reload_on_sighup`] reloads
//!   on SIGHUP.
#![deny(missing_docs)]

pub mod admin;
mod api;
pub mod error;
pub mod metrics;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use recs_core::modelfile::ModelMeta;
use recs_registry::query::Opened;

pub use admin::AdminToken;
pub use api::{RECOMMEND_BODY, ROUTES, Route, router};
pub use error::ApiError;

/// The documented limits of the API.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest `k` a request may ask for. Default 1000.
    pub max_k: usize,
    /// The largest request body, in bytes; a larger one is answered 413. Default 1 MiB.
    pub max_body_bytes: usize,
    /// The longest a request may take from its arrival at its route to its answer; a
    /// slower one is answered 503. Default 10 s.
    pub timeout: Duration,
    /// The most users one batch `POST /v1/recommend` may name. Default 1000.
    pub max_batch: usize,
    /// The most scoring tasks running at once. Default: the machine's cores.
    pub max_in_flight: usize,
    /// The most requests waiting for a scoring place (each at most until its timeout); a
    /// request beyond them is answered 503 with `Retry-After` at once. Default 64.
    pub max_queue: usize,
    /// After a shutdown signal, how long requests in flight may take to finish before the
    /// server stops anyway. Default 5 s.
    pub grace: Duration,
    /// How long a request body may stop arriving before the request is answered 400 (a
    /// `Content-Length` larger than what the client sends). Default 1 s.
    pub body_idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_k: 1000,
            max_body_bytes: 1 << 20,
            timeout: Duration::from_secs(10),
            max_batch: 1000,
            max_in_flight: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_queue: 64,
            grace: Duration::from_secs(5),
            body_idle: Duration::from_secs(1),
        }
    }
}

/// A model to serve: its name in the API (`?model=NAME`) and its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// Its name.
    pub name: String,
    /// Its file.
    pub path: PathBuf,
}

/// Titles of a model file's items, by external id, from its metadata (the CLI looks up the
/// MovieLens source its `recs train` record names).
pub type TitlesFn = Arc<dyn Fn(&ModelMeta) -> HashMap<String, String> + Send + Sync>;

/// What to serve, and how.
#[derive(Clone)]
pub struct Config {
    /// The models; the first is the default (used when a request names none).
    pub models: Vec<ModelSpec>,
    /// The limits.
    pub limits: Limits,
    /// Where item titles come from (`None`: no titles).
    pub titles: Option<TitlesFn>,
    /// The token `POST /v1/reload` must carry (`None`: reload over HTTP is off; SIGHUP
    /// still reloads).
    pub admin_token: Option<AdminToken>,
    /// The host names a request's `Host` header may carry (`None`: any). A page a browser
    /// loads from another site can reach a loopback server by a name of its own that
    /// resolves to 127.0.0.1 (DNS rebinding); it cannot send a `Host` outside this list.
    /// See [`allowed_hosts`].
    pub allowed_hosts: Option<Vec<String>>,
    /// Map the model files instead of reading them into memory: every process serving one
    /// file shares its pages, but a file rewritten in place (`cp` over it) while mapped
    /// kills the server with SIGBUS, so replace files by renaming a new one over them.
    pub mmap: bool,
}

/// The host names a server on `addr` answers to: on a loopback address `localhost`,
/// `127.0.0.1`, `::1`, the address itself and `extra`; elsewhere `extra` and the address
/// (unless it is 0.0.0.0 or ::), or any name when `extra` is empty (the machine's names are
/// not known here).
pub fn allowed_hosts(addr: std::net::SocketAddr, extra: &[String]) -> Option<Vec<String>> {
    let mut hosts: Vec<String> = extra.iter().map(|h| host_name(h)).collect();
    if addr.ip().is_loopback() {
        hosts.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    } else if hosts.is_empty() {
        return None;
    }
    // The address itself (127.0.0.2, or the one IP a server is bound to).
    if !addr.ip().is_unspecified() {
        hosts.push(addr.ip().to_string());
    }
    hosts.sort();
    hosts.dedup();
    Some(hosts)
}

/// The host part of a `Host` value (`[::1]:8080` → `::1`, `Example.COM.` → `example.com`).
pub(crate) fn host_name(v: &str) -> String {
    let v = v.trim();
    let host = match v.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None if v.matches(':').count() == 1 => v.split(':').next().unwrap_or(v),
        None => v,
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("models", &self.models)
            .field("limits", &self.limits)
            .field("titles", &self.titles.is_some())
            .field("admin_token", &self.admin_token)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("mmap", &self.mmap)
            .finish()
    }
}

/// A model file that could not be loaded (at start or on reload).
#[derive(Debug, Clone, thiserror::Error)]
#[error("model `{name}` ({}): {message}", path.display())]
pub struct LoadError {
    /// The model's name.
    pub name: String,
    /// Its file.
    pub path: PathBuf,
    /// Why it failed.
    pub message: String,
}

/// A model being served.
#[derive(Debug)]
pub struct Served {
    /// Its name in the API.
    pub name: String,
    /// The opened file.
    pub q: Opened,
    /// Item titles by external id (empty when unknown).
    pub titles: HashMap<String, String>,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// How long loading took, in seconds.
    pub load_seconds: f64,
}

/// The models of one generation: swapped whole by a reload.
#[derive(Debug)]
pub struct Models {
    /// The default model's name (the first configured).
    pub default: String,
    /// Every model by name.
    pub by_name: BTreeMap<String, Arc<Served>>,
    /// 0 for the models loaded at start, +1 for each successful reload.
    pub generation: u64,
}

/// The server's state: configuration, the current models, counters.
#[derive(Debug)]
pub struct Server {
    config: Config,
    models: RwLock<Arc<Models>>,
    /// Request counters and latencies.
    pub metrics: metrics::Metrics,
    reloading: tokio::sync::Mutex<()>,
    started: Instant,
    /// One permit per scoring task that may run ([`Limits::max_in_flight`]).
    scoring: Arc<tokio::sync::Semaphore>,
    /// One permit per request that may wait for a scoring place ([`Limits::max_queue`]).
    queue: Arc<tokio::sync::Semaphore>,
}

fn message_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

fn load_all(config: &Config, generation: u64) -> Result<Models, LoadError> {
    let mut by_name = BTreeMap::new();
    for spec in &config.models {
        let err = |message: String| LoadError {
            name: spec.name.clone(),
            path: spec.path.clone(),
            message,
        };
        let t = Instant::now();
        let mut q =
            Opened::open_with(&spec.path, config.mmap).map_err(|e| err(message_chain(&e)))?;
        q.preload_seen().map_err(|e| err(message_chain(&e)))?;
        let titles = config
            .titles
            .as_ref()
            .map(|f| f(&q.file.meta))
            .unwrap_or_default();
        by_name.insert(
            spec.name.clone(),
            Arc::new(Served {
                name: spec.name.clone(),
                q,
                titles,
                loaded_at: SystemTime::now(),
                load_seconds: t.elapsed().as_secs_f64(),
            }),
        );
    }
    let default = config
        .models
        .first()
        .map(|m| m.name.clone())
        .ok_or_else(|| LoadError {
            name: String::new(),
            path: PathBuf::new(),
            message: "no model to serve: give at least one --model FILE".into(),
        })?;
    Ok(Models {
        default,
        by_name,
        generation,
    })
}

impl Server {
    /// Loads every configured model (blocking: call it before the runtime serves, or on a
    /// blocking thread). Two models of one name are refused.
    pub fn load(config: Config) -> Result<Arc<Self>, LoadError> {
        for (i, m) in config.models.iter().enumerate() {
            if config.models[..i].iter().any(|o| o.name == m.name) {
                return Err(LoadError {
                    name: m.name.clone(),
                    path: m.path.clone(),
                    message: "two models have this name; name them --model NAME=FILE".into(),
                });
            }
        }
        let models = load_all(&config, 0)?;
        let scoring = Arc::new(tokio::sync::Semaphore::new(
            config.limits.max_in_flight.max(1),
        ));
        let queue = Arc::new(tokio::sync::Semaphore::new(config.limits.max_queue));
        Ok(Arc::new(Self {
            scoring,
            queue,
            config,
            models: RwLock::new(Arc::new(models)),
            metrics: metrics::Metrics::default(),
            reloading: tokio::sync::Mutex::new(()),
            started: Instant::now(),
        }))
    }

    /// A place for one scoring task, if one is free (held until the task ends).
    pub fn admit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.scoring.clone().try_acquire_owned().ok()
    }

    /// A place in the queue for a scoring place, if one is free.
    pub fn wait_in_queue(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.queue.clone().try_acquire_owned().ok()
    }

    /// The next scoring place to come free (`None` only if the server is closing them).
    pub async fn next_place(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.scoring.clone().acquire_owned().await.ok()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current models (a request holds this `Arc` to its end).
    pub fn models(&self) -> Arc<Models> {
        self.models
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Time since the server was built.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Reads every model file again (on the blocking pool) and, when all of them load,
    /// swaps them in at once; when one fails, every model stays as it was and the error
    /// says which file and why. One reload at a time (a second waits for the first).
    ///
    /// The reload is a task of its own: a caller that goes away (an HTTP client that
    /// disconnects) neither cancels it nor releases the one-at-a-time lock before its
    /// files are loaded and swapped, so reloads never overlap, and each holds at most one
    /// extra copy of the models while it loads.
    pub async fn reload(self: &Arc<Self>) -> Result<Arc<Models>, LoadError> {
        let this = self.clone();
        tokio::spawn(async move { this.reload_now().await })
            .await
            .unwrap_or_else(|e| {
                Err(LoadError {
                    name: String::new(),
                    path: PathBuf::new(),
                    message: format!("the reload task failed: {e}"),
                })
            })
    }

    async fn reload_now(self: Arc<Self>) -> Result<Arc<Models>, LoadError> {
        let _one = self.reloading.lock().await;
        let next = self.models().generation + 1;
        let this = self.clone();
        let loaded = tokio::task::spawn_blocking(move || load_all(&this.config, next))
            .await
            .unwrap_or_else(|e| {
                Err(LoadError {
                    name: String::new(),
                    path: PathBuf::new(),
                    message: format!("the loading task failed: {e}"),
                })
            });
        self.metrics.reload(loaded.is_ok());
        let models = Arc::new(loaded?);
        *self.models.write().unwrap_or_else(|p| p.into_inner()) = models.clone();
        Ok(models)
    }
}

/// Serves `server` on `listener` until `shutdown` completes; then stops accepting, lets
/// the requests in flight finish for at most [`Limits::grace`], and returns (the caller then
/// stops without waiting for scoring tasks still running: see the CLI).
pub async fn serve(
    listener: tokio::net::TcpListener,
    server: Arc<Server>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use std::future::IntoFuture as _;
    let grace = server.config().limits.grace;
    let (told, heard) = tokio::sync::oneshot::channel::<()>();
    let signalled = async move {
        shutdown.await;
        let _ = told.send(());
    };
    let serving = axum::serve(listener, router(server))
        .with_graceful_shutdown(signalled)
        .into_future();
    let grace_over = async move {
        if heard.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        r = serving => r,
        () = grace_over => {
            eprintln!(
                "recs serve: requests still running after the {} ms grace period are dropped",
                grace.as_millis()
            );
            Ok(())
        }
    }
}

/// Completes on Ctrl-C or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Reloads the models on each SIGHUP (Unix; elsewhere never returns), saying on standard
/// error what happened.
pub async fn reload_on_sighup(server: Arc<Server>) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match server.reload().await {
                Ok(m) => eprintln!(
                    "recs serve: SIGHUP: reloaded {} model(s) (generation {})",
                    m.by_name.len(),
                    m.generation
                ),
                Err(e) => eprintln!(
                    "recs serve: SIGHUP: reload failed, still serving the previous models: {e}"
                ),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = server;
        std::future::pending::<()>().await
    }
}
