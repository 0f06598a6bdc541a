//! AutoRec's model files: its tensors and training facts written into, and read back from,
//! the one model-file format ([`recs_core::modelfile`]).

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{ModelError, ModelParams as _};

use super::{AutoRec, AutoRecParams};
use crate::Result;

/// Adds `model`'s tensors (`enc_w`, `enc_b`, `dec_w`, `dec_b`, `codes`, `row_seen`,
/// `col_seen`) and training facts to `w`.
pub(super) fn write<'a>(model: &'a AutoRec, w: &mut ModelWriter<'a>) -> Result<()> {
    let h = model.params.factors;
    let (n_rows, n_cols) = (model.row_seen.len(), model.col_seen.len());
    w.meta_mut().training = serde_json::json!({
            "epochs_trained": model.epochs_trained,
            "best_epoch": model.best_epoch,
            "global_mean": model.global_mean,
            "clip": [model.clip.0, model.clip.1],
            "n_users": model.n_users,
            "n_items": model.n_items,
    });
    w.f32("enc_w", &[n_cols, h], &model.enc_w)?;
    w.f32("enc_b", &[h], &model.enc_b)?;
    w.f32("dec_w", &[n_cols, h], &model.dec_w)?;
    w.f32("dec_b", &[n_cols], &model.dec_b)?;
    w.f32("codes", &[n_rows, h], &model.codes)?;
    w.f32("row_seen", &[n_rows], &model.row_seen)?;
    w.f32("col_seen", &[n_cols], &model.col_seen)?;
    Ok(())
}

/// Rebuilds the model from a verified file of its kind.
pub(super) fn read(file: &ModelReader) -> Result<AutoRec> {
    let bad = |message: String| ModelError::File(file.error(message));
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
    let take = |name: &str, shape: &[usize]| -> Result<Vec<f32>> { Ok(file.f32(name, shape)?) };
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
