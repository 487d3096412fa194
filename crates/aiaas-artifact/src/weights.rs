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
    let bad = |m: String| ArtifactError::Weights(m);
    let mut tensors = Vec::new();
    match network {
        Network::Int8(q) => {
            if !info.is_int8() {
                return Err(bad(
                    "an int8 model must be stored as int8-per-channel".into()
                ));
            }
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
        }
        Network::F32(mlp) => {
            for (i, l) in mlp.layers().iter().enumerate() {
                let w = mlp.weight(i);
                let name = format!("layers.{i}.weight");
                match (info.dtype, info.layout) {
                    (WeightDtype::F32, Layout::Dense) => tensors.push(Tensor::new(
                        name,
                        vec![l.outputs, l.inputs],
                        Dtype::F32,
                        le_f32(w),
                    )),
                    (WeightDtype::F16, Layout::Dense)
                        if w.iter().any(|v| v.abs() > f16::MAX.to_f32()) =>
                    {
                        return Err(bad(format!(
                            "layer {i} has weights beyond f16's range (±65504); keep it in f32"
                        )));
                    }
                    (WeightDtype::F16, Layout::Dense) => tensors.push(Tensor::new(
                        name,
                        vec![l.outputs, l.inputs],
                        Dtype::F16,
                        w.iter()
                            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
                            .collect(),
                    )),
                    (WeightDtype::F32, Layout::Sparse) => {
                        if w.len() > i32::MAX as usize {
                            return Err(bad(format!("layer {i} is too large to store sparse")));
                        }
                        let (indices, values): (Vec<i32>, Vec<f32>) = w
                            .iter()
                            .enumerate()
                            .filter(|(_, v)| **v != 0.0)
                            .map(|(k, &v)| (k as i32, v))
                            .unzip();
                        tensors.push(Tensor::new(
                            format!("{name}.indices"),
                            vec![indices.len()],
                            Dtype::I32,
                            indices.iter().flat_map(|v| v.to_le_bytes()).collect(),
                        ));
                        tensors.push(Tensor::new(
                            format!("{name}.values"),
                            vec![values.len()],
                            Dtype::F32,
                            le_f32(&values),
                        ));
                    }
                    (dtype, layout) => {
                        return Err(bad(format!(
                            "an f32 model cannot be stored as {dtype:?} {layout:?}"
                        )));
                    }
                }
                tensors.push(bias_tensor(i, mlp.bias(i)));
            }
        }
    }
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
    let bad = |m: String| ArtifactError::Weights(m);
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
    let read = |name: &str, dtype: Dtype, shape: &[usize]| -> Result<&[u8], ArtifactError> {
        let t = tensors
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
    };
    let sparse_len = |name: &str| -> Result<usize, ArtifactError> {
        let t = tensors
            .tensor(name)
            .map_err(|e| bad(format!("{name}: {e}")))?;
        match t.shape() {
            [n] => Ok(*n),
            s => Err(bad(format!(
                "{name} has shape {s:?}, expected one dimension"
            ))),
        }
    };

    if info.is_int8() {
        let (mut weights, mut biases) = (Vec::new(), Vec::new());
        for (i, l) in layers.iter().enumerate() {
            let name = format!("layers.{i}.weight");
            let values: Vec<i8> = read(&name, Dtype::I8, &[l.outputs, l.inputs])?
                .iter()
                .map(|&b| b as i8)
                .collect();
            if values.contains(&i8::MIN) {
                return Err(bad(format!(
                    "{name} holds -128; int8 weights are in [-127, 127]"
                )));
            }
            let scales = f32s(read(
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
            weights.push(QuantizedMatrix::from_parts(
                l.outputs, l.inputs, values, scales,
            ));
            biases.push(f32s(read(
                &format!("layers.{i}.bias"),
                Dtype::F32,
                &[l.outputs],
            )?));
        }
        let q = QuantizedMlp::from_parts(layers.to_vec(), weights, biases)
            .map_err(|e| bad(e.to_string()))?;
        return Ok(Network::Int8(q));
    }

    let mut params = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let name = format!("layers.{i}.weight");
        let shape = [l.outputs, l.inputs];
        match (info.dtype, info.layout) {
            (WeightDtype::F32, Layout::Dense) => {
                params.extend(f32s(read(&name, Dtype::F32, &shape)?));
            }
            (WeightDtype::F16, Layout::Dense) => params.extend(
                read(&name, Dtype::F16, &shape)?
                    .chunks_exact(2)
                    .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()),
            ),
            (WeightDtype::F32, Layout::Sparse) => {
                let (iname, vname) = (format!("{name}.indices"), format!("{name}.values"));
                let n = sparse_len(&iname)?;
                let indices = read(&iname, Dtype::I32, &[n])?;
                let values = f32s(read(&vname, Dtype::F32, &[n])?);
                let size = l.outputs * l.inputs;
                let start = params.len();
                params.resize(start + size, 0.0);
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
                    params[start + k] = v;
                    previous = Some(k);
                }
            }
            (dtype, layout) => {
                return Err(bad(format!("unsupported storage: {dtype:?} {layout:?}")));
            }
        }
        params.extend(f32s(read(
            &format!("layers.{i}.bias"),
            Dtype::F32,
            &[l.outputs],
        )?));
    }
    if params.iter().any(|p| !p.is_finite()) {
        return Err(bad("a weight or bias is not a finite number".into()));
    }
    Mlp::from_params(layers.to_vec(), params)
        .map(Network::F32)
        .map_err(|e| bad(e.to_string()))
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
