//! Mult-VAE's unit tests: gradients against finite differences, the fused step against
//! gradient-then-Adam, thread independence, learning and model files.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use recs_core::{
    Control, EpochReport, ModelError, ModelParams as _, NoProgress, Progress, Recommender, Scorer,
    TrainData, load_path, save_path,
};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

use super::layout::blocks;
use super::train::OptState;
use super::*;
use crate::Engine;
use crate::optim::Adam;
use crate::testing::{rel_diff, toy};

/// A network trained natively on `x` (no validation).
fn fit(p: &MultVaeParams, x: &CsrMatrix, progress: &mut dyn Progress) -> MultVae {
    train::fit(p, &MultVaeData::new(x), &Engine::Native, progress).unwrap()
}

#[test]
fn gradient_matches_finite_differences() {
    for variational in [true, false] {
        let x = toy();
        let p = MultVaeParams {
            variational,
            hidden: vec![6],
            factors: 3,
            dropout: 0.0,
            reg: 0.01,
            ..Default::default()
        };
        let m = fit(
            &MultVaeParams {
                epochs: 1,
                ..p.clone()
            },
            &x,
            &mut NoProgress,
        );
        let rows = [0u32, 4, 7, 11];
        let mut grad = vec![0.0; m.theta.len()];
        let loss = |theta: &[f32]| {
            let mut g = vec![0.0; theta.len()];
            let mut rng = ChaCha8Rng::seed_from_u64(9);
            m.gradient(theta, &x, &rows, 0.2, &mut rng, &mut g)
        };
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        m.gradient(&m.theta, &x, &rows, 0.2, &mut rng, &mut grad);
        let h = 1e-2f32;
        for idx in (0..m.theta.len()).step_by(7) {
            let mut tp = m.theta.clone();
            tp[idx] += h;
            let mut tm = m.theta.clone();
            tm[idx] -= h;
            let num = (loss(&tp) - loss(&tm)) / (2.0 * f64::from(h));
            let an = f64::from(grad[idx]);
            assert!(
                (an - num).abs() < 2e-3 + 2e-2 * num.abs(),
                "vae {variational} θ[{idx}]: analytic {an}, numeric {num}"
            );
        }
    }
}

#[test]
fn fused_step_is_the_gradient_then_adam() {
    let _same = crate::simd_paths::same_level();
    let x = toy();
    let p = MultVaeParams {
        hidden: vec![7],
        factors: 3,
        reg: 0.01,
        ..Default::default()
    };
    let m = fit(&MultVaeParams { epochs: 1, ..p }, &x, &mut NoProgress);
    let rows = [1u32, 2, 5, 9, 30];
    let mut grad = vec![0.0; m.theta.len()];
    let want_loss = m.gradient(
        &m.theta,
        &x,
        &rows,
        0.1,
        &mut ChaCha8Rng::seed_from_u64(3),
        &mut grad,
    );
    // Small blocks, so that every kind of block and boundary is exercised.
    let blocks = blocks(&m.layers, 20);
    assert!(blocks.len() > 20);
    let mut opt = OptState {
        adam: Adam::new(0.01),
        m: vec![0.0; m.theta.len()],
        v: vec![0.0; m.theta.len()],
    };
    let mut theta = m.theta.clone();
    let loss = m.train_step(
        &blocks,
        &mut opt,
        &mut theta,
        &x,
        &rows,
        0.1,
        &mut ChaCha8Rng::seed_from_u64(3),
    );
    assert!(
        (loss - want_loss).abs() <= 1e-9 * want_loss.abs(),
        "{loss} vs {want_loss}"
    );
    // Adam's first step: m̂ = g, v̂ = g², so θ moves by lr · g / (|g| + ε).
    for ((&t1, &t0), &g) in theta.iter().zip(&m.theta).zip(&grad) {
        let want = t0 - 0.01 * g / (g.abs() + 1e-8);
        assert!((t1 - want).abs() < 1e-6, "{t1} vs {want} (g {g})");
    }
}

#[test]
fn training_does_not_depend_on_the_thread_count() {
    let _same = crate::simd_paths::same_level();
    let x = toy();
    let p = MultVaeParams {
        hidden: vec![9],
        factors: 3,
        epochs: 3,
        batch_size: 7,
        ..Default::default()
    };
    let fit = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| fit(&p, &x, &mut NoProgress).theta)
    };
    assert_eq!(fit(1), fit(3));
}

#[test]
fn learns_groups_and_round_trips() {
    let _same = crate::simd_paths::same_level();
    let x = toy();
    let p = MultVaeParams {
        hidden: vec![16],
        factors: 4,
        epochs: 60,
        batch_size: 8,
        learning_rate: 0.01,
        ..Default::default()
    };
    let mut losses = Vec::new();
    let m = fit(&p, &x, &mut |r: &EpochReport| {
        losses.push(r.loss("loss").unwrap());
        Control::Continue
    });
    assert_eq!(losses.len(), 60);
    eprintln!(
        "losses {:?}",
        &losses.iter().step_by(10).collect::<Vec<_>>()
    );
    assert!(losses[59] < losses[0] - 0.3, "{losses:?}");
    let mut s = vec![0.0; 30];
    m.scorer(&x).score_user(0, &mut s).unwrap();
    // User 0 likes items ≡ 0 mod 3: they outscore the others on average.
    let (mut a, mut b) = (0.0, 0.0);
    for (i, v) in s.iter().enumerate() {
        if i % 3 == 0 {
            a += v / 10.0
        } else {
            b += v / 20.0
        }
    }
    assert!(a > b + 0.5, "{a} vs {b}: {s:?}");
    // Item vectors are the output layer's columns; items of one group point one way.
    let (v, dim) = m.output_item_vectors();
    let l = m.layers[m.layers.len() - 1];
    assert_eq!((v.len(), dim), (30 * 16, 16));
    assert_eq!(v[7 * dim + 3], m.theta[l.w + 3 * l.fan_out + 7]);
    let cos = |i: u32| recs_core::ranking::similar_by_cosine(&v, dim, i, 5).unwrap();
    let same = cos(0).iter().filter(|(j, _)| j % 3 == 0).count();
    assert!(same >= 4, "neighbours of item 0: {:?}", cos(0));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    save_path(&MultVaeModel::new(m.clone(), x.clone()), &path).unwrap();
    let back: MultVaeModel = load_path(&path).unwrap();
    let mut s2 = vec![0.0; 30];
    back.score_user(0, &mut s2).unwrap();
    assert_eq!(s, s2);
    assert_eq!(back.net().theta, m.theta);
    assert!(
        MultVaeParams {
            dropout: 1.0,
            ..Default::default()
        }
        .validate()
        .unwrap_err()
        .to_string()
        .contains("dropout")
    );
}

#[test]
fn validation_users_in_train_data_are_validated_on_not_trained_on() {
    let _same = crate::simd_paths::same_level();
    // Users 30..40 of the toy data are validation users: their last item is held out.
    let x = toy();
    let (mut keep, mut held) = ((vec![], vec![]), (vec![], vec![]));
    for u in 0..40u32 {
        let items = x.row(u as usize).indices;
        for (k, &i) in items.iter().enumerate() {
            let part = if u >= 30 && k + 1 == items.len() {
                &mut held
            } else {
                &mut keep
            };
            part.0.push(u);
            part.1.push(i);
        }
    }
    let m = |(r, c): &(Vec<u32>, Vec<u32>)| {
        CsrMatrix::from_triplets(40, 30, r, c, &vec![1.0; r.len()], DuplicatePolicy::Error).unwrap()
    };
    let (rows, held) = (m(&keep), m(&held));
    let (train_users, val_users): (Vec<u32>, Vec<u32>) = ((0..30).collect(), (30..40).collect());
    let train = rows.select_rows(&train_users).unwrap();
    let (vin, vout) = (
        rows.select_rows(&val_users).unwrap(),
        held.select_rows(&val_users).unwrap(),
    );
    let p = MultVaeParams {
        hidden: vec![8],
        factors: 3,
        epochs: 4,
        batch_size: 7,
        learning_rate: 0.01,
        ..Default::default()
    };
    let (mut va, mut vb) = (vec![], vec![]);
    let data = TrainData::new(&rows).with_validation(&held);
    let a = MultVaeModel::fit(&p, &data, &mut |r: &EpochReport| {
        va.push(r.validation.unwrap());
        Control::Continue
    })
    .unwrap();
    // The same as training on the training users alone, validating on the others.
    let b = train::fit(
        &p,
        &MultVaeData::new(&train).with_validation(&vin, &vout),
        &Engine::Native,
        &mut |r: &EpochReport| {
            vb.push(r.validation.unwrap());
            Control::Continue
        },
    )
    .unwrap();
    assert_eq!(va, vb);
    assert_eq!(va[0].0, "validation_ndcg@100");
    assert_eq!(a.net().theta, b.theta);
    assert_eq!(a.net().epochs(), b.epochs());
    // Every row is the model's user, validation users included.
    assert_eq!(a.n_users(), 40);
    // The validation NDCG is recs-metrics' NDCG (Liang's, every item ranked, fold-in items
    // excluded), to the bit.
    for k in [1, 3, 100] {
        let cfg = recs_metrics::EvalConfig {
            metrics: vec![recs_metrics::Metric::NdcgLiang],
            ks: vec![k],
            candidates: recs_metrics::Candidates::All,
            ..Default::default()
        };
        let r = recs_metrics::evaluate(&b.scorer(&vin), &vin, &vout, &cfg).unwrap();
        let ndcg = b.ndcg_at(&vin, &vout, k).unwrap();
        assert_eq!(ndcg, r.means[&format!("ndcg_liang@{k}")], "k {k}");
    }
    // A validation part of another shape, or one that holds out every user, is refused.
    let e = MultVaeModel::fit(
        &p,
        &TrainData::new(&rows).with_validation(&vout),
        &mut NoProgress,
    )
    .unwrap_err();
    assert!(e.to_string().contains("same shape"), "{e}");
    let everyone = MultVaeModel::fit(&p, &TrainData::new(&x).with_validation(&x), &mut NoProgress)
        .unwrap_err();
    assert!(matches!(everyone, ModelError::Data(_)), "{everyone}");
}

#[test]
fn kernels_agree_across_simd_paths() {
    use super::backward::mul_tanh_grad;
    use super::forward::tanh_inplace;
    use crate::kernels::rows::{
        add_bias, exp_shift, sparse_backward, sparse_backward_items, sparse_forward,
    };
    let data = |n: usize, salt: f32| -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 * 0.618 + salt).sin() * 3.0)
            .collect()
    };
    let (rows, h) = (5, 37);
    let x = data(rows * h, 0.1);
    let entries: Vec<(u32, u32, f32)> = (0..40u32)
        .map(|t| (t % 5, t % 11, 0.5 + t as f32 * 0.1))
        .collect();
    let w = data(11 * h, 0.7);
    let runs = crate::simd_paths::each_level(|_| {
        let mut out = x.clone();
        tanh_inplace(&mut out);
        let mut e = x.clone();
        let s = exp_shift(&mut e, 3.0);
        out.push(s as f32 / e.len() as f32);
        out.extend(e);
        let mut b = x.clone();
        add_bias(&mut b, &w[..h]);
        out.extend(b);
        let mut g = x.clone();
        mul_tanh_grad(&mut g, &w[..rows * h]);
        out.extend(g);
        let mut a = vec![0.0; rows * h];
        sparse_forward(&entries, &w, h, &mut a);
        out.extend(a);
        let mut gw = vec![0.0; 11 * h];
        sparse_backward(&entries, &x, h, 0, &mut gw);
        out.extend(gw);
        let mut slice = vec![0.0; 4 * h];
        sparse_backward_items(&entries, &x, h, 3, &mut slice);
        out.extend(slice);
        out
    });
    crate::simd_paths::assert_paths_agree("Mult-VAE kernels", &runs, 1e-6);
}

/// The gradient's item slices filled apart equal the whole, and the softmax loss with its
/// rows on rayon's threads equals the serial one, bit for bit.
#[test]
fn item_slices_and_parallel_rows_equal_the_whole() {
    // Bit for bit, so no other test may force a SIMD level meanwhile.
    let _same = crate::simd_paths::same_level();
    use crate::kernels::rows::{
        par_softmax_nll, softmax_nll, sparse_backward, sparse_backward_items,
    };
    let x = toy();
    let h = 7;
    let entries: Vec<(u32, u32, f32)> = (0..90u32)
        .map(|t| (t % 6, (t * 7) % 30, 0.25 + t as f32 * 0.01))
        .collect();
    let d: Vec<f32> = (0..6 * h).map(|i| (i as f32 * 0.37).cos()).collect();
    let mut whole = vec![0.0; 30 * h];
    sparse_backward(&entries, &d, h, 0, &mut whole);
    let mut slices = vec![0.0; 30 * h];
    for (c, gw) in slices.chunks_mut(8 * h).enumerate() {
        sparse_backward_items(&entries, &d, h, (c * 8) as u32, gw);
    }
    assert_eq!(whole, slices);
    let rows: Vec<u32> = (0..40).rev().collect();
    let logits: Vec<f32> = (0..40 * 30)
        .map(|i| (i as f32 * 0.11).sin() * 4.0)
        .collect();
    let (mut a, mut b) = (logits.clone(), logits);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let par = pool.install(|| par_softmax_nll(&mut b, &x, &rows, 0.5));
    assert_eq!(softmax_nll(&mut a, &x, &rows, 0.5).to_bits(), par.to_bits());
    assert_eq!(a, b);
}

#[test]
fn one_epoch_agrees_across_simd_paths() {
    let x = toy();
    for variational in [true, false] {
        let p = MultVaeParams {
            variational,
            hidden: vec![9],
            factors: 3,
            epochs: 1,
            batch_size: 7,
            reg: 0.01,
            ..Default::default()
        };
        let runs = crate::simd_paths::each_level(|_| {
            let m = fit(&p, &x, &mut NoProgress);
            let mut s = vec![0.0; 30 * 40];
            let users: Vec<u32> = (0..40).collect();
            m.scorer(&x).score_users(&users, &mut s).unwrap();
            let mut out = m.theta.clone();
            out.extend(s);
            out
        });
        crate::simd_paths::assert_paths_agree(
            &format!("Mult-VAE epoch ({variational})"),
            &runs,
            1e-5,
        );
    }
}

#[test]
fn a_candle_step_gives_the_native_loss_and_gradient() {
    use candle_core::Device;
    use rand::Rng;
    let x = toy();
    let dev = Device::Cpu;
    let rows = [1u32, 2, 5, 9, 30, 17, 3];
    for (variational, hidden) in [
        (true, vec![7]),
        (false, vec![7]),
        (true, vec![]),
        (false, vec![]),
        (true, vec![6, 5]),
    ] {
        let p = MultVaeParams {
            variational,
            hidden: hidden.clone(),
            factors: 3,
            dropout: 0.4,
            reg: 0.01,
            ..Default::default()
        };
        let (m, theta, _) = super::train::init(&p, x.n_cols());
        let beta = 0.15;
        let mut grad = vec![0.0; theta.len()];
        let mut rng_native = ChaCha8Rng::seed_from_u64(3);
        let want = m.gradient(&theta, &x, &rows, beta, &mut rng_native, &mut grad);
        let params = m.upload_theta(&dev, &theta).unwrap();
        let mut rng_candle = ChaCha8Rng::seed_from_u64(3);
        let batch = m
            .device_batch(&dev, &x, &rows, Some(&mut rng_candle))
            .unwrap();
        let (loss, grads) = m.device_gradient(&params, &batch, beta).unwrap();
        // Both drew the same dropout masks and noise: the streams are in step.
        assert_eq!(rng_native.random::<u64>(), rng_candle.random::<u64>());
        let loss = f64::from(loss.to_scalar::<f32>().unwrap());
        let got = m.download_theta(&grads).unwrap();
        let (dl, dg) = ((loss - want).abs() / want.abs(), rel_diff(&got, &grad));
        eprintln!(
            "vae {variational} {hidden:?}: loss {loss} vs {want} (rel {dl:.2e}), gradient rel {dg:.2e}"
        );
        assert!(
            dl <= 1e-4,
            "vae {variational} {hidden:?}: loss {loss} vs {want}"
        );
        assert!(
            dg <= 1e-4,
            "vae {variational} {hidden:?}: gradient differs by {dg:.2e}"
        );
        // Inference scores on the device are the native ones.
        let users: Vec<u32> = (0..40).collect();
        let scores = m.device_logits(&dev, &params, &x, &users).unwrap();
        let with_theta = MultVae {
            theta: theta.clone(),
            ..m.clone()
        };
        let mut native = vec![0.0; 40 * 30];
        with_theta
            .scorer(&x)
            .score_users(&users, &mut native)
            .unwrap();
        let ds = rel_diff(&scores, &native);
        assert!(
            ds <= 1e-5,
            "vae {variational} {hidden:?}: scores differ by {ds:.2e}"
        );
    }
}
