//! What the models' unit tests share: a small grouped matrix and a relative difference.

use recs_sparse::{CsrMatrix, DuplicatePolicy};

/// 40 users in three groups over 30 items (a user of group g likes items ≡ g mod 3, a few
/// left out).
pub(crate) fn toy() -> CsrMatrix {
    let (mut u, mut i) = (Vec::new(), Vec::new());
    for a in 0..40u32 {
        for b in 0..30u32 {
            if (a % 3 == b % 3) && (a * 7 + b * 3) % 5 != 0 {
                u.push(a);
                i.push(b);
            }
        }
    }
    let v = vec![1.0; u.len()];
    CsrMatrix::from_triplets(40, 30, &u, &i, &v, DuplicatePolicy::Error).unwrap()
}

/// `max |a − b| / max |b|`: a difference relative to the size of the values compared.
pub(crate) fn rel_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
    let diff = a.iter().zip(b).fold(0.0f64, |m, (&x, &y)| {
        m.max((f64::from(x) - f64::from(y)).abs())
    });
    diff / scale.max(1e-30)
}
