//! AutoRec (Sedhain, Menon, Sanner & Xie, "AutoRec: Autoencoders Meet Collaborative
//! Filtering", WWW 2015) for rating prediction.
//!
//! I-AutoRec (the default, `item_based: true`) reconstructs each item's vector of user
//! ratings; U-AutoRec each user's vector of item ratings. With `r` a row of the rating matrix
//! (observed entries only), `h = f(W r + b)` and `r̂ = g(V h + c)`; the loss is the squared
//! error over the *observed* entries plus `λ/2 (‖W‖² + ‖V‖²)`, minimised by Adam over
//! seeded shuffled batches of rows, exactly as the PyTorch reference
//! (`autorec_torch.py`) writes it.
//!
//! Because the loss only looks at observed entries, training never needs the dense output:
//! the prediction at an observed `(row, col)` is one dot product `V[col]·h + c[col]`, the
//! output gradient is non-zero only there, and so every product (encoder, decoder and their
//! gradients) costs `O(nnz × hidden)` per epoch instead of `O(rows × cols × hidden)`. The
//! result is the same function and the same gradients as the dense masked computation (a
//! test holds them to it). Weights are stored one row per rating-matrix column
//! (`cols × hidden`), so each of those products is a contiguous vector operation, and the
//! gradient of each column's weights is reduced and applied (fused with Adam) by one task:
//! no dense gradient buffer, and results independent of the thread count.
//!
//! That is the native engine; the candle engine (`device` `"cpu"`, `"cuda"`, `"cuda:N"`;
//! [`AutoRec::fit_on`]) trains the same model from the same draws with the dense masked
//! loss as candle tensor ops on the device, differentiated by candle's autograd, with the
//! same Adam.
//!
//! The module's files: `params` (the hyper-parameters), `kernels` (the vectorised forward
//! and backward passes and the fused per-column update), `train` (fitting), `candle` (the
//! candle engine's step), `score` (predictions and the `Scorer`/`RatingPredictor` impls)
//! and `persist` (model files).

#[cfg(feature = "candle")]
mod candle;
mod kernels;
mod params;
mod persist;
mod score;
#[cfg(test)]
mod tests;
mod train;

pub use params::{AutoRecParams, Unseen};

/// The model kind written in model files.
pub const MODEL_KIND: &str = "autorec";

/// A trained AutoRec. See the module documentation.
#[derive(Debug, Clone)]
pub struct AutoRec {
    params: AutoRecParams,
    n_users: usize,
    n_items: usize,
    /// Encoder weights, `cols × hidden` (row `c` multiplies input column `c`).
    enc_w: Vec<f32>,
    /// Encoder bias, `hidden`.
    enc_b: Vec<f32>,
    /// Decoder weights, `cols × hidden` (row `c` produces output column `c`).
    dec_w: Vec<f32>,
    /// Decoder bias, `cols`.
    dec_b: Vec<f32>,
    /// The hidden code of every row from its training ratings, `rows × hidden`.
    codes: Vec<f32>,
    /// 1 where the row / column has a training rating, else 0.
    row_seen: Vec<f32>,
    col_seen: Vec<f32>,
    global_mean: f32,
    clip: (f32, f32),
    epochs_trained: usize,
    best_epoch: usize,
}

impl AutoRec {
    /// What a user or item without training ratings gets ([`AutoRecParams::unseen`]).
    pub fn default_rating(&self) -> f32 {
        match self.params.unseen {
            Unseen::Constant(v) => v,
            Unseen::GlobalMean => self.global_mean,
        }
    }

    /// The parameters it was trained with.
    pub fn params(&self) -> &AutoRecParams {
        &self.params
    }

    /// Epochs run, and the epoch whose weights were kept (the best on validation, else the
    /// last).
    pub fn epochs(&self) -> (usize, usize) {
        (self.epochs_trained, self.best_epoch)
    }

    /// The hidden code of every row of the rating matrix as the model reads it (items for
    /// I-AutoRec, users for U-AutoRec), `rows × hidden`, row-major.
    pub fn row_codes(&self) -> &[f32] {
        &self.codes
    }

    /// The mean of the training ratings.
    pub fn global_mean(&self) -> f32 {
        self.global_mean
    }
}
