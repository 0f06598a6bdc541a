//! Unit tests: the SGD step by hand, the parameter checks and their serde form.

use recs_core::ModelParams as _;

use super::fit::sgd_step;
use super::params::MfParams;

#[test]
fn sgd_step_matches_hand_computation() {
    // mu 3, r 4, bu 0.1, bi -0.2, p = [0.5, -1], q = [0.2, 0.3], lr 0.1, reg 0.5
    let (mut bu, mut bi) = (0.1f32, -0.2f32);
    let mut p = [0.5f32, -1.0];
    let mut q = [0.2f32, 0.3];
    let err = sgd_step(3.0, 4.0, &mut bu, &mut bi, &mut p, &mut q, 0.1, 0.5);
    // dot = 0.1 - 0.3 = -0.2; est = 3 + 0.1 - 0.2 - 0.2 = 2.7; err = 1.3
    assert!((err - 1.3).abs() < 1e-6);
    assert!((bu - (0.1 + 0.1 * (1.3 - 0.05))).abs() < 1e-6);
    assert!((bi - (-0.2 + 0.1 * (1.3 + 0.1))).abs() < 1e-6);
    // p0 = 0.5 + 0.1 (1.3·0.2 − 0.25) = 0.501; q0 = 0.2 + 0.1 (1.3·0.5 − 0.1) = 0.255
    assert!((p[0] - 0.501).abs() < 1e-6, "{}", p[0]);
    assert!((q[0] - 0.255).abs() < 1e-6, "{}", q[0]);
    // p1 = −1 + 0.1 (1.3·0.3 + 0.5) = −0.911; q1 = 0.3 + 0.1 (−1.3 − 0.15) = 0.155
    assert!((p[1] + 0.911).abs() < 1e-6, "{}", p[1]);
    assert!((q[1] - 0.155).abs() < 1e-6, "{}", q[1]);
}

#[test]
fn validate_names_the_parameter() {
    let p = MfParams {
        learning_rate: 0.0,
        ..MfParams::default()
    };
    let e = p.validate().unwrap_err().to_string();
    assert!(e.contains("`learning_rate`") && e.contains("(0, 1]"), "{e}");
    let p = MfParams {
        factors: 0,
        ..MfParams::default()
    };
    assert_eq!(p.validate().unwrap_err().param, "factors");
    let p = MfParams {
        reg: f64::NAN,
        ..MfParams::default()
    };
    assert_eq!(p.validate().unwrap_err().param, "reg");
    let p = MfParams {
        rating_range: Some((5.0, 1.0)),
        ..MfParams::default()
    };
    assert!(
        p.validate()
            .unwrap_err()
            .to_string()
            .contains("rating_range")
    );
    assert!(MfParams::default().validate().is_ok());
}

/// The step sizes were `f32` parameters: the `f64` ones must cast to exactly the same
/// values, for the defaults and the settings the experiments use.
#[test]
fn f64_step_sizes_cast_to_the_former_f32_values() {
    let pairs: [(f64, f32); 8] = [
        (0.001, 0.001),
        (0.005, 0.005),
        (0.01, 0.01),
        (0.02, 0.02),
        (0.03, 0.03),
        (0.05, 0.05),
        (0.08, 0.08),
        (0.1, 0.1),
    ];
    for (d, f) in pairs {
        assert_eq!((d as f32).to_bits(), f.to_bits(), "{d}");
    }
    let p = MfParams::default();
    assert_eq!(p.learning_rate as f32, 0.005f32);
    assert_eq!(p.reg as f32, 0.02f32);
}

#[test]
fn params_deserialise_with_defaults_and_refuse_unknown_fields() {
    let p: MfParams = serde_json::from_str(r#"{"epochs": 3}"#).unwrap();
    assert_eq!(
        p,
        MfParams {
            epochs: 3,
            ..MfParams::default()
        }
    );
    assert!(serde_json::from_str::<MfParams>(r#"{"lr": 0.1}"#).is_err());
}
