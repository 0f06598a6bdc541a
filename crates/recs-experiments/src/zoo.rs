//! Every model by name, built the same way for `recs train`, `recs compare` and the
//! experiments: defaults are the settings the reproductions use, common hyper-parameters can
//! be overridden, and a trained model is saved, loaded and used through one type.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, bail};
use recs_data::{Interactions, split};
use recs_factor::{BaselineOnly, BaselineParams, BiasedMf, Bpr, GlobalMean, Triples};
use recs_metrics::{Candidates, EvalConfig, Metric, RatingPredictor, Scorer};
use recs_sparse::{CsrMatrix, DuplicatePolicy};
use recs_vae::{AutoRec, BiVae, BiVaeParams, MultVae};

use crate::experiments::{autorec, factor, multvae};

/// A model the toolkit knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// BiVAE (recs-vae).
    Bivae,
    /// Mult-VAE (recs-vae).
    Multvae,
    /// Mult-DAE (recs-vae).
    Multdae,
    /// I-AutoRec (recs-vae).
    Autorec,
    /// Biased matrix factorization (recs-factor).
    Mf,
    /// Bias-only baseline, Surprise's BaselineOnly (recs-factor).
    Bias,
    /// The global mean rating (recs-factor).
    GlobalMean,
    /// Bayesian personalized ranking (recs-factor).
    Bpr,
}

impl ModelKind {
    /// Every kind, in the order `--help` lists them.
    pub const ALL: [ModelKind; 8] = [
        ModelKind::Bivae,
        ModelKind::Multvae,
        ModelKind::Multdae,
        ModelKind::Autorec,
        ModelKind::Mf,
        ModelKind::Bias,
        ModelKind::GlobalMean,
        ModelKind::Bpr,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Bivae => "bivae",
            ModelKind::Multvae => "multvae",
            ModelKind::Multdae => "multdae",
            ModelKind::Autorec => "autorec",
            ModelKind::Mf => "mf",
            ModelKind::Bias => "bias",
            ModelKind::GlobalMean => "global-mean",
            ModelKind::Bpr => "bpr",
        }
    }

    /// The kind by command-line name; an unknown name is an error listing the known ones.
    pub fn parse(name: &str) -> anyhow::Result<ModelKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name.trim())
            .with_context(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                format!("unknown model '{name}'; known models: {}", known.join(", "))
            })
    }

    /// Whether it predicts ratings (so RMSE and MAE apply).
    pub fn predicts_ratings(self) -> bool {
        matches!(
            self,
            ModelKind::Autorec | ModelKind::Mf | ModelKind::Bias | ModelKind::GlobalMean
        )
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Hyper-parameters a caller may override; `None` keeps the model's default (the setting
/// its reproduction uses).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Training epochs.
    pub epochs: Option<usize>,
    /// Latent dimension (factors, BiVAE's k, Mult-VAE's latent).
    pub factors: Option<usize>,
    /// Learning rate.
    pub lr: Option<f64>,
    /// Regularisation (MF/BPR's reg, AutoRec's λ, Mult-VAE's L2 weight).
    pub reg: Option<f64>,
    /// Batch size of the autoencoders.
    pub batch_size: Option<usize>,
    /// Hidden units (AutoRec) or the encoder's hidden layer (BiVAE, Mult-VAE).
    pub hidden: Option<usize>,
    /// Seed of every random draw (default 42 through the callers).
    pub seed: u64,
}

/// What a model reports after an epoch, whatever its crate.
#[derive(Debug, Clone)]
pub struct Epoch {
    /// The epoch just done, from 1.
    pub epoch: usize,
    /// Epochs in the run.
    pub n_epochs: usize,
    /// The training loss the model reports (its own definition).
    pub loss: f64,
    /// A validation measure, when the model computes one (name, value).
    pub validation: Option<(&'static str, f64)>,
}

/// A trained model of any kind (a few hundred bytes of handles each; the weights live on
/// the heap, so the size difference between variants is harmless).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Trained {
    /// BiVAE.
    Bivae(BiVae),
    /// AutoRec.
    Autorec(AutoRec),
    /// Biased MF.
    Mf(BiasedMf),
    /// Bias-only baseline.
    Bias(BaselineOnly),
    /// Global mean.
    GlobalMean(GlobalMean),
    /// BPR.
    Bpr(Bpr),
    /// Mult-VAE or Mult-DAE, with the rows (users' interactions) it encodes to score them.
    MultVae(MultVae, CsrMatrix),
}

/// The (user, item, value) triples of a CSR matrix.
fn triples_of(x: &CsrMatrix) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    let mut users = Vec::with_capacity(x.nnz());
    for u in 0..x.n_rows() {
        users.extend(std::iter::repeat_n(u as u32, x.row(u).indices.len()));
    }
    (users, x.indices().to_vec(), x.values().to_vec())
}

/// Trains a `kind` model on `train` (users × items, ratings or counts as in the file),
/// reporting every epoch to `progress`.
pub fn fit(
    kind: ModelKind,
    train: &CsrMatrix,
    o: &Overrides,
    progress: &mut dyn FnMut(&Epoch),
) -> anyhow::Result<Trained> {
    let seed = o.seed;
    let vae_cb = |n_epochs: usize, progress: &mut dyn FnMut(&Epoch), r: &recs_vae::EpochReport| {
        let loss = r.losses.iter().map(|(_, v)| v).sum::<f64>();
        progress(&Epoch {
            epoch: r.epoch,
            n_epochs,
            loss,
            validation: r.loss("validation_rmse").map(|v| ("validation_rmse", v)),
        });
    };
    Ok(match kind {
        ModelKind::Multvae | ModelKind::Multdae => {
            let mut p = multvae::ml100k_params(kind == ModelKind::Multvae, seed, o.epochs);
            if let Some(k) = o.factors {
                p.latent = k;
            }
            if let Some(h) = o.hidden {
                p.hidden = vec![h];
            }
            if let Some(lr) = o.lr {
                p.learning_rate = lr;
            }
            if let Some(r) = o.reg {
                p.weight_decay = r as f32;
            }
            if let Some(b) = o.batch_size {
                p.batch_size = b;
            }
            let n = p.n_epochs;
            let rows = train.binarize();
            let m = MultVae::fit(
                &rows,
                &p,
                None,
                Some(&mut |r: &recs_vae::EpochReport| vae_cb(n, progress, r)),
            )?;
            Trained::MultVae(m, rows)
        }
        ModelKind::Bivae => {
            let p = BiVaeParams {
                k: o.factors.unwrap_or(50),
                encoder_structure: vec![o.hidden.unwrap_or(100)],
                n_epochs: o.epochs.unwrap_or(500),
                batch_size: o.batch_size.unwrap_or(128),
                learning_rate: o.lr.unwrap_or(0.001),
                seed,
                ..BiVaeParams::default()
            };
            let n = p.n_epochs;
            Trained::Bivae(BiVae::fit(
                train,
                &p,
                Some(&mut |r: &recs_vae::EpochReport| vae_cb(n, progress, r)),
            )?)
        }
        ModelKind::Autorec => {
            let mut p = autorec::ml100k_params(seed, o.epochs);
            if let Some(h) = o.hidden {
                p.hidden = h;
            }
            if let Some(lr) = o.lr {
                p.learning_rate = lr;
            }
            if let Some(r) = o.reg {
                p.lambda = r as f32;
            }
            if let Some(b) = o.batch_size {
                p.batch_size = b;
            }
            let n = p.n_epochs;
            Trained::Autorec(AutoRec::fit(
                train,
                &p,
                Some(&mut |r: &recs_vae::EpochReport| vae_cb(n, progress, r)),
            )?)
        }
        ModelKind::Mf | ModelKind::Bias | ModelKind::GlobalMean => {
            let (u, i, v) = triples_of(train);
            let t = Triples::new(&u, &i, &v, train.n_rows(), train.n_cols())?;
            match kind {
                ModelKind::Mf => {
                    let mut p = factor::mf_params(seed, o.epochs);
                    if let Some(k) = o.factors {
                        p.factors = k;
                    }
                    if let Some(lr) = o.lr {
                        p.learning_rate = lr;
                    }
                    if let Some(r) = o.reg {
                        p.reg = r;
                    }
                    Trained::Mf(BiasedMf::fit(
                        &p,
                        &t,
                        &mut |r: &recs_factor::EpochReport| factor_cb(progress, r),
                    )?)
                }
                ModelKind::Bias => {
                    let mut p = BaselineParams::default();
                    if let Some(e) = o.epochs {
                        p.epochs = e;
                    }
                    Trained::Bias(BaselineOnly::fit(
                        &p,
                        &t,
                        &mut |r: &recs_factor::EpochReport| factor_cb(progress, r),
                    )?)
                }
                _ => Trained::GlobalMean(GlobalMean::fit(&t)),
            }
        }
        ModelKind::Bpr => {
            let mut p = factor::bpr_params(seed, o.epochs);
            if let Some(k) = o.factors {
                p.factors = k;
            }
            if let Some(lr) = o.lr {
                p.learning_rate = lr;
            }
            if let Some(r) = o.reg {
                p.reg = r;
            }
            Trained::Bpr(Bpr::fit(
                &p,
                &train.binarize(),
                &mut |r: &recs_factor::EpochReport| factor_cb(progress, r),
            )?)
        }
    })
}

fn factor_cb(
    progress: &mut dyn FnMut(&Epoch),
    r: &recs_factor::EpochReport,
) -> recs_factor::Control {
    progress(&Epoch {
        epoch: r.epoch,
        n_epochs: r.epochs,
        loss: r.total_loss(),
        validation: r.validation,
    });
    recs_factor::Control::Continue
}

impl Trained {
    /// Its kind.
    pub fn kind(&self) -> ModelKind {
        match self {
            Trained::Bivae(_) => ModelKind::Bivae,
            Trained::Autorec(_) => ModelKind::Autorec,
            Trained::Mf(_) => ModelKind::Mf,
            Trained::Bias(_) => ModelKind::Bias,
            Trained::GlobalMean(_) => ModelKind::GlobalMean,
            Trained::Bpr(_) => ModelKind::Bpr,
            Trained::MultVae(m, _) if m.params().variational => ModelKind::Multvae,
            Trained::MultVae(..) => ModelKind::Multdae,
        }
    }

    /// The model as a ranking scorer.
    pub fn scorer(&self) -> Box<dyn Scorer + '_> {
        match self {
            Trained::Bivae(m) => Box::new(Borrowed(m)),
            Trained::Autorec(m) => Box::new(Borrowed(m)),
            Trained::Mf(m) => Box::new(Borrowed(m)),
            Trained::Bias(m) => Box::new(Borrowed(m)),
            Trained::GlobalMean(m) => Box::new(Borrowed(m)),
            Trained::Bpr(m) => Box::new(Borrowed(m)),
            Trained::MultVae(m, rows) => Box::new(m.scorer(rows)),
        }
    }

    /// The model as a rating predictor, if it predicts ratings.
    pub fn predictor(&self) -> Option<&dyn RatingPredictor> {
        match self {
            Trained::Autorec(m) => Some(m),
            Trained::Mf(m) => Some(m),
            Trained::Bias(m) => Some(m),
            Trained::GlobalMean(m) => Some(m),
            Trained::Bivae(_) | Trained::Bpr(_) | Trained::MultVae(..) => None,
        }
    }

    /// Item vectors for similarity (`n_items × dim`, row-major) and their dimension, for the
    /// models that have them.
    pub fn item_vectors(&self) -> Option<(&[f32], usize)> {
        match self {
            Trained::Bivae(m) => Some((m.item_embeddings(), m.k())),
            Trained::Mf(m) => Some((m.item_factors(), m.params().factors)),
            Trained::Bpr(m) => Some((m.item_factors(), m.params().factors)),
            Trained::Autorec(m) if m.params().item_based => {
                Some((m.row_codes(), m.params().hidden))
            }
            _ => None,
        }
    }

    /// Writes the model in the one recs model-file format.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        match self {
            Trained::Bivae(m) => m.save(path)?,
            Trained::Autorec(m) => m.save(path)?,
            Trained::Mf(m) => m.save(path)?,
            Trained::Bias(m) => m.save(path)?,
            Trained::GlobalMean(m) => m.save(path)?,
            Trained::Bpr(m) => m.save(path)?,
            Trained::MultVae(m, _) => m.save(path)?,
        }
        Ok(())
    }

    /// Reads a model file of any kind (the kind is read from the file). A Mult-VAE/DAE
    /// scores users from their rows, which it reads from the file's `extra.seen` (each
    /// user's item indices, as `recs train` records them).
    pub fn load(path: &Path) -> anyhow::Result<Trained> {
        let meta = recs_modelfile::peek(path)?;
        if meta.model == recs_vae::multvae::MODEL_KIND_VAE
            || meta.model == recs_vae::multvae::MODEL_KIND_DAE
        {
            let m = MultVae::load(path)?;
            let seen: Vec<Vec<u32>> = serde_json::from_value(meta.extra["seen"].clone())
                .with_context(|| {
                    format!(
                        "{}: a Mult-VAE file needs its users' rows (extra.seen, written by `recs train`)",
                        path.display()
                    )
                })?;
            let (mut u, mut i) = (Vec::new(), Vec::new());
            for (user, items) in seen.iter().enumerate() {
                for &it in items {
                    u.push(user as u32);
                    i.push(it);
                }
            }
            let v = vec![1.0; u.len()];
            let rows = CsrMatrix::from_triplets(
                seen.len(),
                m.n_items(),
                &u,
                &i,
                &v,
                DuplicatePolicy::KeepLast,
            )
            .with_context(|| format!("{}: extra.seen does not fit the model", path.display()))?;
            return Ok(Trained::MultVae(m, rows));
        }
        Ok(match meta.model.as_str() {
            recs_vae::bivae::MODEL_KIND => Trained::Bivae(BiVae::load(path)?),
            recs_vae::autorec::MODEL_KIND => Trained::Autorec(AutoRec::load(path)?),
            "biased_mf" => Trained::Mf(BiasedMf::load(path)?),
            "baseline_only" => Trained::Bias(BaselineOnly::load(path)?),
            "global_mean" => Trained::GlobalMean(GlobalMean::load(path)?),
            "bpr" => Trained::Bpr(Bpr::load(path)?),
            other => bail!(
                "{}: holds a '{other}' model, which this build cannot load",
                path.display()
            ),
        })
    }
}

/// A borrowed scorer, boxed alongside owned ones.
struct Borrowed<'a>(&'a dyn Scorer);

impl Scorer for Borrowed<'_> {
    fn n_users(&self) -> usize {
        self.0.n_users()
    }

    fn n_items(&self) -> usize {
        self.0.n_items()
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), recs_metrics::ScoreError> {
        self.0.score_user(user, out)
    }

    fn score_users(&self, users: &[u32], out: &mut [f32]) -> Result<(), recs_metrics::ScoreError> {
        self.0.score_users(users, out)
    }
}

/// How to split interactions into train and test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SplitSpec {
    /// Random over interactions, this fraction for training.
    Random(f64),
    /// Per user, this fraction of each user's interactions for training.
    Stratified(f64),
    /// Per user, the last fraction by timestamp for testing.
    Temporal(f64),
    /// One random interaction per user for testing.
    LeaveOneOut,
    /// Everything for training, nothing for testing.
    None,
}

impl SplitSpec {
    /// Parses `random:0.8`, `stratified:0.8`, `temporal:0.2`, `loo` or `none`.
    pub fn parse(s: &str) -> anyhow::Result<SplitSpec> {
        let (name, arg) = s.split_once(':').unwrap_or((s, ""));
        let ratio = || -> anyhow::Result<f64> {
            let r: f64 = arg
                .parse()
                .with_context(|| format!("split '{s}': '{arg}' is not a number"))?;
            if !(r > 0.0 && r < 1.0) {
                bail!("split '{s}': the fraction must be in (0, 1)");
            }
            Ok(r)
        };
        Ok(match name {
            "random" => SplitSpec::Random(ratio()?),
            "stratified" => SplitSpec::Stratified(ratio()?),
            "temporal" => SplitSpec::Temporal(ratio()?),
            "loo" => SplitSpec::LeaveOneOut,
            "none" => SplitSpec::None,
            _ => bail!(
                "unknown split '{s}'; use random:F, stratified:F, temporal:F (test fraction), loo or none"
            ),
        })
    }

    /// Applies the split (seeded).
    pub fn apply(self, data: &Interactions, seed: u64) -> anyhow::Result<split::Split> {
        Ok(match self {
            SplitSpec::Random(r) => split::random(data, r, seed)?,
            SplitSpec::Stratified(r) => split::stratified(data, r, seed)?,
            SplitSpec::Temporal(f) => split::temporal(data, f)?,
            SplitSpec::LeaveOneOut => split::leave_one_out(data, seed)?,
            SplitSpec::None => split::Split {
                train: data.clone(),
                test: data.subset(&[]),
            },
        })
    }
}

impl fmt::Display for SplitSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitSpec::Random(r) => write!(f, "random:{r}"),
            SplitSpec::Stratified(r) => write!(f, "stratified:{r}"),
            SplitSpec::Temporal(r) => write!(f, "temporal:{r}"),
            SplitSpec::LeaveOneOut => f.write_str("loo"),
            SplitSpec::None => f.write_str("none"),
        }
    }
}

/// Ranking metrics at every `k` (MAP, MAP@k, NDCG@k, precision@k, recall@k: training items
/// excluded, every item seen in training ranked), plus RMSE and MAE on the test entries for
/// models that predict ratings.
pub fn evaluate(
    model: &Trained,
    train: &CsrMatrix,
    test: &Interactions,
    ks: &[usize],
) -> anyhow::Result<BTreeMap<String, f64>> {
    let test_m = test.to_csr(DuplicatePolicy::KeepLast)?;
    let cfg = EvalConfig {
        metrics: vec![
            Metric::MapFull,
            Metric::Map,
            Metric::Ndcg,
            Metric::Precision,
            Metric::Recall,
        ],
        ks: ks.to_vec(),
        exclude_seen: true,
        candidates: Candidates::SeenInTrain,
        ..EvalConfig::default()
    };
    let report = recs_metrics::evaluate(&*model.scorer(), train, &test_m, &cfg)?;
    let mut out: BTreeMap<String, f64> = report
        .means
        .into_iter()
        .map(|(k, v)| match k.strip_prefix("map_full@") {
            Some(_) if ks.len() == 1 => ("map".to_string(), v),
            Some(_) => (k, v),
            None => (k, v),
        })
        .collect();
    if let Some(p) = model.predictor() {
        let r = recs_metrics::evaluate_ratings(p, test.users(), test.items(), test.values())?;
        out.insert("rmse".into(), r.rmse);
        out.insert("mae".into(), r.mae);
    }
    Ok(out)
}

/// One row of a comparison.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CompareRow {
    /// The model's name.
    pub model: String,
    /// Seconds spent training.
    pub train_seconds: f64,
    /// Metric → value.
    pub metrics: BTreeMap<String, f64>,
}

/// Trains every model in `kinds` on the same split of `data` and evaluates each, as Cornac's
/// `Experiment` does.
pub fn compare(
    data: &Interactions,
    split: SplitSpec,
    kinds: &[ModelKind],
    o: &Overrides,
    ks: &[usize],
    progress: &mut dyn FnMut(ModelKind, &Epoch),
) -> anyhow::Result<Vec<CompareRow>> {
    if matches!(split, SplitSpec::None) {
        bail!("compare needs a test part: use --split random:F, stratified:F, temporal:F or loo");
    }
    let s = split.apply(data, o.seed)?;
    let train = s.train.to_csr(DuplicatePolicy::KeepLast)?;
    let mut rows = Vec::new();
    for &kind in kinds {
        let started = Instant::now();
        let model = fit(kind, &train, o, &mut |e| progress(kind, e))?;
        let train_seconds = started.elapsed().as_secs_f64();
        rows.push(CompareRow {
            model: kind.name().into(),
            train_seconds,
            metrics: evaluate(&model, &train, &s.test, ks)?,
        });
    }
    Ok(rows)
}

/// The comparison as a text table: one row per model, one column per metric.
pub fn compare_table(rows: &[CompareRow]) -> String {
    let mut keys: Vec<&String> = rows.iter().flat_map(|r| r.metrics.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = format!("{:<12} {:>9}", "model", "train_s");
    for k in &keys {
        out.push_str(&format!(" {:>12}", k));
    }
    out.push('\n');
    for r in rows {
        out.push_str(&format!("{:<12} {:>9.2}", r.model, r.train_seconds));
        for k in &keys {
            match r.metrics.get(*k) {
                Some(v) => out.push_str(&format!(" {v:>12.4}")),
                None => out.push_str(&format!(" {:>12}", "-")),
            }
        }
        out.push('\n');
    }
    out
}
