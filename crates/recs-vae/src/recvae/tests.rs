//! RecVAE's unit tests: the native gradients against candle's autograd on the same draws,
//! the engines' short runs side by side, thread independence, learning, fold-in and model
//! files.

use candle_core::Device as CandleDevice;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recs_core::{
    Control, EpochReport, FoldIn, ModelParams as _, NoProgress, Recommender, Scorer, TrainData,
    load_path, save_path,
};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

use super::candle::{Device, download};
use super::net::{self, Layout};
use super::train::{self, Data};
use super::*;
use crate::Engine;
use crate::testing::{rel_diff, toy};

fn small() -> RecVaeParams {
    RecVaeParams {
        hidden_dim: 8,
        factors: 3,
        batch_size: 7,
        learning_rate: 0.01,
        ..Default::default()
    }
}

fn fit(p: &RecVaeParams, x: &CsrMatrix, engine: &Engine) -> train::Trained {
    let data = Data {
        train: x,
        validation: None,
    };
    train::fit(p, data, engine, &mut NoProgress).unwrap()
}

#[test]
fn native_gradients_are_candles_autograd() {
    let x = toy();
    let rows = [1u32, 2, 5, 9, 30, 17, 3];
    for (gamma, dropout) in [(0.005, 0.5), (0.0, 0.0), (0.05, 0.3)] {
        let p = RecVaeParams {
            gamma,
            dropout,
            ..small()
        };
        let l = Layout::new(30, p.hidden_dim, p.factors);
        let (enc, old, mut dec, _) = train::init(&l, 7);
        // A decoder away from its initialisation, so the likelihood's gradient is not small.
        let mut r = ChaCha8Rng::seed_from_u64(1);
        dec.iter_mut().for_each(|v| *v += r.random::<f32>() - 0.5);
        let mut g = vec![0.0; l.len];
        let mut rng_native = ChaCha8Rng::seed_from_u64(3);
        let want = net::encoder_step(
            &l,
            p.dropout,
            |n| p.kl_weight(n),
            (&enc, &dec),
            &net::gather(&net::heads(&l, &old, &x), 2 * p.factors, &rows),
            &x,
            &rows,
            &mut rng_native,
            &mut g,
        );
        let old_again = old.clone();
        let dev = Device::new(
            &CandleDevice::Cpu,
            l,
            &p,
            &x,
            (enc.clone(), old, dec.clone()),
        )
        .unwrap();
        let mut rng_candle = ChaCha8Rng::seed_from_u64(3);
        let (loss, grads) = dev.encoder_gradient(&rows, &mut rng_candle).unwrap();
        assert_eq!(rng_native.random::<u64>(), rng_candle.random::<u64>());
        let got = download(&grads).unwrap();
        let (dl, dg) = ((loss - want).abs() / want.abs(), rel_diff(&got, &g));
        eprintln!("encoder γ {gamma}: loss {loss} vs {want} ({dl:.1e}), gradient {dg:.1e}");
        assert!(dl <= 1e-5 && dg <= 1e-5, "γ {gamma}: {dl:.1e} {dg:.1e}");
        // Every part of the encoder is in the gradient (none is left at zero).
        for (name, at, shape) in l.tensors() {
            let len: usize = shape.iter().product();
            assert!(
                g[at..at + len].iter().any(|&v| v != 0.0),
                "{name} has no gradient"
            );
        }
        // The decoder's step.
        let mut gd = vec![0.0; l.dec_len()];
        let mut rng_native = ChaCha8Rng::seed_from_u64(4);
        let heads = net::gather(&net::heads(&l, &old_again, &x), 2 * p.factors, &rows);
        let want = net::decoder_step(&l, &heads, &dec, &x, &rows, &mut rng_native, &mut gd);
        let mut rng_candle = ChaCha8Rng::seed_from_u64(4);
        let (loss, grads) = dev.decoder_gradient(&rows, &mut rng_candle).unwrap();
        let got = download(&grads).unwrap();
        let (dl, dg) = ((loss - want).abs() / want.abs(), rel_diff(&got, &gd));
        eprintln!("decoder: loss {loss} vs {want} ({dl:.1e}), gradient {dg:.1e}");
        assert!(dl <= 1e-5 && dg <= 1e-5, "decoder: {dl:.1e} {dg:.1e}");
    }
}

#[test]
fn candle_cpu_trains_what_native_trains() {
    let x = toy();
    let p = RecVaeParams {
        epochs: 3,
        ..small()
    };
    let native = fit(&p, &x, &Engine::Native);
    let candle = fit(&p, &x, &Engine::from_device("cpu").unwrap());
    let (de, dd) = (
        rel_diff(&candle.enc, &native.enc),
        rel_diff(&candle.dec, &native.dec),
    );
    eprintln!("after 3 epochs: encoder {de:.1e}, decoder {dd:.1e}");
    assert!(
        de <= 1e-5 && dd <= 1e-5,
        "encoder {de:.1e}, decoder {dd:.1e}"
    );
}

#[test]
fn training_does_not_depend_on_the_thread_count() {
    let _same = crate::simd_paths::same_level();
    let x = toy();
    let p = RecVaeParams {
        epochs: 2,
        ..small()
    };
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let t = fit(&p, &x, &Engine::Native);
                (t.enc, t.dec)
            })
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn learns_groups_folds_in_and_round_trips() {
    let _same = crate::simd_paths::same_level();
    let x = toy();
    let p = RecVaeParams {
        epochs: 40,
        ..small()
    };
    let mut losses = Vec::new();
    let m = RecVaeModel::fit(&p, &TrainData::new(&x), &mut |r: &EpochReport| {
        losses.push(r.loss("decoder_nll").unwrap());
        Control::Continue
    })
    .unwrap();
    assert_eq!(losses.len(), 40);
    assert!(losses[39] < losses[0] - 0.3, "{losses:?}");
    let mut s = vec![0.0; 30];
    m.score_user(0, &mut s).unwrap();
    let (mut a, mut b) = (0.0, 0.0);
    for (i, v) in s.iter().enumerate() {
        if i % 3 == 0 {
            a += v / 10.0
        } else {
            b += v / 20.0
        }
    }
    assert!(a > b + 0.5, "{a} vs {b}: {s:?}");
    // Folding in user 0's items scores what user 0 scores.
    let mut f = vec![0.0; 30];
    m.score_items(x.row(0).indices, &mut f).unwrap();
    assert_eq!(s, f);
    assert!(m.score_items(&[30], &mut f).is_err());
    // Item vectors are the decoder's columns.
    let v = m.item_vectors().unwrap();
    assert_eq!((v.data.len(), v.dim), (30 * 3, 3));
    assert_eq!(v.data[7 * 3 + 2], m.net.dec[2 * 30 + 7]);
    // A batch scores as its users one by one.
    let mut batch = vec![0.0; 2 * 30];
    m.score_users(&[0, 5], &mut batch).unwrap();
    assert_eq!(&batch[..30], &s[..]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    save_path(&m, &path).unwrap();
    let back: RecVaeModel = load_path(&path).unwrap();
    let mut s2 = vec![0.0; 30];
    back.score_user(0, &mut s2).unwrap();
    assert_eq!(s, s2);
    assert_eq!(
        (back.net.enc.clone(), back.net.dec.clone()),
        (m.net.enc.clone(), m.net.dec.clone())
    );
    assert_eq!(back.epochs(), m.epochs());
    for bad in [
        RecVaeParams {
            dropout: 1.0,
            ..Default::default()
        },
        RecVaeParams {
            enc_epochs: 0,
            ..Default::default()
        },
    ] {
        assert!(bad.validate().is_err());
    }
}

#[test]
fn validation_users_pick_the_epoch() {
    let x = toy();
    // Users 30..40 are validation users: half their items held out.
    let (mut r, mut c) = (Vec::new(), Vec::new());
    for u in 30..40u32 {
        for (k, &i) in x.row(u as usize).indices.iter().enumerate() {
            if k % 2 == 0 {
                r.push(u);
                c.push(i);
            }
        }
    }
    let held =
        CsrMatrix::from_triplets(40, 30, &r, &c, &vec![1.0; r.len()], DuplicatePolicy::Error)
            .unwrap();
    let p = RecVaeParams {
        epochs: 6,
        ..small()
    };
    let mut seen = Vec::new();
    let m = RecVaeModel::fit(
        &p,
        &TrainData::new(&x).with_validation(&held),
        &mut |r: &EpochReport| {
            seen.push(r.validation.unwrap().1);
            Control::Continue
        },
    )
    .unwrap();
    assert_eq!(seen.len(), 6);
    let best = seen.iter().enumerate().fold(
        (0, f64::MIN),
        |b, (i, &v)| if v > b.1 { (i + 1, v) } else { b },
    );
    assert_eq!(m.epochs(), (6, best.0));
}
