//! Mult-VAE's and Mult-DAE's model files.

use recs_core::ModelParams as _;
use std::path::Path;

use super::layout::layout;
use super::{MODEL_KIND_DAE, MODEL_KIND_VAE, MultVae, MultVaeParams};
use recs_core::modelfile::{ModelReader, ModelWriter};

use crate::error::Result;
use crate::persist::{self, NamedTensor};

impl MultVae {
    /// Writes the network alone atomically in the recs model-file format (without the
    /// users' rows, which `MultVaeModel` adds).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        persist::save_file(path.as_ref(), self.params.kind(), &self.params, |w| {
            self.write_into(w)
        })
    }

    /// Reads a network written by [`MultVae::save`] (either kind).
    pub fn load(path: impl AsRef<Path>) -> Result<MultVae> {
        Self::read_from(&persist::open(
            path.as_ref(),
            &[MODEL_KIND_VAE, MODEL_KIND_DAE],
        )?)
    }

    /// Adds the network's tensors and training facts to `w`.
    pub(crate) fn write_into<'a>(&'a self, w: &mut ModelWriter<'a>) -> Result<()> {
        let names: Vec<(String, String)> = (0..self.layers.len())
            .map(|i| (format!("layer{i}.weight"), format!("layer{i}.bias")))
            .collect();
        let mut tensors = Vec::new();
        for (l, (wn, bn)) in self.layers.iter().zip(&names) {
            tensors.push(NamedTensor {
                name: wn.clone(),
                shape: vec![l.fan_in, l.fan_out],
                data: &self.theta[l.w..l.w + l.fan_in * l.fan_out],
            });
            tensors.push(NamedTensor {
                name: bn.clone(),
                shape: vec![l.fan_out],
                data: &self.theta[l.b..l.b + l.fan_out],
            });
        }
        let training = serde_json::json!({
            "epochs_trained": self.epochs_trained,
            "best_epoch": self.best_epoch,
            "n_items": self.n_items,
        });
        persist::write_model(w, training, tensors)
    }

    /// Rebuilds the network from a verified file of either kind.
    pub(crate) fn read_from(file: &ModelReader) -> Result<MultVae> {
        let bad = |message: String| persist::bad(file, message);
        let params: MultVaeParams = file.params()?;
        params.validate().map_err(|e| bad(e.to_string()))?;
        if params.kind() != file.kind() {
            return Err(bad(format!(
                "params describe a `{}` model, the file a `{}` one",
                params.kind(),
                file.kind()
            )));
        }
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
            let w = persist::take(file, &format!("layer{i}.weight"), &[l.fan_in, l.fan_out])?;
            theta[l.w..l.w + w.len()].copy_from_slice(&w);
            let b = persist::take(file, &format!("layer{i}.bias"), &[l.fan_out])?;
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
}
