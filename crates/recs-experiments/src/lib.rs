//! The experiment runner shared by `recs compare` and `cargo xtask reproduce`.
//! (Being built.)
#![deny(missing_docs)]
