//! AutoRec's unit tests: the sparse gradients against the dense masked loss, learning,
//! validation and patience, parameter checks and model files.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recs_core::{
    Control, EpochReport, ModelParams as _, NoProgress, RatingPredictor, Recommender, Scorer,
    TrainData, load_path, save_path,
};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

use super::setup::Weights;
use super::train::{BatchBuffers, Moments, batch_step, zeros2};
use super::*;
use crate::nn::HostLinear;
use crate::optim::AdamStep;
use crate::testing::rel_diff;

fn toy(seed: u64) -> CsrMatrix {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut u, mut i, mut v) = (Vec::new(), Vec::new(), Vec::new());
    for a in 0..12u32 {
        for b in 0..9u32 {
            if rng.random::<f32>() < 0.5 {
                u.push(a);
                i.push(b);
                v.push(1.0 + ((a % 3 + b % 3) as f32));
            }
        }
    }
    CsrMatrix::from_triplets(12, 9, &u, &i, &v, DuplicatePolicy::Error).unwrap()
}

/// The dense masked loss of the reference, in f64.
fn dense_loss(x: &CsrMatrix, w: &Weights, p: &AutoRecParams, rows: &[u32]) -> f64 {
    let h = p.factors;
    let n_cols = x.n_cols();
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    let mut loss = 0.0;
    for &r in rows {
        let mut dense = vec![0.0f64; n_cols];
        let mut mask = vec![0.0f64; n_cols];
        let row = x.row(r as usize);
        for (&c, &v) in row.indices.iter().zip(row.values) {
            dense[c as usize] = f64::from(v);
            mask[c as usize] = 1.0;
        }
        let code: Vec<f64> = (0..h)
            .map(|k| {
                sig(f64::from(w.enc_b[k])
                    + (0..n_cols)
                        .map(|c| dense[c] * f64::from(w.enc_w[c * h + k]))
                        .sum::<f64>())
            })
            .collect();
        for c in 0..n_cols {
            let o = f64::from(w.dec_b[c])
                + (0..h)
                    .map(|k| code[k] * f64::from(w.dec_w[c * h + k]))
                    .sum::<f64>();
            loss += ((o - dense[c]) * mask[c]).powi(2);
        }
    }
    let reg: f64 = w
        .enc_w
        .iter()
        .chain(&w.dec_w)
        .map(|&a| f64::from(a).powi(2))
        .sum();
    loss + f64::from(p.reg as f32) / 2.0 * reg
}

#[test]
fn sparse_gradients_match_the_dense_masked_loss() {
    // Plain SGD through Adam's first step is sign-like; instead compare the gradient the
    // step uses against finite differences of the dense loss, through a step with
    // lr → the gradient itself: run `rows_step` + the column reduction directly.
    let x = toy(3);
    let p = AutoRecParams {
        factors: 4,
        reg: 0.7,
        ..AutoRecParams::default()
    };
    let (n_cols, h) = (x.n_cols(), p.factors);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let enc = HostLinear::torch_init(n_cols, h, &mut rng);
    let dec = HostLinear::torch_init(h, n_cols, &mut rng);
    let w = Weights {
        enc_w: enc.w.0,
        enc_b: enc.b.0,
        dec_w: dec.w.0,
        dec_b: dec.b.0,
    };
    let rows: Vec<u32> = vec![0, 3, 5, 7, 11];
    // Analytic gradients: a step of Adam with β₁ = 0, β₂ → 0 would normalise them away,
    // so recover them with SGD-like moments: m after one step is (1 − β₁) g.
    let mut wc = w.clone();
    let mut mom = Moments {
        enc_w: zeros2(n_cols * h),
        enc_b: zeros2(h),
        dec_w: zeros2(n_cols * h),
        dec_b: zeros2(n_cols),
    };
    let mut buf = BatchBuffers {
        codes: vec![],
        d_pre: vec![],
        g: vec![],
        vals: vec![],
        offsets: vec![],
        col_start: vec![],
        hits: vec![],
    };
    let step = AdamStep {
        beta1: 0.0,
        beta2: 0.0,
        eps: 1.0,
        step_size: 0.0,
        bias_correction2_sqrt: 1.0,
    };
    let sse = batch_step(&x, &rows, &mut wc, &mut mom, &mut buf, &p, &step);
    // With β₁ = 0 the first moment holds the full gradient (step size 0 leaves weights).
    let eps = 1e-3f64;
    let base = dense_loss(&x, &w, &p, &rows);
    let reg: f64 = w
        .enc_w
        .iter()
        .chain(&w.dec_w)
        .map(|&a| f64::from(a).powi(2))
        .sum();
    assert!(
        (base - (sse + f64::from(p.reg as f32) / 2.0 * reg)).abs() < 1e-3 * base.max(1.0),
        "{base} vs {sse}"
    );
    let check = |name: &str, analytic: &[f32], get: &dyn Fn(&mut Weights) -> &mut Vec<f32>| {
        for (idx, &an) in analytic.iter().enumerate() {
            let mut wp = w.clone();
            get(&mut wp)[idx] += eps as f32;
            let mut wm = w.clone();
            get(&mut wm)[idx] -= eps as f32;
            let numeric =
                (dense_loss(&x, &wp, &p, &rows) - dense_loss(&x, &wm, &p, &rows)) / (2.0 * eps);
            let a = f64::from(an);
            assert!(
                (a - numeric).abs() < 2e-2 * (1.0 + numeric.abs()),
                "{name}[{idx}]: analytic {a}, numeric {numeric}"
            );
        }
    };
    check("enc_w", &mom.enc_w.0, &|w| &mut w.enc_w);
    check("enc_b", &mom.enc_b.0, &|w| &mut w.enc_b);
    check("dec_w", &mom.dec_w.0, &|w| &mut w.dec_w);
    check("dec_b", &mom.dec_b.0, &|w| &mut w.dec_b);
    // Nothing moved.
    assert_eq!(wc.enc_w, w.enc_w);
}

#[test]
fn learns_clips_and_falls_back_for_unseen() {
    let _same = crate::simd_paths::same_level();
    let x = toy(5);
    let p = AutoRecParams {
        factors: 8,
        reg: 0.1,
        epochs: 300,
        batch_size: 4,
        learning_rate: 0.01,
        ..AutoRecParams::default()
    };
    let m = AutoRec::fit(&p, &TrainData::new(&x), &mut NoProgress).unwrap();
    let mut se = 0.0;
    for u in 0..x.n_rows() {
        let row = x.row(u);
        for (&i, &v) in row.indices.iter().zip(row.values) {
            se += f64::from(m.predict(u as u32, i) - v).powi(2);
        }
    }
    let rmse = (se / x.nnz() as f64).sqrt();
    assert!(rmse < 0.3, "train RMSE {rmse}");
    // Out of range → the default; inside the clip range always.
    assert_eq!(m.predict(100, 0), 3.0);
    let gm = AutoRec {
        params: AutoRecParams {
            unseen: Unseen::GlobalMean,
            ..m.params.clone()
        },
        ..m.clone()
    };
    assert_eq!(gm.predict(0, 100), gm.global_mean());
    let (lo, hi) = (1.0, 5.0);
    let mut scores = vec![0.0; 9];
    m.score_user(2, &mut scores).unwrap();
    assert!(scores.iter().all(|s| (lo..=hi).contains(s)));
    // Same seed, same model; thread count does not matter.
    let one = AutoRec::fit(
        &AutoRecParams {
            threads: 1,
            ..p.clone()
        },
        &TrainData::new(&x),
        &mut NoProgress,
    )
    .unwrap();
    let two = AutoRec::fit(
        &AutoRecParams {
            threads: 2,
            ..p.clone()
        },
        &TrainData::new(&x),
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(one.dec_w, two.dec_w);
}

#[test]
fn validation_keeps_the_best_epoch_and_patience_stops() {
    let x = toy(7);
    let p = AutoRecParams {
        factors: 8,
        reg: 0.0,
        epochs: 400,
        batch_size: 4,
        learning_rate: 0.05,
        validation_fraction: 0.3,
        patience: Some(5),
        ..AutoRecParams::default()
    };
    let mut reports = Vec::new();
    let m = AutoRec::fit(&p, &TrainData::new(&x), &mut |r: &EpochReport| {
        reports.push(r.clone());
        Control::Continue
    })
    .unwrap();
    let (ran, best) = m.epochs();
    assert_eq!(reports.len(), ran);
    assert!(ran < 400 && best + 5 == ran, "ran {ran}, best {best}");
    let vals: Vec<f64> = reports
        .iter()
        .map(|r| r.loss("validation_rmse").unwrap())
        .collect();
    let min = vals.iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(vals[best - 1], min);
}

#[test]
fn validate_names_the_parameter() {
    for (p, name) in [
        (
            AutoRecParams {
                factors: 0,
                ..Default::default()
            },
            "factors",
        ),
        (
            AutoRecParams {
                reg: -1.0,
                ..Default::default()
            },
            "reg",
        ),
        (
            AutoRecParams {
                reg: 1e300,
                ..Default::default()
            },
            "reg",
        ),
        (
            AutoRecParams {
                learning_rate: 0.0,
                ..Default::default()
            },
            "learning_rate",
        ),
        (
            AutoRecParams {
                validation_fraction: 0.9,
                ..Default::default()
            },
            "validation_fraction",
        ),
        (
            AutoRecParams {
                patience: Some(0),
                ..Default::default()
            },
            "patience",
        ),
        (
            AutoRecParams {
                rating_range: Some((5.0, 1.0)),
                ..Default::default()
            },
            "rating_range",
        ),
    ] {
        let e = p.validate().unwrap_err();
        assert_eq!(e.param, name, "{e}");
        assert!(e.to_string().contains(name), "{e}");
    }
}

#[test]
fn save_load_round_trips_and_refuses_bad_files() {
    let _same = crate::simd_paths::same_level();
    let x = toy(9);
    let p = AutoRecParams {
        factors: 6,
        epochs: 5,
        batch_size: 4,
        ..AutoRecParams::default()
    };
    let m = AutoRec::fit(&p, &TrainData::new(&x), &mut NoProgress).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.safetensors");
    save_path(&m, &path).unwrap();
    let l: AutoRec = load_path(&path).unwrap();
    for u in 0..12 {
        for i in 0..9 {
            assert_eq!(m.predict(u, i), l.predict(u, i));
        }
    }
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = load_path::<AutoRec>(&path).unwrap_err().to_string();
    assert!(e.contains("a.safetensors"), "{e}");
}

#[test]
fn adam_row_agrees_across_simd_paths() {
    let data = |n: usize, salt: f32| -> Vec<f32> {
        (0..n).map(|i| (i as f32 * 0.618 + salt).sin()).collect()
    };
    let g = data(999, 0.2);
    let runs = crate::simd_paths::each_level(|_| {
        let mut adam = crate::optim::Adam::new(1e-2);
        let (mut p, mut m, mut v) = (data(999, 0.5), vec![0.0; 999], vec![0.0; 999]);
        for _ in 0..3 {
            let s = adam.next_step();
            super::kernels::adam_row(&mut p, &mut m, &mut v, &g, 0.3, &s);
        }
        p.extend(m);
        p.extend(v);
        p
    });
    crate::simd_paths::assert_paths_agree("adam_row", &runs, 1e-6);
}

#[test]
fn one_epoch_agrees_across_simd_paths() {
    let x = toy(11);
    for item_based in [true, false] {
        let p = AutoRecParams {
            factors: 37,
            item_based,
            reg: 0.5,
            epochs: 1,
            batch_size: 4,
            learning_rate: 0.01,
            ..AutoRecParams::default()
        };
        let runs = crate::simd_paths::each_level(|_| {
            let m = AutoRec::fit(&p, &TrainData::new(&x), &mut NoProgress).unwrap();
            let mut out = m.enc_w.clone();
            for v in [&m.enc_b, &m.dec_w, &m.dec_b, &m.codes] {
                out.extend(v);
            }
            for u in 0..12 {
                for i in 0..9 {
                    out.push(m.predict(u, i));
                }
            }
            out
        });
        crate::simd_paths::assert_paths_agree(
            &format!("AutoRec epoch ({item_based})"),
            &runs,
            1e-5,
        );
    }
}

#[test]
fn a_candle_step_gives_the_native_loss_gradient_and_update() {
    use super::candle;
    use crate::backend::Backend;
    use crate::backend::candle::CandleOps;
    use crate::nn::Activation;
    use candle_core::{Device, Tensor};
    let x = toy(3);
    let be = CandleOps {
        device: Device::Cpu,
    };
    let rows: Vec<u32> = vec![0, 3, 5, 7, 11, 2];
    for (hidden, output) in [
        (Activation::Sigmoid, None),
        (Activation::Tanh, Some(Activation::Sigmoid)),
        (Activation::Elu, Some(Activation::Relu6)),
        (Activation::Relu, None),
    ] {
        let p = AutoRecParams {
            factors: 5,
            reg: 0.7,
            hidden_activation: hidden,
            output_activation: output,
            ..AutoRecParams::default()
        };
        let (n_cols, h) = (x.n_cols(), p.factors);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let enc = HostLinear::torch_init(n_cols, h, &mut rng);
        let dec = HostLinear::torch_init(h, n_cols, &mut rng);
        let w = Weights {
            enc_w: enc.w.0,
            enc_b: enc.b.0,
            dec_w: dec.w.0,
            dec_b: dec.b.0,
        };
        let native_step = |step: &AdamStep| {
            let mut wc = w.clone();
            let mut mom = Moments {
                enc_w: zeros2(n_cols * h),
                enc_b: zeros2(h),
                dec_w: zeros2(n_cols * h),
                dec_b: zeros2(n_cols),
            };
            let mut buf = BatchBuffers {
                codes: vec![],
                d_pre: vec![],
                g: vec![],
                vals: vec![],
                offsets: vec![],
                col_start: vec![],
                hits: vec![],
            };
            let sse = batch_step(&x, &rows, &mut wc, &mut mom, &mut buf, &p, step);
            let m = [mom.enc_w.0, mom.enc_b.0, mom.dec_w.0, mom.dec_b.0];
            (sse, wc, m)
        };
        let candle_step = |step: &AdamStep| {
            let mut wt = candle::upload(&be.device, &w).unwrap();
            let mut moments: Vec<(Tensor, Tensor)> = wt
                .iter()
                .map(|t| (t.zeros_like().unwrap(), t.zeros_like().unwrap()))
                .collect();
            let batch = candle::device_batch(&be.device, &x, &rows).unwrap();
            let sse = candle::batch_step(&be, &p, &mut wt, &mut moments, &batch, step).unwrap();
            let m: Vec<Vec<f32>> = moments
                .iter()
                .map(|(m, _)| be.download(m).unwrap())
                .collect();
            let sse = f64::from(sse.to_scalar::<f32>().unwrap());
            (sse, candle::download(&wt).unwrap(), m)
        };
        // β₁ = 0 and a step size of 0: the first moment is the gradient (with the L2
        // term's λ·w), the weights stay.
        let grad_step = AdamStep {
            beta1: 0.0,
            beta2: 0.0,
            eps: 1.0,
            step_size: 0.0,
            bias_correction2_sqrt: 1.0,
        };
        let (sse_n, _, g_n) = native_step(&grad_step);
        let (sse_c, _, g_c) = candle_step(&grad_step);
        let dl = (sse_c - sse_n).abs() / sse_n;
        assert!(dl <= 1e-4, "{hidden} {output:?}: sse {sse_c} vs {sse_n}");
        for (name, (a, b)) in ["enc_w", "enc_b", "dec_w", "dec_b"]
            .iter()
            .zip(g_c.iter().zip(&g_n))
        {
            let d = rel_diff(a, b);
            eprintln!(
                "{hidden} {output:?}: sse rel {dl:.2e}, gradient of {name} rel {d:.2e} (max |g| {:.3e})",
                b.iter().fold(0.0f32, |m, v| m.max(v.abs()))
            );
            assert!(
                d <= 1e-4,
                "{hidden} {output:?}: gradient of {name} differs by {d:.2e}"
            );
        }
        // A real first Adam step (lr 0.01) moves every weight the same way on both.
        let step = crate::optim::Adam::new(0.01).next_step();
        let (_, w_n, _) = native_step(&step);
        let (_, w_c, _) = candle_step(&step);
        for (name, a, b) in [
            ("enc_w", &w_c.enc_w, &w_n.enc_w),
            ("enc_b", &w_c.enc_b, &w_n.enc_b),
            ("dec_w", &w_c.dec_w, &w_n.dec_w),
            ("dec_b", &w_c.dec_b, &w_n.dec_b),
        ] {
            let d = rel_diff(a, b);
            assert!(
                d <= 1e-4,
                "{hidden} {output:?}: updated {name} differs by {d:.2e}"
            );
        }
    }
}
