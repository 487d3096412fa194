//! `weights.safetensors`: one `layers.{i}.weight` (`[outputs, inputs]`, as PyTorch's `Linear`)
//! and one `layers.{i}.bias` tensor per layer, little-endian f32.

use crate::ArtifactError;
use aiaas_engine::Mlp;
use aiaas_types::LayerSpec;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

pub fn encode(mlp: &Mlp) -> Result<Vec<u8>, ArtifactError> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = mlp
        .layers()
        .iter()
        .enumerate()
        .flat_map(|(i, l)| {
            [
                (
                    format!("layers.{i}.weight"),
                    vec![l.outputs, l.inputs],
                    le_bytes(mlp.weight(i)),
                ),
                (
                    format!("layers.{i}.bias"),
                    vec![l.outputs],
                    le_bytes(mlp.bias(i)),
                ),
            ]
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, data)| {
            TensorView::new(Dtype::F32, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| ArtifactError::Weights(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, None).map_err(|e| ArtifactError::Weights(e.to_string()))
}

/// Rebuild the network of `layers` from `bytes`, checking every tensor's type and shape.
pub fn decode(layers: &[LayerSpec], bytes: &[u8]) -> Result<Mlp, ArtifactError> {
    let bad = |m: String| ArtifactError::Weights(m);
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
    let mut params = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        for (name, shape) in [
            (format!("layers.{i}.weight"), vec![l.outputs, l.inputs]),
            (format!("layers.{i}.bias"), vec![l.outputs]),
        ] {
            let t = tensors
                .tensor(&name)
                .map_err(|e| bad(format!("{name}: {e}")))?;
            if t.dtype() != Dtype::F32 {
                return Err(bad(format!("{name} is {:?}, expected F32", t.dtype())));
            }
            if t.shape() != shape.as_slice() {
                return Err(bad(format!(
                    "{name} has shape {:?}, expected {shape:?}",
                    t.shape()
                )));
            }
            params.extend(
                t.data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
        }
    }
    Mlp::from_params(layers.to_vec(), params).map_err(|e| bad(e.to_string()))
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}
