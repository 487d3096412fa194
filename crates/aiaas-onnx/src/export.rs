//! A dense network written as an ONNX file that ONNX Runtime, Triton or a browser runs: one
//! `Gemm` (and its activation) per layer, then the head: `Softmax` probabilities and the label
//! (`ArgMax`, then `Gather` from the label strings), `Sigmoid` for a single-logit classifier, or
//! the value back in its target's units. Input scaling is the caller's to fold into the first
//! layer; what comes here is plain matrices.

use crate::OnnxError;
use aiaas_types::Activation;
use prost::Message;
use std::collections::BTreeMap;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType as OnnxType;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;

/// The opset the files declare (every operator written here is in it).
const OPSET: i64 = 17;

/// One dense layer: `activation(x W^T + b)`.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseLayer {
    /// `outputs x inputs`, row-major.
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    pub inputs: usize,
    pub outputs: usize,
    pub activation: Activation,
}

/// What the last layer's outputs mean.
#[derive(Clone, Debug, PartialEq)]
pub enum Head {
    /// Class scores: `probabilities` FP32 `[N, C]` and `label` BYTES `[N]`. One output is the
    /// logit of `labels[1]` (a sigmoid), more are one logit per label (a softmax).
    Classes { labels: Vec<String> },
    /// One value: `prediction` FP32 `[N, 1]`, `logit * scale + mean`.
    Value { mean: f32, scale: f32 },
}

/// A dense network with its head, as [`write`] takes it.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseGraph {
    /// The graph's name (the model's, for people reading the file).
    pub name: String,
    /// The one input, FP32 `[N, layers[0].inputs]`.
    pub input: String,
    pub layers: Vec<DenseLayer>,
    pub head: Head,
    /// Written into the file's `metadata_props`.
    pub metadata: BTreeMap<String, String>,
}

/// The `.onnx` bytes of `graph`; refused when its layers do not chain.
pub fn write(graph: &DenseGraph) -> Result<Vec<u8>, OnnxError> {
    let unservable = |why: String| Err(OnnxError::Unservable(why));
    let Some(first) = graph.layers.first() else {
        return unservable("a network without layers cannot be exported".into());
    };
    let mut b = Builder::default();
    let mut x = graph.input.clone();
    let mut width = first.inputs;
    for (l, layer) in graph.layers.iter().enumerate() {
        if layer.inputs != width
            || layer.weights.len() != layer.inputs * layer.outputs
            || layer.bias.len() != layer.outputs
        {
            return unservable(format!("layer {l} does not fit the layer before it"));
        }
        let w = b.floats(
            &format!("w{l}"),
            &[layer.outputs, layer.inputs],
            &layer.weights,
        );
        let bias = b.floats(&format!("b{l}"), &[layer.outputs], &layer.bias);
        let z = b.node(
            "Gemm",
            &[&x, &w, &bias],
            &format!("z{l}"),
            &[int("transB", 1)],
        );
        x = match layer.activation {
            Activation::Identity => z,
            Activation::Relu => b.node("Relu", &[&z], &format!("a{l}"), &[]),
            Activation::Tanh => b.node("Tanh", &[&z], &format!("a{l}"), &[]),
            Activation::Sigmoid => b.node("Sigmoid", &[&z], &format!("a{l}"), &[]),
        };
        width = layer.outputs;
    }
    let outputs = match &graph.head {
        Head::Classes { labels } => {
            let fits = labels.len() == width || (width == 1 && labels.len() == 2);
            if !fits {
                return unservable(format!("{width} outputs for {} labels", labels.len()));
            }
            let probabilities = if width == 1 {
                let p = b.node("Sigmoid", &[&x], "p", &[]);
                let one = b.floats("one", &[], &[1.0]);
                let q = b.node("Sub", &[&one, &p], "q", &[]);
                b.node("Concat", &[&q, &p], "probabilities", &[int("axis", 1)])
            } else {
                b.node("Softmax", &[&x], "probabilities", &[int("axis", 1)])
            };
            let class = b.node(
                "ArgMax",
                &[&probabilities],
                "class",
                &[int("axis", 1), int("keepdims", 0)],
            );
            let names = b.strings("labels", labels);
            let label = b.node("Gather", &[&names, &class], "label", &[]);
            vec![
                value_info(
                    &probabilities,
                    OnnxType::Float,
                    &["batch", &labels.len().to_string()],
                ),
                value_info(&label, OnnxType::String, &["batch"]),
            ]
        }
        Head::Value { mean, scale } => {
            if width != 1 {
                return unservable(format!("{width} outputs for one value"));
            }
            let scale = b.floats("scale", &[], &[*scale]);
            let mean = b.floats("mean", &[], &[*mean]);
            let scaled = b.node("Mul", &[&x, &scale], "scaled", &[]);
            let prediction = b.node("Add", &[&scaled, &mean], "prediction", &[]);
            vec![value_info(&prediction, OnnxType::Float, &["batch", "1"])]
        }
    };
    let input = value_info(
        &graph.input,
        OnnxType::Float,
        &["batch", &first.inputs.to_string()],
    );
    let model = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "aiaas".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        metadata_props: (graph.metadata.iter())
            .map(|(key, value)| pb::StringStringEntryProto {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        graph: Some(pb::GraphProto {
            name: graph.name.clone(),
            node: b.nodes,
            initializer: b.initializers,
            input: vec![input],
            output: outputs,
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(model.encode_to_vec())
}

/// The nodes and weights of a graph being written.
#[derive(Default)]
struct Builder {
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
}

impl Builder {
    /// Adds an `op` node reading `inputs`, writing `output`; returns `output`.
    fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        output: &str,
        attributes: &[pb::AttributeProto],
    ) -> String {
        self.nodes.push(pb::NodeProto {
            op_type: op.into(),
            name: output.into(),
            input: inputs.iter().map(|i| i.to_string()).collect(),
            output: vec![output.into()],
            attribute: attributes.to_vec(),
            ..Default::default()
        });
        output.into()
    }

    /// An FP32 weight of `dims`; returns its name.
    fn floats(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        self.initializers.push(pb::TensorProto {
            name: name.into(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: OnnxType::Float as i32,
            float_data: values.to_vec(),
            ..Default::default()
        });
        name.into()
    }

    /// A one-dimensional STRING constant; returns its name.
    fn strings(&mut self, name: &str, values: &[String]) -> String {
        self.initializers.push(pb::TensorProto {
            name: name.into(),
            dims: vec![values.len() as i64],
            data_type: OnnxType::String as i32,
            string_data: values.iter().map(|v| v.clone().into_bytes()).collect(),
            ..Default::default()
        });
        name.into()
    }
}

fn int(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

/// A tensor's declaration: its element type and shape, a name for an axis that varies, a number
/// for a fixed one (`["batch", "4"]`).
pub fn value_info(name: &str, elem: OnnxType, dims: &[&str]) -> pb::ValueInfoProto {
    let dim = |d: &&str| pb::tensor_shape_proto::Dimension {
        value: Some(match d.parse::<i64>() {
            Ok(n) => Dim::DimValue(n),
            Err(_) => Dim::DimParam(d.to_string()),
        }),
        ..Default::default()
    };
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims.iter().map(dim).collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}
