//! The ONNX runtime (`aiaas_onnx`, on tract) against ONNX Runtime itself: the models of
//! `tests/onnx/reference.py` (a dense network as PyTorch exports one, a small convolutional
//! network, scikit-learn's LogisticRegression and MLPClassifier exported by skl2onnx), run by
//! `onnxruntime` and by aiaas on the same inputs at batch 1 and 3: directly through `aiaas_onnx`,
//! and imported into a running server and asked through `tritonclient` over HTTP and gRPC
//! (`tests/onnx/check_served.py`). Every output within 1e-4, labels exactly.

use crate::server::ServerProcess;
use aiaas_onnx::{DataType, OnnxModel, Tensor, TensorSpec, Values};
use libtest_mimic::Failed;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python packages these tests need, pinned as CI installs them (`.ci/run`).
const PACKAGES: [(&str, &str); 4] = [
    ("onnx", "onnx==1.19.1"),
    ("onnxruntime", "onnxruntime==1.23.2"),
    ("sklearn", "scikit-learn==1.6.1"),
    ("skl2onnx", "skl2onnx==1.19.1"),
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

/// [`missing`], and the tritonclient the served check speaks through.
pub fn missing_with_client() -> Result<Option<String>, Failed> {
    match missing()? {
        Some(reason) => Ok(Some(reason)),
        None => crate::tritonclient::missing(),
    }
}

/// The reference models and their cases, written into `dir`; their names.
fn reference_models(dir: &Path) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/onnx/reference.py");
    let made = Command::new("python3")
        .arg(&script)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&made.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let path: PathBuf = e.unwrap().path();
            let stem = path.file_stem()?.to_str()?.to_string();
            (path.extension()? == "onnx").then_some(stem)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 4, "{names:?}");
    names
}

pub fn models_answer_as_onnxruntime_does() {
    let dir = tempfile::tempdir().unwrap();
    for name in reference_models(dir.path()) {
        let bytes = std::fs::read(dir.path().join(format!("{name}.onnx"))).unwrap();
        let model = OnnxModel::read(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let cases = std::fs::read(dir.path().join(format!("{name}.json"))).unwrap();
        let cases: Vec<Value> = serde_json::from_slice(&cases).unwrap();
        for case in &cases {
            let inputs = (model.inputs().iter())
                .map(|spec| tensor(spec, &case["inputs"][&spec.name]))
                .collect();
            let outputs = model.run(inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(outputs.len(), model.outputs().len());
            for (spec, got) in model.outputs().iter().zip(outputs) {
                let want = tensor(spec, &case["outputs"][&spec.name]);
                let what = format!("{name} {}", spec.name);
                assert_eq!(got.shape, want.shape, "{what}");
                match (&got.values, &want.values) {
                    (Values::Fp32(got), Values::Fp32(want)) => {
                        let worst =
                            (got.iter().zip(want)).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                        assert!(worst <= 1e-4, "{what}: off by {worst}");
                    }
                    (got, want) => assert_eq!(got, want, "{what}"),
                }
            }
        }
    }
}

/// The same models imported into a running server with `aiaas models import` and asked
/// through `tritonclient`, over HTTP (JSON and binary tensors) and gRPC.
pub fn served_models_answer_as_onnxruntime_does() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let cases = work.join("cases");
    let names = reference_models(&cases);
    let server = ServerProcess::start(&work.join("data"), &[]);
    for name in &names {
        let file = cases.join(format!("{name}.onnx"));
        let args = [
            "models",
            "import",
            file.to_str().unwrap(),
            "--name",
            name,
            "--server",
            &server.url,
        ];
        let out = server.aiaas(work, &args);
        assert!(
            out.status.success(),
            "import {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/onnx/check_served.py");
    let out = Command::new("python3")
        .arg(script)
        .args([&server.addr, &server.grpc_addr, &server.key])
        .arg(&cases)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check_served.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A tensor as `reference.py` writes one (`{"shape", "data"}`), of `spec`'s datatype.
fn tensor(spec: &TensorSpec, json: &Value) -> Tensor {
    let numbers = |v: &Value| -> Vec<f64> {
        let list = v.as_array().unwrap_or_else(|| panic!("not a list: {v}"));
        list.iter().map(|n| n.as_f64().unwrap()).collect()
    };
    let data = numbers(&json["data"]);
    let values = match spec.datatype {
        DataType::Fp32 => Values::Fp32(data.iter().map(|&x| x as f32).collect()),
        DataType::Int64 => Values::Int64(data.iter().map(|&x| x as i64).collect()),
        other => panic!("{}: no reference values of {other:?}", spec.name),
    };
    Tensor {
        shape: numbers(&json["shape"])
            .iter()
            .map(|&d| d as usize)
            .collect(),
        values,
    }
}

/// A model trained here, exported with `aiaas models export --format onnx`: ONNX Runtime gives
/// what `aiaas predict` gives (within 1e-5, labels equal); imported back, the server answers the
/// same through V2.
pub fn exported_models_answer_as_aiaas_predict_does() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let server = ServerProcess::start(&work.join("data"), &[]);
    crate::tritonclient::train_iris_and_predict(&server, work, &[]);
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", &server.url]);
        let out = server.aiaas(work, &all);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "aiaas {all:?}: {said}");
    };
    cli(&[
        "models",
        "export",
        "iris",
        "1",
        "--format",
        "onnx",
        "--out",
        "iris.onnx",
    ]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/onnx/check_exported.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(work.join("iris.onnx"))
        .arg(work.join("expected.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check_exported.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    cli(&["models", "import", "iris.onnx", "--name", "iris-onnx"]);
    let expected: Value =
        serde_json::from_slice(&std::fs::read(work.join("expected.json")).unwrap()).unwrap();
    let rows = expected["rows"].as_array().unwrap();
    let request = serde_json::json!({"inputs": [{
        "name": "input", "datatype": "FP32", "shape": [rows.len(), 4], "data": rows
    }]});
    let answer = server.json(
        "POST",
        "/v2/models/iris-onnx/infer",
        request.to_string().as_bytes(),
    );
    let output = |name: &str| {
        let outputs = answer["outputs"].as_array().unwrap();
        outputs.iter().find(|o| o["name"] == name).unwrap()["data"].clone()
    };
    assert_eq!(output("label"), expected["labels"], "{answer}");
    let got = output("probabilities");
    let want: Vec<f64> = (expected["probabilities"].as_array().unwrap().iter())
        .flat_map(|row| row.as_array().unwrap().iter().map(|p| p.as_f64().unwrap()))
        .collect();
    let got: Vec<f64> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect();
    assert_eq!(got.len(), want.len());
    let worst = (got.iter().zip(&want)).fold(0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst <= 1e-5, "imported back, off by {worst}");
}
