//! Mult-VAE's and Mult-DAE's model files: the network's layers and training facts written
//! into, and read back from, the one model-file format ([`recs_core::modelfile`]) (the
//! users' rows are the model's, in `model`).

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{ModelError, ModelParams as _};

use super::layout::layout;
use super::{MultVae, MultVaeParams};
use crate::Result;

/// Adds `net`'s tensors (`layer{i}.weight`, `layer{i}.bias` for every layer) and training
/// facts to `w`.
pub(super) fn write<'a>(net: &'a MultVae, w: &mut ModelWriter<'a>) -> Result<()> {
    w.meta_mut().training = serde_json::json!({
        "epochs_trained": net.epochs_trained,
        "best_epoch": net.best_epoch,
        "n_items": net.n_items,
    });
    for (i, l) in net.layers.iter().enumerate() {
        let weight = &net.theta[l.w..l.w + l.fan_in * l.fan_out];
        w.f32(&format!("layer{i}.weight"), &[l.fan_in, l.fan_out], weight)?;
        w.f32(
            &format!("layer{i}.bias"),
            &[l.fan_out],
            &net.theta[l.b..l.b + l.fan_out],
        )?;
    }
    Ok(())
}

/// Rebuilds the network from a verified file of either kind (the caller checks that its
/// params describe the file's kind).
pub(super) fn read(file: &ModelReader) -> Result<MultVae> {
    let bad = |message: String| ModelError::File(file.error(message));
    let params: MultVaeParams = file.params()?;
    params.validate().map_err(|e| bad(e.to_string()))?;
    let num = |k: &str| {
        file.meta()
            .training
            .get(k)
            .and_then(|v| v.as_u64())
            .ok_or_else(|| bad(format!("training.{k} is missing")))
    };
    // The sizes come from the metadata: every layer's tensors must be in the file with
    // the shapes they give before the parameter vector is allocated, so that its size
    // is bounded by the file's (a crafted `n_items` allocates nothing).
    let n_items = num("n_items")?;
    if n_items > u32::MAX as u64 + 1 {
        return Err(bad(format!(
            "training.n_items = {n_items} is more than 2^32 (indices are 32-bit)"
        )));
    }
    let n_items = n_items as usize;
    let (layers, n_enc, n_params) = layout(&params, n_items);
    for (i, l) in layers.iter().enumerate() {
        for (name, shape) in [
            (format!("layer{i}.weight"), vec![l.fan_in, l.fan_out]),
            (format!("layer{i}.bias"), vec![l.fan_out]),
        ] {
            if file.shape(&name) != Some(shape.as_slice()) {
                return Err(bad(format!(
                    "tensor `{name}` is missing or not of shape {shape:?}"
                )));
            }
        }
    }
    let mut theta = vec![0.0f32; n_params];
    for (i, l) in layers.iter().enumerate() {
        let w = file.f32(&format!("layer{i}.weight"), &[l.fan_in, l.fan_out])?;
        theta[l.w..l.w + w.len()].copy_from_slice(&w);
        let b = file.f32(&format!("layer{i}.bias"), &[l.fan_out])?;
        theta[l.b..l.b + b.len()].copy_from_slice(&b);
    }
    Ok(MultVae {
        params,
        n_items,
        layers,
        n_enc,
        theta,
        epochs_trained: num("epochs_trained")? as usize,
        best_epoch: num("best_epoch")? as usize,
    })
}
