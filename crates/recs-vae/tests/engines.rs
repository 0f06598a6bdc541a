//! Every autoencoder on every engine: the `device` parameter (its values, its errors, old
//! params without it), the registry-facing `fit` training where `device` says, and short
//! seeded runs of Mult-VAE, Mult-DAE and AutoRec on candle's CPU device landing where the
//! native kernels land.

mod common;

use common::clustered;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recs_core::{
    ModelError, ModelParams as _, RatingPredictor, Recommender, Scorer, TrainData, load_path,
    save_path,
};
use recs_metrics::{Candidates, EvalConfig, Metric};
use recs_sparse::{CsrMatrix, DuplicatePolicy};
use recs_vae::{
    AutoRec, AutoRecParams, BiVaeParams, Control, Engine, EpochReport, MultDaeModel, MultVae,
    MultVaeModel, MultVaeParams, NoProgress,
};

/// The three params' `validate()` with `device` set to `d`.
fn validate_all(d: &str) -> [Result<(), recs_vae::ParamError>; 3] {
    [
        MultVaeParams {
            device: d.into(),
            ..Default::default()
        }
        .validate(),
        AutoRecParams {
            device: d.into(),
            ..Default::default()
        }
        .validate(),
        BiVaeParams {
            device: d.into(),
            ..Default::default()
        }
        .validate(),
    ]
}

#[test]
fn every_allowed_device_validates() {
    for d in ["native", "cpu", "cuda", "cuda:0", "cuda:3"] {
        for r in validate_all(d) {
            assert!(r.is_ok(), "{d}: {r:?}");
        }
    }
}

#[test]
fn a_bad_device_names_the_parameter_and_the_allowed_values() {
    for bad in ["gpu", "CUDA", "cuda:", "cuda:x", "cuda:+1", "", "native "] {
        for r in validate_all(bad) {
            let e = r.unwrap_err().to_string();
            assert!(
                e.contains("`device`") && e.contains("native, cpu, cuda or cuda:N"),
                "{bad:?}: {e}"
            );
        }
    }
    // `fit` refuses it before any work, as a parameter error.
    let (train, _) = clustered(20, 15, 2, 1);
    let e = MultVaeModel::fit(
        &MultVaeParams {
            device: "gpu".into(),
            ..Default::default()
        },
        &TrainData::new(&train),
        &mut NoProgress,
    )
    .unwrap_err();
    assert!(matches!(e, ModelError::Param(_)), "{e}");
    assert!(e.to_string().contains("device"), "{e}");
    let e = Engine::from_device("tpu").unwrap_err();
    assert!(e.to_string().contains("`device`"), "{e}");
}

#[test]
fn params_without_a_device_load_as_native() {
    // Params written before `device` existed (model files, JSON configs) still load.
    let m: MultVaeParams = serde_json::from_str(r#"{"factors": 7, "epochs": 3}"#).unwrap();
    assert_eq!((m.device.as_str(), m.factors), ("native", 7));
    let a: AutoRecParams = serde_json::from_str(r#"{"factors": 9}"#).unwrap();
    assert_eq!(a.device, "native");
    let b: BiVaeParams = serde_json::from_str("{}").unwrap();
    assert_eq!(b, BiVaeParams::default());
    // The serialised default, with the field removed, is the default again.
    let mut v = serde_json::to_value(MultVaeParams::default()).unwrap();
    assert_eq!(v["device"], "native");
    v.as_object_mut().unwrap().remove("device");
    let back: MultVaeParams = serde_json::from_value(v).unwrap();
    assert_eq!(back, MultVaeParams::default());
    let cpu: AutoRecParams = serde_json::from_str(r#"{"device": "cuda:2"}"#).unwrap();
    assert_eq!(cpu.device, "cuda:2");
}

#[test]
fn a_model_trained_on_candle_saves_and_loads() {
    let (train, _) = clustered(30, 20, 2, 3);
    let p = MultVaeParams {
        hidden: vec![8],
        factors: 3,
        epochs: 2,
        batch_size: 8,
        device: "cpu".into(),
        ..Default::default()
    };
    let m = MultVaeModel::fit(&p, &TrainData::new(&train), &mut NoProgress).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    save_path(&m, &path).unwrap();
    let back: MultVaeModel = load_path(&path).unwrap();
    assert_eq!(back.params().device, "cpu");
    let (mut a, mut b) = (vec![0.0; 20], vec![0.0; 20]);
    m.score_user(4, &mut a).unwrap();
    back.score_user(4, &mut b).unwrap();
    assert_eq!(a, b);
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_says_to_build_with_it() {
    let (train, _) = clustered(20, 15, 2, 1);
    let check = |e: String| {
        assert!(e.contains("--features cuda") && e.contains("cuda:0"), "{e}");
    };
    let mv = MultVaeParams {
        device: "cuda".into(),
        ..Default::default()
    };
    let data = TrainData::new(&train);
    check(
        MultVaeModel::fit(&mv, &data, &mut NoProgress)
            .unwrap_err()
            .to_string(),
    );
    let ar = AutoRecParams {
        device: "cuda".into(),
        ..Default::default()
    };
    check(
        AutoRec::fit(&ar, &data, &mut NoProgress)
            .unwrap_err()
            .to_string(),
    );
    let bv = BiVaeParams {
        device: "cuda:0".into(),
        ..Default::default()
    };
    check(
        recs_vae::BiVae::fit(&bv, &data, &mut NoProgress)
            .unwrap_err()
            .to_string(),
    );
}

#[cfg(feature = "cuda")]
#[test]
fn a_missing_cuda_device_says_so() {
    let e = Engine::from_device("cuda:1023").unwrap_err().to_string();
    assert!(e.contains("no CUDA device"), "{e}");
}

/// Every score of `scorer`, users in order.
fn all_scores(scorer: &dyn Scorer) -> Vec<f32> {
    let users: Vec<u32> = (0..scorer.n_users() as u32).collect();
    let mut out = vec![0.0; users.len() * scorer.n_items()];
    scorer.score_users(&users, &mut out).unwrap();
    out
}

#[test]
fn the_registry_fit_trains_where_device_says() {
    let (train, _) = clustered(40, 30, 3, 4);
    let data = TrainData::new(&train);
    for variational in [true, false] {
        let p = MultVaeParams {
            variational,
            hidden: vec![10],
            factors: 4,
            epochs: 3,
            batch_size: 8,
            ..Default::default()
        };
        let cpu = MultVaeParams {
            device: "cpu".into(),
            ..p.clone()
        };
        let (native, candle) = if variational {
            (
                all_scores(
                    &<MultVaeModel as Recommender>::fit(&p, &data, &mut NoProgress).unwrap(),
                ),
                all_scores(
                    &<MultVaeModel as Recommender>::fit(&cpu, &data, &mut NoProgress).unwrap(),
                ),
            )
        } else {
            (
                all_scores(
                    &<MultDaeModel as Recommender>::fit(&p, &data, &mut NoProgress).unwrap(),
                ),
                all_scores(
                    &<MultDaeModel as Recommender>::fit(&cpu, &data, &mut NoProgress).unwrap(),
                ),
            )
        };
        let (direct, _) = fit_losses(
            &p,
            &data,
            Some(&Engine::Candle(recs_vae::candle_core::Device::Cpu)),
        );
        // The same computation as fitting on candle directly, not the native one (which
        // rounds differently: tanh, exp and the order of sums).
        assert_eq!(candle, all_scores(&direct.scorer(&train)));
        assert_ne!(candle, native);
    }
    let bv = BiVaeParams {
        factors: 4,
        hidden: vec![8],
        epochs: 2,
        batch_size: 10,
        ..Default::default()
    };
    let bv_cpu = BiVaeParams {
        device: "cpu".into(),
        ..bv.clone()
    };
    let native =
        all_scores(&<recs_vae::BiVae as Recommender>::fit(&bv, &data, &mut NoProgress).unwrap());
    let candle = all_scores(
        &<recs_vae::BiVae as Recommender>::fit(&bv_cpu, &data, &mut NoProgress).unwrap(),
    );
    let direct = recs_vae::BiVae::fit_on(
        &bv,
        &data,
        &Engine::Candle(recs_vae::candle_core::Device::Cpu),
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(candle, all_scores(&direct));
    assert_ne!(candle, native);
    // Ratings, not clustered's ones (which AutoRec's clipping would score all alike).
    let (train, _) = ratings(4);
    let data = TrainData::new(&train);
    let ar = AutoRecParams {
        factors: 6,
        epochs: 5,
        batch_size: 8,
        learning_rate: 0.01,
        reg: 1.0,
        ..Default::default()
    };
    let ar_cpu = AutoRecParams {
        device: "cpu".into(),
        ..ar.clone()
    };
    let native = all_scores(&<AutoRec as Recommender>::fit(&ar, &data, &mut NoProgress).unwrap());
    let candle =
        all_scores(&<AutoRec as Recommender>::fit(&ar_cpu, &data, &mut NoProgress).unwrap());
    let direct = AutoRec::fit_on(
        &ar,
        &data,
        &Engine::Candle(recs_vae::candle_core::Device::Cpu),
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(candle, all_scores(&direct));
    assert_ne!(candle, native);
    // Not a model that predicts one clipped constant (where any engine would agree).
    assert!(native.iter().any(|&s| s != native[0]));
}

/// The held-out items of [`clustered`] as a matrix of the same shape.
fn held_matrix(train: &CsrMatrix, held: &[Option<u32>]) -> CsrMatrix {
    let (mut r, mut c) = (vec![], vec![]);
    for (u, h) in held.iter().enumerate() {
        if let Some(i) = h {
            r.push(u as u32);
            c.push(*i);
        }
    }
    let v = vec![1.0; r.len()];
    CsrMatrix::from_triplets(
        train.n_rows(),
        train.n_cols(),
        &r,
        &c,
        &v,
        DuplicatePolicy::Error,
    )
    .unwrap()
}

/// A Mult-VAE (`p.variational`) or Mult-DAE fit's network and its epoch losses: on
/// `engine`, or (`None`) where `p.device` says.
fn fit_losses(
    p: &MultVaeParams,
    data: &TrainData<'_>,
    engine: Option<&Engine>,
) -> (MultVae, Vec<f64>) {
    let mut losses = vec![];
    let mut progress = |r: &EpochReport| {
        losses.push(r.loss("loss").unwrap());
        Control::Continue
    };
    let dae = |m: MultDaeModel| m.model().net().clone();
    let net = match (p.variational, engine) {
        (true, Some(e)) => MultVaeModel::fit_on(p, data, e, &mut progress).map(|m| m.net().clone()),
        (true, None) => MultVaeModel::fit(p, data, &mut progress).map(|m| m.net().clone()),
        (false, Some(e)) => MultDaeModel::fit_on(p, data, e, &mut progress).map(dae),
        (false, None) => MultDaeModel::fit(p, data, &mut progress).map(dae),
    }
    .unwrap();
    (net, losses)
}

/// Liang's `metrics` at `k` of `net` on fold-in rows `x_in` against held-out rows `x_out`,
/// every item ranked.
fn liang(
    net: &MultVae,
    x_in: &CsrMatrix,
    x_out: &CsrMatrix,
    metrics: &[Metric],
    k: usize,
) -> std::collections::BTreeMap<String, f64> {
    let cfg = EvalConfig {
        metrics: metrics.to_vec(),
        ks: vec![k],
        candidates: Candidates::All,
        ..EvalConfig::default()
    };
    recs_metrics::evaluate(&net.scorer(x_in), x_in, x_out, &cfg)
        .unwrap()
        .means
}

#[test]
fn multvae_and_multdae_on_candle_cpu_land_where_native_does() {
    let (train, held) = clustered(150, 90, 5, 7);
    let out = held_matrix(&train, &held);
    for variational in [true, false] {
        let p = MultVaeParams {
            variational,
            hidden: vec![40],
            factors: 10,
            epochs: 10,
            batch_size: 25,
            learning_rate: 0.01,
            total_anneal_steps: 20,
            ..Default::default()
        };
        let data = TrainData::new(&train);
        let cpu = MultVaeParams {
            device: "cpu".into(),
            ..p.clone()
        };
        let (a, la) = fit_losses(&p, &data, None);
        let (b, lb) = fit_losses(&cpu, &data, None);
        let metrics = [Metric::NdcgLiang, Metric::RecallLiang];
        let ma = liang(&a, &train, &out, &metrics, 10);
        let mb = liang(&b, &train, &out, &metrics, 10);
        let max_loss = la
            .iter()
            .zip(&lb)
            .map(|(x, y)| (x - y).abs() / x.abs())
            .fold(0.0, f64::max);
        eprintln!(
            "variational {variational}: native {ma:?}, candle {mb:?}; epoch losses differ by {max_loss:.2e} (relative)"
        );
        // Trained: the held-out items rank far above chance (Recall@10 ≈ 0.12 by chance).
        assert!(ma["recall_liang@10"] > 0.4, "{ma:?}");
        for k in ma.keys() {
            let d = (ma[k] - mb[k]).abs();
            assert!(
                d < 0.01,
                "variational {variational}: {k} {} vs {}",
                ma[k],
                mb[k]
            );
        }
        // The same draws, so the runs stay close epoch after epoch (they differ by f32
        // rounding only, about 1e-7; the bound leaves room for it to grow over the steps).
        assert!(max_loss < 1e-3, "{la:?} vs {lb:?}");
    }
}

/// A users × items matrix of ratings 1–5 from a rank-2 taste model, split by a seeded
/// coin into training and test triples.
fn ratings(seed: u64) -> (CsrMatrix, Vec<(u32, u32, f32)>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (users, items) = (60, 40);
    let u: Vec<[f32; 2]> = (0..users)
        .map(|_| [rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)])
        .collect();
    let v: Vec<[f32; 2]> = (0..items)
        .map(|_| [rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)])
        .collect();
    let (mut r, mut c, mut x, mut test) = (vec![], vec![], vec![], vec![]);
    for (a, ua) in u.iter().enumerate() {
        for (b, vb) in v.iter().enumerate() {
            if rng.random_bool(0.4) {
                let s = 3.0 + 1.5 * (ua[0] * vb[0] + ua[1] * vb[1]) + rng.random_range(-0.3..0.3);
                let s = s.round().clamp(1.0, 5.0);
                if rng.random_bool(0.15) {
                    test.push((a as u32, b as u32, s));
                } else {
                    r.push(a as u32);
                    c.push(b as u32);
                    x.push(s);
                }
            }
        }
    }
    (
        CsrMatrix::from_triplets(users, items, &r, &c, &x, DuplicatePolicy::Error).unwrap(),
        test,
    )
}

#[test]
fn autorec_on_candle_cpu_lands_where_native_does() {
    let (train, test) = ratings(5);
    let rmse = |m: &AutoRec| {
        let se: f64 = test
            .iter()
            .map(|&(u, i, v)| f64::from(m.predict(u, i) - v).powi(2))
            .sum();
        (se / test.len() as f64).sqrt()
    };
    for item_based in [true, false] {
        let p = AutoRecParams {
            item_based,
            factors: 16,
            reg: 1.0,
            epochs: 20,
            batch_size: 8,
            learning_rate: 0.01,
            validation_fraction: 0.1,
            ..Default::default()
        };
        let fit = |device: &str| {
            let mut losses = vec![];
            let p = AutoRecParams {
                device: device.into(),
                ..p.clone()
            };
            let m = AutoRec::fit(&p, &TrainData::new(&train), &mut |r: &EpochReport| {
                losses.push((r.loss("train_rmse").unwrap(), r.validation.unwrap().1));
                Control::Continue
            })
            .unwrap();
            (m, losses)
        };
        let (a, la) = fit("native");
        let (b, lb) = fit("cpu");
        let (ra, rb) = (rmse(&a), rmse(&b));
        let max_loss = la
            .iter()
            .zip(&lb)
            .map(|(x, y)| ((x.0 - y.0).abs() / x.0).max((x.1 - y.1).abs() / x.1))
            .fold(0.0, f64::max);
        eprintln!(
            "item_based {item_based}: test RMSE native {ra:.4}, candle {rb:.4} (|Δ| {:.1e}); epoch RMSEs differ by {max_loss:.2e} (relative)",
            (ra - rb).abs()
        );
        eprintln!(
            "epochs (run, kept): native {:?}, candle {:?}",
            a.epochs(),
            b.epochs()
        );
        assert!(ra < 1.0, "native test RMSE {ra}");
        assert!((ra - rb).abs() < 0.01, "test RMSE {ra} vs {rb}");
        // As for Mult-VAE: f32 rounding only (about 1e-7), room for it to grow.
        assert!(max_loss < 1e-3, "{la:?} vs {lb:?}");
    }
}

test_device! {
    /// Mult-VAE, Mult-DAE and AutoRec learn and are deterministic on every engine.
    fn every_autoencoder_learns_and_repeats(engine) {
        let (train, held) = clustered(80, 60, 4, 9);
        let out = held_matrix(&train, &held);
        for variational in [true, false] {
            let p = MultVaeParams {
                variational,
                hidden: vec![24],
                factors: 6,
                epochs: 8,
                batch_size: 16,
                learning_rate: 0.01,
                ..Default::default()
            };
            let data = TrainData::new(&train);
            let (a, la) = fit_losses(&p, &data, Some(&engine));
            let (b, lb) = fit_losses(&p, &data, Some(&engine));
            assert_eq!(la, lb, "the same seed gives the same run");
            assert_eq!(all_scores(&a.scorer(&train)), all_scores(&b.scorer(&train)));
            assert!(la[7] < la[0], "{la:?}");
            let m = liang(&a, &train, &out, &[Metric::RecallLiang], 10);
            assert!(m["recall_liang@10"] > 0.4, "variational {variational}: {m:?}");
        }
        let (ratings, _) = ratings(6);
        let p = AutoRecParams { factors: 8, epochs: 10, batch_size: 8, learning_rate: 0.01, reg: 1.0, ..Default::default() };
        let fit = || {
            let mut rmse = vec![];
            let m = AutoRec::fit_on(&p, &TrainData::new(&ratings), &engine, &mut |r: &EpochReport| {
                rmse.push(r.loss("train_rmse").unwrap());
                Control::Continue
            }).unwrap();
            (all_scores(&m), rmse)
        };
        let (sa, ra) = fit();
        let (sb, rb) = fit();
        assert_eq!((sa, &ra), (sb, &rb));
        assert!(ra[9] < ra[0], "{ra:?}");
    }
}
