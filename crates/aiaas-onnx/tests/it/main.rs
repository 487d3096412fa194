//! aiaas-onnx on models built here from ONNX's protobuf messages: a dense network with a dynamic
//! batch, one with a fixed batch, graphs the runtime must refuse, and bad requests.

use aiaas_onnx::export::value_info as value;
use aiaas_onnx::{DataType, OnnxError, OnnxModel, Tensor, TensorSpec, Values};
use aiaas_types::GraphEngine;
use prost::Message;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType as Onnx;

fn weights(name: &str, dims: &[i64], values: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: Onnx::Float as i32,
        float_data: values.to_vec(),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: format!("{op}_{output}"),
        ..Default::default()
    }
}

fn model(graph: pb::GraphProto) -> Vec<u8> {
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        producer_name: "aiaas-tests".into(),
        producer_version: "1".into(),
        metadata_props: vec![pb::StringStringEntryProto {
            key: "labels".into(),
            value: "a,b".into(),
        }],
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

/// y = relu(x · Wᵀ + b) with W 2x3, x of shape [batch, 3].
const W: [f32; 6] = [1.0, -2.0, 0.5, 0.0, 1.0, 1.0];
const B: [f32; 2] = [0.25, -1.0];

/// `z = x · Wᵀ + b`.
fn gemm() -> pb::NodeProto {
    let mut gemm = node("Gemm", &["x", "W", "b"], "z");
    gemm.attribute.push(pb::AttributeProto {
        name: "transB".into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: 1,
        ..Default::default()
    });
    gemm
}

fn dense(batch: &str) -> Vec<u8> {
    let gemm = gemm();
    model(pb::GraphProto {
        name: "dense".into(),
        node: vec![gemm, node("Relu", &["z"], "y")],
        initializer: vec![weights("W", &[2, 3], &W), weights("b", &[2], &B)],
        input: vec![value("x", Onnx::Float, &[batch, "3"])],
        output: vec![value("y", Onnx::Float, &[batch, "2"])],
        ..Default::default()
    })
}

fn expected(x: &[f32]) -> Vec<f32> {
    x.chunks(3)
        .flat_map(|row| {
            (0..2).map(move |o| {
                let z: f32 = (0..3).map(|i| row[i] * W[o * 3 + i]).sum::<f32>() + B[o];
                z.max(0.0)
            })
        })
        .collect()
}

fn fp32(shape: &[usize], values: &[f32]) -> Tensor {
    Tensor {
        shape: shape.to_vec(),
        values: Values::Fp32(values.to_vec()),
    }
}

/// `got` and `want` of the same shapes, values within 1e-5 (relative above 1).
fn assert_close(got: &[Tensor], want: &[Tensor]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.shape, w.shape);
        let (Values::Fp32(a), Values::Fp32(b)) = (&g.values, &w.values) else {
            panic!("{g:?} vs {w:?}")
        };
        let off = (a.iter().zip(b)).any(|(a, b)| (a - b).abs() > 1e-5 * b.abs().max(1.0));
        assert!(!off, "{a:?} vs {b:?}");
    }
}

#[test]
fn a_dense_network_with_a_dynamic_batch_runs_at_any_batch() {
    let model = OnnxModel::read(&dense("N")).unwrap();
    assert_eq!(
        model.inputs(),
        [TensorSpec {
            name: "x".into(),
            datatype: DataType::Fp32,
            shape: vec![-1, 3],
        }]
    );
    assert_eq!(model.outputs()[0].name, "y");
    assert_eq!(model.outputs()[0].datatype, DataType::Fp32);
    assert_eq!(model.outputs()[0].shape, [-1, 2]);
    assert!(model.inputs()[0].batched());
    assert_eq!(model.engine(), GraphEngine::Native);
    let source = model.source();
    assert_eq!((source.opset, source.ir_version), (17, 8));
    assert_eq!(source.producer_name, "aiaas-tests");
    assert_eq!(source.metadata["labels"], "a,b");

    for rows in [1, 3] {
        let x: Vec<f32> = (0..rows * 3).map(|i| i as f32 * 0.5 - 1.0).collect();
        let y = model.run(vec![fp32(&[rows, 3], &x)]).unwrap();
        assert_eq!(y, [fp32(&[rows, 2], &expected(&x))]);
    }
}

#[test]
fn a_fixed_batch_is_kept_and_enforced() {
    let model = OnnxModel::read(&dense("1")).unwrap();
    assert_eq!(model.inputs()[0].shape, [1, 3]);
    assert!(!model.inputs()[0].batched());
    // A fixed batch is tract's: the native engine's outputs vary along the first axis.
    assert_eq!(model.engine(), GraphEngine::Tract);
    let err = model.run(vec![fp32(&[2, 3], &[0.0; 6])]).unwrap_err();
    assert!(
        matches!(&err, OnnxError::BadInput(m) if m.contains("[2, 3]") && m.contains("[1, 3]")),
        "{err}"
    );
}

#[test]
fn requests_that_do_not_fit_are_refused_with_what_to_fix() {
    let model = OnnxModel::read(&dense("N")).unwrap();
    let refused = |inputs: Vec<Tensor>| match model.run(inputs) {
        Err(OnnxError::BadInput(m)) => m,
        other => panic!("not refused: {other:?}"),
    };
    assert!(refused(vec![]).contains("takes 1 inputs (x), not 0"));
    let ints = Tensor {
        shape: vec![1, 3],
        values: Values::Int64(vec![1, 2, 3]),
    };
    assert!(refused(vec![ints]).contains("takes FP32, not INT64"));
    assert!(refused(vec![fp32(&[1, 4], &[0.0; 4])]).contains("does not fit"));
    assert!(refused(vec![fp32(&[2, 3], &[0.0; 3])]).contains("needs 6 values; 3 were sent"));
}

#[test]
fn unsupported_operators_are_all_named_at_import() {
    let bytes = model(pb::GraphProto {
        name: "exotic".into(),
        node: vec![
            node("NoSuchOp", &["x"], "a"),
            node("Relu", &["a"], "b"),
            node("AnotherMissingOp", &["b"], "y"),
        ],
        input: vec![value("x", Onnx::Float, &["N", "3"])],
        output: vec![value("y", Onnx::Float, &["N", "3"])],
        ..Default::default()
    });
    assert_eq!(
        OnnxModel::read(&bytes).unwrap_err(),
        OnnxError::Unsupported(vec!["AnotherMissingOp".into(), "NoSuchOp".into()])
    );
}

#[test]
fn files_that_are_not_onnx_are_refused() {
    let whole = dense("N");
    for bytes in [&whole[..whole.len() / 2], b"PK\x03\x04 a zip file", b""] {
        let err = OnnxModel::read(bytes).unwrap_err();
        assert!(matches!(err, OnnxError::NotOnnx(_)), "{err}");
    }
}

#[test]
fn inputs_of_a_type_that_is_not_served_are_refused_by_name() {
    let bytes = model(pb::GraphProto {
        name: "doubles".into(),
        node: vec![node("Relu", &["x"], "y")],
        input: vec![value("x", Onnx::Double, &["N", "3"])],
        output: vec![value("y", Onnx::Double, &["N", "3"])],
        ..Default::default()
    });
    let err = OnnxModel::read(&bytes).unwrap_err();
    assert!(
        matches!(&err, OnnxError::Unservable(m) if m.contains("input \"x\" is DOUBLE")),
        "{err}"
    );
}

/// Dense graphs run on the native engine only while every output is the chain's own: a graph
/// that also answers a hidden layer, or whose head the native engine does not make, stays
/// tract's, and answers the same either way.
#[test]
fn only_whole_dense_chains_run_on_the_native_engine() {
    let gemm = gemm();
    let graph = |nodes: Vec<pb::NodeProto>, outputs: Vec<pb::ValueInfoProto>| {
        model(pb::GraphProto {
            name: "dense".into(),
            node: nodes,
            initializer: vec![
                weights("W", &[2, 3], &W),
                weights("b", &[2], &B),
                weights("V", &[2, 2], &[1.0, 0.5, -1.0, 2.0]),
            ],
            input: vec![value("x", Onnx::Float, &["N", "3"])],
            output: outputs,
            ..Default::default()
        })
    };
    let x = [0.5, -1.0, 2.0, 1.5, 0.25, -0.75];
    let hidden = expected(&x);
    let product: Vec<f32> = (hidden.chunks(2))
        .flat_map(|h| [h[0] - h[1], 0.5 * h[0] + 2.0 * h[1]])
        .collect();

    // relu(x W^T + b) V, as MatMul writes it.
    let chain = graph(
        vec![
            gemm.clone(),
            node("Relu", &["z"], "h"),
            node("MatMul", &["h", "V"], "y"),
        ],
        vec![value("y", Onnx::Float, &["N", "2"])],
    );
    let model = OnnxModel::read(&chain).unwrap();
    assert_eq!(model.engine(), GraphEngine::Native);
    let y = model.run(vec![fp32(&[2, 3], &x)]).unwrap();
    assert_close(&y, &[fp32(&[2, 2], &product)]);

    // The same, answering the hidden layer too: a branch off the chain.
    let branch = graph(
        vec![
            gemm.clone(),
            node("Relu", &["z"], "h"),
            node("MatMul", &["h", "V"], "y"),
        ],
        vec![
            value("y", Onnx::Float, &["N", "2"]),
            value("h", Onnx::Float, &["N", "2"]),
        ],
    );
    let model = OnnxModel::read(&branch).unwrap();
    assert_eq!(model.engine(), GraphEngine::Tract);
    let y = model.run(vec![fp32(&[2, 3], &x)]).unwrap();
    assert_close(&y, &[fp32(&[2, 2], &product), fp32(&[2, 2], &hidden)]);

    // An operator off the list (an Exp of the output) leaves it to tract.
    let other = graph(
        vec![gemm, node("Relu", &["z"], "h"), node("Exp", &["h"], "y")],
        vec![value("y", Onnx::Float, &["N", "2"])],
    );
    let model = OnnxModel::read(&other).unwrap();
    assert_eq!(model.engine(), GraphEngine::Tract);
    let y = model.run(vec![fp32(&[2, 3], &x)]).unwrap();
    let exp: Vec<f32> = hidden.iter().map(|h| h.exp()).collect();
    assert_close(&y, &[fp32(&[2, 2], &exp)]);
}

mod export {
    use aiaas_onnx::export::{DenseGraph, DenseLayer, Head, write};
    use aiaas_onnx::{OnnxModel, Tensor, Values};
    use aiaas_types::{Activation, GraphEngine};

    fn graph(head: Head, outputs: usize) -> DenseGraph {
        DenseGraph {
            name: "exported".into(),
            input: "input".into(),
            layers: vec![
                DenseLayer {
                    weights: vec![1.0, -1.0, 0.5, 2.0, 0.0, -0.5],
                    bias: vec![0.1, -0.2, 0.0],
                    inputs: 2,
                    outputs: 3,
                    activation: Activation::Relu,
                },
                DenseLayer {
                    weights: (0..3 * outputs).map(|i| i as f32 / 4.0 - 0.5).collect(),
                    bias: vec![0.05; outputs],
                    inputs: 3,
                    outputs,
                    activation: Activation::Identity,
                },
            ],
            head,
            metadata: [("labels".to_string(), "[]".to_string())].into(),
        }
    }

    /// The logits of `graph` for one row, computed by hand.
    fn logits(graph: &DenseGraph, x: &[f32]) -> Vec<f32> {
        graph.layers.iter().fold(x.to_vec(), |x, l| {
            (0..l.outputs)
                .map(|o| {
                    let z = l.bias[o]
                        + (0..l.inputs)
                            .map(|i| l.weights[o * l.inputs + i] * x[i])
                            .sum::<f32>();
                    match l.activation {
                        Activation::Relu => z.max(0.0),
                        _ => z,
                    }
                })
                .collect()
        })
    }

    /// What the file in `bytes` answers for the row `x`, on the `engine` it must run on.
    fn run(bytes: &[u8], x: &[f32], engine: GraphEngine) -> Vec<Tensor> {
        let model = OnnxModel::read(bytes).unwrap();
        assert_eq!(model.source().producer_name, "aiaas");
        assert_eq!(model.engine(), engine);
        let input = Tensor {
            shape: vec![1, x.len()],
            values: Values::Fp32(x.to_vec()),
        };
        model.run(vec![input]).unwrap()
    }

    #[test]
    fn a_dense_classifier_is_written_as_onnx_that_reads_back_and_agrees() {
        let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let g = graph(Head::Classes { labels }, 3);
        let x = [0.7, -1.2];
        let z = logits(&g, &x);
        let out = run(&write(&g).unwrap(), &x, GraphEngine::Native);
        let Values::Fp32(p) = &out[0].values else {
            panic!("probabilities: {:?}", out[0])
        };
        let sum: f32 = z.iter().map(|v| v.exp()).sum();
        for (p, z) in p.iter().zip(&z) {
            assert!((p - z.exp() / sum).abs() < 1e-6, "{p} vs {z}");
        }
        let best = (z.iter().enumerate())
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!(
            out[1].values,
            Values::Bytes(vec![["a", "b", "c"][best].into()])
        );
    }

    #[test]
    fn a_single_logit_classifier_and_a_regressor_are_written_too() {
        let labels: Vec<String> = ["no", "yes"].map(String::from).to_vec();
        let g = graph(Head::Classes { labels }, 1);
        let x = [0.3, 0.9];
        let p = 1.0 / (1.0 + (-logits(&g, &x)[0]).exp());
        let out = run(&write(&g).unwrap(), &x, GraphEngine::Tract);
        let Values::Fp32(got) = &out[0].values else {
            panic!("{:?}", out[0])
        };
        assert!((got[0] - (1.0 - p)).abs() < 1e-6 && (got[1] - p).abs() < 1e-6);

        let g = graph(
            Head::Value {
                mean: 10.0,
                scale: 2.0,
            },
            1,
        );
        let out = run(&write(&g).unwrap(), &x, GraphEngine::Native);
        let expected = logits(&g, &x)[0] * 2.0 + 10.0;
        assert_eq!(out[0].shape, [1, 1]);
        let Values::Fp32(got) = &out[0].values else {
            panic!("{:?}", out[0])
        };
        assert!((got[0] - expected).abs() < 1e-5);

        let mut broken = graph(
            Head::Value {
                mean: 0.0,
                scale: 1.0,
            },
            1,
        );
        broken.layers[1].inputs = 4;
        assert!(write(&broken).is_err());
    }
}
