//! `weights.safetensors`, in one of four storage formats (the manifest's [`WeightsInfo`] says
//! which). Every format has one `layers.{i}.bias` tensor per layer (f32 `[outputs]`) and stores
//! the weights `[outputs, inputs]` (as PyTorch's `Linear`) as:
//!
//! - f32 dense: `layers.{i}.weight`, F32 `[outputs, inputs]`;
//! - f16 dense: `layers.{i}.weight`, F16 `[outputs, inputs]` (loaded back into f32);
//! - int8 per channel: `layers.{i}.weight`, I8 `[outputs, inputs]` in `[-127, 127]`, and
//!   `layers.{i}.weight_scale`, F32 `[outputs]` (loaded into the int8 runtime);
//! - f32 sparse: `layers.{i}.weight.indices`, I32 `[nonzero]` (flat row-major positions,
//!   strictly increasing) and `layers.{i}.weight.values`, F32 `[nonzero]`; everything else is
//!   zero. Eight bytes per kept weight, so a model pruned to sparsity `s` stores about
//!   `2·(1 - s)` of its dense size.

use crate::ArtifactError;
use crate::manifest::{Layout, Quantization, WeightDtype, WeightsInfo};
use aiaas_engine::{Mlp, Network, QuantizedMatrix, QuantizedMlp};
use aiaas_types::LayerSpec;
use half::f16;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

/// A tensor to serialize: name, shape, type and little-endian bytes.
struct Tensor {
    name: String,
    shape: Vec<usize>,
    dtype: Dtype,
    bytes: Vec<u8>,
}

impl Tensor {
    fn new(name: String, shape: Vec<usize>, dtype: Dtype, bytes: Vec<u8>) -> Self {
        Tensor {
            name,
            shape,
            dtype,
            bytes,
        }
    }
}

/// The weights file of `network` stored as `info` says. An int8 network is stored as int8; an
/// f32 network in any of the other formats.
pub fn encode(network: &Network, info: &WeightsInfo) -> Result<Vec<u8>, ArtifactError> {
    let tensors = match network {
        Network::Int8(q) if info.is_int8() => int8_tensors(q),
        Network::Int8(_) => {
            return Err(bad(
                "an int8 model must be stored as int8-per-channel".into()
            ));
        }
        Network::F32(mlp) => f32_tensors(mlp, info)?,
    };
    let views = tensors
        .iter()
        .map(|t| {
            TensorView::new(t.dtype, t.shape.clone(), &t.bytes)
                .map(|v| (t.name.clone(), v))
                .map_err(|e| bad(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, None).map_err(|e| bad(e.to_string()))
}

fn bad(message: String) -> ArtifactError {
    ArtifactError::Weights(message)
}

/// Each layer's int8 weights, their per-channel scales and its bias.
fn int8_tensors(q: &QuantizedMlp) -> Vec<Tensor> {
    let mut tensors = Vec::new();
    for (i, (w, b)) in q.layer_weights().iter().zip(q.layer_biases()).enumerate() {
        let values = w.values.iter().map(|&v| v as u8).collect();
        tensors.push(Tensor::new(
            format!("layers.{i}.weight"),
            vec![w.rows, w.cols],
            Dtype::I8,
            values,
        ));
        tensors.push(Tensor::new(
            format!("layers.{i}.weight_scale"),
            vec![w.rows],
            Dtype::F32,
            le_f32(&w.scales),
        ));
        tensors.push(bias_tensor(i, b));
    }
    tensors
}

/// Each layer's weights in the dtype and layout of `info`, and its bias.
fn f32_tensors(mlp: &Mlp, info: &WeightsInfo) -> Result<Vec<Tensor>, ArtifactError> {
    let mut tensors = Vec::new();
    for (i, l) in mlp.layers().iter().enumerate() {
        let w = mlp.weight(i);
        let name = format!("layers.{i}.weight");
        let shape = vec![l.outputs, l.inputs];
        match (info.dtype, info.layout) {
            (WeightDtype::F32, Layout::Dense) => {
                tensors.push(Tensor::new(name, shape, Dtype::F32, le_f32(w)));
            }
            (WeightDtype::F16, Layout::Dense) => tensors.push(f16_tensor(i, name, shape, w)?),
            (WeightDtype::F32, Layout::Sparse) => tensors.extend(sparse_tensors(i, &name, w)?),
            (dtype, layout) => {
                return Err(bad(format!(
                    "an f32 model cannot be stored as {dtype:?} {layout:?}"
                )));
            }
        }
        tensors.push(bias_tensor(i, mlp.bias(i)));
    }
    Ok(tensors)
}

/// Layer `layer`'s weights `w` rounded to f16, refused if any lies beyond f16's range.
fn f16_tensor(
    layer: usize,
    name: String,
    shape: Vec<usize>,
    w: &[f32],
) -> Result<Tensor, ArtifactError> {
    if w.iter().any(|v| v.abs() > f16::MAX.to_f32()) {
        return Err(bad(format!(
            "layer {layer} has weights beyond f16's range (±65504); keep it in f32"
        )));
    }
    let bytes = w
        .iter()
        .flat_map(|&v| f16::from_f32(v).to_le_bytes())
        .collect();
    Ok(Tensor::new(name, shape, Dtype::F16, bytes))
}

/// Layer `layer`'s nonzero weights `w`: `{name}.indices` (flat positions) and `{name}.values`.
fn sparse_tensors(layer: usize, name: &str, w: &[f32]) -> Result<[Tensor; 2], ArtifactError> {
    if w.len() > i32::MAX as usize {
        return Err(bad(format!("layer {layer} is too large to store sparse")));
    }
    let (indices, values): (Vec<i32>, Vec<f32>) = w
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != 0.0)
        .map(|(k, &v)| (k as i32, v))
        .unzip();
    Ok([
        Tensor::new(
            format!("{name}.indices"),
            vec![indices.len()],
            Dtype::I32,
            indices.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        Tensor::new(
            format!("{name}.values"),
            vec![values.len()],
            Dtype::F32,
            le_f32(&values),
        ),
    ])
}

fn bias_tensor(layer: usize, bias: &[f32]) -> Tensor {
    Tensor::new(
        format!("layers.{layer}.bias"),
        vec![bias.len()],
        Dtype::F32,
        le_f32(bias),
    )
}

/// Rebuild the network of `layers` from `bytes` stored as `info` says, checking every tensor's
/// type, shape and values.
pub fn decode(
    layers: &[LayerSpec],
    info: &WeightsInfo,
    bytes: &[u8],
) -> Result<Network, ArtifactError> {
    let stored = Stored(SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?);
    if info.is_int8() {
        return decode_int8(layers, &stored).map(Network::Int8);
    }
    decode_f32(layers, info, &stored).map(Network::F32)
}

/// The tensors of a weights file, read with their type and shape checked.
struct Stored<'a>(SafeTensors<'a>);

impl Stored<'_> {
    /// The bytes of tensor `name`, which must have type `dtype` and shape `shape`.
    fn read(&self, name: &str, dtype: Dtype, shape: &[usize]) -> Result<&[u8], ArtifactError> {
        let t = self
            .0
            .tensor(name)
            .map_err(|e| bad(format!("{name}: {e}")))?;
        if t.dtype() != dtype {
            return Err(bad(format!(
                "{name} is {:?}, expected {dtype:?}",
                t.dtype()
            )));
        }
        if t.shape() != shape {
            return Err(bad(format!(
                "{name} has shape {:?}, expected {shape:?}",
                t.shape()
            )));
        }
        Ok(t.data())
    }

    /// The length of the one-dimensional tensor `name` (a sparse layer's entry count).
    fn sparse_len(&self, name: &str) -> Result<usize, ArtifactError> {
        let t = self
            .0
            .tensor(name)
            .map_err(|e| bad(format!("{name}: {e}")))?;
        match t.shape() {
            [n] => Ok(*n),
            s => Err(bad(format!(
                "{name} has shape {s:?}, expected one dimension"
            ))),
        }
    }

    /// Layer `i`'s bias.
    fn bias(&self, i: usize, layer: &LayerSpec) -> Result<Vec<f32>, ArtifactError> {
        Ok(f32s(self.read(
            &format!("layers.{i}.bias"),
            Dtype::F32,
            &[layer.outputs],
        )?))
    }
}

/// The int8 runtime network: per layer, int8 weights in [-127, 127], finite non-negative
/// per-channel scales and an f32 bias.
fn decode_int8(layers: &[LayerSpec], stored: &Stored) -> Result<QuantizedMlp, ArtifactError> {
    let (mut weights, mut biases) = (Vec::new(), Vec::new());
    for (i, l) in layers.iter().enumerate() {
        weights.push(int8_weight(i, l, stored)?);
        biases.push(stored.bias(i, l)?);
    }
    QuantizedMlp::from_parts(layers.to_vec(), weights, biases).map_err(|e| bad(e.to_string()))
}

fn int8_weight(i: usize, l: &LayerSpec, stored: &Stored) -> Result<QuantizedMatrix, ArtifactError> {
    let name = format!("layers.{i}.weight");
    let values: Vec<i8> = stored
        .read(&name, Dtype::I8, &[l.outputs, l.inputs])?
        .iter()
        .map(|&b| b as i8)
        .collect();
    if values.contains(&i8::MIN) {
        return Err(bad(format!(
            "{name} holds -128; int8 weights are in [-127, 127]"
        )));
    }
    let scales = f32s(stored.read(
        &format!("layers.{i}.weight_scale"),
        Dtype::F32,
        &[l.outputs],
    )?);
    if scales.iter().any(|s| !s.is_finite() || *s < 0.0) {
        return Err(bad(format!(
            "layers.{i}.weight_scale holds a negative or non-finite scale"
        )));
    }
    if l.inputs > aiaas_engine::MAX_COLS {
        return Err(bad(format!("layer {i} has too many inputs for int8")));
    }
    Ok(QuantizedMatrix::from_parts(
        l.outputs, l.inputs, values, scales,
    ))
}

/// The f32 network, its weights stored dense (f32 or f16) or sparse as `info` says; every
/// parameter must come out finite.
fn decode_f32(
    layers: &[LayerSpec],
    info: &WeightsInfo,
    stored: &Stored,
) -> Result<Mlp, ArtifactError> {
    let mut params = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let name = format!("layers.{i}.weight");
        let shape = [l.outputs, l.inputs];
        match (info.dtype, info.layout) {
            (WeightDtype::F32, Layout::Dense) => {
                params.extend(f32s(stored.read(&name, Dtype::F32, &shape)?));
            }
            (WeightDtype::F16, Layout::Dense) => params.extend(
                stored
                    .read(&name, Dtype::F16, &shape)?
                    .chunks_exact(2)
                    .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()),
            ),
            (WeightDtype::F32, Layout::Sparse) => {
                let start = params.len();
                params.resize(start + l.outputs * l.inputs, 0.0);
                read_sparse(stored, &name, &mut params[start..])?;
            }
            (dtype, layout) => {
                return Err(bad(format!("unsupported storage: {dtype:?} {layout:?}")));
            }
        }
        params.extend(stored.bias(i, l)?);
    }
    if params.iter().any(|p| !p.is_finite()) {
        return Err(bad("a weight or bias is not a finite number".into()));
    }
    Mlp::from_params(layers.to_vec(), params).map_err(|e| bad(e.to_string()))
}

/// Writes the sparse weights `{name}.indices` / `{name}.values` into `weights`, zeroed before;
/// the positions must be strictly increasing and inside `weights`.
fn read_sparse(stored: &Stored, name: &str, weights: &mut [f32]) -> Result<(), ArtifactError> {
    let (iname, vname) = (format!("{name}.indices"), format!("{name}.values"));
    let n = stored.sparse_len(&iname)?;
    let indices = stored.read(&iname, Dtype::I32, &[n])?;
    let values = f32s(stored.read(&vname, Dtype::F32, &[n])?);
    let size = weights.len();
    let mut previous: Option<usize> = None;
    for (b, v) in indices.chunks_exact(4).zip(values) {
        let k = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let k = usize::try_from(k).ok().filter(|&k| k < size);
        let ok = k.is_some_and(|k| previous.is_none_or(|p| k > p));
        let Some(k) = k.filter(|_| ok) else {
            return Err(bad(format!(
                "{iname} must hold strictly increasing positions below {size}"
            )));
        };
        weights[k] = v;
        previous = Some(k);
    }
    Ok(())
}

fn le_f32(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The quantization scheme name the manifest records for int8 weights.
pub(crate) fn int8_info() -> WeightsInfo {
    WeightsInfo {
        dtype: WeightDtype::Int8,
        quantization: Some(Quantization::Int8PerChannel),
        layout: Layout::Dense,
    }
}
