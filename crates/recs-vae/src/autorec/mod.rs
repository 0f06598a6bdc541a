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
//! The module's files: `params` (the hyper-parameters and their schema), `kernels` (the
//! vectorised forward and backward passes and the fused per-column update), `setup` (what
//! every engine trains from: the validation split, the initial weights, the codes),
//! `train` (the native engine's step and epochs, and the fit on either engine), `candle`
//! (the candle engine's step and epochs), `score` (predictions and the
//! `Scorer`/`RatingPredictor` impls), `persist` (model files) and `tests`.

#[cfg(feature = "candle")]
mod candle;
mod kernels;
mod params;
mod persist;
mod score;
mod setup;
#[cfg(test)]
mod tests;
mod train;

pub use params::{AutoRecParams, Unseen};

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{
    Capabilities, ItemVectors, ModelError, ModelParams as _, Progress, RatingPredictor,
    Recommender, TrainData,
};

use crate::Engine;

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

/// AutoRec predicts ratings (and ranks by them), and, item-based, has item vectors (each
/// item's code).
impl Recommender for AutoRec {
    const KIND: &'static str = "autorec";
    const CAPABILITIES: Capabilities = Capabilities {
        rating_prediction: true,
        item_vectors: true,
        ..Capabilities::NONE
    };
    type Params = AutoRecParams;

    /// Trains with `params` on `data.matrix` (ratings) on the engine `params.device` names
    /// ([`Engine::from_device`]); see [`AutoRec::fit_on`].
    fn fit(
        params: &AutoRecParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        params.validate()?;
        Self::fit_on(
            params,
            data,
            &Engine::from_device(&params.device)?,
            progress,
        )
    }

    fn params(&self) -> &AutoRecParams {
        &self.params
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        persist::write(self, out)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        persist::read(file)
    }

    fn rating_predictor(&self) -> Option<&dyn RatingPredictor> {
        Some(self)
    }

    fn item_vectors(&self) -> Option<ItemVectors<'_>> {
        self.params.item_based.then(|| ItemVectors {
            data: self.row_codes(),
            dim: self.params.factors,
        })
    }
}
