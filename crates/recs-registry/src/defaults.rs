//! The registry's lines and each model's reproduction defaults (written once, here).

use crate::Entry;

/// Every model, in the order `--help` lists them.
pub(crate) static MODELS: &[&dyn Entry] = &[];
