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
use recs_core::schema::{ParamSpec, WORDS, Word};
use recs_core::{Capability, Control, DynModel, EpochReport};
use recs_data::{IdMap, Interactions};
use recs_experiments::workflow::{self, SplitSpec};
use recs_registry::{Entry, HyperParams};
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

/// Hyper-parameters: the shared vocabulary's flags (`--epochs`, `--factors`, …, added to
/// `train` and `compare` from [`WORDS`] by [`with_param_flags`]) and `--param KEY=VALUE`
/// for a model's own. Each value is text until the model's schema parses and checks it, so
/// every message about a value comes from the schema.
#[derive(Args, Debug, Clone)]
struct ModelParams {
    /// A model-specific parameter, KEY=VALUE; repeatable (`recs train --model NAME --help`
    /// lists NAME's)
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// The shared-vocabulary flags given, as (word, text).
    #[arg(skip)]
    words: Vec<(&'static str, String)>,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .filter(|(k, _)| !k.trim().is_empty())
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    Ok((k.trim().to_string(), v.to_string()))
}

/// The shared words that are flags of `train` and `compare` (`seed` is their own flag: it
/// seeds the split too).
fn flag_words() -> impl Iterator<Item = &'static Word> {
    WORDS.iter().filter(|w| w.name != "seed")
}

/// `--learning-rate` for `learning_rate`.
fn flag(name: &str) -> String {
    name.replace('_', "-")
}

/// Adds the shared vocabulary's flags to `cmd`; their help says which models take each.
/// For `recs train --model NAME --help`, the help ends with NAME's parameters.
fn with_param_flags(mut cmd: clap::Command, model: Option<&dyn Entry>) -> clap::Command {
    for w in flag_words() {
        let takers: Vec<&str> = recs_registry::MODELS
            .iter()
            .filter(|e| e.spec(w.name).is_some_and(|s| s.name == w.name))
            .map(|e| e.kind())
            .collect();
        let takers = if w.name == "device" || takers.len() == recs_registry::MODELS.len() {
            "every model".to_string()
        } else {
            takers.join(", ")
        };
        let mut a = clap::Arg::new(w.name)
            .long(flag(w.name))
            .value_name(w.name.to_uppercase())
            .allow_hyphen_values(true)
            .action(clap::ArgAction::Set)
            .help(format!("{} ({takers})", capitalised(w.doc)));
        // `k` would clash with the cut-off flag `-k`.
        for alias in w.aliases.iter().filter(|a| a.len() > 1) {
            a = a.visible_alias(flag(alias));
        }
        cmd = cmd.arg(a);
    }
    cmd.after_help(match model {
        Some(e) => params_help(e),
        None => {
            "`recs train --model NAME --help` lists NAME's parameters: defaults and allowed ranges"
                .into()
        }
    })
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// NAME's parameters, from its schema: how to set each, what it means, its default (the
/// registry's, what `recs train` uses) and its allowed range.
fn params_help(e: &dyn Entry) -> String {
    let defaults = e.defaults();
    let mut out = format!("Parameters of {} ({}):\n", e.kind(), e.describe());
    let mut specs: Vec<&ParamSpec> = e.schema().iter().collect();
    if !specs.iter().any(|s| s.name == "device") {
        specs.push(&recs_core::schema::CPU_ONLY_DEVICE);
    }
    for spec in specs {
        let how = if spec.name == "seed" {
            format!("--seed <{}>", spec.type_name())
        } else if recs_core::schema::WORDS.iter().any(|w| w.name == spec.name) {
            format!("--{} <{}>", flag(spec.name), spec.type_name())
        } else {
            format!("--param {}=<{}>", spec.name, spec.type_name())
        };
        let default = match defaults.get(spec.name) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) => "none".into(),
            Some(v) => v.to_string(),
            None => "native".into(),
        };
        out.push_str(&format!(
            "  {how}\n          {}; default {default}; allowed {}\n",
            capitalised(spec.doc),
            spec.allowed()
        ));
    }
    out
}

impl ModelParams {
    /// The parameters given, for the registry to check against each model's schema.
    fn hyper(&self, seed: u64) -> HyperParams {
        let mut hp = HyperParams::new();
        for (w, text) in &self.words {
            hp.set_text(w, text);
        }
        for (k, text) in &self.params {
            hp.set_text(k, text);
        }
        hp.set("seed", seed);
        hp
    }

    /// Reads the shared-vocabulary flags from the subcommand's matches.
    fn read_words(&mut self, m: &clap::ArgMatches) {
        self.words = flag_words()
            .filter_map(|w| m.get_one::<String>(w.name).map(|v| (w.name, v.clone())))
            .collect();
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
            .map(|e| clap::builder::PossibleValue::new(e.kind()).help(e.describe())),
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
    /// as 0.0.0.0:8080) exposes the API, whose only authentication is the admin token on
    /// reload, to that network
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
    /// The most scoring tasks at once (0: as many as --threads)
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=4096))]
    max_in_flight: u64,
    /// The most requests waiting for a scoring place, each until its timeout; one beyond
    /// them is answered 503 with Retry-After at once, before any work starts
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(0..=65_536))]
    max_queue: u64,
    /// After SIGTERM or Ctrl-C, how long requests in flight may take to finish, in
    /// milliseconds, before the server exits anyway
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    grace_ms: u64,
    /// How long a request body may stop arriving, in milliseconds, before the request is
    /// answered 400 (a Content-Length larger than the body sent)
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    body_idle_ms: u64,
    /// A file whose first line is the token `POST /v1/reload` must carry (`Authorization:
    /// Bearer TOKEN`, at least 16 characters). Without it, reload over HTTP is off and
    /// SIGHUP reloads
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// A host name requests may carry in their Host header (repeatable). On a loopback
    /// --addr, localhost, 127.0.0.1 and ::1 are allowed besides; on another address any
    /// name is, unless this is given. A request naming another host is answered 403 (a web
    /// page reaching the server through a name of its own)
    #[arg(long = "allowed-host", value_name = "NAME", value_parser = parse_host_name)]
    allowed_hosts: Vec<String>,
    /// Map the model files instead of reading each into memory: every server process on
    /// the machine then shares one copy. Replace a served file only by renaming a new one
    /// over it (`mv`, `recs train --out`): a file rewritten in place (`cp` over it) while
    /// mapped kills the server (SIGBUS)
    #[arg(long)]
    mmap: bool,
}

/// A host name or address for `--allowed-host`: letters, digits, `.`, `-`, `_` and `:`
/// (IPv6), optionally in brackets, at most 253 characters.
fn parse_host_name(s: &str) -> Result<String, String> {
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    let ok = !bare.is_empty()
        && bare.len() <= 253
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if ok {
        Ok(bare.to_string())
    } else {
        Err(format!(
            "`{}` is not a host name (letters, digits, `.`, `-`, `_`, or an IPv6 address; at most 253 characters)",
            s.escape_debug()
        ))
    }
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

/// The command line, with the parameter flags that come from the registry.
fn parse_cli() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let argv: Vec<String> = std::env::args().collect();
    // `recs train --model NAME --help`: the help ends with NAME's parameters.
    let model = argv.iter().enumerate().find_map(|(i, a)| {
        let name = a.strip_prefix("--model=").or_else(|| {
            (a == "--model")
                .then(|| argv.get(i + 1).map(String::as_str))
                .flatten()
        })?;
        recs_registry::find(name).ok()
    });
    let cmd = Cli::command()
        .mut_subcommand("train", |c| with_param_flags(c, model))
        .mut_subcommand("compare", |c| with_param_flags(c, None));
    let matches = cmd.get_matches_from(&argv);
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Some((_, sub)) = matches.subcommand() {
        match &mut cli.command {
            Command::Train(a) => a.params.read_words(sub),
            Command::Compare(a) => a.params.read_words(sub),
            _ => {}
        }
    }
    cli
}

fn main() -> ExitCode {
    let cli = parse_cli();
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
    let hp = a.params.hyper(a.seed);
    // Refuse flags the model does not take, and values out of range, before loading anything.
    entry.params_for(&hp, false)?;
    let split = SplitSpec::parse(&a.split)?;
    let source = a.data.source()?;
    // Refuse outputs that cannot be written before training, not after.
    check_output("--out", &a.out, a.data.input.as_deref())?;
    if let Some(p) = &a.plot {
        if entry.spec("epochs").is_none() {
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
    // The training data as the model sees it: the matrix, the order of the source's rows,
    // and their times where the source has them.
    let (train, order, times) = s.train.to_csr_ordered(DuplicatePolicy::KeepLast)?;
    let mut train_data = recs_core::TrainData::new(&train).with_order(&order)?;
    if let Some(t) = &times {
        train_data = train_data.with_timestamps(t)?;
    }
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
    let model = workflow::fit(entry, &train_data, &hp, false, &mut progress)?;
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
    Ok(format.load(path)?.reindexed(users, items)?)
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
        let given = if a.data.dataset.is_some() || a.data.input.is_some() {
            Some(a.data.source()?)
        } else {
            None
        };
        let source = prov.source.recorded(given.as_ref(), &a.model)?;
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

/// `s` for a terminal: control characters (a newline, an escape sequence) written as
/// escapes (`\n`, `\u{1b}`), so an id or title from the data can neither forge lines of
/// the output nor restyle the terminal. JSON output escapes them by itself.
fn shown(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.into()
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
            let t = shown(titles.get(id).map_or("", String::as_str));
            let id = shown(id);
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
            "user '{}' is not in the training data of {} ({} users); a model that folds in new users ({}) can score one from --items ID,ID,…",
            a.user,
            a.model.display(),
            q.users.len(),
            recs_registry::with(Capability::FoldIn).join(", "),
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
        Err(QueryError::NoItemVectors { kind }) => {
            let mut can = recs_registry::with(Capability::ItemVectors);
            can.extend(recs_registry::with(Capability::SimilarItems));
            bail!(
                "a {kind} model has no item vectors or item–item similarity to compare; use one that has ({})",
                can.join(", ")
            )
        }
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
            max_in_flight: match a.max_in_flight {
                0 => threads,
                n => n as usize,
            },
            max_queue: a.max_queue as usize,
            grace: std::time::Duration::from_millis(a.grace_ms),
            body_idle: std::time::Duration::from_millis(a.body_idle_ms),
        },
        titles: Some(Arc::new(model_titles)),
        admin_token: a
            .admin_token_file
            .as_deref()
            .map(recs_serve::AdminToken::read)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        allowed_hosts: recs_serve::allowed_hosts(a.addr, &a.allowed_hosts),
        mmap: a.mmap,
    };
    let started = Instant::now();
    let server = recs_serve::Server::load(config)?;
    let load_seconds = started.elapsed().as_secs_f64();
    // Scoring tasks are admitted up to the limit, so the blocking pool never queues them;
    // one more thread is for reloading.
    let scoring_threads = server.config().limits.max_in_flight + 1;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .max_blocking_threads(scoring_threads)
        .enable_all()
        .build()
        .context("starting the server's threads")?;
    let served = rt.block_on(async move {
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
                "recs serve: warning: listening on {local}, beyond this machine: only reload is authenticated (the admin token)"
            );
        }
        if let Some(hosts) = &server.config().allowed_hosts {
            note!(
                "recs serve: answering requests for the host names {} (--allowed-host adds one)",
                hosts.join(", ")
            );
        }
        // The one line on standard output: where to reach the server (tests and scripts
        // read it to find an ephemeral port). A closed standard output (`recs serve … |
        // true`) is no reason to stop serving: the line goes to standard error instead.
        let line = format!("recs serve: listening on http://{local} (models loaded in {load_seconds:.2} s)");
        if let Err(e) = outln!("{line}") {
            note!("{line}");
            note!("recs serve: standard output is closed ({e}); serving on");
        }
        tokio::spawn(recs_serve::reload_on_sighup(server.clone()));
        recs_serve::serve(listener, server, recs_serve::shutdown_signal()).await?;
        anyhow::Ok(())
    });
    // Scoring tasks still running past the grace period are not waited for: each is
    // bounded by its deadline, but the process stops now.
    rt.shutdown_timeout(std::time::Duration::from_millis(50));
    served?;
    note!("recs serve: stopped");
    Ok(())
}

fn compare(a: CompareArgs) -> anyhow::Result<()> {
    let models = a
        .models
        .iter()
        .map(|m| recs_registry::find(m))
        .collect::<Result<Vec<_>, _>>()?;
    let split = SplitSpec::parse(&a.split)?;
    let hp = a.params.hyper(a.seed);
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
