//! Matrix factorization in plain Rust: biased MF, bias-only and global-mean baselines, BPR.
//! (Being built: see issue 7.)
#![deny(missing_docs)]
