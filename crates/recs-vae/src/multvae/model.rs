//! The Mult-VAE and Mult-DAE models: a network with the rows of its users, fitted from
//! [`TrainData`] (with validation users when it brings held-out items), saved and loaded,
//! scoring known users from their rows and new ones from their items.

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{
    Capabilities, FoldIn, ItemVectors, ModelError, ModelParams as _, ParamError, Progress,
    Recommender, ScoreError, Scorer, TrainData,
};
use recs_sparse::CsrMatrix;

use crate::train::validation_split;

use super::{MultVae, MultVaeData, MultVaeParams, persist, train};
use crate::{Engine, Result};

/// A Mult-VAE (or, in [`MultDaeModel`], Mult-DAE) with the rows of the users it was trained
/// on: a known user is scored by encoding their row, a new one by encoding their items.
#[derive(Debug)]
pub struct MultVaeModel {
    net: MultVae,
    rows: CsrMatrix,
    /// The decoder's output weights per item (`similar` and Python's `item_factors`).
    item_vectors: (Vec<f32>, usize),
}

/// Mult-DAE: the same network without the variational layer (`variational = false`).
#[derive(Debug)]
pub struct MultDaeModel(MultVaeModel);

/// The kind of the model whose params have this `variational`.
fn kind(variational: bool) -> &'static str {
    if variational {
        MultVaeModel::KIND
    } else {
        MultDaeModel::KIND
    }
}

/// Refuses params of the other kind (`variational` must be `want`).
fn check_kind(params: &MultVaeParams, want: bool) -> Result<()> {
    if params.variational == want {
        return Ok(());
    }
    let allowed = if want {
        "true for multvae (multdae is the denoising one)"
    } else {
        "false for multdae (multvae is the variational one)"
    };
    Err(ParamError::new("variational", params.variational, allowed).into())
}

impl MultVaeModel {
    /// The model of `net` with the users' rows `rows`.
    pub(super) fn new(net: MultVae, rows: CsrMatrix) -> Self {
        let item_vectors = net.output_item_vectors();
        Self {
            net,
            rows,
            item_vectors,
        }
    }

    /// The network.
    pub fn net(&self) -> &MultVae {
        &self.net
    }

    /// The users' rows (binarized).
    pub fn rows(&self) -> &CsrMatrix {
        &self.rows
    }

    /// The trait's `fit` on a chosen [`Engine`] (e.g. a CUDA device opened once), whatever
    /// `params.device` says; `params.variational` must be true.
    pub fn fit_on(
        params: &MultVaeParams,
        data: &TrainData<'_>,
        engine: &Engine,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        check_kind(params, true)?;
        Self::fit_rows(params, data, engine, progress)
    }

    /// Binarizes `data.matrix` and trains the network on it, validating on the users with
    /// held-out items in `data.validation` (see the `Recommender` impl).
    fn fit_rows(
        params: &MultVaeParams,
        data: &TrainData<'_>,
        engine: &Engine,
        progress: &mut dyn Progress,
    ) -> Result<Self> {
        params.validate()?;
        let rows = data.matrix.binarize();
        let net = match data.validation {
            None => train::fit(params, &MultVaeData::new(&rows), engine, progress)?,
            Some(held_out) => {
                let (fit_rows, fold_in, held_out) = validation_split(&rows, held_out)?;
                let data = MultVaeData::new(&fit_rows).with_validation(&fold_in, &held_out);
                train::fit(params, &data, engine, progress)?
            }
        };
        Ok(Self::new(net, rows))
    }

    fn write<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<()> {
        persist::write(&self.net, out)?;
        out.seen(&self.rows)?;
        Ok(())
    }

    fn read(file: &ModelReader, variational: bool) -> Result<Self> {
        let params: MultVaeParams = file.params()?;
        if params.variational != variational {
            return Err(file
                .error(format!(
                    "params describe a `{}` model, the file a `{}` one",
                    kind(params.variational),
                    file.kind()
                ))
                .into());
        }
        let net = persist::read(file)?;
        let n_users = file
            .shape(recs_core::modelfile::SEEN_INDPTR)
            .and_then(|s| s.first())
            .map_or(0, |n| n.saturating_sub(1));
        let rows = file
            .seen(n_users, net.n_items())?
            .ok_or_else(|| file.error("a Mult-VAE/DAE file needs its users' rows (data.seen.*)"))?;
        Ok(Self::new(net, rows))
    }
}

impl Scorer for MultVaeModel {
    fn n_users(&self) -> usize {
        self.rows.n_rows()
    }

    fn n_items(&self) -> usize {
        self.net.n_items()
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        self.net.scorer(&self.rows).score_user(user, out)
    }

    fn score_users(&self, users: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        self.net.scorer(&self.rows).score_users(users, out)
    }
}

impl FoldIn for MultVaeModel {
    fn score_items(&self, items: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        let row = crate::kernels::rows::items_row(items, self.net.n_items())?;
        self.net.scorer(&row).score_user(0, out)
    }
}

/// Mult-VAE ranks, has item vectors (each item's row of the decoder's output layer), folds
/// in users it never saw from their items, and scores a batch of users in one forward pass.
impl Recommender for MultVaeModel {
    const KIND: &'static str = "multvae";
    const CAPABILITIES: Capabilities = Capabilities {
        item_vectors: true,
        fold_in: true,
        batch_scoring: true,
        ..Capabilities::NONE
    };
    type Params = MultVaeParams;

    /// Trains with `params` (`variational` must be true) on `data.matrix` (users × items,
    /// binarized; the model keeps these rows and scores its users by encoding them) on the
    /// engine `params.device` names ([`Engine::from_device`]), reporting each epoch's
    /// `"loss"` (the batch-mean negative ELBO).
    ///
    /// With `data.validation` (held-out items, the shape of `data.matrix`), the users with
    /// held-out items are validation users, as in Liang et al.'s protocol: they are not
    /// trained on; after every epoch each is encoded from their `data.matrix` row and their
    /// held-out items are ranked among the items not in that row, the mean NDCG@100 is
    /// reported as `"validation_ndcg@100"`, and the best epoch's weights are kept (with
    /// `params.patience`, training stops after that many epochs without improvement).
    /// [`Control::Stop`](recs_core::Control::Stop) ends training early, keeping the best
    /// epoch's weights with validation, else the current ones.
    fn fit(
        params: &MultVaeParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        check_kind(params, true)?;
        params.validate()?;
        Self::fit_rows(
            params,
            data,
            &Engine::from_device(&params.device)?,
            progress,
        )
    }

    fn params(&self) -> &MultVaeParams {
        self.net.params()
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        self.write(out)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        Self::read(file, true)
    }

    fn fold_in(&self) -> Option<&dyn FoldIn> {
        Some(self)
    }

    fn item_vectors(&self) -> Option<ItemVectors<'_>> {
        Some(ItemVectors {
            data: &self.item_vectors.0,
            dim: self.item_vectors.1,
        })
    }
}

impl MultDaeModel {
    /// The Mult-VAE/DAE model it wraps (the network and the users' rows).
    pub fn model(&self) -> &MultVaeModel {
        &self.0
    }

    /// The trait's `fit` on a chosen [`Engine`], whatever `params.device` says;
    /// `params.variational` must be false.
    pub fn fit_on(
        params: &MultVaeParams,
        data: &TrainData<'_>,
        engine: &Engine,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        check_kind(params, false)?;
        MultVaeModel::fit_rows(params, data, engine, progress).map(MultDaeModel)
    }
}

impl Scorer for MultDaeModel {
    fn n_users(&self) -> usize {
        self.0.n_users()
    }

    fn n_items(&self) -> usize {
        self.0.n_items()
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        self.0.score_user(user, out)
    }

    fn score_users(&self, users: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        self.0.score_users(users, out)
    }
}

/// Mult-DAE offers what Mult-VAE does.
impl Recommender for MultDaeModel {
    const KIND: &'static str = "multdae";
    const CAPABILITIES: Capabilities = Capabilities {
        item_vectors: true,
        fold_in: true,
        batch_scoring: true,
        ..Capabilities::NONE
    };
    type Params = MultVaeParams;

    /// As [`MultVaeModel`]'s `fit` (validation included), with `params.variational` false.
    fn fit(
        params: &MultVaeParams,
        data: &TrainData<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        check_kind(params, false)?;
        params.validate()?;
        MultVaeModel::fit_rows(
            params,
            data,
            &Engine::from_device(&params.device)?,
            progress,
        )
        .map(MultDaeModel)
    }

    fn params(&self) -> &MultVaeParams {
        self.0.net.params()
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        self.0.write(out)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        MultVaeModel::read(file, false).map(MultDaeModel)
    }

    fn fold_in(&self) -> Option<&dyn FoldIn> {
        Some(&self.0)
    }

    fn item_vectors(&self) -> Option<ItemVectors<'_>> {
        Recommender::item_vectors(&self.0)
    }
}
