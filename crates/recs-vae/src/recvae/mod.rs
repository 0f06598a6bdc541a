//! RecVAE (Shenbin, Alekseev, Tutubalina, Malykh & Nikolenko, "RecVAE: a New Variational
//! Autoencoder for Top-N Recommendations with Implicit Feedback", WSDM 2020), as the
//! authors' code and Cornac's `RecVAE` compute it.
//!
//! A user's row `x` (binarized) is L2-normalised, dropped out (encoder passes only) and
//! encoded by five dense layers of width `hidden`, each `hᵢ = LayerNorm(swish(Wᵢ·hᵢ₋₁ + bᵢ +
//! h₁ + … + hᵢ₋₁))` (layer norm ε 0.1; the first layer reads the sparse row, without skip),
//! then two heads give `μ` and `log σ²`. Training samples `z = μ + 0.01 ε ⊙ σ` (the
//! authors' narrow noise), the decoder is one linear layer to logits over every item, and
//! the loss is the batch mean of `−Σᵢ xᵢ log softmax(logits)ᵢ + w(x) · Σ [log q(z|x) −
//! log p(z)]` with the per-user weight `w(x) = γ · |x|` and the **composite prior**
//! `p(z) = 3/20 · N(0, I) + 3/4 · q_old(z|x) + 1/10 · N(0, e¹⁰ I)`, `q_old` the encoder as it
//! was at the end of the previous epoch's encoder passes (a separately initialised encoder
//! before the first).
//!
//! An epoch alternates: `enc_epochs` passes over the users updating the encoder only
//! (dropout `dropout`), the prior's encoder set to the encoder, then `dec_epochs` passes
//! updating the decoder only (no dropout); each part has its own Adam. With validation
//! users the epoch with the best NDCG@100 is kept. At inference `z = μ`; a user never seen is
//! scored from their items the same way (fold-in).
//!
//! The native engine computes the forward and backward passes by hand (the sparse first
//! layer, `gemm` for the dense layers, fused swish + layer norm per row); the candle engine
//! (`device` `"cpu"`, `"cuda"`, `"cuda:N"`) writes the same model as candle tensor ops,
//! differentiated by candle's autograd, from the same draws. The files: `params`, `net`
//! (the parameter layout, initialisation and the native forward and backward passes),
//! `steps` (what an engine provides), `train` (the epochs on either engine), `candle` (the
//! candle engine), `model` (the model
//! type and its `Recommender` impl), `persist` (model files) and `tests`.

#[cfg(feature = "candle")]
mod candle;
mod model;
mod net;
mod params;
mod persist;
mod steps;
#[cfg(test)]
mod tests;
mod train;

pub use model::RecVaeModel;
pub use params::RecVaeParams;
