//! AutoRec's model files.

use recs_core::ModelParams as _;
use std::path::Path;

use recs_core::modelfile::{ModelReader, ModelWriter};

use super::{AutoRec, AutoRecParams, MODEL_KIND};
use crate::error::Result;
use crate::persist::{self, NamedTensor};

impl AutoRec {
    /// Writes the model alone to `path` atomically (see [`crate::persist`]).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        persist::save_file(path.as_ref(), MODEL_KIND, &self.params, |w| {
            self.write_into(w)
        })
    }

    /// Reads a model written by [`AutoRec::save`] (or any writer of an `autorec` model
    /// file). A missing, truncated, corrupt or foreign file is an error saying what is wrong.
    pub fn load(path: impl AsRef<Path>) -> Result<AutoRec> {
        Self::read_from(&persist::open(path.as_ref(), &[MODEL_KIND])?)
    }

    /// Adds the model's tensors and training facts to `w`.
    pub(crate) fn write_into<'a>(&'a self, w: &mut ModelWriter<'a>) -> Result<()> {
        let h = self.params.factors;
        let (n_rows, n_cols) = (self.row_seen.len(), self.col_seen.len());
        fn t<'a>(name: &str, shape: Vec<usize>, data: &'a [f32]) -> NamedTensor<'a> {
            NamedTensor {
                name: name.into(),
                shape,
                data,
            }
        }
        let tensors = [
            t("enc_w", vec![n_cols, h], &self.enc_w),
            t("enc_b", vec![h], &self.enc_b),
            t("dec_w", vec![n_cols, h], &self.dec_w),
            t("dec_b", vec![n_cols], &self.dec_b),
            t("codes", vec![n_rows, h], &self.codes),
            t("row_seen", vec![n_rows], &self.row_seen),
            t("col_seen", vec![n_cols], &self.col_seen),
        ];
        let training = serde_json::json!({
                "epochs_trained": self.epochs_trained,
                "best_epoch": self.best_epoch,
                "global_mean": self.global_mean,
                "clip": [self.clip.0, self.clip.1],
                "n_users": self.n_users,
                "n_items": self.n_items,
        });
        persist::write_model(w, training, tensors.into())
    }

    /// Rebuilds the model from a verified file of its kind.
    pub(crate) fn read_from(file: &ModelReader) -> Result<AutoRec> {
        let bad = |message: String| persist::bad(file, message);
        let params: AutoRecParams = file.params()?;
        params.validate().map_err(|e| bad(e.to_string()))?;
        let tr = &file.meta().training;
        let num = |k: &str| {
            tr.get(k)
                .and_then(|v| v.as_f64())
                .ok_or_else(|| bad(format!("training.{k} is missing")))
        };
        let (n_users, n_items) = (num("n_users")? as usize, num("n_items")? as usize);
        let (n_rows, n_cols) = if params.item_based {
            (n_items, n_users)
        } else {
            (n_users, n_items)
        };
        let clip = tr
            .get("clip")
            .and_then(|c| Some((c.get(0)?.as_f64()? as f32, c.get(1)?.as_f64()? as f32)))
            .ok_or_else(|| bad("training.clip is missing".into()))?;
        // Clamping to a reversed or non-finite range panics: a crafted file is refused here.
        if !(clip.0.is_finite() && clip.1.is_finite() && clip.0 <= clip.1) {
            return Err(bad(format!(
                "training.clip = [{}, {}] is not a finite range lo <= hi",
                clip.0, clip.1
            )));
        }
        let h = params.factors;
        let take = |name: &str, shape: &[usize]| persist::take(file, name, shape);
        Ok(AutoRec {
            enc_w: take("enc_w", &[n_cols, h])?,
            enc_b: take("enc_b", &[h])?,
            dec_w: take("dec_w", &[n_cols, h])?,
            dec_b: take("dec_b", &[n_cols])?,
            codes: take("codes", &[n_rows, h])?,
            row_seen: take("row_seen", &[n_rows])?,
            col_seen: take("col_seen", &[n_cols])?,
            n_users,
            n_items,
            global_mean: num("global_mean")? as f32,
            clip,
            epochs_trained: num("epochs_trained")? as usize,
            best_epoch: num("best_epoch")? as usize,
            params,
        })
    }
}
