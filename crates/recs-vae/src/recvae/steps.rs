//! What a RecVAE training engine provides: its steps, which the alternating epochs of
//! `train` run (the native engine there, candle's in `candle`).

use rand_chacha::ChaCha8Rng;
use recs_sparse::CsrMatrix;

use crate::Result;

/// One engine's training steps.
pub(super) trait Steps {
    /// An encoder step on the batch `rows` (drawing from `rng`); returns the batch's mean
    /// negative ELBO.
    fn encoder_step(&mut self, rows: &[u32], rng: &mut ChaCha8Rng) -> Result<f64>;
    /// The prior's encoder becomes the current encoder (and its heads on every training
    /// row are computed once, for the next encoder passes and the decoder passes).
    fn update_prior(&mut self) -> Result<()>;
    /// A decoder step on the batch `rows`; returns the batch's mean negative log-likelihood.
    fn decoder_step(&mut self, rows: &[u32], rng: &mut ChaCha8Rng) -> Result<f64>;
    /// Logits of `rows` of `x` at inference, `rows.len() × n_items`.
    fn logits(&self, x: &CsrMatrix, rows: &[u32]) -> Result<Vec<f32>>;
    /// A copy of the encoder's and decoder's parameters where they live.
    type Snapshot;
    /// The current parameters (taken when validation improves).
    fn snapshot(&self) -> Self::Snapshot;
    /// A snapshot's encoder and decoder parameters on the host.
    fn to_host(&self, s: Self::Snapshot) -> Result<(Vec<f32>, Vec<f32>)>;
}
