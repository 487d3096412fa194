//! One ONNX model: read and checked, described, run.

use crate::OnnxError;
use crate::dense::{DenseNet, NativeForm};
use crate::tensor::{self, Tensor, Values};
use aiaas_types::{GraphEngine, OnnxSource, TensorSpec};
use std::collections::HashSet;
use tract_onnx::pb;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;
use tract_onnx::prelude::*;

/// A model ready to run: its engine and what it takes and gives.
pub struct OnnxModel {
    engine: Engine,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
    source: OnnxSource,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("source", &self.source)
            .field("engine", &self.engine())
            .finish_non_exhaustive()
    }
}

/// What computes a model's outputs.
enum Engine {
    /// tract's optimized plan.
    Tract(Arc<TypedRunnableModel>),
    /// A plain dense network on the native engine (see the `dense` module).
    Native(DenseNet),
}

impl OnnxModel {
    /// Reads, checks and optimizes the model in `bytes` (an `.onnx` file; weights kept outside
    /// the file are not read). Every reason it cannot be served is found here, not at the first
    /// request: bytes that are not ONNX, operators the runtime lacks (all of them named), an input
    /// or output of a datatype that is not served, shapes that cannot be resolved.
    pub fn read(bytes: &[u8]) -> Result<OnnxModel, OnnxError> {
        let onnx = tract_onnx::onnx();
        let mut proto = onnx
            .proto_model_for_read(&mut &*bytes)
            .map_err(|e| OnnxError::NotOnnx(format!("{e:#}")))?;
        name_unnamed_axes(&mut proto);
        let graph = match &proto.graph {
            Some(graph) if proto.ir_version > 0 && !graph.output.is_empty() => graph,
            _ => {
                return Err(OnnxError::NotOnnx(
                    "the file holds no graph with outputs".into(),
                ));
            }
        };
        let source = OnnxSource {
            ir_version: proto.ir_version,
            opset: proto
                .opset_import
                .iter()
                .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
                .map_or(0, |o| o.version),
            producer_name: proto.producer_name.clone(),
            producer_version: proto.producer_version.clone(),
            metadata: (proto.metadata_props.iter())
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect(),
        };
        // Inputs that are also initializers are weights with a default, not inputs to serve.
        let weights: HashSet<&str> = graph.initializer.iter().map(|t| &*t.name).collect();
        let inputs = (graph.input.iter())
            .filter(|i| !weights.contains(&*i.name))
            .map(input_spec)
            .collect::<Result<Vec<_>, _>>()?;
        if inputs.is_empty() {
            return Err(OnnxError::Unservable("the graph takes no inputs".into()));
        }
        let parsed = onnx
            .parse(&proto, None)
            .map_err(|e| OnnxError::Unservable(format!("{e:#}")))?;
        let mut missing: Vec<String> = (parsed.model.nodes().iter())
            .filter_map(|node| {
                let name = node.op.name();
                let op = name.strip_prefix("Unimplemented(")?.strip_suffix(')')?;
                Some(op.to_string())
            })
            .collect();
        if !missing.is_empty() {
            missing.sort();
            missing.dedup();
            return Err(OnnxError::Unsupported(missing));
        }
        let model = (parsed.model.into_optimized())
            .map_err(|e| OnnxError::Unservable(format!("its shapes or types: {e:#}")))?;
        let outputs = (graph.output.iter().enumerate())
            .map(|(i, output)| output_spec(&model, i, &output.name))
            .collect::<Result<Vec<_>, _>>()?;
        let plan = model
            .into_runnable()
            .map_err(|e| OnnxError::Unservable(format!("{e:#}")))?;
        let engine = match DenseNet::read(graph, &inputs, &outputs) {
            Some(net) if answers_as_tract(&net, &plan, &inputs[0]) => Engine::Native(net),
            _ => Engine::Tract(plan),
        };
        Ok(OnnxModel {
            engine,
            inputs,
            outputs,
            source,
        })
    }

    /// What the model takes, in the graph's order.
    pub fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }

    /// What the model gives, in the graph's order.
    pub fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    pub fn source(&self) -> &OnnxSource {
        &self.source
    }

    /// What runs the model: the native engine for a plain dense network, tract for the rest.
    pub fn engine(&self) -> GraphEngine {
        match self.engine {
            Engine::Tract(_) => GraphEngine::Tract,
            Engine::Native(_) => GraphEngine::Native,
        }
    }

    /// The native engine's form of a plain dense network (when [`OnnxModel::engine`] is
    /// native), to adopt it as a model trained here.
    pub fn native(&self) -> Option<NativeForm<'_>> {
        match &self.engine {
            Engine::Native(net) => Some(net.form()),
            Engine::Tract(_) => None,
        }
    }

    /// Runs the model on one tensor per input, in [`OnnxModel::inputs`]'s order; answers one
    /// tensor per output. Each tensor is checked against its spec first.
    pub fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, OnnxError> {
        if inputs.len() != self.inputs.len() {
            let names: Vec<&str> = self.inputs.iter().map(|s| &*s.name).collect();
            return Err(OnnxError::BadInput(format!(
                "the model takes {} inputs ({}), not {}",
                names.len(),
                names.join(", "),
                inputs.len()
            )));
        }
        for (spec, tensor) in self.inputs.iter().zip(&inputs) {
            tensor::check(spec, tensor)?;
        }
        match &self.engine {
            Engine::Tract(plan) => run_tract(plan, inputs),
            Engine::Native(net) => Ok(net.run(&inputs[0])),
        }
    }
}

/// Runs `plan` on `inputs`, already checked against its inputs.
fn run_tract(
    plan: &Arc<TypedRunnableModel>,
    inputs: Vec<Tensor>,
) -> Result<Vec<Tensor>, OnnxError> {
    let values = (inputs.into_iter())
        .map(|t| Ok(t.into_tract()?.into_tvalue()))
        .collect::<Result<TVec<_>, OnnxError>>()?;
    // tract checks some inputs only by panicking (an index past a `Gather` table): that is
    // this input's failure, and the plan, which a run does not change, stays usable.
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| plan.run(values)));
    let outputs = match run {
        Ok(outputs) => outputs.map_err(|e| OnnxError::Run(format!("{e:#}")))?,
        Err(panic) => {
            let why = (panic.downcast_ref::<&str>().copied())
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("the runtime stopped on it");
            return Err(OnnxError::Run(why.to_string()));
        }
    };
    outputs
        .iter()
        .map(|t| Tensor::of_tract(t).map_err(OnnxError::Run))
        .collect()
}

/// Whether `net` answers as tract's `plan` does on a few probe rows for `input` (FP32
/// `[N, F]`): values within 1e-4 of tract's (relative above 1), classes equal.
fn answers_as_tract(net: &DenseNet, plan: &Arc<TypedRunnableModel>, input: &TensorSpec) -> bool {
    const ROWS: usize = 3;
    let features = input.shape[1] as usize;
    // Spread over [-2, 2], different in every column and row.
    let x = (0..ROWS * features)
        .map(|i| ((i * 37 + 11) % 101) as f32 / 25.0 - 2.0)
        .collect();
    let probe = Tensor {
        shape: vec![ROWS, features],
        values: Values::Fp32(x),
    };
    let Ok(want) = run_tract(plan, vec![probe.clone()]) else {
        return false;
    };
    let got = net.run(&probe);
    got.len() == want.len()
        && got.iter().zip(&want).all(|(g, w)| {
            g.shape == w.shape
                && match (&g.values, &w.values) {
                    (Values::Fp32(g), Values::Fp32(w)) => {
                        (g.iter().zip(w)).all(|(a, b)| (a - b).abs() <= 1e-4 * b.abs().max(1.0))
                    }
                    (g, w) => g == w,
                }
        })
}

/// Gives every input axis declared with neither a size nor a name (as skl2onnx writes a batch
/// axis) a name, so that tract treats it as a symbol rather than an unknown it cannot plan for.
/// Unnamed first axes share one name: they are the batch, the same for every input.
fn name_unnamed_axes(proto: &mut pb::ModelProto) {
    let Some(graph) = proto.graph.as_mut() else {
        return;
    };
    for input in &mut graph.input {
        let name = input.name.clone();
        let Some(pb::type_proto::Value::TensorType(tensor)) =
            input.r#type.as_mut().and_then(|t| t.value.as_mut())
        else {
            continue;
        };
        let Some(shape) = tensor.shape.as_mut() else {
            continue;
        };
        for (axis, dim) in shape.dim.iter_mut().enumerate() {
            let unnamed = match &dim.value {
                None => true,
                Some(Dim::DimParam(p)) => p.is_empty(),
                Some(Dim::DimValue(_)) => false,
            };
            if unnamed {
                let param = match axis {
                    0 => "unnamed_batch".to_string(),
                    _ => format!("unnamed_{name}_{axis}"),
                };
                dim.value = Some(Dim::DimParam(param));
            }
        }
    }
}

/// An input as the graph declares it: a tensor of a served datatype and known rank.
fn input_spec(value: &pb::ValueInfoProto) -> Result<TensorSpec, OnnxError> {
    let unservable = |why: String| OnnxError::Unservable(format!("input {:?} {why}", value.name));
    let Some(pb::type_proto::Value::TensorType(tensor)) =
        value.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(unservable("is not a tensor".into()));
    };
    let datatype = tensor::datatype_of_onnx(tensor.elem_type).map_err(|name| {
        unservable(format!(
            "is {name}; the datatypes served are FP32, FP16, INT64, INT32, BOOL and BYTES"
        ))
    })?;
    let Some(shape) = &tensor.shape else {
        return Err(unservable(
            "declares no shape, so its rank is unknown".into(),
        ));
    };
    let shape = (shape.dim.iter())
        .map(|d| match d.value {
            Some(Dim::DimValue(n)) if n > 0 => n,
            _ => -1,
        })
        .collect();
    Ok(TensorSpec {
        name: value.name.clone(),
        datatype,
        shape,
    })
}

/// Output `i` as the optimized model computes it: its datatype and shape, `-1` where the size
/// depends on the inputs.
fn output_spec(model: &TypedModel, i: usize, name: &str) -> Result<TensorSpec, OnnxError> {
    let fact = model
        .output_fact(i)
        .map_err(|e| OnnxError::Unservable(format!("output {name:?}: {e:#}")))?;
    let datatype = tensor::datatype_of_tract(fact.datum_type).ok_or_else(|| {
        OnnxError::Unservable(format!(
            "output {name:?} is {:?}; the datatypes served are FP32, FP16, INT64, INT32, BOOL \
             and BYTES",
            fact.datum_type
        ))
    })?;
    let shape = (fact.shape.iter())
        .map(|d| d.to_i64().unwrap_or(-1))
        .collect();
    Ok(TensorSpec {
        name: name.to_string(),
        datatype,
        shape,
    })
}
