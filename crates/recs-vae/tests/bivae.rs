//! BiVAE end to end: training on every engine, determinism, the divergence guard,
//! parameter validation, scoring, and model files.

mod common;

use common::{clustered, hit_rate};
use recs_core::{ModelError, ModelParams as _, Recommender, ScoreError, Scorer, TrainData};
use recs_sparse::CsrMatrix;
use recs_vae::{
    Activation, BiVae, BiVaeParams, BiVaeTrainer, Control, Engine, EpochReport, Likelihood,
    NoProgress, ParamError,
};

fn small_params() -> BiVaeParams {
    BiVaeParams {
        factors: 6,
        hidden: vec![24],
        epochs: 40,
        batch_size: 16,
        learning_rate: 0.01,
        seed: 7,
        ..Default::default()
    }
}

test_device! {
    /// A short training run lowers both losses and ranks held-out items far above chance.
    fn smoke_training_learns_the_structure(engine) {
        let (train, held) = clustered(80, 60, 4, 1);
        let mut losses = vec![];
        let model = BiVae::fit_on(&small_params(), &TrainData::new(&train), &engine, &mut |r: &EpochReport| {
            losses.push((r.loss("item").unwrap(), r.loss("user").unwrap()));
            Control::Continue
        })
        .unwrap();
        assert_eq!(losses.len(), 40);
        let (first, last) = (losses[0], losses[39]);
        assert!(last.0 < 0.8 * first.0 && last.1 < 0.8 * first.1, "losses {first:?} → {last:?}");
        let (hits, random) = hit_rate(&model, &train, &held, 5);
        assert!(hits > 3.0 * random && hits > 0.4, "hit rate {hits} vs random {random}");
        assert_eq!(model.epochs_trained(), 40);
        assert_eq!(model.user_embeddings().len(), 80 * 6);
        assert_eq!(model.item_embeddings().len(), 60 * 6);
    }
}

test_device! {
    /// One seed controls every draw: the same seed gives the same model, another seed
    /// another one.
    fn the_seed_fixes_the_model(engine) {
        let (train, _) = clustered(40, 30, 3, 2);
        let p = BiVaeParams { epochs: 3, ..small_params() };
        let a = BiVae::fit_on(&p, &TrainData::new(&train), &engine, &mut NoProgress).unwrap();
        let b = BiVae::fit_on(&p, &TrainData::new(&train), &engine, &mut NoProgress).unwrap();
        assert_eq!(a.user_embeddings(), b.user_embeddings());
        assert_eq!(a.item_embeddings(), b.item_embeddings());
        let c = BiVae::fit_on(&BiVaeParams { seed: 8, ..p }, &TrainData::new(&train), &engine, &mut NoProgress).unwrap();
        assert_ne!(a.user_embeddings(), c.user_embeddings());
    }
}

test_device! {
    /// Every activation and likelihood trains without diverging.
    fn every_activation_and_likelihood_trains(engine) {
        let (train, _) = clustered(30, 20, 2, 3);
        for act_fn in Activation::ALL {
            for likelihood in Likelihood::ALL {
                let p = BiVaeParams { act_fn, likelihood, epochs: 3, hidden: vec![8, 5], ..small_params() };
                let m = BiVae::fit_on(&p, &TrainData::new(&train), &engine, &mut NoProgress).unwrap();
                assert!(m.user_embeddings().iter().all(|v| v.is_finite()), "{act_fn} {likelihood}");
            }
        }
    }
}

test_device! {
    /// A diverging run stops with an error naming the epoch.
    fn a_non_finite_loss_stops_training(engine) {
        let (train, _) = clustered(30, 20, 2, 4);
        // A learning rate this large throws the weights to ±1e30 on the first step; the
        // σ head saturates to 0 and log σ to −inf.
        let p = BiVaeParams { learning_rate: 1e30, epochs: 5, ..small_params() };
        match BiVae::fit_on(&p, &TrainData::new(&train), &engine, &mut NoProgress) {
            Err(e @ ModelError::Diverged { .. }) => {
                let ModelError::Diverged { epoch, value, .. } = e else { unreachable!() };
                assert_eq!(epoch, 1);
                assert!(!value.is_finite());
                assert!(e.to_string().contains("epoch 1"), "{e}");
            }
            Err(e) => panic!("expected a non-finite loss, got {e}"),
            Ok(_) => panic!("expected a non-finite loss, training succeeded"),
        }
    }
}

/// The native kernels and the candle ops compute the same training run.
#[test]
fn native_and_candle_agree() {
    let (train, _) = clustered(50, 40, 3, 5);
    let p = BiVaeParams {
        epochs: 2,
        ..small_params()
    };
    let a = BiVae::fit_on(
        &p,
        &TrainData::new(&train),
        &Engine::Native,
        &mut NoProgress,
    )
    .unwrap();
    let b = BiVae::fit_on(
        &p,
        &TrainData::new(&train),
        &Engine::Candle(recs_vae::candle_core::Device::Cpu),
        &mut NoProgress,
    )
    .unwrap();
    for (x, y) in a.user_embeddings().iter().zip(b.user_embeddings()) {
        assert!((x - y).abs() < 2e-3, "{x} vs {y}");
    }
    for (x, y) in a.item_embeddings().iter().zip(b.item_embeddings()) {
        assert!((x - y).abs() < 2e-3, "{x} vs {y}");
    }
}

#[test]
fn the_trainer_reports_every_epoch() {
    let (train, _) = clustered(30, 20, 2, 6);
    let mut t = BiVaeTrainer::new(&small_params(), &train, &Engine::Native).unwrap();
    let r1 = t.run_epoch().unwrap();
    let r2 = t.run_epoch().unwrap();
    assert_eq!((r1.epoch, r2.epoch, r2.epochs), (1, 2, 40));
    assert!(r2.elapsed_seconds >= r1.elapsed_seconds && r1.seconds >= 0.0);
    assert!(r1.to_string().contains("epoch 1/40"));
    assert_eq!(t.epochs_done(), 2);
    assert_eq!(t.finish().unwrap().epochs_trained(), 2);
}

#[test]
fn invalid_params_are_refused_before_training() {
    let (train, _) = clustered(10, 8, 2, 7);
    let cases: Vec<(&str, BiVaeParams)> = vec![
        (
            "factors",
            BiVaeParams {
                factors: 0,
                ..small_params()
            },
        ),
        (
            "hidden",
            BiVaeParams {
                hidden: vec![],
                ..small_params()
            },
        ),
        (
            "hidden",
            BiVaeParams {
                hidden: vec![4, 0],
                ..small_params()
            },
        ),
        (
            "epochs",
            BiVaeParams {
                epochs: 0,
                ..small_params()
            },
        ),
        (
            "batch_size",
            BiVaeParams {
                batch_size: 0,
                ..small_params()
            },
        ),
        (
            "learning_rate",
            BiVaeParams {
                learning_rate: 0.0,
                ..small_params()
            },
        ),
        (
            "learning_rate",
            BiVaeParams {
                learning_rate: f64::NAN,
                ..small_params()
            },
        ),
        (
            "beta_kl",
            BiVaeParams {
                beta_kl: -1.0,
                ..small_params()
            },
        ),
        (
            "beta_kl",
            BiVaeParams {
                beta_kl: f64::INFINITY,
                ..small_params()
            },
        ),
    ];
    for (name, p) in cases {
        let e = p.validate().unwrap_err();
        assert_eq!(e.param, name, "{e}");
        assert!(
            e.to_string().contains(name) && e.to_string().contains("allowed"),
            "{e}"
        );
        assert!(matches!(
            BiVae::fit(&p, &TrainData::new(&train), &mut NoProgress),
            Err(ModelError::Param(ParamError { .. }))
        ));
    }
    assert!(BiVaeParams::default().validate().is_ok());
    assert!("tanh".parse::<Activation>().is_ok());
    let e = "swish".parse::<Activation>().unwrap_err();
    assert!(
        e.to_string().contains("act_fn") && e.to_string().contains("relu6"),
        "{e}"
    );
    assert!(
        "poisson"
            .parse::<Likelihood>()
            .unwrap_err()
            .to_string()
            .contains("pois")
    );
}

#[test]
fn an_empty_matrix_is_refused() {
    let e = BiVae::fit(
        &small_params(),
        &TrainData::new(&CsrMatrix::zeros(5, 4).unwrap()),
        &mut NoProgress,
    )
    .unwrap_err();
    assert!(matches!(e, ModelError::Data(_)), "{e}");
}

#[test]
fn the_defaults_are_cornacs() {
    let p = BiVaeParams::default();
    assert_eq!(
        (p.factors, p.hidden.clone(), p.epochs, p.batch_size),
        (10, vec![20], 100, 100)
    );
    assert_eq!(
        (p.act_fn, p.likelihood, p.learning_rate, p.beta_kl),
        (Activation::Tanh, Likelihood::Pois, 0.001, 1.0)
    );
}

#[test]
fn batch_scores_are_rows_of_single_scores() {
    let (train, _) = clustered(20, 15, 2, 8);
    let m = BiVae::fit(
        &BiVaeParams {
            epochs: 2,
            ..small_params()
        },
        &TrainData::new(&train),
        &mut NoProgress,
    )
    .unwrap();
    let users = [3u32, 0, 19, 3];
    let mut batch = vec![0.0; users.len() * 15];
    m.score_users(&users, &mut batch).unwrap();
    let mut one = vec![0.0; 15];
    for (u, row) in users.iter().zip(batch.chunks(15)) {
        m.score_user(*u, &mut one).unwrap();
        for (a, b) in one.iter().zip(row) {
            assert!((a - b).abs() < 1e-5);
        }
        // μ_θ · μ_β, as documented.
        let k = m.factors();
        let th = &m.user_embeddings()[*u as usize * k..(*u as usize + 1) * k];
        let be = &m.item_embeddings()[..k];
        let dot: f32 = th.iter().zip(be).map(|(a, b)| a * b).sum();
        assert!((dot - one[0]).abs() < 1e-4);
    }
    assert!(matches!(
        m.score_user(20, &mut one),
        Err(ScoreError::UnknownUser {
            user: 20,
            n_users: 20
        })
    ));
    assert!(matches!(
        m.score_users(&[1], &mut [0.0; 3]),
        Err(ScoreError::BufferLength { .. })
    ));
}

#[test]
fn embedding_training_rows_again_gives_the_means() {
    let (train, _) = clustered(20, 15, 2, 9);
    let m = BiVae::fit(
        &BiVaeParams {
            epochs: 2,
            ..small_params()
        },
        &TrainData::new(&train),
        &mut NoProgress,
    )
    .unwrap();
    let again = m.embed_users(&train).unwrap();
    for (a, b) in again.iter().zip(m.user_embeddings()) {
        assert!((a - b).abs() < 1e-5);
    }
    let items = m.embed_items(&train.transpose()).unwrap();
    for (a, b) in items.iter().zip(m.item_embeddings()) {
        assert!((a - b).abs() < 1e-5);
    }
    assert!(m.embed_users(&CsrMatrix::zeros(2, 7).unwrap()).is_err());
}
