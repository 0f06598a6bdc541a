//! The `recs` command: train, evaluate, recommend, similar, compare and metrics, without
//! writing Rust. Exit codes: 0 success, 1 a user error (bad file, unknown user, …), 2 a
//! usage error (unknown flag, missing argument, k of 0).

mod input;
mod plot;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use recs_data::{IdMap, Interactions};
use recs_experiments::zoo::{self, Epoch, ModelKind, Overrides, SplitSpec, Trained};
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
}

/// Hyper-parameters common to the models (each model's default is its reproduction's).
#[derive(Args, Debug, Clone)]
struct ModelParams {
    /// Training epochs
    #[arg(long)]
    epochs: Option<usize>,
    /// Latent factors / dimension
    #[arg(long)]
    factors: Option<usize>,
    /// Learning rate
    #[arg(long)]
    lr: Option<f64>,
    /// Regularisation (MF/BPR reg, AutoRec lambda)
    #[arg(long)]
    reg: Option<f64>,
    /// Batch size (autoencoders)
    #[arg(long)]
    batch_size: Option<usize>,
    /// Hidden units (AutoRec; BiVAE's encoder layer)
    #[arg(long)]
    hidden: Option<usize>,
}

impl ModelParams {
    fn overrides(&self, seed: u64) -> Overrides {
        Overrides {
            epochs: self.epochs,
            factors: self.factors,
            lr: self.lr,
            reg: self.reg,
            batch_size: self.batch_size,
            hidden: self.hidden,
            seed,
        }
    }
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// bivae, multvae, multdae, autorec, mf, bias, global-mean or bpr
    #[arg(long)]
    model: String,
    #[command(flatten)]
    data: DataArgs,
    /// random:F (train fraction), stratified:F, temporal:F (test fraction), loo or none
    #[arg(long, default_value = "random:0.8")]
    split: String,
    /// Seed of the split and the model
    #[arg(long, default_value_t = 42)]
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
    #[arg(short, long, value_delimiter = ',', default_value = "10", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
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
    #[arg(short, long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
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
    #[arg(short, long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
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
    #[arg(long, value_delimiter = ',', required = true)]
    models: Vec<String>,
    /// random:F, stratified:F, temporal:F or loo
    #[arg(long, default_value = "random:0.8")]
    split: String,
    /// Seed of the split and the models
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    params: ModelParams,
    /// Cut-offs
    #[arg(short, long, value_delimiter = ',', default_value = "10", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
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
    #[arg(short, long, value_delimiter = ',', default_value = "10", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    k: Vec<u64>,
    /// Cut-offs of Liang et al.'s Recall@R and NDCG@R
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    liang_k: Vec<u64>,
    /// Print JSON
    #[arg(long)]
    json: bool,
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Each cause once: some errors repeat their source in their own message.
            let mut msg = String::new();
            for cause in e.chain().map(|c| c.to_string()) {
                if !msg.ends_with(&cause) {
                    if !msg.is_empty() {
                        msg.push_str(": ");
                    }
                    msg.push_str(&cause);
                }
            }
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
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

fn print_metrics(m: &BTreeMap<String, f64>, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(m).expect("numbers serialise")
        );
    } else {
        for (k, v) in m {
            println!("{k:<16} {v:.4}");
        }
    }
}

fn usizes(k: &[u64]) -> Vec<usize> {
    k.iter().map(|&k| k as usize).collect()
}

fn train(a: TrainArgs) -> anyhow::Result<()> {
    let kind = ModelKind::parse(&a.model)?;
    let split = SplitSpec::parse(&a.split)?;
    let source = a.data.source()?;
    let data = source.load()?;
    let s = split.apply(&data, a.seed)?;
    let train = s.train.to_csr(DuplicatePolicy::KeepLast)?;
    let pb = bar(0, a.quiet);
    pb.set_prefix(kind.name());
    let mut curve: Vec<Epoch> = Vec::new();
    let started = Instant::now();
    let model = zoo::fit(
        kind,
        &train,
        &a.params.overrides(a.seed),
        &mut |e: &Epoch| {
            pb.set_length(e.n_epochs as u64);
            pb.set_position(e.epoch as u64);
            let v = e
                .validation
                .map_or(String::new(), |(n, v)| format!("  {n} {v:.4}"));
            pb.set_message(format!("loss {:.4}{v}", e.loss));
            curve.push(e.clone());
        },
    )?;
    let seconds = started.elapsed().as_secs_f64();
    pb.finish_and_clear();

    let provenance = Provenance {
        recs_version: env!("CARGO_PKG_VERSION").into(),
        source: source.clone(),
        split: split.to_string(),
        seed: a.seed,
        users: data.user_map().ids().to_vec(),
        items: data.item_map().ids().to_vec(),
        seen: input::seen_lists(&s.train),
        fingerprint: input::fingerprint(&s.train),
    };
    write_model(&model, &provenance, &a.out)?;
    if let Some(p) = &a.plot {
        plot::curve(&curve, kind.name(), p)?;
    }
    println!(
        "trained {} on {} interactions ({} users × {} items) in {seconds:.2} s; wrote {}",
        kind,
        s.train.len(),
        data.n_users(),
        data.n_items(),
        a.out.display()
    );
    if !s.test.is_empty() {
        println!("held-out {} ({} interactions):", split, s.test.len());
        print_metrics(&zoo::evaluate(&model, &train, &s.test, &[10])?, false);
    }
    Ok(())
}

/// Writes the model and its provenance to `out` as one step: into a temporary directory
/// beside it, then renamed, so nothing partial is ever at `out`.
fn write_model(model: &Trained, provenance: &Provenance, out: &Path) -> anyhow::Result<()> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".recs-model-")
        .tempdir_in(dir)
        .with_context(|| format!("cannot write beside {}", out.display()))?;
    let path = tmp.path().join("model.safetensors");
    model.save(&path)?;
    recs_modelfile::set_extra(&path, serde_json::to_value(provenance)?)?;
    std::fs::rename(&path, out).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

/// A model file's model and the CLI's record of its training data.
fn open_model(path: &Path) -> anyhow::Result<(Trained, Provenance)> {
    let meta = recs_modelfile::peek(path)?;
    let provenance: Provenance = serde_json::from_value(meta.extra.clone()).with_context(|| {
        format!(
            "{}: holds no `recs train` record (id maps, source); was it written by `recs train`?",
            path.display()
        )
    })?;
    Ok((Trained::load(path)?, provenance))
}

/// Interactions of `path` in the model's index space; rows whose user or item the model
/// does not know are dropped (and counted).
fn in_model_space(
    path: &Path,
    format: &FormatArgs,
    users: &Arc<IdMap>,
    items: &Arc<IdMap>,
) -> anyhow::Result<(Interactions, usize)> {
    let opts = format.options();
    opts.validate()?;
    let raw = recs_data::load_delimited(path, &opts)?;
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
    let (model, prov) = open_model(&a.model)?;
    let ks = usizes(&a.k);
    let (train, test) = if let (Some(tr), Some(te)) = (&a.train, &a.test) {
        let (users, items) = (id_map(&prov.users), id_map(&prov.items));
        let (train, d1) = in_model_space(tr, &a.data.format, &users, &items)?;
        let (test, d2) = in_model_space(te, &a.data.format, &users, &items)?;
        if d1 + d2 > 0 {
            eprintln!(
                "note: {} rows name a user or item the model does not know; skipped",
                d1 + d2
            );
        }
        (train, test)
    } else {
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
    let m = zoo::evaluate(&model, &train_m, &test, &ks)?;
    print_metrics(&m, a.json);
    Ok(())
}

/// Titles of a MovieLens source's items, when installed.
fn titles(source: &Source) -> HashMap<String, String> {
    source
        .movielens_dir()
        .and_then(|d| recs_data::movielens::item_titles(&d).ok())
        .unwrap_or_default()
}

fn print_items(rows: &[(String, f32)], titles: &HashMap<String, String>, json: bool, what: &str) {
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(id, s)| serde_json::json!({"item": id, what: s, "title": titles.get(id)}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("serialisable")
        );
    } else {
        for (rank, (id, s)) in rows.iter().enumerate() {
            let t = titles.get(id).map_or("", String::as_str);
            println!("{:>3}. {id:<10} {s:>8.4}  {t}", rank + 1);
        }
    }
}

/// The `k` best indices of `scores`, ties to the lower index, skipping non-finite ones.
fn top_k(scores: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut idx: Vec<u32> = (0..scores.len() as u32)
        .filter(|&i| scores[i as usize].is_finite())
        .collect();
    idx.sort_by(|&a, &b| {
        scores[b as usize]
            .total_cmp(&scores[a as usize])
            .then(a.cmp(&b))
    });
    idx.truncate(k);
    idx.into_iter().map(|i| (i, scores[i as usize])).collect()
}

fn recommend(a: RecommendArgs) -> anyhow::Result<()> {
    let (model, prov) = open_model(&a.model)?;
    let (scores, seen) = match prov.users.iter().position(|x| *x == a.user) {
        Some(u) => {
            let scorer = model.scorer();
            let mut scores = vec![0.0f32; scorer.n_items()];
            scorer.score_user(u as u32, &mut scores)?;
            (scores, prov.seen[u].clone())
        }
        None if a.items.is_empty() => bail!(
            "user '{}' is not in the training data of {} ({} users); a model that folds in (multvae, multdae) can score a new user from --items ID,ID,…",
            a.user,
            a.model.display(),
            prov.users.len()
        ),
        None => {
            let Trained::MultVae(m, _) = &model else {
                bail!(
                    "user '{}' is not in the training data, and a {} model cannot fold in a new user from --items (multvae and multdae can); retrain with their interactions",
                    a.user,
                    model.kind()
                );
            };
            let mut items = Vec::new();
            for id in &a.items {
                match prov.items.iter().position(|x| x == id) {
                    Some(i) => items.push(i as u32),
                    None => bail!("item '{id}' (in --items) is not in the training data"),
                }
            }
            items.sort_unstable();
            items.dedup();
            let v = vec![1.0; items.len()];
            let row = recs_sparse::CsrMatrix::from_triplets(
                1,
                m.n_items(),
                &vec![0; items.len()],
                &items,
                &v,
                DuplicatePolicy::KeepLast,
            )?;
            let mut scores = vec![0.0f32; m.n_items()];
            recs_metrics::Scorer::score_user(&m.scorer(&row), 0, &mut scores)?;
            (scores, items)
        }
    };
    let mut scores = scores;
    for &i in &seen {
        scores[i as usize] = f32::NEG_INFINITY;
    }
    let rows: Vec<(String, f32)> = top_k(&scores, a.k as usize)
        .into_iter()
        .map(|(i, s)| (prov.items[i as usize].clone(), s))
        .collect();
    print_items(&rows, &titles(&prov.source), a.json, "score");
    Ok(())
}

fn similar(a: SimilarArgs) -> anyhow::Result<()> {
    let (model, prov) = open_model(&a.model)?;
    let Some(item) = prov.items.iter().position(|x| *x == a.item) else {
        bail!(
            "item '{}' is not in the training data of {}",
            a.item,
            a.model.display()
        );
    };
    let Some((vectors, dim)) = model.item_vectors() else {
        bail!(
            "a {} model has no item vectors to compare; use bivae, autorec (item-based), mf or bpr",
            model.kind()
        );
    };
    let norm = |i: usize| -> f32 {
        vectors[i * dim..(i + 1) * dim]
            .iter()
            .map(|v| v * v)
            .sum::<f32>()
            .sqrt()
    };
    let q = &vectors[item * dim..(item + 1) * dim];
    let nq = norm(item);
    let n_items = vectors.len() / dim;
    let mut sims: Vec<f32> = (0..n_items)
        .map(|j| {
            let d: f32 = q
                .iter()
                .zip(&vectors[j * dim..(j + 1) * dim])
                .map(|(a, b)| a * b)
                .sum();
            let den = nq * norm(j);
            if den > 0.0 { d / den } else { 0.0 }
        })
        .collect();
    sims[item] = f32::NEG_INFINITY;
    let rows: Vec<(String, f32)> = top_k(&sims, a.k as usize)
        .into_iter()
        .map(|(i, s)| (prov.items[i as usize].clone(), s))
        .collect();
    print_items(&rows, &titles(&prov.source), a.json, "cosine");
    Ok(())
}

fn compare(a: CompareArgs) -> anyhow::Result<()> {
    let kinds = a
        .models
        .iter()
        .map(|m| ModelKind::parse(m))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let split = SplitSpec::parse(&a.split)?;
    let data = a.data.source()?.load()?;
    let pb = bar(0, a.quiet);
    let rows = zoo::compare(
        &data,
        split,
        &kinds,
        &a.params.overrides(a.seed),
        &usizes(&a.k),
        &mut |kind, e| {
            pb.set_prefix(kind.name());
            pb.set_length(e.n_epochs as u64);
            pb.set_position(e.epoch as u64);
            pb.set_message(format!("loss {:.4}", e.loss));
        },
    )?;
    pb.finish_and_clear();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("split {split}, seed {}", a.seed);
        print!("{}", zoo::compare_table(&rows));
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
    print_metrics(&m, a.json);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_and_breaks_ties_by_index() {
        let s = [0.5, f32::NEG_INFINITY, 0.9, 0.5, f32::NAN];
        assert_eq!(top_k(&s, 3), vec![(2, 0.9), (0, 0.5), (3, 0.5)]);
        assert_eq!(top_k(&s, 10).len(), 3);
    }
}
