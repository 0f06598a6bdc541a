//! The `recs` command: train, evaluate, recommend, similar, compare and metrics, without
//! writing Rust. Exit codes: 0 success, 1 a user error (bad file, unknown user, …), 2 a
//! usage error (unknown flag, missing argument, k of 0).
//!
//! A closed standard output (`recs recommend … | head -1`) ends the process quietly with
//! status 0, as ripgrep does: every result goes through [`outln!`], whose write error is
//! returned like any other, and `main` recognises a broken pipe in the error's chain.

mod input;
mod plot;

/// `println!` that returns the write's error instead of panicking (a closed pipe is an
/// `io::Error` of kind `BrokenPipe`, which `main` ends quietly).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `eprintln!` that never panics (a closed standard error is not worth a panic).
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use recs_core::modelfile::Catalog;
use recs_core::{Control, DynModel, EpochReport, ModelError, ParamError};
use recs_data::{IdMap, Interactions};
use recs_experiments::workflow::{self, SplitSpec};
use recs_registry::{Entry, HyperParams, RegistryError};
use recs_sparse::DuplicatePolicy;

use input::{DataArgs, FormatArgs, Provenance, Source};

#[derive(Parser, Debug)]
#[command(
    name = "recs",
    version,
    about = "Collaborative filtering from the command line: train, evaluate, recommend, compare"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model and write it to a file (one format for every model)
    Train(TrainArgs),
    /// Score a trained model on held-out data: ranking metrics, and RMSE/MAE for rating models
    Evaluate(EvaluateArgs),
    /// The top-k items for a user, seen items excluded
    Recommend(RecommendArgs),
    /// The k items most similar to an item (cosine of item vectors)
    Similar(SimilarArgs),
    /// Train several models on one split and print one table, as Cornac's Experiment does
    Compare(CompareArgs),
    /// Score predictions made by any system from CSV files
    Metrics(MetricsArgs),
    /// Serve model files over HTTP/JSON (README: Serving; crates/recs-serve/openapi.json)
    Serve(ServeArgs),
}

/// Hyper-parameters in the shared vocabulary; each model's default is its reproduction's
/// (`recs train --model NAME --help` lists the model names). A flag a model does not take is
/// an error listing those it does.
#[derive(Args, Debug, Clone)]
struct ModelParams {
    /// Training epochs (iterations)
    #[arg(long, allow_negative_numbers = true)]
    epochs: Option<i64>,
    /// Latent size: factors, BiVAE/Mult-VAE latent dimension, AutoRec hidden units
    #[arg(long, allow_negative_numbers = true)]
    factors: Option<i64>,
    /// Learning rate
    #[arg(long, visible_alias = "lr", allow_negative_numbers = true)]
    learning_rate: Option<f64>,
    /// Regularisation weight (MF/BPR reg, AutoRec's λ, Mult-VAE's L2)
    #[arg(long, allow_negative_numbers = true)]
    reg: Option<f64>,
    /// Mini-batch size (autoencoders)
    #[arg(long, allow_negative_numbers = true)]
    batch_size: Option<i64>,
    /// Encoder hidden layers, comma-separated (BiVAE, Mult-VAE/DAE)
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    hidden: Option<Vec<i64>>,
    /// Worker threads (0: all cores). BPR trained with more than one thread is not
    /// bit-reproducible (its Hogwild threads race on shared rows, and the work is split by
    /// thread count): the same seed gives a comparable model, not the same bytes. With
    /// `--threads 1`, the same seed and data give a byte-identical model file, for every
    /// model; AutoRec's, Mult-VAE/DAE's and BiVAE's results do not depend on the count.
    #[arg(long, allow_negative_numbers = true)]
    threads: Option<i64>,
    /// Where the autoencoders (BiVAE, Mult-VAE/DAE, AutoRec) train: native (the hand-written
    /// CPU kernels, default), cpu (candle on the CPU), cuda or cuda:N (candle on GPU N; needs
    /// a build with `--features cuda`). Other models train on the CPU and ignore it.
    #[arg(long, value_name = "DEVICE")]
    device: Option<String>,
    /// A model-specific parameter, KEY=VALUE (VALUE as JSON, else a string); repeatable
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    params: Vec<(String, serde_json::Value)>,
}

fn parse_param(s: &str) -> Result<(String, serde_json::Value), String> {
    let (k, v) = s
        .split_once('=')
        .filter(|(k, _)| !k.trim().is_empty())
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    let v = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.into()));
    Ok((k.trim().to_string(), v))
}

/// Sets the count parameter `name` of `hp` (`hidden`: one layer of that size).
fn set_count(hp: &mut HyperParams, name: &str, v: usize) {
    match name {
        "factors" => hp.factors = Some(v),
        "epochs" => hp.epochs = Some(v),
        "batch_size" => hp.batch_size = Some(v),
        "threads" => hp.threads = Some(v),
        _ => hp.hidden = Some(vec![v]),
    }
}

impl ModelParams {
    /// The parameters in the registry's vocabulary. A negative count (`--epochs -1`) is
    /// refused as the parameter check of the model(s) words it, with the allowed range: the
    /// check is asked about the smallest and the largest count, and its range quoted.
    fn hyper(&self, seed: u64, entries: &[&dyn Entry]) -> anyhow::Result<HyperParams> {
        let mut negative: Option<(&str, i64)> = None;
        let mut count = |name: &'static str, v: Option<i64>| -> Option<usize> {
            let v = v?;
            match usize::try_from(v) {
                Ok(c) => Some(c),
                Err(_) => {
                    negative.get_or_insert((name, v));
                    None
                }
            }
        };
        let hidden = match &self.hidden {
            None => None,
            Some(h) => {
                let sizes: Vec<Option<usize>> =
                    h.iter().map(|&x| count("hidden", Some(x))).collect();
                sizes.into_iter().collect::<Option<Vec<usize>>>()
            }
        };
        let hp = HyperParams {
            factors: count("factors", self.factors),
            epochs: count("epochs", self.epochs),
            learning_rate: self.learning_rate,
            reg: self.reg,
            batch_size: count("batch_size", self.batch_size),
            hidden,
            threads: count("threads", self.threads),
            seed: Some(seed),
            device: self.device.clone(),
            extra: self.params.iter().cloned().collect(),
        };
        // A rate that is not a finite number (`--lr nan`, `inf`) is answered by the check too
        // (JSON has no NaN: it would reach the model as `null`).
        for (name, v) in [("learning_rate", self.learning_rate), ("reg", self.reg)] {
            let Some(v) = v.filter(|v| !v.is_finite()) else {
                continue;
            };
            for e in entries {
                for probe in [0.0, -1.0, 1e300] {
                    let mut p = hp.clone();
                    match name {
                        "reg" => p.reg = Some(probe),
                        _ => p.learning_rate = Some(probe),
                    }
                    if let Err(RegistryError::Model(ModelError::Param(pe))) = e.params_for(&p, true)
                        && pe.param == name
                    {
                        bail!(ParamError::new(name, v, pe.allowed));
                    }
                }
            }
            bail!(ParamError::new(name, v, "a finite number"));
        }
        let Some((name, value)) = negative else {
            return Ok(hp);
        };
        for e in entries {
            for probe in [0, 1 << 40] {
                let mut p = hp.clone();
                set_count(&mut p, name, probe);
                if let Err(RegistryError::Model(ModelError::Param(pe))) = e.params_for(&p, true)
                    && pe.param.starts_with(name)
                {
                    bail!(ParamError::new(name, value, pe.allowed));
                }
            }
        }
        bail!(ParamError::new(name, value, ">= 0"))
    }
}

/// A cut-off or count of results: a whole number in 1..=1000000.
fn parse_k(s: &str) -> Result<u64, String> {
    match s.trim().parse::<i128>() {
        Ok(k) if (1..=1_000_000).contains(&k) => Ok(k as u64),
        _ => Err(format!(
            "`{s}` is out of range: allowed a whole number in 1..=1000000"
        )),
    }
}

/// A seed: a whole number from 0 to 2^64 - 1 (a negative one is refused saying so).
fn parse_seed(s: &str) -> Result<u64, String> {
    s.trim().parse::<u64>().map_err(|_| {
        format!(
            "`{s}` is not a seed: allowed a whole number in 0..={}",
            u64::MAX
        )
    })
}

/// The registry's model names, for clap (an unknown name is a usage error listing them).
fn model_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        recs_registry::MODELS
            .iter()
            .map(|e| clap::builder::PossibleValue::new(e.kind()).help(e.about())),
    )
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// The model (see the list below)
    #[arg(long, value_parser = model_names())]
    model: String,
    #[command(flatten)]
    data: DataArgs,
    /// random:F (train fraction), stratified:F, temporal:F (test fraction), loo or none
    #[arg(long, default_value = "random:0.8")]
    split: String,
    /// Seed of the split and the model
    #[arg(long, default_value_t = 42, allow_negative_numbers = true, value_parser = parse_seed)]
    seed: u64,
    #[command(flatten)]
    params: ModelParams,
    /// Where to write the model
    #[arg(long)]
    out: PathBuf,
    /// Draw the loss (and validation measure) per epoch to this SVG file
    #[arg(long)]
    plot: Option<PathBuf>,
    /// No progress bar
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct EvaluateArgs {
    /// A model file written by `recs train`
    #[arg(long)]
    model: PathBuf,
    /// The data to evaluate on (default: the source the model was trained from, split again
    /// as it was)
    #[command(flatten)]
    data: DataArgs,
    /// Training interactions (for excluding seen items), with --test
    #[arg(long, requires = "test", conflicts_with_all = ["dataset", "input"])]
    train: Option<PathBuf>,
    /// Test interactions, with --train
    #[arg(long, requires = "train")]
    test: Option<PathBuf>,
    /// Cut-offs
    #[arg(short, long, value_delimiter = ',', default_value = "10", allow_negative_numbers = true, value_parser = parse_k)]
    k: Vec<u64>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct RecommendArgs {
    /// A model file written by `recs train`
    #[arg(long)]
    model: PathBuf,
    /// The user's id, as in the data
    #[arg(long)]
    user: String,
    /// How many items
    #[arg(short, long, default_value_t = 10, allow_negative_numbers = true, value_parser = parse_k)]
    k: u64,
    /// For a user not in the training data: their items, comma-separated (models that fold in)
    #[arg(long, value_delimiter = ',')]
    items: Vec<String>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct SimilarArgs {
    /// A model file written by `recs train`
    #[arg(long)]
    model: PathBuf,
    /// The item's id, as in the data
    #[arg(long)]
    item: String,
    /// How many items
    #[arg(short, long, default_value_t = 10, allow_negative_numbers = true, value_parser = parse_k)]
    k: u64,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct CompareArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Models, comma-separated
    #[arg(long, value_delimiter = ',', required = true, value_parser = model_names())]
    models: Vec<String>,
    /// random:F, stratified:F, temporal:F or loo
    #[arg(long, default_value = "random:0.8")]
    split: String,
    /// Seed of the split and the models
    #[arg(long, default_value_t = 42, allow_negative_numbers = true, value_parser = parse_seed)]
    seed: u64,
    #[command(flatten)]
    params: ModelParams,
    /// Cut-offs
    #[arg(short, long, value_delimiter = ',', default_value = "10", allow_negative_numbers = true, value_parser = parse_k)]
    k: Vec<u64>,
    /// Print JSON
    #[arg(long)]
    json: bool,
    /// No progress bar
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct MetricsArgs {
    /// userID,itemID,rating
    #[arg(long)]
    truth: PathBuf,
    /// userID,itemID,prediction
    #[arg(long)]
    pred: PathBuf,
    /// userID,itemID,rating,prediction, for RMSE and MAE
    #[arg(long)]
    pairs: Option<PathBuf>,
    /// userID,itemID,label,prediction with 0/1 labels, for a global AUC
    #[arg(long)]
    auc_pairs: Option<PathBuf>,
    /// Cut-offs of the ranking metrics
    #[arg(short, long, value_delimiter = ',', default_value = "10", allow_negative_numbers = true, value_parser = parse_k)]
    k: Vec<u64>,
    /// Cut-offs of Liang et al.'s Recall@R and NDCG@R
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, value_parser = parse_k)]
    liang_k: Vec<u64>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// A model file, FILE (named by its file stem) or NAME=FILE; repeatable. The first is
    /// the default model; `model=NAME` in a request picks another
    #[arg(long = "model", value_name = "[NAME=]FILE", required = true, value_parser = parse_model_spec)]
    models: Vec<recs_serve::ModelSpec>,
    /// Address to listen on. The default is loopback only; binding another address (such
    /// as 0.0.0.0:8080) exposes the API, which has no authentication, to that network
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: std::net::SocketAddr,
    /// The largest k a request may ask for
    #[arg(long, default_value_t = 1000, value_parser = parse_k)]
    max_k: u64,
    /// The largest request body in bytes (a larger one is answered 413)
    #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    max_body_bytes: u64,
    /// The most users in one batch request
    #[arg(long, default_value_t = 1000, value_parser = parse_k)]
    max_batch: u64,
    /// Request timeout in milliseconds (a slower request is answered 503)
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    timeout_ms: u64,
    /// Threads: for the async I/O and, as many again at most, for scoring (0: all cores)
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1024))]
    threads: u64,
}

/// `[NAME=]FILE`: a NAME is letters, digits, `-`, `_` and `.`; without one, the file stem.
fn parse_model_spec(s: &str) -> Result<recs_serve::ModelSpec, String> {
    let is_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let (name, path) = match s.split_once('=') {
        Some((n, p)) if is_name(n) && !p.is_empty() => (n.to_string(), PathBuf::from(p)),
        _ => {
            let p = PathBuf::from(s);
            let stem = p
                .file_stem()
                .and_then(|x| x.to_str())
                .filter(|x| is_name(x))
                .ok_or_else(|| {
                    format!("`{s}`: name the model: --model NAME=FILE (NAME of letters, digits, -, _, .)")
                })?
                .to_string();
            (stem, p)
        }
    };
    Ok(recs_serve::ModelSpec { name, path })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => train(a),
        Command::Evaluate(a) => evaluate(a),
        Command::Recommend(a) => recommend(a),
        Command::Similar(a) => similar(a),
        Command::Compare(a) => compare(a),
        Command::Metrics(a) => metrics(a),
        Command::Serve(a) => serve(a),
    }
    .and_then(|()| {
        use std::io::Write as _;
        Ok(std::io::stdout().lock().flush()?)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`| head`): nothing is wrong, and nothing more
        // is wanted, so end quietly with success, as ripgrep does.
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // The chain once: no error's message repeats its source (the convention every
            // crate of the workspace follows), so each cause is printed after the one it
            // caused.
            let msg = e
                .chain()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(": ");
            note!("error: {msg}");
            ExitCode::from(1)
        }
    }
}

/// Whether `e` is, or was caused by, a write to a closed pipe.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn bar(n: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(n);
    pb.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] epoch {pos}/{len}  {msg}  (ETA {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    pb
}

fn print_metrics(m: &BTreeMap<String, f64>, json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(m)?)?;
    } else {
        for (k, v) in m {
            outln!("{k:<16} {v:.4}")?;
        }
    }
    Ok(())
}

/// Refuses an output path before any work starts: a directory, FIFO, device or socket, a
/// directory that does not exist or takes no new file, or the file the data is read from.
fn check_output(flag: &str, path: &Path, input: Option<&Path>) -> anyhow::Result<()> {
    recs_core::atomic::check_target(path)
        .with_context(|| format!("{flag} {}: cannot write the file there", path.display()))?;
    if let Some(input) = input
        && same_file(path, input)
    {
        bail!(
            "{flag} {} is the input file: writing it would destroy the data; name another file",
            path.display()
        );
    }
    Ok(())
}

/// Whether `a` and `b` name one existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn usizes(k: &[u64]) -> Vec<usize> {
    k.iter().map(|&k| k as usize).collect()
}

fn train(a: TrainArgs) -> anyhow::Result<()> {
    let entry = recs_registry::find(&a.model)?;
    let hp = a.params.hyper(a.seed, &[entry])?;
    // Refuse flags the model does not take before loading anything.
    entry.params_for(&hp, false)?;
    let split = SplitSpec::parse(&a.split)?;
    let source = a.data.source()?;
    // Refuse outputs that cannot be written before training, not after.
    check_output("--out", &a.out, a.data.input.as_deref())?;
    if let Some(p) = &a.plot {
        if entry.defaults().get("epochs").is_none() {
            bail!(
                "--plot: a {} model trains in one pass (no epochs): there is no curve to draw",
                entry.kind()
            );
        }
        check_output("--plot", p, a.data.input.as_deref())?;
        if same_file(p, &a.out) || p == &a.out {
            bail!("--plot and --out name one file ({}); name two", p.display());
        }
    }
    let data = source.load()?;
    let s = split.apply(&data, a.seed)?;
    let train = s.train.to_csr(DuplicatePolicy::KeepLast)?;
    let pb = bar(0, a.quiet);
    pb.set_prefix(entry.kind());
    let mut curve: Vec<EpochReport> = Vec::new();
    let started = Instant::now();
    let mut progress = |e: &EpochReport| {
        pb.set_length(e.epochs as u64);
        pb.set_position(e.epoch as u64);
        let v = e
            .validation
            .map_or(String::new(), |(n, v)| format!("  {n} {v:.4}"));
        pb.set_message(format!("loss {:.4}{v}", e.total_loss()));
        curve.push(e.clone());
        Control::Continue
    };
    let model = workflow::fit(entry, &train, &hp, false, &mut progress)?;
    let seconds = started.elapsed().as_secs_f64();
    pb.finish_and_clear();

    let provenance = Provenance {
        recs_version: env!("CARGO_PKG_VERSION").into(),
        source: source.clone(),
        split: split.to_string(),
        seed: a.seed,
        fingerprint: input::fingerprint(&s.train),
    };
    let catalog = Catalog {
        user_ids: Some(data.user_map().ids().to_vec()),
        item_ids: Some(data.item_map().ids().to_vec()),
        seen: Some(train.binarize()),
    };
    recs_registry::save(
        &*model,
        &catalog,
        serde_json::to_value(&provenance)?,
        &a.out,
    )?;
    if let Some(p) = &a.plot {
        plot::curve(&curve, entry.kind(), p)?;
    }
    outln!(
        "trained {} on {} interactions ({} users × {} items) in {seconds:.2} s; wrote {}",
        entry.kind(),
        s.train.len(),
        data.n_users(),
        data.n_items(),
        a.out.display()
    )?;
    if !s.test.is_empty() {
        // The model is written: a split it cannot be scored on is a note, not a failure.
        let e = workflow::evaluate_explained(&*model, &train, &s.test, &[10])?;
        if let Some(why) = &e.no_ranking {
            let what = if e.metrics.is_empty() {
                "no held-out metric"
            } else {
                "no ranking metric"
            };
            note!("note: {what}: {why}");
        }
        if !e.metrics.is_empty() {
            outln!("held-out {} ({} interactions):", split, s.test.len())?;
            print_metrics(&e.metrics, false)?;
        }
    }
    Ok(())
}

/// A model file written by `recs train`, read once: the model, its ids
/// ([`recs_registry::query::Opened`], shared with `recs serve`) and the CLI's record of its
/// training data.
struct Opened {
    q: recs_registry::query::Opened,
    /// `None` for a file written elsewhere (the Python package): ids but no `recs train`
    /// record, so no source to re-split.
    prov: Option<Provenance>,
}

impl Opened {
    fn model(&self) -> &dyn DynModel {
        self.q.model()
    }
}

/// The CLI's record of a model file's training data, if it has one.
fn provenance(meta: &recs_core::modelfile::ModelMeta) -> Option<Provenance> {
    serde_json::from_value(meta.extra.clone()).ok()
}

fn open_model(path: &Path) -> anyhow::Result<Opened> {
    let q = recs_registry::query::Opened::open(path)?;
    let prov = provenance(&q.file.meta);
    Ok(Opened { q, prov })
}

/// Titles of the items of a model file's MovieLens source, when recorded and installed
/// (`recs recommend`, `recs similar` and `recs serve` show them).
fn model_titles(meta: &recs_core::modelfile::ModelMeta) -> HashMap<String, String> {
    provenance(meta)
        .map(|p| titles(&p.source))
        .unwrap_or_default()
}

/// Interactions of `path` in the model's index space; rows whose user or item the model
/// does not know are dropped (and counted).
fn in_model_space(
    path: &Path,
    format: &FormatArgs,
    users: &Arc<IdMap>,
    items: &Arc<IdMap>,
) -> anyhow::Result<(Interactions, usize)> {
    let raw = format.load(path)?;
    let (mut u, mut i, mut v) = (Vec::new(), Vec::new(), Vec::new());
    let mut dropped = 0;
    for r in 0..raw.len() {
        let ue = raw.user_map().external(raw.users()[r]);
        let ie = raw.item_map().external(raw.items()[r]);
        match (users.get(ue), items.get(ie)) {
            (Some(a), Some(b)) => {
                u.push(a);
                i.push(b);
                v.push(raw.values()[r]);
            }
            _ => dropped += 1,
        }
    }
    Ok((
        Interactions::from_parts(u, i, v, None, users.clone(), items.clone())?,
        dropped,
    ))
}

fn id_map(ids: &[String]) -> Arc<IdMap> {
    let mut m = IdMap::new();
    for id in ids {
        m.get_or_insert(id);
    }
    Arc::new(m)
}

fn evaluate(a: EvaluateArgs) -> anyhow::Result<()> {
    let opened = open_model(&a.model)?;
    let (model, users, items, prov) = (
        opened.model(),
        &opened.q.users,
        &opened.q.items,
        &opened.prov,
    );
    let ks = usizes(&a.k);
    let (train, test) = if let (Some(tr), Some(te)) = (&a.train, &a.test) {
        let (users, items) = (id_map(users), id_map(items));
        let (train, d1) = in_model_space(tr, &a.data.format, &users, &items)?;
        let (test, d2) = in_model_space(te, &a.data.format, &users, &items)?;
        if d1 + d2 > 0 {
            note!(
                "note: {} rows name a user or item the model does not know; skipped",
                d1 + d2
            );
        }
        (train, test)
    } else {
        let prov = prov.as_ref().with_context(|| {
            format!(
                "{} holds no `recs train` record (source, split, seed); pass --train and --test files",
                a.model.display()
            )
        })?;
        let source = if a.data.dataset.is_some() || a.data.input.is_some() {
            a.data.source()?
        } else {
            prov.source.clone()
        };
        let data = source.load()?;
        let s = SplitSpec::parse(&prov.split)?.apply(&data, prov.seed)?;
        if input::fingerprint(&s.train) != prov.fingerprint {
            bail!(
                "the data differs from what {} was trained on (its training part has another fingerprint); pass --train and --test files instead",
                a.model.display()
            );
        }
        if s.test.is_empty() {
            bail!(
                "the model was trained with --split none: there is no held-out part; pass --train and --test files"
            );
        }
        (s.train, s.test)
    };
    let train_m = train.to_csr(DuplicatePolicy::KeepLast)?;
    let m = evaluated(model, &train_m, &test, &ks)?;
    print_metrics(&m, a.json)
}

/// [`workflow::evaluate`], saying on standard error why the ranking metrics are missing
/// when the model gives only RMSE/MAE, and an error saying why when it gives nothing.
fn evaluated(
    model: &dyn DynModel,
    train: &recs_sparse::CsrMatrix,
    test: &Interactions,
    ks: &[usize],
) -> anyhow::Result<BTreeMap<String, f64>> {
    let e = workflow::evaluate_explained(model, train, test, ks)?;
    match &e.no_ranking {
        Some(why) if e.metrics.is_empty() => {
            bail!(
                "a {} model gives no metric on this data: {why}",
                model.kind()
            )
        }
        Some(why) => note!("note: no ranking metric: {why}"),
        None => {}
    }
    Ok(e.metrics)
}

/// Titles of a MovieLens source's items, when installed.
fn titles(source: &Source) -> HashMap<String, String> {
    source
        .movielens_dir()
        .and_then(|d| recs_data::movielens::item_titles(&d).ok())
        .unwrap_or_default()
}

fn print_items(
    rows: &[(String, f32)],
    titles: &HashMap<String, String>,
    json: bool,
    what: &str,
) -> anyhow::Result<()> {
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(id, s)| serde_json::json!({"item": id, what: s, "title": titles.get(id)}))
            .collect();
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        for (rank, (id, s)) in rows.iter().enumerate() {
            let t = titles.get(id).map_or("", String::as_str);
            outln!("{:>3}. {id:<10} {s:>8.4}  {t}", rank + 1)?;
        }
    }
    Ok(())
}

fn recommend(a: RecommendArgs) -> anyhow::Result<()> {
    use recs_registry::query::QueryError;
    let o = open_model(&a.model)?;
    let q = &o.q;
    let k = a.k as usize;
    let top = match q.user(&a.user) {
        Some(u) => q.recommend(u, k, &[])?,
        None if a.items.is_empty() => bail!(
            "user '{}' is not in the training data of {} ({} users); a model that folds in new users (multvae, multdae) can score one from --items ID,ID,…",
            a.user,
            a.model.display(),
            q.users.len(),
        ),
        None => match q
            .item_indices(&a.items, "--items")
            .and_then(|items| q.recommend_new(&items, k, &[]))
        {
            Err(QueryError::NoFoldIn { kind }) => bail!(
                "user '{}' is not in the training data, and a {kind} model cannot fold in a new user from --items; retrain with their interactions",
                a.user,
            ),
            r => r?,
        },
    };
    let rows = q.named(&top);
    if rows.is_empty() {
        note!(
            "note: nothing to recommend: user '{}' has interacted with every one of the {} items the model knows",
            a.user,
            q.items.len()
        );
    }
    print_items(&rows, &model_titles(&q.file.meta), a.json, "score")
}

fn similar(a: SimilarArgs) -> anyhow::Result<()> {
    use recs_registry::query::QueryError;
    let o = open_model(&a.model)?;
    let q = &o.q;
    let Some(item) = q.item(&a.item) else {
        bail!(
            "item '{}' is not in the training data of {}",
            a.item,
            a.model.display()
        );
    };
    let top = match q.similar(item, a.k as usize) {
        Err(QueryError::NoItemVectors { kind }) => bail!(
            "a {kind} model has no item vectors to compare; use one that has (bivae, multvae, multdae, autorec, mf, bpr, als)",
        ),
        r => r?,
    };
    print_items(
        &q.named(&top),
        &model_titles(&q.file.meta),
        a.json,
        "cosine",
    )
}

fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let threads = match a.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n as usize,
    };
    let config = recs_serve::Config {
        models: a.models,
        limits: recs_serve::Limits {
            max_k: a.max_k as usize,
            max_body_bytes: a.max_body_bytes as usize,
            timeout: std::time::Duration::from_millis(a.timeout_ms),
            max_batch: a.max_batch as usize,
        },
        titles: Some(Arc::new(model_titles)),
    };
    let started = Instant::now();
    let server = recs_serve::Server::load(config)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .max_blocking_threads(threads)
        .enable_all()
        .build()
        .context("starting the server's threads")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.addr)
            .await
            .with_context(|| format!("--addr {}: cannot listen there", a.addr))?;
        let local = listener.local_addr()?;
        let models = server.models();
        for m in models.by_name.values() {
            note!(
                "recs serve: model `{}`{}: a {} model, {} users × {} items, from {} ({:.2} s)",
                m.name,
                if m.name == models.default { " (default)" } else { "" },
                m.q.model().kind(),
                m.q.users.len(),
                m.q.items.len(),
                m.q.path.display(),
                m.load_seconds
            );
        }
        if !local.ip().is_loopback() {
            note!(
                "recs serve: warning: listening on {local}, beyond this machine: the API has no authentication"
            );
        }
        // The one line on standard output: where to reach the server (tests and scripts
        // read it to find an ephemeral port).
        outln!("recs serve: listening on http://{local} (models loaded in {load_seconds:.2} s)")?;
        tokio::spawn(recs_serve::reload_on_sighup(server.clone()));
        recs_serve::serve(listener, server, recs_serve::shutdown_signal()).await?;
        note!("recs serve: stopped");
        anyhow::Ok(())
    })
}

fn compare(a: CompareArgs) -> anyhow::Result<()> {
    let models = a
        .models
        .iter()
        .map(|m| recs_registry::find(m))
        .collect::<Result<Vec<_>, _>>()?;
    let split = SplitSpec::parse(&a.split)?;
    let hp = a.params.hyper(a.seed, &models)?;
    let data = a.data.source()?.load()?;
    let pb = bar(0, a.quiet);
    let rows = workflow::compare(
        &data,
        split,
        a.seed,
        &models,
        &hp,
        &usizes(&a.k),
        &mut |kind, e| {
            pb.set_prefix(kind.to_string());
            pb.set_length(e.epochs as u64);
            pb.set_position(e.epoch as u64);
            pb.set_message(format!("loss {:.4}", e.total_loss()));
        },
    )?;
    pb.finish_and_clear();
    for r in &rows {
        if let Some(why) = &r.no_ranking {
            let what = if r.metrics.is_empty() {
                "no metric"
            } else {
                "no ranking metric"
            };
            note!("note: {}: {what}: {why}", r.model);
        }
    }
    if rows.iter().all(|r| r.metrics.is_empty()) {
        bail!("no model gives a metric on this split (see the notes above)");
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        outln!("split {split}, seed {}", a.seed)?;
        use std::io::Write as _;
        write!(
            std::io::stdout().lock(),
            "{}",
            workflow::compare_table(&rows)
        )?;
    }
    Ok(())
}

fn metrics(a: MetricsArgs) -> anyhow::Result<()> {
    use recs_metrics::table::{RankingTable, auc_pairs_csv, rating_pairs_csv};
    let t = RankingTable::from_csv(&a.truth, &a.pred)?;
    let mut m = t.metrics(&usizes(&a.k), &usizes(&a.liang_k))?;
    if let Some(p) = &a.pairs {
        let r = rating_pairs_csv(p)?;
        m.insert("rmse".into(), r.rmse);
        m.insert("mae".into(), r.mae);
    }
    if let Some(p) = &a.auc_pairs {
        m.insert("auc".into(), auc_pairs_csv(p)?);
    }
    print_metrics(&m, a.json)
}
