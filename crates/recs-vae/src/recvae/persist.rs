//! RecVAE's model files: the encoder's and decoder's tensors and the training facts in the
//! one model-file format ([`recs_core::modelfile`]); the users' rows are the model's.

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{ModelError, ModelParams as _};

use super::RecVaeParams;
use super::net::Layout;
use super::train::Trained;
use crate::Result;

/// Adds the network's tensors (`encoder.*`, `decoder.weight`, `decoder.bias`) and training
/// facts to `w`.
pub(super) fn write<'a>(net: &'a Trained, w: &mut ModelWriter<'a>) -> Result<()> {
    let l = net.layout;
    w.meta_mut().training = serde_json::json!({
        "epochs_trained": net.epochs_trained,
        "best_epoch": net.best_epoch,
        "n_items": l.n_items,
    });
    for (name, at, shape) in l.tensors() {
        let len: usize = shape.iter().product();
        w.f32(&name, &shape, &net.enc[at..at + len])?;
    }
    let kn = l.factors * l.n_items;
    w.f32("decoder.weight", &[l.factors, l.n_items], &net.dec[..kn])?;
    w.f32("decoder.bias", &[l.n_items], &net.dec[kn..])?;
    Ok(())
}

/// Rebuilds the network from a verified file whose params are `params`.
pub(super) fn read(file: &ModelReader, params: &RecVaeParams) -> Result<Trained> {
    let bad = |message: String| ModelError::File(file.error(message));
    params.validate().map_err(|e| bad(e.to_string()))?;
    let num = |k: &str| {
        file.meta()
            .training
            .get(k)
            .and_then(|v| v.as_u64())
            .ok_or_else(|| bad(format!("training.{k} is missing")))
    };
    let n_items = num("n_items")?;
    if n_items > u32::MAX as u64 + 1 {
        return Err(bad(format!(
            "training.n_items = {n_items} is more than 2^32 (indices are 32-bit)"
        )));
    }
    let l = Layout::new(n_items as usize, params.hidden_dim, params.factors);
    // Every tensor must be in the file with the shape the params and `n_items` give before
    // anything is allocated: a crafted size allocates nothing.
    let mut tensors = l.tensors();
    let kn = l.factors * l.n_items;
    tensors.push(("decoder.weight".into(), 0, vec![l.factors, l.n_items]));
    tensors.push(("decoder.bias".into(), kn, vec![l.n_items]));
    for (name, _, shape) in &tensors {
        if file.shape(name) != Some(shape.as_slice()) {
            return Err(bad(format!(
                "tensor `{name}` is missing or not of shape {shape:?}"
            )));
        }
    }
    let (mut enc, mut dec) = (vec![0.0f32; l.len], vec![0.0f32; l.dec_len()]);
    let n_enc = tensors.len() - 2;
    for (i, (name, at, shape)) in tensors.iter().enumerate() {
        let v = file.f32(name, shape)?;
        let target = if i < n_enc { &mut enc } else { &mut dec };
        target[*at..*at + v.len()].copy_from_slice(&v);
    }
    Ok(Trained {
        layout: l,
        enc,
        dec,
        epochs_trained: num("epochs_trained")? as usize,
        best_epoch: num("best_epoch")? as usize,
    })
}
