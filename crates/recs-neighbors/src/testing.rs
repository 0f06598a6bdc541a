//! Test data the models' unit tests share.

use recs_sparse::{CsrMatrix, DuplicatePolicy};

/// A seeded `n_users × n_items` matrix: about a third of the cells stored, with values
/// `1..=max_value`, item `empty` left without any.
pub(crate) fn sample(
    n_users: usize,
    n_items: usize,
    seed: u64,
    empty: u32,
    max_value: u64,
) -> CsrMatrix {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let (mut u, mut i, mut v) = (Vec::new(), Vec::new(), Vec::new());
    for a in 0..n_users as u32 {
        for b in 0..n_items as u32 {
            if b != empty && next() % 3 == 0 {
                u.push(a);
                i.push(b);
                v.push((1 + next() % max_value) as f32);
            }
        }
    }
    CsrMatrix::from_triplets(n_users, n_items, &u, &i, &v, DuplicatePolicy::KeepLast).unwrap()
}
