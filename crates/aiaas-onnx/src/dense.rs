//! Graphs that are plain dense networks, run on the native engine instead of tract.
//!
//! A graph qualifies when its one FP32 input `[N, F]` flows through a chain of layers, each a
//! `Gemm` or a `MatMul` by a weight matrix, then any `Add` of a bias or `Mul` by a scale (they fold
//! into the layer), then at most one `Relu`, `Tanh` or `Sigmoid`; and when each output is the last
//! layer's values, their `Softmax`, or the class their `ArgMax` picks, looked up or not in a table
//! of class values (`Gather`, `ArrayFeatureExtractor`). That is how PyTorch's `nn.Sequential`,
//! scikit-learn's `MLPClassifier` (skl2onnx) and this platform's own export write a network. A
//! `LinearClassifier` (skl2onnx's `LogisticRegression`, with its L1 `Normalizer` of the softmax)
//! is one such layer with its class head.
//! `Identity`, a `Cast` of values to FP32 or of a class to INT64, and `Flatten` or `Reshape` of a
//! class pass through. Any other node, or a value used off the chain, leaves the graph to tract.
//!
//! [`OnnxModel::read`](crate::OnnxModel::read) uses what is found here only when it answers as
//! tract does on probe rows, so a graph read wrong here is still served right.

use crate::tensor::{Tensor, Values};
use aiaas_engine::{Mlp, argmax_rows, softmax_rows};
use aiaas_types::{Activation, DataType, LayerSpec, TensorSpec};
use std::collections::HashMap;
use tract_onnx::data_resolver::FopenDataResolver;
use tract_onnx::pb;
use tract_onnx::prelude::{Datum, DatumType, Tensor as TractTensor};
use tract_onnx::tensor::load_tensor;

/// A dense network and how each graph output is made from its last layer's values.
#[derive(Debug)]
pub(crate) struct DenseNet {
    mlp: Mlp,
    outputs: Vec<(Head, TensorSpec)>,
}

/// What one output holds, per row.
#[derive(Clone, Debug, PartialEq)]
enum Head {
    /// The last layer's values.
    Values,
    /// Their softmax.
    Softmax,
    /// The index of the largest, or the class value at that index.
    Class(Option<ClassTable>),
}

#[derive(Clone, Debug, PartialEq)]
enum ClassTable {
    Int64(Vec<i64>),
    Strings(Vec<String>),
}

impl ClassTable {
    fn len(&self) -> usize {
        match self {
            ClassTable::Int64(t) => t.len(),
            ClassTable::Strings(t) => t.len(),
        }
    }
}

/// A dense graph as the native engine holds it (see [`OnnxModel::native`]).
///
/// [`OnnxModel::native`]: crate::OnnxModel::native
#[derive(Clone, Debug)]
pub struct NativeForm<'a> {
    /// The network, up to its last layer's values (the logits of a classifier's softmax).
    pub network: &'a Mlp,
    /// When an output is the class the graph picks: the class of each of the network's
    /// outputs, in order (the graph's class table, or `0`, `1`, ... when it answers the index).
    pub classes: Option<Vec<String>>,
}

impl DenseNet {
    pub(crate) fn form(&self) -> NativeForm<'_> {
        let classes = self.outputs.iter().find_map(|(head, _)| match head {
            Head::Class(None) => Some((0..self.mlp.outputs()).map(|c| c.to_string()).collect()),
            Head::Class(Some(ClassTable::Int64(t))) => Some(t.iter().map(i64::to_string).collect()),
            Head::Class(Some(ClassTable::Strings(t))) => Some(t.clone()),
            Head::Values | Head::Softmax => None,
        });
        NativeForm {
            network: &self.mlp,
            classes,
        }
    }

    /// The network `graph` is, when it is one (see the module's description); `input` and
    /// `outputs` are the graph's, as tract resolved them.
    pub(crate) fn read(
        graph: &pb::GraphProto,
        input: &[TensorSpec],
        outputs: &[TensorSpec],
    ) -> Option<DenseNet> {
        let [input] = input else { return None };
        let features = match input.shape[..] {
            [_, f] if f > 0 && input.datatype == DataType::Fp32 => f as usize,
            _ => return None,
        };
        let mut chain = Chain::new(features);
        let mut values: HashMap<&str, Sym> = HashMap::new();
        // Weights of a type the matcher has no use for fail the match only if a node reads them.
        for init in &graph.initializer {
            if let Some(value) = constant(init) {
                values.insert(&init.name, Sym::Const(value));
            }
        }
        values
            .entry(&input.name)
            .or_insert(Sym::Rows(chain.state()));
        for node in &graph.node {
            let args = (node.input.iter())
                .map(|name| values.get(name.as_str()))
                .collect::<Option<Vec<_>>>()?;
            match (&node.output[..], &args[..]) {
                ([label, scores], [Sym::Rows(s)]) if node.op_type == "LinearClassifier" => {
                    let [l, p] = chain.linear_classifier(node, *s)?;
                    values.insert(label.as_str(), l);
                    values.insert(scores.as_str(), p);
                }
                ([output], _) => {
                    let sym = chain.step(node, &args)?;
                    values.insert(output.as_str(), sym);
                }
                _ => return None,
            }
        }
        let state = chain.state();
        let width = chain.width();
        let mlp = chain.finish()?;
        let outputs = (graph.output.iter().zip(outputs))
            .map(|(value, spec)| {
                let head = match values.get(value.name.as_str())? {
                    Sym::Rows(s) if *s == state => Head::Values,
                    Sym::Softmax(s) if *s == state => Head::Softmax,
                    Sym::Class(s, table) if *s == state => Head::Class(table.clone()),
                    _ => return None,
                };
                head.fits(spec, width).then(|| (head, spec.clone()))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(DenseNet { mlp, outputs })
    }

    /// The outputs for `input`, a tensor already checked against the graph's input.
    pub(crate) fn run(&self, input: &Tensor) -> Vec<Tensor> {
        let Values::Fp32(x) = &input.values else {
            unreachable!("the input was checked to be FP32");
        };
        let rows = input.shape[0];
        let width = self.mlp.outputs();
        let values = self.mlp.predict(x, rows, 1);
        self.outputs
            .iter()
            .map(|(head, spec)| {
                let values = match head {
                    Head::Values => Values::Fp32(values.clone()),
                    Head::Softmax => {
                        let mut p = values.clone();
                        softmax_rows(&mut p, width);
                        Values::Fp32(p)
                    }
                    Head::Class(table) => {
                        let classes = argmax_rows(&values, width).into_iter();
                        match table {
                            None => Values::Int64(classes.map(|c| c as i64).collect()),
                            Some(ClassTable::Int64(t)) => {
                                Values::Int64(classes.map(|c| t[c]).collect())
                            }
                            Some(ClassTable::Strings(t)) => {
                                Values::Bytes(classes.map(|c| t[c].clone()).collect())
                            }
                        }
                    }
                };
                let shape = (spec.shape.iter())
                    .enumerate()
                    .map(|(axis, &d)| if axis == 0 { rows } else { d as usize })
                    .collect();
                Tensor { shape, values }
            })
            .collect()
    }
}

impl Head {
    /// Whether `spec` (an output as tract resolved it) can hold this head's values for a
    /// network of `width` outputs: the datatype they have, rows along the first axis.
    fn fits(&self, spec: &TensorSpec, width: usize) -> bool {
        let (datatype, per_row) = match self {
            Head::Values | Head::Softmax => (DataType::Fp32, width),
            Head::Class(None | Some(ClassTable::Int64(_))) => (DataType::Int64, 1),
            Head::Class(Some(ClassTable::Strings(_))) => (DataType::Bytes, 1),
        };
        let table_fits = match self {
            Head::Class(Some(table)) => table.len() == width,
            _ => true,
        };
        let cells = spec.shape.iter().skip(1).try_fold(1usize, |n, &d| {
            (d > 0).then(|| n.checked_mul(d as usize)).flatten()
        });
        table_fits
            && spec.datatype == datatype
            && spec.shape.first() == Some(&-1)
            && cells == Some(per_row)
    }
}

/// Where a value stands on the chain: after `layers` layers, with the last one's activation
/// still to come (`open`) or applied, after `edits` changes to the chain. A value is usable only
/// while the chain stands where it did when the value was made: anything else reads a layer that
/// has changed since.
#[derive(Clone, Copy, Debug, PartialEq)]
struct State {
    layers: usize,
    open: bool,
    edits: usize,
}

/// A value of the graph, as far as the matcher understands it.
#[derive(Clone, Debug)]
enum Sym {
    Const(TractTensor),
    Rows(State),
    Softmax(State),
    Class(State, Option<ClassTable>),
}

/// One layer being read: `activation(x W^T + b)`, `weights` `outputs x inputs` row-major.
struct Layer {
    inputs: usize,
    outputs: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
    /// `None` while no activation has been applied (the layer is open).
    activation: Option<Activation>,
}

/// The layers read so far.
struct Chain {
    features: usize,
    layers: Vec<Layer>,
    edits: usize,
}

impl Chain {
    fn new(features: usize) -> Chain {
        Chain {
            features,
            layers: Vec::new(),
            edits: 0,
        }
    }

    fn state(&self) -> State {
        State {
            layers: self.layers.len(),
            open: self.layers.last().is_some_and(|l| l.activation.is_none()),
            edits: self.edits,
        }
    }

    /// The width of the values at the end of the chain.
    fn width(&self) -> usize {
        self.layers.last().map_or(self.features, |l| l.outputs)
    }

    /// The symbol `node` makes from `args`, or `None` when it is not part of a dense chain.
    fn step(&mut self, node: &pb::NodeProto, args: &[&Sym]) -> Option<Sym> {
        let now = self.state();
        let current = |s: &State| *s == now;
        let attr = |name: &str| attribute(node, name);
        let int = |name: &str, default: i64| attr(name).map_or(default, |a| a.i);
        let float = |name: &str| attr(name).map_or(1.0, |a| a.f);
        match (node.op_type.as_str(), args) {
            ("Constant", []) => {
                let value = attr("value")?.t.as_ref()?;
                Some(Sym::Const(constant(value)?))
            }
            ("Identity", [s]) => Some((*s).clone()),
            ("Cast", [s]) => {
                let to = int("to", 0);
                let float_to = pb::tensor_proto::DataType::Float as i64;
                let int64_to = pb::tensor_proto::DataType::Int64 as i64;
                match s {
                    Sym::Rows(_) | Sym::Softmax(_) if to == float_to => Some((*s).clone()),
                    Sym::Class(_, None | Some(ClassTable::Int64(_))) if to == int64_to => {
                        Some((*s).clone())
                    }
                    _ => None,
                }
            }
            ("Flatten", [s @ Sym::Class(..)])
            | ("Reshape", [s @ Sym::Class(..), Sym::Const(_)]) => Some((*s).clone()),
            ("Flatten", [Sym::Rows(s)]) if int("axis", 1) == 1 => Some(Sym::Rows(*s)),
            ("Gemm", [Sym::Rows(s), Sym::Const(w), bias @ ..]) if current(s) && bias.len() <= 1 => {
                if int("transA", 0) != 0 {
                    return None;
                }
                let bias = match bias {
                    [Sym::Const(c)] => Some(c),
                    [] => None,
                    _ => return None,
                };
                self.layer(w, int("transB", 0) != 0, float("alpha"))?;
                if let Some(c) = bias {
                    self.add(c, float("beta"))?;
                }
                Some(Sym::Rows(self.state()))
            }
            ("MatMul", [Sym::Rows(s), Sym::Const(w)]) if current(s) => {
                self.layer(w, false, 1.0)?;
                Some(Sym::Rows(self.state()))
            }
            ("Add", [Sym::Rows(s), Sym::Const(c)] | [Sym::Const(c), Sym::Rows(s)])
                if current(s) && s.open =>
            {
                self.add(c, 1.0)?;
                Some(Sym::Rows(self.state()))
            }
            ("Mul", [Sym::Rows(s), Sym::Const(c)] | [Sym::Const(c), Sym::Rows(s)])
                if current(s) && s.open =>
            {
                self.scale(c)?;
                Some(Sym::Rows(self.state()))
            }
            ("Relu" | "Tanh" | "Sigmoid", [Sym::Rows(s)]) if current(s) && s.open => {
                let activation = match node.op_type.as_str() {
                    "Relu" => Activation::Relu,
                    "Tanh" => Activation::Tanh,
                    _ => Activation::Sigmoid,
                };
                self.layers.last_mut()?.activation = Some(activation);
                self.edits += 1;
                Some(Sym::Rows(self.state()))
            }
            ("Softmax", [Sym::Rows(s)]) if current(s) && s.layers > 0 => {
                matches!(int("axis", -1), -1 | 1).then_some(Sym::Softmax(*s))
            }
            ("ArgMax", [Sym::Rows(s) | Sym::Softmax(s)]) if current(s) && s.layers > 0 => {
                let last_axis = matches!(int("axis", 0), -1 | 1);
                (last_axis && int("select_last_index", 0) == 0).then_some(Sym::Class(*s, None))
            }
            // An L1 normalization of probabilities changes nothing.
            ("Normalizer", [p @ Sym::Softmax(_)]) => {
                let l1 = attr("norm").is_some_and(|a| a.s == b"L1");
                l1.then(|| (*p).clone())
            }
            ("ArrayFeatureExtractor", [Sym::Const(t), Sym::Class(s, None)])
            | ("Gather", [Sym::Const(t), Sym::Class(s, None)]) => {
                if node.op_type == "Gather" && int("axis", 0) != 0 {
                    return None;
                }
                Some(Sym::Class(*s, Some(class_table(t)?)))
            }
            _ => None,
        }
    }

    /// The `label` and scores of ONNX-ML's `LinearClassifier` (as skl2onnx writes a
    /// `LogisticRegression`) on the values at `s`: one layer of its coefficients and intercepts,
    /// the scores its softmax (`post_transform` `SOFTMAX`) or the layer's values (`NONE`), the
    /// label the class at the largest score.
    fn linear_classifier(&mut self, node: &pb::NodeProto, s: State) -> Option<[Sym; 2]> {
        let attr = |name: &str| attribute(node, name);
        let table = match (attr("classlabels_ints"), attr("classlabels_strings")) {
            (Some(ints), None) => ClassTable::Int64(ints.ints.clone()),
            (None, Some(strings)) => ClassTable::Strings(
                (strings.strings.iter())
                    .map(|s| String::from_utf8(s.clone()).ok())
                    .collect::<Option<_>>()?,
            ),
            _ => return None,
        };
        let classes = table.len();
        let coefficients = &attr("coefficients")?.floats;
        let intercepts = &attr("intercepts")?.floats;
        let width = self.width();
        if s != self.state() || classes < 2 || coefficients.len() != classes * width {
            return None;
        }
        let w = TractTensor::from_shape(&[classes, width], coefficients).ok()?;
        let b = TractTensor::from_shape(&[classes], intercepts).ok()?;
        self.layer(&w, true, 1.0)?;
        self.add(&b, 1.0)?;
        let at = self.state();
        let scores = match attr("post_transform").map(|a| a.s.as_slice()) {
            None | Some(b"NONE") => Sym::Rows(at),
            Some(b"SOFTMAX") => Sym::Softmax(at),
            _ => return None,
        };
        Some([Sym::Class(at, Some(table)), scores])
    }

    /// Starts a layer whose weights are `w` (`inputs x outputs`, or `outputs x inputs` when
    /// `transposed`) times `alpha`, closing the open layer before it with no activation.
    fn layer(&mut self, w: &TractTensor, transposed: bool, alpha: f32) -> Option<()> {
        let [a, b] = w.shape() else { return None };
        let (outputs, inputs) = if transposed { (*a, *b) } else { (*b, *a) };
        if inputs != self.width() || outputs == 0 {
            return None;
        }
        let values = floats(w)?;
        let weights = (0..outputs * inputs)
            .map(|i| {
                let (o, k) = (i / inputs, i % inputs);
                let at = if transposed { i } else { k * outputs + o };
                values[at] * alpha
            })
            .collect();
        if let Some(open) = self.layers.last_mut() {
            open.activation.get_or_insert(Activation::Identity);
        }
        self.edits += 1;
        self.layers.push(Layer {
            inputs,
            outputs,
            weights,
            bias: vec![0.0; outputs],
            activation: None,
        });
        Some(())
    }

    /// Adds `c` times `beta` to the open layer's bias (`c` one value per output, or one for all).
    fn add(&mut self, c: &TractTensor, beta: f32) -> Option<()> {
        let layer = self.layers.last_mut()?;
        let c = per_output(c, layer.outputs)?;
        for (b, c) in layer.bias.iter_mut().zip(c) {
            *b += c * beta;
        }
        self.edits += 1;
        Some(())
    }

    /// Multiplies the open layer's outputs by `c` (one value per output, or one for all).
    fn scale(&mut self, c: &TractTensor) -> Option<()> {
        let layer = self.layers.last_mut()?;
        let c = per_output(c, layer.outputs)?;
        for (o, c) in c.into_iter().enumerate() {
            layer.weights[o * layer.inputs..(o + 1) * layer.inputs]
                .iter_mut()
                .for_each(|w| *w *= c);
            layer.bias[o] *= c;
        }
        self.edits += 1;
        Some(())
    }

    /// The network read, its open last layer closed with no activation.
    fn finish(self) -> Option<Mlp> {
        if self.layers.is_empty() {
            return None;
        }
        let mut specs = Vec::with_capacity(self.layers.len());
        let mut params = Vec::new();
        for layer in self.layers {
            specs.push(LayerSpec {
                inputs: layer.inputs,
                outputs: layer.outputs,
                activation: layer.activation.unwrap_or(Activation::Identity),
            });
            params.extend(layer.weights);
            params.extend(layer.bias);
        }
        Mlp::from_params(specs, params).ok()
    }
}

/// `node`'s attribute `name`, if it is set.
fn attribute<'n>(node: &'n pb::NodeProto, name: &str) -> Option<&'n pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// An initializer or `Constant` node's value; `None` for a type the matcher has no use for.
fn constant(t: &pb::TensorProto) -> Option<TractTensor> {
    use pb::tensor_proto::DataType as T;
    let used = [T::Float, T::Int64, T::Int32, T::String].map(|t| t as i32);
    // tract reads strings only from `string_data` (it panics on raw bytes of them).
    let raw_strings = t.data_type == T::String as i32 && !t.raw_data.is_empty();
    if !used.contains(&t.data_type) || raw_strings {
        return None;
    }
    load_tensor(&FopenDataResolver, t, None).ok()
}

fn floats(t: &TractTensor) -> Option<Vec<f32>> {
    values(t)
}

/// `t`'s values in row-major order, when they are `T`s.
fn values<T: Datum + Clone>(t: &TractTensor) -> Option<Vec<T>> {
    Some(t.to_plain_array_view::<T>().ok()?.iter().cloned().collect())
}

/// `c` as one value per output, as it broadcasts over `[N, outputs]`: `[outputs]` or
/// `[1, outputs]`, or a single value repeated.
fn per_output(c: &TractTensor, outputs: usize) -> Option<Vec<f32>> {
    let values = floats(c)?;
    let (last, before) = c.shape().split_last().unwrap_or((&1, &[]));
    if before.iter().any(|&d| d != 1) {
        return None;
    }
    match *last {
        n if n == outputs => Some(values),
        1 => Some(vec![values[0]; outputs]),
        _ => None,
    }
}

fn class_table(t: &TractTensor) -> Option<ClassTable> {
    if t.rank() != 1 {
        return None;
    }
    match t.datum_type() {
        DatumType::I64 => values(t).map(ClassTable::Int64),
        // skl2onnx writes integer classes as INT32 and casts the label to INT64 after.
        DatumType::I32 => {
            let classes = values::<i32>(t)?;
            Some(ClassTable::Int64(
                classes.into_iter().map(i64::from).collect(),
            ))
        }
        DatumType::String => values(t).map(ClassTable::Strings),
        _ => None,
    }
}
