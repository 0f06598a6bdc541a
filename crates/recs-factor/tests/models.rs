//! Integration tests: smoke training on small synthetic data, determinism, exclusion,
//! fallbacks, save/load round trips and corrupt files.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recs_core::ranking::similar_by_cosine;
use recs_core::{Recommender, TrainData, load_path, save_path};
use recs_factor::{
    BaselineOnly, BaselineParams, BiasedMf, Bpr, BprParams, Control, EpochReport, GlobalMean,
    GlobalMeanParams, MfParams, ModelError, NegativeSampling, NoProgress,
};
use recs_metrics::{RatingPredictor, Scorer};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

/// Low-rank ratings: 60 users × 40 items, rank 2 plus noise, about half observed.
fn synthetic_ratings(seed: u64) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let a: Vec<[f32; 2]> = (0..60).map(|_| [rng.random(), rng.random()]).collect();
    let b: Vec<[f32; 2]> = (0..40).map(|_| [rng.random(), rng.random()]).collect();
    let (mut u, mut i, mut r) = (vec![], vec![], vec![]);
    for (x, au) in a.iter().enumerate() {
        for (y, bi) in b.iter().enumerate() {
            if rng.random::<f32>() < 0.5 {
                let v = 1.0 + 4.0 * (au[0] * bi[0] + au[1] * bi[1]) / 2.0;
                u.push(x as u32);
                i.push(y as u32);
                r.push((v + rng.random_range(-0.2..0.2f32)).clamp(1.0, 5.0));
            }
        }
    }
    (u, i, r)
}

/// The `n_users × n_items` matrix of the ratings `(u[n], i[n], r[n])`.
fn ratings(u: &[u32], i: &[u32], r: &[f32], n_users: usize, n_items: usize) -> CsrMatrix {
    CsrMatrix::from_triplets(n_users, n_items, u, i, r, DuplicatePolicy::Error).unwrap()
}

fn rmse(m: &dyn RatingPredictor, u: &[u32], i: &[u32], r: &[f32]) -> f64 {
    let se: f64 = u
        .iter()
        .zip(i)
        .zip(r)
        .map(|((&u, &i), &r)| f64::from(m.predict(u, i) - r).powi(2))
        .sum();
    (se / r.len() as f64).sqrt()
}

#[test]
fn mf_and_baseline_beat_global_mean_on_held_out_ratings() {
    let (u, i, r) = synthetic_ratings(1);
    let cut = u.len() * 4 / 5;
    let x = ratings(&u[..cut], &i[..cut], &r[..cut], 60, 40);
    let train = TrainData::new(&x);
    let mut losses = vec![];
    let mut cb = |e: &EpochReport| {
        losses.push(e.loss("loss").unwrap());
        Control::Continue
    };
    let params = MfParams {
        factors: 8,
        epochs: 60,
        learning_rate: 0.02,
        ..MfParams::default()
    };
    let mf = BiasedMf::fit(&params, &train, &mut cb).unwrap();
    assert_eq!(losses.len(), 60);
    assert!(losses[59] < losses[0]);
    let gm = GlobalMean::fit(&GlobalMeanParams {}, &train, &mut NoProgress).unwrap();
    let bl = BaselineOnly::fit(&BaselineParams::default(), &train, &mut NoProgress).unwrap();
    let (tu, ti, tr) = (&u[cut..], &i[cut..], &r[cut..]);
    let (e_mf, e_bl, e_gm) = (
        rmse(&mf, tu, ti, tr),
        rmse(&bl, tu, ti, tr),
        rmse(&gm, tu, ti, tr),
    );
    assert!(
        e_mf < e_gm && e_bl < e_gm,
        "mf {e_mf} baseline {e_bl} mean {e_gm}"
    );
}

#[test]
fn mf_same_seed_same_model_and_fallbacks() {
    let (u, i, r) = synthetic_ratings(2);
    // user 60 and item 40 exist but have no rating
    let x = ratings(&u, &i, &r, 61, 41);
    let d = TrainData::new(&x);
    let p = MfParams {
        factors: 4,
        epochs: 3,
        ..MfParams::default()
    };
    let a = BiasedMf::fit(&p, &d, &mut NoProgress).unwrap();
    let b = BiasedMf::fit(&p, &d, &mut NoProgress).unwrap();
    assert_eq!(a, b);
    let mu = a.global_mean();
    assert_eq!(a.estimate(60, 40), mu);
    assert_eq!(a.estimate(500, 3), mu + a.item_bias()[3]);
    assert_eq!(a.estimate(3, 500), mu + a.user_bias()[3]);
    let p = a.predict(0, 0);
    assert!((1.0..=5.0).contains(&p));
}

#[test]
fn mf_reports_divergence_with_epoch() {
    let (u, i, r) = synthetic_ratings(3);
    let x = ratings(&u, &i, &r, 60, 40);
    let d = TrainData::new(&x);
    let p = MfParams {
        factors: 50,
        epochs: 50,
        learning_rate: 1.0,
        init_std: 5.0,
        ..MfParams::default()
    };
    match BiasedMf::fit(&p, &d, &mut NoProgress) {
        Err(ModelError::Diverged { epoch, what, .. }) => {
            assert!(epoch >= 1);
            assert_eq!(what, "loss");
        }
        other => panic!("expected divergence, got {other:?}"),
    }
}

#[test]
fn rating_models_refuse_a_matrix_without_ratings() {
    let x = CsrMatrix::zeros(3, 4).unwrap();
    let d = TrainData::new(&x);
    let data_error = |e: ModelError| match e {
        ModelError::Data(m) => assert!(m.contains("no interaction"), "{m}"),
        other => panic!("expected a data error, got {other:?}"),
    };
    data_error(BiasedMf::fit(&MfParams::default(), &d, &mut NoProgress).unwrap_err());
    data_error(BaselineOnly::fit(&BaselineParams::default(), &d, &mut NoProgress).unwrap_err());
    data_error(GlobalMean::fit(&GlobalMeanParams {}, &d, &mut NoProgress).unwrap_err());
}

/// Implicit data with structure: two user groups, each liking its own half of the items.
fn clustered(seed: u64) -> CsrMatrix {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut t = vec![];
    for u in 0..80u32 {
        for i in 0..60u32 {
            let same = (u < 40) == (i < 30);
            if rng.random::<f32>() < if same { 0.35 } else { 0.03 } {
                t.push((u, i, 1.0));
            }
        }
    }
    let (r, c, v): (Vec<u32>, Vec<u32>, Vec<f32>) =
        t.into_iter()
            .fold((vec![], vec![], vec![]), |mut a, (u, i, v)| {
                a.0.push(u);
                a.1.push(i);
                a.2.push(v);
                a
            });
    CsrMatrix::from_triplets(80, 60, &r, &c, &v, DuplicatePolicy::Error).unwrap()
}

fn bpr_params() -> BprParams {
    BprParams {
        factors: 8,
        epochs: 30,
        learning_rate: 0.05,
        reg: 0.01,
        threads: 1,
        ..BprParams::default()
    }
}

#[test]
fn bpr_learns_and_is_deterministic_single_threaded() {
    let x = clustered(7);
    let mut aucs = vec![];
    let mut cb = |e: &EpochReport| {
        aucs.push(e.loss("train_auc").unwrap());
        Control::Continue
    };
    let a = Bpr::fit(&bpr_params(), &TrainData::new(&x), &mut cb).unwrap();
    assert!(*aucs.last().unwrap() > 0.8, "train AUC {aucs:?}");
    let b = Bpr::fit(&bpr_params(), &TrainData::new(&x), &mut NoProgress).unwrap();
    assert_eq!(a, b);
    // a group-0 user ranks unseen group-0 items first
    let top = recs_core::recommend(&a, 0, 5, x.row(0).indices).unwrap();
    assert_eq!(top.len(), 5);
    for (i, _) in &top {
        assert!(!x.contains(0, *i as usize), "recommended a seen item");
        assert!(*i < 30, "{top:?}");
    }
    let v = a.item_vectors().unwrap();
    let sim = similar_by_cosine(v.data, v.dim, 3, 5).unwrap();
    assert!(sim.iter().all(|(i, _)| *i != 3));
    assert!(sim.windows(2).all(|w| w[0].1 >= w[1].1));
}

#[test]
fn bpr_hogwild_and_popularity_sampling_learn() {
    let x = clustered(8);
    let p = BprParams {
        threads: 2,
        negatives: NegativeSampling::Popularity,
        ..bpr_params()
    };
    let mut last = 0.0;
    let mut cb = |e: &EpochReport| {
        last = e.loss("train_auc").unwrap();
        Control::Continue
    };
    let m = Bpr::fit(&p, &TrainData::new(&x), &mut cb).unwrap();
    assert!(last > 0.7, "train AUC {last}");
    let mut s = vec![0f32; 60];
    m.score_user(50, &mut s).unwrap();
    let (g0, g1): (f32, f32) = (s[..30].iter().sum(), s[30..].iter().sum());
    assert!(g1 > g0, "group-1 user prefers group-1 items");
    assert!(m.score_user(80, &mut s).is_err());
}

#[test]
fn item_vectors_are_the_factors_and_rank_by_cosine() {
    let x = clustered(9);
    let m = Bpr::fit(&bpr_params(), &TrainData::new(&x), &mut NoProgress).unwrap();
    let v = m.item_vectors().unwrap();
    let (f, k) = (v.data, v.dim);
    assert_eq!((f, k), (m.item_factors(), m.params().factors));
    let cos = |a: usize, b: usize| {
        let (x, y) = (&f[a * k..(a + 1) * k], &f[b * k..(b + 1) * k]);
        let d: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
        let n = |v: &[f32]| v.iter().map(|t| t * t).sum::<f32>().sqrt();
        d / (n(x) * n(y))
    };
    let sim = similar_by_cosine(f, k, 0, 59).unwrap();
    assert_eq!(sim.len(), 59);
    for (j, s) in &sim {
        assert!((cos(0, *j as usize) - s).abs() < 1e-4);
    }
}

#[test]
fn save_load_round_trips_and_rejects_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let (u, i, r) = synthetic_ratings(4);
    let x = ratings(&u, &i, &r, 60, 40);
    let d = TrainData::new(&x);
    let mf = BiasedMf::fit(
        &MfParams {
            factors: 3,
            epochs: 2,
            ..MfParams::default()
        },
        &d,
        &mut NoProgress,
    )
    .unwrap();
    let p = dir.path().join("mf.safetensors");
    save_path(&mf, &p).unwrap();
    assert_eq!(load_path::<BiasedMf>(&p).unwrap(), mf);
    // a BPR loader refuses an MF file, naming what it holds
    let e = load_path::<Bpr>(&p).unwrap_err().to_string();
    let want = format!("`{}` model, not a `{}` model", BiasedMf::KIND, Bpr::KIND);
    assert!(e.contains(&want), "{e}");

    let gm = GlobalMean::fit(&GlobalMeanParams {}, &d, &mut NoProgress).unwrap();
    let pg = dir.path().join("gm.safetensors");
    save_path(&gm, &pg).unwrap();
    assert_eq!(load_path::<GlobalMean>(&pg).unwrap(), gm);
    let top = recs_core::recommend(&gm, 0, 3, &[]).unwrap();
    assert_eq!(top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![0, 1, 2]);

    let bl = BaselineOnly::fit(&BaselineParams::default(), &d, &mut NoProgress).unwrap();
    let pb = dir.path().join("bl.safetensors");
    save_path(&bl, &pb).unwrap();
    assert_eq!(load_path::<BaselineOnly>(&pb).unwrap(), bl);

    let x = clustered(5);
    let bpr = Bpr::fit(&bpr_params(), &TrainData::new(&x), &mut NoProgress).unwrap();
    let q = dir.path().join("bpr.safetensors");
    save_path(&bpr, &q).unwrap();
    assert_eq!(load_path::<Bpr>(&q).unwrap(), bpr);

    // truncated file
    let bytes = std::fs::read(&q).unwrap();
    std::fs::write(&q, &bytes[..bytes.len() / 2]).unwrap();
    let bad = |e: Result<Bpr, ModelError>| match e {
        Err(ModelError::File(recs_core::ModelFileError::Bad { message, .. })) => message,
        other => panic!("expected a bad-file error, got {other:?}"),
    };
    assert!(bad(load_path::<Bpr>(&q)).contains("truncated"));
    // one flipped bit in a factor
    let mut flipped = bytes.clone();
    let at = flipped.len() - 5;
    flipped[at] ^= 0x40;
    std::fs::write(&q, &flipped).unwrap();
    assert!(bad(load_path::<Bpr>(&q)).contains("checksum"));
    // garbage
    std::fs::write(&q, b"not a model").unwrap();
    bad(load_path::<Bpr>(&q));
    // another kind
    save_path(&bl, &q).unwrap();
    let want = format!(
        "`{}` model, not a `{}` model",
        BaselineOnly::KIND,
        Bpr::KIND
    );
    assert!(bad(load_path::<Bpr>(&q)).contains(&want));
    // missing
    assert!(matches!(
        load_path::<Bpr>(&dir.path().join("nope")),
        Err(ModelError::File(recs_core::ModelFileError::Io { .. }))
    ));
}

/// Train and test parts of clustered implicit data: `groups` user groups, each liking its
/// own block of items; every observed pair goes to test with probability 1/4.
fn clustered_split(n_users: u32, n_items: u32, groups: u32, seed: u64) -> (CsrMatrix, CsrMatrix) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut test) = ((vec![], vec![]), (vec![], vec![]));
    for u in 0..n_users {
        for i in 0..n_items {
            let same = u * groups / n_users == i * groups / n_items;
            if rng.random::<f32>() < if same { 0.3 } else { 0.02 } {
                let part = if rng.random::<f32>() < 0.25 {
                    &mut test
                } else {
                    &mut train
                };
                part.0.push(u);
                part.1.push(i);
            }
        }
    }
    let csr = |(r, c): (Vec<u32>, Vec<u32>)| {
        let v = vec![1.0; r.len()];
        CsrMatrix::from_triplets(
            n_users as usize,
            n_items as usize,
            &r,
            &c,
            &v,
            DuplicatePolicy::Error,
        )
        .unwrap()
    };
    (csr(train), csr(test))
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The Hogwild path on more workers than cores, sharing every row: the model stays finite
/// and ranks held-out items far better than chance.
#[test]
fn bpr_hogwild_on_many_threads_is_finite_and_ranks_held_out_items() {
    let (train, test) = clustered_split(400, 300, 4, 11);
    for negatives in [NegativeSampling::Uniform, NegativeSampling::Popularity] {
        let p = BprParams {
            factors: 16,
            epochs: 25,
            learning_rate: 0.05,
            reg: 0.01,
            threads: 0,
            negatives,
            ..BprParams::default()
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(6)
            .build()
            .unwrap();
        let mut epochs = 0;
        let mut cb = |e: &EpochReport| {
            assert_eq!(e.epochs, 25);
            assert!(e.elapsed_seconds >= e.seconds);
            assert!(e.loss("loss").unwrap().is_finite());
            epochs = e.epoch;
            Control::Continue
        };
        let m = pool
            .install(|| Bpr::fit(&p, &TrainData::new(&train), &mut cb))
            .unwrap();
        assert_eq!(epochs, 25);
        assert!(
            m.user_factors()
                .iter()
                .chain(m.item_factors())
                .chain(m.item_bias())
                .all(|v| v.is_finite())
        );
        let cfg = recs_metrics::EvalConfig {
            metrics: vec![recs_metrics::Metric::AucSampled],
            ..recs_metrics::EvalConfig::default()
        };
        let auc = recs_metrics::evaluate(&m, &train, &test, &cfg)
            .unwrap()
            .means["auc_sampled"];
        assert!(auc > 0.75, "{negatives:?}: sampled AUC {auc}");
    }
}

#[test]
fn bpr_single_threaded_runs_are_byte_identical() {
    let (train, _) = clustered_split(200, 150, 3, 12);
    let p = BprParams {
        factors: 24,
        epochs: 8,
        learning_rate: 0.05,
        threads: 1,
        ..BprParams::default()
    };
    // on a pool of several threads too: `threads: 1` never uses it
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    let a = Bpr::fit(&p, &TrainData::new(&train), &mut NoProgress).unwrap();
    let b = pool
        .install(|| Bpr::fit(&p, &TrainData::new(&train), &mut NoProgress))
        .unwrap();
    assert_eq!(bits(a.user_factors()), bits(b.user_factors()));
    assert_eq!(bits(a.item_factors()), bits(b.item_factors()));
    assert_eq!(bits(a.item_bias()), bits(b.item_bias()));
}

/// Stops after epoch 2 of `epochs`, counting the reports.
fn stop_after_two(seen: &mut Vec<usize>) -> impl FnMut(&EpochReport) -> Control + '_ {
    move |e: &EpochReport| {
        seen.push(e.epoch);
        if e.epoch == 2 {
            Control::Stop
        } else {
            Control::Continue
        }
    }
}

#[test]
fn stopping_after_two_epochs_gives_the_two_epoch_model() {
    let (train, _) = clustered_split(120, 90, 3, 13);
    let p = BprParams {
        factors: 8,
        epochs: 30,
        learning_rate: 0.05,
        threads: 1,
        ..BprParams::default()
    };
    let mut seen = vec![];
    let stopped = Bpr::fit(&p, &TrainData::new(&train), &mut stop_after_two(&mut seen)).unwrap();
    assert_eq!(seen, [1, 2]);
    let two = Bpr::fit(
        &BprParams { epochs: 2, ..p },
        &TrainData::new(&train),
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(bits(stopped.user_factors()), bits(two.user_factors()));
    assert_eq!(bits(stopped.item_factors()), bits(two.item_factors()));
    assert_eq!(bits(stopped.item_bias()), bits(two.item_bias()));
    assert_eq!(stopped, two, "params record the epochs trained");

    let (u, i, r) = synthetic_ratings(5);
    let x = ratings(&u, &i, &r, 60, 40);
    let d = TrainData::new(&x);
    let p = MfParams {
        factors: 6,
        epochs: 20,
        ..MfParams::default()
    };
    let mut seen = vec![];
    let stopped = BiasedMf::fit(&p, &d, &mut stop_after_two(&mut seen)).unwrap();
    assert_eq!(seen, [1, 2]);
    let two = BiasedMf::fit(&MfParams { epochs: 2, ..p }, &d, &mut NoProgress).unwrap();
    assert_eq!(bits(stopped.user_factors()), bits(two.user_factors()));
    assert_eq!(bits(stopped.item_factors()), bits(two.item_factors()));
    assert_eq!(stopped, two);

    let p = BaselineParams::default();
    let mut seen = vec![];
    let stopped = BaselineOnly::fit(&p, &d, &mut stop_after_two(&mut seen)).unwrap();
    assert_eq!(seen, [1, 2]);
    let two = BaselineOnly::fit(&BaselineParams { epochs: 2, ..p }, &d, &mut NoProgress).unwrap();
    assert_eq!(stopped, two);
}

#[test]
fn fit_checks_parameters_first_and_names_them() {
    let (u, i, r) = synthetic_ratings(6);
    let x = ratings(&u, &i, &r, 60, 40);
    let d = TrainData::new(&x);
    let p = MfParams {
        epochs: 0,
        ..MfParams::default()
    };
    match BiasedMf::fit(&p, &d, &mut NoProgress) {
        Err(ModelError::Param(e)) => {
            assert_eq!(e.param, "epochs");
            assert!(e.to_string().contains("1..=100000"), "{e}");
        }
        other => panic!("expected a parameter error, got {other:?}"),
    }
    let p = BaselineParams {
        reg_i: -1.0,
        ..BaselineParams::default()
    };
    assert!(matches!(
        BaselineOnly::fit(&p, &d, &mut NoProgress),
        Err(ModelError::Param(e)) if e.param == "reg_i"
    ));
}
