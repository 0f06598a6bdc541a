//! Unit tests: one ALS sweep of the biases by hand.

use recs_core::{ModelParams as _, NoProgress, Recommender as _, TrainData};
use recs_sparse::{CsrMatrix, DuplicatePolicy};

use super::model::BaselineOnly;
use super::params::BaselineParams;

#[test]
fn als_one_epoch_by_hand() {
    // users 0,0,1 ; items 0,1,0 ; ratings 5,3,4 ; mu = 4
    let (u, i, r) = ([0u32, 0, 1], [0u32, 1, 0], [5f32, 3.0, 4.0]);
    let x = CsrMatrix::from_triplets(2, 2, &u, &i, &r, DuplicatePolicy::Error).unwrap();
    let p = BaselineParams {
        epochs: 1,
        reg_u: 1.0,
        reg_i: 1.0,
        rating_range: None,
    };
    let m = BaselineOnly::fit(&p, &TrainData::new(&x), &mut NoProgress).unwrap();
    // b_i0 = (1 + 0) / 3 = 1/3 ; b_i1 = -1 / 2
    assert!((m.item_bias()[0] - 1.0 / 3.0).abs() < 1e-6);
    assert!((m.item_bias()[1] + 0.5).abs() < 1e-6);
    // b_u0 = ((1 - 1/3) + (-1 + 1/2)) / 3 = (1/6)/3 ; b_u1 = (0 - 1/3) / 2
    assert!((m.user_bias()[0] - 1.0 / 18.0).abs() < 1e-6);
    assert!((m.user_bias()[1] + 1.0 / 6.0).abs() < 1e-6);
    assert!(
        BaselineParams { reg_u: -1.0, ..p }
            .validate()
            .unwrap_err()
            .to_string()
            .contains("reg_u")
    );
}
