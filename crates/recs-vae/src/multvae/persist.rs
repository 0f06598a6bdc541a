//! Mult-VAE's and Mult-DAE's model files.

use std::path::Path;

use super::layout::layout;
use super::{MODEL_KIND_DAE, MODEL_KIND_VAE, MultVae, MultVaeParams};
use crate::error::{Result, VaeError};
use crate::persist::{self, ModelMeta, NamedTensor};

impl MultVae {
    /// Writes the model atomically in the recs model-file format.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
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
        let mut meta = ModelMeta::new(
            self.params.kind(),
            env!("CARGO_PKG_VERSION"),
            serde_json::to_value(&self.params).map_err(|e| VaeError::InvalidData(e.to_string()))?,
        );
        meta.training = serde_json::json!({
            "epochs_trained": self.epochs_trained,
            "best_epoch": self.best_epoch,
            "n_items": self.n_items,
        });
        meta.extra = self.extra.clone();
        persist::write_model(path.as_ref(), meta, &tensors)
    }

    /// Reads a model written by [`MultVae::save`] (either kind).
    pub fn load(path: impl AsRef<Path>) -> Result<MultVae> {
        let path = path.as_ref();
        let bad = |message: String| VaeError::BadModelFile {
            path: path.to_path_buf(),
            message,
        };
        let kind = recs_modelfile::peek(path)
            .map_err(|e| bad(e.to_string()))?
            .model;
        if kind != MODEL_KIND_VAE && kind != MODEL_KIND_DAE {
            return Err(bad(format!(
                "it holds a `{kind}` model, not a Mult-VAE/DAE"
            )));
        }
        let (meta, mut tensors) = persist::read_model(path, &kind)?;
        let params: MultVaeParams = serde_json::from_value(meta.params.clone())
            .map_err(|e| bad(format!("unreadable params: {e}")))?;
        params.validate().map_err(|e| bad(e.to_string()))?;
        let num = |k: &str| {
            meta.training
                .get(k)
                .and_then(|v| v.as_u64())
                .ok_or_else(|| bad(format!("training.{k} is missing")))
        };
        let n_items = num("n_items")? as usize;
        let (layers, n_enc, n_params) = layout(&params, n_items);
        let mut theta = vec![0.0f32; n_params];
        for (i, l) in layers.iter().enumerate() {
            let w = persist::take(
                path,
                &mut tensors,
                &format!("layer{i}.weight"),
                &[l.fan_in, l.fan_out],
            )?;
            theta[l.w..l.w + w.len()].copy_from_slice(&w);
            let b = persist::take(path, &mut tensors, &format!("layer{i}.bias"), &[l.fan_out])?;
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
            extra: meta.extra.clone(),
        })
    }
}
