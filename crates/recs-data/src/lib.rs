//! Interactions with id maps, dataset loaders, transforms, seeded splits and the dataset
//! registry: how user × item data gets from files on disk into a [`recs_sparse::CsrMatrix`].
//!
//! - [`Interactions`]: columnar rows (12 bytes each, 8 more with timestamps) over shared
//!   [`IdMap`]s.
//! - Loaders: [`movielens`] (100k, 1M, 10M, 20M, latest-small), [`goodreads`] (JSON lines,
//!   gzip), the generic [`load_delimited`] (the `csv` crate: any delimiter, RFC 4180
//!   quoting, BOM dropped, header detected, columns by name or position), [`load_parquet`],
//!   and [`load_file`] (either, by its name or its first bytes, with repeated pairs resolved by a
//!   [`Duplicates`] policy and a [`LoadReport`] of what was found).
//! - [`transform`]: binarize, minimum counts and k-core, de-duplication.
//! - [`split`]: random, stratified, temporal, leave-one-out, and the held-out-users split of
//!   Mult-VAE.
//! - [`registry`]: `datasets/*.toml`, verified atomic installs, [`load_dataset`].
//! - [`synthetic`]: a seeded power-law generator.
//!
//! External ids (strings or integers, as they appear in the files) map to dense `u32`
//! indices in order of first appearance and back. Splits keep the full id maps, so a train
//! and a test matrix of the same data have the same shape.
//!
//! ```
//! use recs_data::{Interactions, split};
//! use recs_sparse::DuplicatePolicy;
//!
//! let mut b = Interactions::builder();
//! for (u, i, r) in [("alice", "m1", 5.0), ("alice", "m2", 3.0), ("bob", "m2", 4.0), ("bob", "m3", 1.0)] {
//!     b.push(u, i, r, None);
//! }
//! let data = b.build();
//! assert_eq!((data.n_users(), data.n_items(), data.len()), (2, 3, 4));
//! assert_eq!(data.item_map().get("m2"), Some(1));
//!
//! let s = split::random(&data, 0.5, 42)?;
//! assert_eq!(s.train.len() + s.test.len(), 4);
//! let x = s.train.to_csr(DuplicatePolicy::Error)?;
//! assert_eq!(x.shape(), (2, 3));
//! # Ok::<(), recs_data::DataError>(())
//! ```
#![deny(missing_docs)]

#[cfg(feature = "parquet")]
mod columnar;
pub mod delimited;
mod error;
mod file;
pub mod goodreads;
mod interactions;
pub mod movielens;
pub mod registry;
pub mod split;
pub mod synthetic;
pub mod transform;

#[cfg(feature = "parquet")]
pub use columnar::load_parquet;
pub use delimited::{Column, DelimitedOptions, Header, load_delimited};
pub use error::DataError;
pub use file::{FileFormat, LoadReport, load_file};
pub use interactions::{IdMap, Interactions, InteractionsBuilder};
pub use registry::load_dataset;
pub use transform::Duplicates;
