//! BiVAE's model files: its tensors and training facts written into, and read back from,
//! the one model-file format ([`recs_core::modelfile`]).

use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::{ModelError, ModelParams as _};

use super::{BiVae, BiVaeParams};
use crate::Result;
use crate::backend::native::HostMat;
use crate::nn::{GaussianEncoder, Linear};

/// Adds `model`'s tensors (`mu_theta`, `mu_beta`, `theta`, `beta`, then each encoder's
/// layers) and training facts to `w`.
pub(super) fn write<'a>(model: &'a BiVae, w: &mut ModelWriter<'a>) -> Result<()> {
    let k = model.params.factors;
    let (n_users, n_items) = (model.n_users, model.n_items);
    w.meta_mut().training = serde_json::json!({ "epochs_trained": model.epochs_trained });
    w.f32("mu_theta", &[n_users, k], &model.mu_theta)?;
    w.f32("mu_beta", &[n_items, k], &model.mu_beta)?;
    w.f32("theta", &[n_users, k], &model.theta)?;
    w.f32("beta", &[n_items, k], &model.beta)?;
    for (side, enc) in [
        ("user_encoder", &model.user_encoder),
        ("item_encoder", &model.item_encoder),
    ] {
        for (name, m) in enc.named_params() {
            w.f32(&format!("{side}.{name}"), &[m.rows, m.cols], &m.data)?;
        }
    }
    Ok(())
}

/// Rebuilds the model from a verified file of its kind.
pub(super) fn read(file: &ModelReader) -> Result<BiVae> {
    let bad = |message: String| ModelError::File(file.error(message));
    let params: BiVaeParams = file.params()?;
    params.validate().map_err(|e| bad(e.to_string()))?;
    let k = params.factors;
    let dim = |name: &str, axis: usize| -> Result<usize> {
        file.shape(name)
            .and_then(|s| s.get(axis).copied())
            .ok_or_else(|| bad(format!("tensor `{name}` is missing")))
    };
    let n_users = dim("mu_theta", 0)?;
    let n_items = dim("mu_beta", 0)?;
    let take = |name: &str, shape: &[usize]| -> Result<Vec<f32>> { Ok(file.f32(name, shape)?) };
    let mu_theta = take("mu_theta", &[n_users, k])?;
    let mu_beta = take("mu_beta", &[n_items, k])?;
    let theta = take("theta", &[n_users, k])?;
    let beta = take("beta", &[n_items, k])?;
    let encoder = |side: &str, n_in: usize| -> Result<GaussianEncoder<HostMat>> {
        let layer = |name: String, fan_in: usize, fan_out: usize| -> Result<Linear<HostMat>> {
            let w = take(&format!("{side}.{name}.weight"), &[fan_in, fan_out])?;
            let b = take(&format!("{side}.{name}.bias"), &[1, fan_out])?;
            Ok(Linear {
                w: HostMat {
                    rows: fan_in,
                    cols: fan_out,
                    data: w,
                },
                b: HostMat {
                    rows: 1,
                    cols: fan_out,
                    data: b,
                },
            })
        };
        let mut hidden = Vec::new();
        let mut fan_in = n_in;
        for (i, &d) in params.hidden.iter().enumerate() {
            hidden.push(layer(format!("fc{i}"), fan_in, d)?);
            fan_in = d;
        }
        Ok(GaussianEncoder {
            hidden,
            act: params.act_fn,
            mu: layer("mu".into(), fan_in, k)?,
            std: layer("std".into(), fan_in, k)?,
        })
    };
    let user_encoder = encoder("user_encoder", n_items)?;
    let item_encoder = encoder("item_encoder", n_users)?;
    let epochs_trained = file
        .meta()
        .training
        .get("epochs_trained")
        .and_then(|v| v.as_u64())
        .unwrap_or(0) as usize;
    Ok(BiVae {
        params,
        n_users,
        n_items,
        mu_theta,
        mu_beta,
        theta,
        beta,
        user_encoder,
        item_encoder,
        epochs_trained,
    })
}
