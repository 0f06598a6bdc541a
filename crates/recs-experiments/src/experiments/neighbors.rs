//! The item–item models of recs-neighbors on the `bpr-ml100k` protocol (random 75/25 split
//! of ml-100k, seed 42, binarized training matrix, every training item ranked with the
//! user's training items left out, k = 10), side by side with `implicit_peers.py`:
//! `itemknn-cosine-ml100k`, `itemknn-bm25-ml100k`, `itemknn-tfidf-ml100k` (implicit's
//! `CosineRecommender`, `BM25Recommender`, `TFIDFRecommender`, K 100), `ease-ml100k`
//! (EASE, λ 500, against the peer script's numpy closed form), `rp3beta-ml100k` (α 1, β 0.6,
//! K 100, against `graph_peers.py`'s formula) and `sar-ml100k` (Jaccard, no time decay,
//! the ratings as affinities, against Recommenders' `SARSingleNode`); the last two's
//! references were measured on this very split (`benchmarks/graph-same-split.sh`).

use recs_core::{Recommender as _, TrainData};
use recs_neighbors::{Ease, EaseParams, ItemKnn, ItemKnnParams, Rp3Beta, Sar, Weighting};

use super::factor::fit_registered;
use super::{Experiment, SeedRun};
use crate::{Reference, RunOptions, protocol};

const METRICS: &[&str] = &[
    "map",
    "map@10",
    "ndcg@10",
    "precision@10",
    "recall@10",
    "auc",
];

/// The registry's `itemknn` settings (`recs_registry::defaults::itemknn`: K 100) with this
/// experiment's weighting.
pub fn itemknn_params(weighting: Weighting) -> ItemKnnParams {
    ItemKnnParams {
        weighting,
        ..recs_registry::defaults::itemknn()
    }
}

/// The registry's `ease` settings (`recs_registry::defaults::ease`: λ 500, f32).
pub fn ease_params() -> EaseParams {
    recs_registry::defaults::ease()
}

/// Fits the registered model `kind` with `params` on the binarized training part of the
/// protocol's split and ranks with it.
fn run_with(
    opts: &RunOptions,
    seed: u64,
    kind: &str,
    params: &impl serde::Serialize,
) -> anyhow::Result<SeedRun> {
    run_on(opts, seed, kind, params, true)
}

/// [`run_with`], on the training ratings as they are when `binarize` is false (SAR's
/// affinities).
fn run_on(
    opts: &RunOptions,
    seed: u64,
    kind: &str,
    params: &impl serde::Serialize,
    binarize: bool,
) -> anyhow::Result<SeedRun> {
    let data = protocol::random_split(opts, "ml-100k", 0.75, seed)?;
    let train = if binarize {
        data.train.binarize()
    } else {
        data.train.clone()
    };
    let (model, train_seconds) = fit_registered(opts, kind, params, &TrainData::new(&train))?;
    if opts.verbose {
        eprintln!("fitted in {train_seconds:.3} s");
    }
    let metrics = protocol::ranking_at_10_auc(model.as_scorer(), &data)?;
    Ok(SeedRun {
        train_seconds,
        metrics,
        params: serde_json::to_value(params)?,
        epochs: 1,
    })
}

fn run_itemknn(opts: &RunOptions, seed: u64, weighting: Weighting) -> anyhow::Result<SeedRun> {
    run_with(opts, seed, ItemKnn::KIND, &itemknn_params(weighting))
}

const fn refs(map: f64, ndcg: f64, seconds: f64, source: &'static str) -> [Reference; 3] {
    [
        Reference {
            metric: "map",
            value: map,
            source,
        },
        Reference {
            metric: "ndcg@10",
            value: ndcg,
            source,
        },
        Reference {
            metric: "train_seconds",
            value: seconds,
            source,
        },
    ]
}

const COSINE_REFS: [Reference; 3] = refs(
    0.1038,
    0.3712,
    0.033,
    "implicit CosineRecommender (K 100, 2 threads), implicit_peers.py",
);
const BM25_REFS: [Reference; 3] = refs(
    0.1143,
    0.4090,
    0.044,
    "implicit BM25Recommender (K 100, K1 1.2, B 0.75, 2 threads), implicit_peers.py",
);
const TFIDF_REFS: [Reference; 3] = refs(
    0.1179,
    0.4045,
    0.030,
    "implicit TFIDFRecommender (K 100, 2 threads), implicit_peers.py",
);
const EASE_REFS: [Reference; 3] = refs(
    0.1432,
    0.4725,
    0.16,
    "EASE λ 500 in numpy (float64 inverse), implicit_peers.py",
);

const RP3BETA_REFS: [Reference; 3] = refs(
    0.1238,
    0.4284,
    0.33,
    "RP3beta α 1, β 0.6, K 100 in numpy/scipy (graph_peers.py's formula) on this split, graph-same-split.py",
);
const SAR_REFS: [Reference; 3] = refs(
    0.1078,
    0.3790,
    0.43,
    "Microsoft Recommenders 1.2.1 SARSingleNode (Jaccard, no time decay) on this split, graph-same-split.py",
);

/// implicit's `CosineRecommender` (K 100) on the `bpr-ml100k` protocol.
pub const ITEMKNN_COSINE_ML100K: Experiment = Experiment {
    name: "itemknn-cosine-ml100k",
    description: "ItemKNN, cosine, K 100 (implicit's CosineRecommender) on ml-100k, random 75/25 split",
    datasets: &["ml-100k"],
    metrics: METRICS,
    references: &COSINE_REFS,
    run: |opts, seed| run_itemknn(opts, seed, Weighting::Cosine),
};

/// implicit's `BM25Recommender` (K 100, K1 1.2, B 0.75) on the `bpr-ml100k` protocol.
pub const ITEMKNN_BM25_ML100K: Experiment = Experiment {
    name: "itemknn-bm25-ml100k",
    description: "ItemKNN, BM25 (K1 1.2, B 0.75), K 100 (implicit's BM25Recommender) on ml-100k, random 75/25 split",
    datasets: &["ml-100k"],
    metrics: METRICS,
    references: &BM25_REFS,
    run: |opts, seed| run_itemknn(opts, seed, Weighting::Bm25),
};

/// implicit's `TFIDFRecommender` (K 100) on the `bpr-ml100k` protocol.
pub const ITEMKNN_TFIDF_ML100K: Experiment = Experiment {
    name: "itemknn-tfidf-ml100k",
    description: "ItemKNN, TF-IDF, K 100 (implicit's TFIDFRecommender) on ml-100k, random 75/25 split",
    datasets: &["ml-100k"],
    metrics: METRICS,
    references: &TFIDF_REFS,
    run: |opts, seed| run_itemknn(opts, seed, Weighting::Tfidf),
};

/// EASE (λ 500, f32) on the `bpr-ml100k` protocol.
pub const EASE_ML100K: Experiment = Experiment {
    name: "ease-ml100k",
    description: "EASE (λ 500, f32 Cholesky inverse) on ml-100k, random 75/25 split",
    datasets: &["ml-100k"],
    metrics: METRICS,
    references: &EASE_REFS,
    run: |opts, seed| run_with(opts, seed, Ease::KIND, &ease_params()),
};

/// RP3beta (α 1, β 0.6, K 100) on the `bpr-ml100k` protocol.
pub const RP3BETA_ML100K: Experiment = Experiment {
    name: "rp3beta-ml100k",
    description: "RP3beta (α 1, β 0.6, K 100) on ml-100k, random 75/25 split",
    datasets: &["ml-100k"],
    metrics: METRICS,
    references: &RP3BETA_REFS,
    run: |opts, seed| {
        run_with(
            opts,
            seed,
            Rp3Beta::KIND,
            &recs_registry::defaults::rp3beta(),
        )
    },
};

/// SAR (Jaccard, no time decay, the ratings as affinities) on the `bpr-ml100k` protocol's
/// split.
pub const SAR_ML100K: Experiment = Experiment {
    name: "sar-ml100k",
    description: "SAR (Jaccard, no time decay, ratings as affinities) on ml-100k, random 75/25 split",
    datasets: &["ml-100k"],
    metrics: METRICS,
    references: &SAR_REFS,
    run: |opts, seed| {
        run_on(
            opts,
            seed,
            Sar::KIND,
            &recs_registry::defaults::sar(),
            false,
        )
    },
};
