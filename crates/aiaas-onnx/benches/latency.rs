//! Latency of ONNX models in aiaas-onnx (tract) against ONNX Runtime on the same machine, same
//! thread count (one), same inputs' shapes: the models of `tests/onnx/reference.py` (the MNIST-
//! shaped MLP, the small CNN, and the MiniLM-L3 sentence encoder at 32 tokens) at batch 1 and 8.
//! Prints both medians and the ratio; the target is at most 1.5x ONNX Runtime's
//! latency.
//!
//! Needs python3 with `onnx` and `onnxruntime` (as the interop tests do). Run with
//! `cargo bench -p aiaas-onnx --bench latency`.

#[path = "../../aiaas-engine/benches/common/mod.rs"]
#[allow(dead_code)]
mod common;

use aiaas_onnx::{DataType, OnnxModel, Tensor, TensorSpec, Values};
use common::median;
use std::path::Path;
use std::process::Command;

const BATCHES: [usize; 2] = [1, 8];

fn main() {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/onnx");
    let dir = tempfile::tempdir().expect("a temporary directory");
    run_python(&[
        scripts.join("reference.py").as_os_str(),
        dir.path().as_os_str(),
    ]);
    println!("ONNX model latency, one thread, median ms (onnxruntime from tests/onnx/latency.py)");
    println!(
        "{:<6} {:>5} {:>12} {:>12} {:>7}",
        "model", "batch", "aiaas-onnx", "onnxruntime", "ratio"
    );
    for name in ["mlp", "cnn", "minilm"] {
        let path = dir.path().join(format!("{name}.onnx"));
        let model = OnnxModel::read(&std::fs::read(&path).expect("the model file"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut args = vec![
            scripts.join("latency.py").into_os_string(),
            path.into_os_string(),
            "1".into(),
        ];
        args.extend(BATCHES.map(|b| b.to_string().into()));
        let peer: serde_json::Value =
            serde_json::from_slice(&run_python(&args)).expect("latency.py prints JSON");
        for batch in BATCHES {
            let inputs: Vec<Tensor> = (model.inputs().iter())
                .map(|spec| input(spec, batch))
                .collect();
            let ours = median(|| {
                std::hint::black_box(model.run(inputs.clone()).expect("a run"));
            })
            .as_secs_f64()
                * 1e3;
            let theirs = peer[batch.to_string()].as_f64().expect("a median");
            println!(
                "{name:<6} {batch:>5} {ours:>12.3} {theirs:>12.3} {:>6.2}x",
                ours / theirs
            );
        }
    }
}

/// Tokens in a text model's inputs, as `latency.py` feeds them.
const SEQUENCE: usize = 32;

/// An input of `batch` rows: FP32 values in 0..1 (the other axes as declared), or for a text
/// model [`SEQUENCE`] token ids (or a mask of ones, for an input named `*mask*`).
fn input(spec: &TensorSpec, batch: usize) -> Tensor {
    if spec.datatype == DataType::Int64 {
        let n = batch * SEQUENCE;
        let values = match spec.name.contains("mask") {
            true => vec![1; n],
            false => (0..n).map(|i| 1000 + (i as i64 * 7919) % 29000).collect(),
        };
        return Tensor {
            shape: vec![batch, SEQUENCE],
            values: Values::Int64(values),
        };
    }
    let mut shape = vec![batch];
    shape.extend(spec.shape[1..].iter().map(|&d| d as usize));
    let n: usize = shape.iter().product();
    Tensor {
        shape,
        values: Values::Fp32((0..n).map(|i| (i % 97) as f32 / 97.0).collect()),
    }
}

/// Runs python3 with `args`; its standard output.
fn run_python(args: &[impl AsRef<std::ffi::OsStr>]) -> Vec<u8> {
    let out = Command::new("python3")
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 failed (pip install 'onnx==1.19.1' 'onnxruntime==1.23.2'): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
