//! The hand-written backward passes against candle's autograd, and the native kernels
//! against the candle backend, on tiny shapes.

use candle_core::{Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recs_sparse::{CsrMatrix, DuplicatePolicy};

use super::candle::{CandleOps, activate, kl_terms, neg_log_likelihood};
use super::native::{HostMat, Native};
use super::{AdamSet, Backend, StepSpec};
use crate::nn::{Activation, GaussianEncoder, Likelihood};

type HostEncoder = GaussianEncoder<(Vec<f32>, usize, usize)>;

/// A random binary-ish batch (values 1 or 2, so value handling is exercised too).
fn batch(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> CsrMatrix {
    let (mut r, mut c, mut v) = (vec![], vec![], vec![]);
    for i in 0..rows {
        for j in 0..cols {
            if rng.random_bool(0.3) {
                r.push(i as u32);
                c.push(j as u32);
                v.push(if rng.random_bool(0.5) { 1.0 } else { 2.0 });
            }
        }
    }
    CsrMatrix::from_triplets(rows, cols, &r, &c, &v, DuplicatePolicy::Sum).unwrap()
}

struct Case {
    enc: HostEncoder,
    x: CsrMatrix,
    other: Vec<f32>,
    eps: Vec<f32>,
    n_other: usize,
    k: usize,
    spec: StepSpec,
}

fn case(act: Activation, lik: Likelihood, dims: &[usize], seed: u64) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (rows, n_in, k) = (13, 11, 3);
    let n_other = n_in; // the decoder reconstructs the input columns
    let enc = GaussianEncoder::init(n_in, dims, k, act, &mut rng);
    let x = batch(rows, n_in, &mut rng);
    let other: Vec<f32> = (0..n_other * k)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let eps: Vec<f32> = (0..rows * k).map(|_| rng.random_range(-2.0..2.0)).collect();
    Case {
        enc,
        x,
        other,
        eps,
        n_other,
        k,
        spec: StepSpec {
            likelihood: lik,
            kl_weight: 0.7,
            scale: 1.0 / rows as f32,
        },
    }
}

fn on_candle(c: &Case) -> (CandleOps, GaussianEncoder<Tensor>) {
    let be = CandleOps {
        device: Device::Cpu,
    };
    let enc = c
        .enc
        .clone()
        .try_map(|(d, r, cols)| be.upload(d, r, cols))
        .unwrap();
    (be, enc)
}

fn on_native(c: &Case) -> GaussianEncoder<HostMat> {
    c.enc
        .clone()
        .try_map(|(data, rows, cols)| Native.upload(data, rows, cols))
        .unwrap()
}

fn to_vec(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale,
            "{what}[{i}]: {x} vs {y} (scale {scale})"
        );
    }
}

/// The loss of one step written with candle ops only, differentiated by candle's autograd.
fn autograd(c: &Case) -> (f64, f64, Vec<Vec<f32>>) {
    let dev = Device::Cpu;
    let vars: Vec<Var> = c
        .enc
        .named_params()
        .into_iter()
        .map(|(_, (d, r, cols))| {
            Var::from_tensor(&Tensor::from_vec(d.clone(), (*r, *cols), &dev).unwrap()).unwrap()
        })
        .collect();
    let n = c.enc.hidden.len();
    let mut dense = vec![0.0f32; c.x.n_rows() * c.x.n_cols()];
    let ids: Vec<u32> = (0..c.x.n_rows() as u32).collect();
    c.x.dense_rows(&ids, &mut dense).unwrap();
    let x = Tensor::from_vec(dense, c.x.shape(), &dev).unwrap();
    let mut h = x.clone();
    for i in 0..n {
        let pre = h
            .matmul(vars[2 * i].as_tensor())
            .unwrap()
            .broadcast_add(vars[2 * i + 1].as_tensor())
            .unwrap();
        h = activate(&pre, c.enc.act).unwrap();
    }
    let lin = |w: &Var, b: &Var| {
        h.matmul(w.as_tensor())
            .unwrap()
            .broadcast_add(b.as_tensor())
            .unwrap()
    };
    let mu = lin(&vars[2 * n], &vars[2 * n + 1]);
    let std = candle_nn::ops::sigmoid(&lin(&vars[2 * n + 2], &vars[2 * n + 3])).unwrap();
    let eps = Tensor::from_vec(c.eps.clone(), (c.x.n_rows(), c.k), &dev).unwrap();
    let s = mu.add(&eps.mul(&std).unwrap()).unwrap();
    let other = Tensor::from_vec(c.other.clone(), (c.n_other, c.k), &dev).unwrap();
    let z = s.matmul(&other.t().unwrap()).unwrap();
    let nll = neg_log_likelihood(&x, &z, c.spec.likelihood)
        .unwrap()
        .sum_all()
        .unwrap();
    let kl = kl_terms(&mu, &std).unwrap().sum_all().unwrap();
    let loss = nll
        .add(&kl.affine(c.spec.kl_weight as f64, 0.0).unwrap())
        .unwrap()
        .affine(c.spec.scale as f64, 0.0)
        .unwrap();
    let grads = loss.backward().unwrap();
    let g = vars.iter().map(|v| to_vec(grads.get(v).unwrap())).collect();
    let scalar = |t: &Tensor| t.to_scalar::<f32>().unwrap() as f64;
    (scalar(&nll), scalar(&kl), g)
}

#[test]
fn hand_written_backward_matches_autograd_and_native_matches_candle() {
    let mut seed = 0;
    for act in Activation::ALL {
        for lik in Likelihood::ALL {
            for dims in [&[5][..], &[6, 4][..]] {
                seed += 1;
                let c = case(act, lik, dims, seed);
                let what = format!("{act} {lik} {dims:?}");
                let (nll, kl, auto) = autograd(&c);
                // The candle backend's hand-written backward.
                let (be, enc) = on_candle(&c);
                let batch = be.batch(&c.x, 0..c.x.n_rows()).unwrap();
                let other = be.upload(c.other.clone(), c.n_other, c.k).unwrap();
                let r = be
                    .gradients(&enc, &batch, c.eps.clone(), &other, c.spec)
                    .unwrap();
                assert!(
                    (r.nll - nll).abs() < 1e-3 * nll.abs().max(1.0),
                    "{what}: nll {} vs {nll}",
                    r.nll
                );
                assert!(
                    (r.kl - kl).abs() < 1e-3 * kl.abs().max(1.0),
                    "{what}: kl {} vs {kl}",
                    r.kl
                );
                let names = c.enc.named_params();
                for ((g, a), (name, _)) in r.grads.iter().zip(&auto).zip(&names) {
                    assert_close(&format!("{what} candle d{name}"), &to_vec(g), a, 2e-4);
                }
                // The native kernels.
                let nenc = on_native(&c);
                let dec = Native
                    .decoder(&Native.upload(c.other.clone(), c.n_other, c.k).unwrap())
                    .unwrap();
                let nb = Native.batch(&c.x, 0..c.x.n_rows()).unwrap();
                let n = Native
                    .gradients(&nenc, &nb, c.eps.clone(), &dec, c.spec)
                    .unwrap();
                assert!(
                    (n.nll - nll).abs() < 1e-3 * nll.abs().max(1.0),
                    "{what}: native nll {} vs {nll}",
                    n.nll
                );
                assert!(
                    (n.kl - kl).abs() < 1e-3 * kl.abs().max(1.0),
                    "{what}: native kl"
                );
                for ((g, a), (name, _)) in n.grads.iter().zip(&auto).zip(&names) {
                    assert_close(&format!("{what} native d{name}"), &g.data, a, 2e-4);
                }
            }
        }
    }
}

#[test]
fn fused_native_step_matches_gradients_then_adam() {
    let _same = crate::simd_paths::same_level();
    for (act, dims) in [
        (Activation::Tanh, &[5][..]),
        (Activation::Relu, &[7, 4][..]),
    ] {
        let c = case(act, Likelihood::Pois, dims, 99);
        let shapes: Vec<(usize, usize)> = c
            .enc
            .named_params()
            .iter()
            .map(|(_, (_, r, cols))| (*r, *cols))
            .collect();
        let dec = Native
            .decoder(&Native.upload(c.other.clone(), c.n_other, c.k).unwrap())
            .unwrap();
        let x = Native.batch(&c.x, 0..c.x.n_rows()).unwrap();
        // Fused.
        let mut fused = on_native(&c);
        let mut opt = AdamSet::new(&Native, 0.01, &shapes).unwrap();
        // Reference: gradients, then the plain optimiser; and candle doing the same.
        let mut plain = on_native(&c);
        let mut opt2 = AdamSet::new(&Native, 0.01, &shapes).unwrap();
        let (cbe, mut cenc) = on_candle(&c);
        let mut copt = AdamSet::new(&cbe, 0.01, &shapes).unwrap();
        let cx = cbe.batch(&c.x, 0..c.x.n_rows()).unwrap();
        let cother = cbe.upload(c.other.clone(), c.n_other, c.k).unwrap();
        for _ in 0..3 {
            let (nll, kl) = Native
                .train_step(&mut fused, &mut opt, &x, c.eps.clone(), &dec, c.spec)
                .unwrap();
            let g = Native
                .gradients(&plain, &x, c.eps.clone(), &dec, c.spec)
                .unwrap();
            assert_eq!((nll, kl), (g.nll, g.kl));
            opt2.step(&Native, plain.params_mut(), &g.grads).unwrap();
            cbe.train_step(&mut cenc, &mut copt, &cx, c.eps.clone(), &cother, c.spec)
                .unwrap();
        }
        for (((name, a), (_, b)), (_, t)) in fused
            .named_params()
            .into_iter()
            .zip(plain.named_params())
            .zip(cenc.named_params())
        {
            assert_close(&format!("{name} fused vs plain"), &a.data, &b.data, 1e-6);
            assert_close(
                &format!("{name} native vs candle"),
                &a.data,
                &to_vec(t),
                1e-4,
            );
        }
    }
}

#[test]
fn native_sample_and_mean_match_candle() {
    let c = case(Activation::Sigmoid, Likelihood::Bern, &[4, 6], 5);
    let (be, enc) = on_candle(&c);
    let nenc = on_native(&c);
    let cb = be.batch(&c.x, 2..9).unwrap();
    let nb = Native.batch(&c.x, 2..9).unwrap();
    let eps = c.eps[..7 * c.k].to_vec();
    let a = Native.sample(&nenc, &nb, eps.clone()).unwrap();
    let b = be.sample(&enc, &cb, eps).unwrap();
    assert_close("sample", &a.data, &to_vec(&b), 1e-5);
    let a = Native.mean(&nenc, &nb).unwrap();
    let b = be.mean(&enc, &cb).unwrap();
    assert_close("mean", &a.data, &to_vec(&b), 1e-5);
}

#[test]
fn mismatched_shapes_are_errors_not_panics() {
    let c = case(Activation::Tanh, Likelihood::Pois, &[5], 1);
    let nenc = on_native(&c);
    let x = Native.batch(&c.x, 0..4).unwrap();
    let dec = Native
        .decoder(&Native.upload(c.other.clone(), c.n_other, c.k).unwrap())
        .unwrap();
    // Noise of the wrong length.
    assert!(
        Native
            .gradients(&nenc, &x, vec![0.0; 5], &dec, c.spec)
            .is_err()
    );
    assert!(Native.sample(&nenc, &x, vec![0.0; 5]).is_err());
    // A decoder over a different number of columns.
    let dec2 = Native
        .decoder(&Native.upload(vec![0.0; 4 * c.k], 4, c.k).unwrap())
        .unwrap();
    assert!(
        Native
            .gradients(&nenc, &x, vec![0.0; 4 * c.k], &dec2, c.spec)
            .is_err()
    );
    // A batch over a different number of input columns.
    let wide = Native
        .batch(&CsrMatrix::zeros(4, c.x.n_cols() + 1).unwrap(), 0..4)
        .unwrap();
    assert!(Native.mean(&nenc, &wide).is_err());
    assert!(Native.upload(vec![0.0; 5], 2, 3).is_err());
}
