//! The RecVAE model: a trained network with the rows of its users, fitted from
//! [`TrainData`] (with validation users when it brings held-out items), saved and loaded,
//! scoring known users from their rows and new ones from their items.

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{
    Capabilities, FoldIn, ItemVectors, ModelError, ModelParams as _, Progress, Recommender,
    ScoreError, Scorer, TrainData,
};
use recs_sparse::CsrMatrix;

use super::net;
use super::train::{self, Data, Trained};
use super::{RecVaeParams, persist};
use crate::train::validation_split;
use crate::{Engine, Result};

/// RecVAE with the rows of the users it was trained on: a known user is scored by encoding
/// their row, a new one by encoding their items.
#[derive(Debug)]
pub struct RecVaeModel {
    params: RecVaeParams,
    pub(super) net: Trained,
    rows: CsrMatrix,
    /// Each item's column of the decoder's weight (`n_items × factors`).
    item_vectors: Vec<f32>,
}

impl RecVaeModel {
    pub(super) fn new(params: RecVaeParams, net: Trained, rows: CsrMatrix) -> Self {
        let (k, n) = (net.layout.factors, net.layout.n_items);
        let mut item_vectors = vec![0.0f32; n * k];
        for c in 0..k {
            for (j, &w) in net.dec[c * n..(c + 1) * n].iter().enumerate() {
                item_vectors[j * k + c] = w;
            }
        }
        Self {
            params,
            net,
            rows,
            item_vectors,
        }
    }

    /// The users' rows (binarized).
    pub fn rows(&self) -> &CsrMatrix {
        &self.rows
    }

    /// Epochs run, and the epoch whose weights were kept.
    pub fn epochs(&self) -> (usize, usize) {
        (self.net.epochs_trained, self.net.best_epoch)
    }

    /// The trait's `fit` on a chosen [`Engine`] (e.g. a CUDA device opened once), whatever
    /// `params.device` says.
    pub fn fit_on(
        params: &RecVaeParams,
        data: &TrainData<'_>,
        engine: &Engine,
        progress: &mut dyn Progress,
    ) -> Result<Self> {
        params.validate()?;
        let rows = data.matrix.binarize();
        let net = match data.validation {
            None => train::fit(
                params,
                Data {
                    train: &rows,
                    validation: None,
                },
                engine,
                progress,
            )?,
            Some(held_out) => {
                let (fit_rows, fold_in, held_out) = validation_split(&rows, held_out)?;
                let data = Data {
                    train: &fit_rows,
                    validation: Some((&fold_in, &held_out)),
                };
                train::fit(params, data, engine, progress)?
            }
        };
        Ok(Self::new(params.clone(), net, rows))
    }

    /// Logits of `rows` of `x`, checked.
    fn score_rows(&self, x: &CsrMatrix, users: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        let n = self.net.layout.n_items;
        if let Some(&u) = users.iter().find(|&&u| u as usize >= x.n_rows()) {
            return Err(ScoreError::UnknownUser {
                user: u,
                n_users: x.n_rows(),
            });
        }
        if out.len() != users.len() * n {
            return Err(ScoreError::BufferLength {
                got: out.len(),
                expected: users.len() * n,
            });
        }
        out.copy_from_slice(&net::logits(
            &self.net.layout,
            &self.net.enc,
            &self.net.dec,
            x,
            users,
        ));
        Ok(())
    }
}

impl Scorer for RecVaeModel {
    fn n_users(&self) -> usize {
        self.rows.n_rows()
    }

    fn n_items(&self) -> usize {
        self.net.layout.n_items
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        self.score_rows(&self.rows, &[user], out)
    }

    fn score_users(&self, users: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        self.score_rows(&self.rows, users, out)
    }
}

impl FoldIn for RecVaeModel {
    fn score_items(&self, items: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        let row = crate::kernels::rows::items_row(items, self.net.layout.n_items)?;
        self.score_rows(&row, &[0], out)
    }
}

/// RecVAE ranks, has item vectors (each item's column of the decoder's weight), folds in
/// users it never saw from their items, and scores a batch of users in one forward pass.
impl Recommender for RecVaeModel {
    const KIND: &'static str = "recvae";
    const CAPABILITIES: Capabilities = Capabilities {
        item_vectors: true,
        fold_in: true,
        batch_scoring: true,
        ..Capabilities::NONE
    };
    type Params = RecVaeParams;

    /// Trains with `params` on `data.matrix` (users × items, binarized; the model keeps
    /// these rows and scores its users by encoding them) on the engine `params.device`
    /// names ([`Engine::from_device`]), reporting each epoch's `"loss"` (the encoder passes'
    /// mean negative ELBO) and `"decoder_nll"`.
    ///
    /// With `data.validation` (held-out items, the shape of `data.matrix`), the users with
    /// held-out items are validation users, as in Liang et al.'s protocol: they are not
    /// trained on; after every epoch each is encoded from their `data.matrix` row, their
    /// held-out items ranked, the mean NDCG@100 reported as `"validation_ndcg@100"` and the
    /// best epoch's weights kept (with `params.patience`, training stops after that many
    /// epochs without improvement).
    fn fit(
        params: &RecVaeParams,
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

    fn params(&self) -> &RecVaeParams {
        &self.params
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        persist::write(&self.net, out)?;
        out.seen(&self.rows)?;
        Ok(())
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        let params: RecVaeParams = file.params()?;
        let net = persist::read(file, &params)?;
        let n_users = file
            .shape(recs_core::modelfile::SEEN_INDPTR)
            .and_then(|s| s.first())
            .map_or(0, |n| n.saturating_sub(1));
        let rows = file
            .seen(n_users, net.layout.n_items)?
            .ok_or_else(|| file.error("a RecVAE file needs its users' rows (data.seen.*)"))?;
        Ok(Self::new(params, net, rows))
    }

    fn fold_in(&self) -> Option<&dyn FoldIn> {
        Some(self)
    }

    fn item_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: &self.item_vectors,
            dim: self.net.layout.factors,
        })
    }
}
