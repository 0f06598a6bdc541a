//! Short training runs on MovieLens 100k, found as users find it (`$RECS_DATA_DIR`, installed
//! from `$RECS_DATA_MIRROR`): skipped with a note without it, failing under CI.

use recs_core::{Recommender, TrainData};
use recs_data::{Interactions, movielens, split};
use recs_factor::{
    BaselineOnly, BaselineParams, BiasedMf, Bpr, BprParams, GlobalMean, GlobalMeanParams, MfParams,
    NoProgress,
};
use recs_metrics::{EvalConfig, Metric, evaluate, evaluate_ratings};
use recs_sparse::DuplicatePolicy;

fn data() -> Option<Interactions> {
    let dir = recs_data::registry::require("ml-100k")?;
    Some(movielens::load_ml100k(&dir).expect("ml-100k loads"))
}

#[test]
fn mf_beats_baselines_on_ml100k() {
    let Some(d) = data() else { return };
    let s = split::random(&d, 0.9, 42).unwrap();
    let x = s.train.to_csr(DuplicatePolicy::Error).unwrap();
    let train = TrainData::new(&x);
    let e = |m: &dyn recs_metrics::RatingPredictor| {
        evaluate_ratings(m, s.test.users(), s.test.items(), s.test.values())
            .unwrap()
            .rmse
    };
    let gm = e(&GlobalMean::fit(&GlobalMeanParams {}, &train, &mut NoProgress).unwrap());
    let bl = e(&BaselineOnly::fit(&BaselineParams::default(), &train, &mut NoProgress).unwrap());
    let mf = e(&BiasedMf::fit(&MfParams::default(), &train, &mut NoProgress).unwrap());
    // Surprise on its own split: mean 1.127, BaselineOnly 0.943, SVD 0.930.
    assert!(bl < gm - 0.1, "baseline {bl} vs mean {gm}");
    assert!(mf < bl, "mf {mf} vs baseline {bl}");
    assert!(mf < 0.94, "mf {mf}");
}

#[test]
fn bpr_ranks_far_better_than_chance_on_ml100k() {
    let Some(d) = data() else { return };
    let s = split::random(&d, 0.75, 42).unwrap();
    let train = s
        .train
        .to_csr(DuplicatePolicy::KeepLast)
        .unwrap()
        .binarize();
    let test = s.test.to_csr(DuplicatePolicy::KeepLast).unwrap();
    let p = BprParams {
        factors: 32,
        epochs: 15,
        learning_rate: 0.05,
        reg: 0.001,
        threads: 1,
        ..BprParams::default()
    };
    let m = Bpr::fit(&p, &TrainData::new(&train), &mut NoProgress).unwrap();
    let cfg = EvalConfig {
        metrics: vec![Metric::MapFull, Metric::AucSampled],
        ..EvalConfig::default()
    };
    let r = evaluate(&m, &train, &test, &cfg).unwrap();
    let (map, auc) = (r.means["map_full@10"], r.means["auc_sampled"]);
    assert!(auc > 0.85, "auc {auc}");
    assert!(map > 0.05, "map {map}");
}
