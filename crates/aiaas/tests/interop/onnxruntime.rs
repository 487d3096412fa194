//! The ONNX runtime (`aiaas_onnx`, on tract) against ONNX Runtime itself: models built with the
//! `onnx` package's helper by `tests/onnx/reference.py` (a dense network as PyTorch exports one, a
//! small convolutional network), run by `onnxruntime` and by `aiaas_onnx` on the same inputs at
//! batch 1 and 3; every output within 1e-4.

use aiaas_onnx::{OnnxModel, Tensor, Values};
use libtest_mimic::Failed;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The Python packages these tests need, pinned as CI installs them (`.ci/run`).
const PACKAGES: [(&str, &str); 2] = [
    ("onnx", "onnx==1.19.1"),
    ("onnxruntime", "onnxruntime==1.23.2"),
];

/// Why these tests cannot run here, if they cannot.
pub fn missing() -> Result<Option<String>, Failed> {
    for (import, install) in PACKAGES {
        if let Some(reason) = crate::python_missing(import, install, "AIAAS_REQUIRE_ONNXRUNTIME")? {
            return Ok(Some(reason));
        }
    }
    Ok(None)
}

pub fn models_answer_as_onnxruntime_does() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/onnx/reference.py");
    let made = Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&made.stderr)
    );
    for name in ["mlp", "cnn"] {
        let bytes = std::fs::read(dir.path().join(format!("{name}.onnx"))).unwrap();
        let model = OnnxModel::read(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let cases = std::fs::read(dir.path().join(format!("{name}.json"))).unwrap();
        let cases: Vec<Value> = serde_json::from_slice(&cases).unwrap();
        for case in &cases {
            let inputs = (model.inputs().iter())
                .map(|spec| tensor(&case["inputs"][&spec.name]))
                .collect();
            let outputs = model.run(inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(outputs.len(), model.outputs().len());
            for (spec, got) in model.outputs().iter().zip(outputs) {
                let want = tensor(&case["outputs"][&spec.name]);
                assert_eq!(got.shape, want.shape, "{name} {}", spec.name);
                let (Values::Fp32(got), Values::Fp32(want)) = (&got.values, &want.values) else {
                    panic!("{name} {}: not FP32", spec.name);
                };
                let worst = (got.iter().zip(want)).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(worst <= 1e-4, "{name} {}: off by {worst}", spec.name);
            }
        }
    }
}

/// An FP32 tensor as `reference.py` writes one.
fn tensor(json: &Value) -> Tensor {
    let numbers = |v: &Value| -> Vec<f64> {
        let list = v.as_array().unwrap_or_else(|| panic!("not a list: {v}"));
        list.iter().map(|n| n.as_f64().unwrap()).collect()
    };
    Tensor {
        shape: numbers(&json["shape"])
            .iter()
            .map(|&d| d as usize)
            .collect(),
        values: Values::Fp32(numbers(&json["data"]).iter().map(|&x| x as f32).collect()),
    }
}
