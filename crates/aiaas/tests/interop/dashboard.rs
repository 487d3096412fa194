//! The dashboard in a real headless Chromium: `tests/dashboard/check_dashboard.py` drives
//! Debian's `chromium` through `chromium-driver` with selenium (PyPI) against `serve --demo`, as
//! a person would (see the script). Its screenshots go to a temporary folder, or to
//! `docs/screenshots/` with `AIAAS_UPDATE_SCREENSHOTS=1` (how the README's are made).
//!
//! CI installs the three (`tests/dashboard/install.sh`) and sets `AIAAS_REQUIRE_CHROMIUM=1`;
//! elsewhere the test is reported as ignored, with the reason, when one is missing.
//!
//! `tests/dashboard/render_time.py` times the pages over a registry of 100 models and 1,000
//! versions it fills through the API.

use crate::server::ServerProcess;
use libtest_mimic::Failed;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/dashboard/check_dashboard.py"
);
const RENDER_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/dashboard/render_time.py"
);
const REQUIRE: &str = "AIAAS_REQUIRE_CHROMIUM";
/// Where Debian's packages put the browser and its driver.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Why the browser test cannot run here, if it cannot.
pub fn missing() -> Result<Option<String>, Failed> {
    if let Some(reason) = crate::python_missing("selenium", "selenium==4.38.0", REQUIRE)? {
        return Ok(Some(reason));
    }
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return Ok(None);
    }
    let reason = "Debian's chromium and chromium-driver are not installed \
                  (bash tests/dashboard/install.sh)";
    match std::env::var_os(REQUIRE) {
        Some(_) => Err(format!("{REQUIRE} is set but {reason}").into()),
        None => Ok(Some(reason.to_string())),
    }
}

/// [`missing`], and the `onnx` package the render check makes its models with.
pub fn missing_with_onnx() -> Result<Option<String>, Failed> {
    match missing()? {
        Some(reason) => Ok(Some(reason)),
        None => crate::onnxruntime::missing(),
    }
}

/// The time each page takes to show 100 models and 1,000 versions (see the script); prints the
/// figures.
pub fn renders_100_models_and_1000_versions_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("data"), &[]);
    let iris = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/iris.csv");
    let args = [server.url.as_ref(), server.key.as_ref(), iris.as_os_str()];
    print!("{}", crate::run_python(Path::new(RENDER_SCRIPT), &args));
}

pub fn in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let server = ServerProcess::start(&work.join("data"), &["--demo"]);
    wait_for_models(&server, &["digits", "iris"]);
    // A second iris version, for the champion alias to move to.
    let out = server.aiaas(
        work,
        &[
            "train",
            "--server",
            &server.url,
            "--data",
            "iris",
            "--epochs",
            "5",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    predict_and_label_digits(&server, 40);
    let (picture, digit) = image_model(&server, work);
    let created = server.json(
        "POST",
        "/api/v1/keys",
        json!({"name": "wall", "role": "viewer"})
            .to_string()
            .as_bytes(),
    );
    let viewer = created["key"].as_str().unwrap();
    let shots = match std::env::var_os("AIAAS_UPDATE_SCREENSHOTS") {
        Some(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots"),
        None => work.join("screenshots"),
    };
    std::fs::create_dir_all(&shots).unwrap();
    let args = [
        server.url.as_ref(),
        server.key.as_ref(),
        viewer.as_ref(),
        shots.as_os_str(),
        picture.as_os_str(),
        digit.as_ref(),
    ];
    crate::run_python(Path::new(SCRIPT), &args);
}

/// An image model: `digits` exported as ONNX and imported as `digits-pictures` with its
/// preprocessing (8x8 grayscale, scaled back to the 0-16 it was trained on). Returns a PNG file
/// of the first digit of the dataset, and its class.
fn image_model(server: &ServerProcess, work: &Path) -> (PathBuf, String) {
    let (onnx, preprocess) = (work.join("digits.onnx"), work.join("preprocess.json"));
    std::fs::write(
        &preprocess,
        r#"{"channels": 1, "resize": [8, 8], "scale": 0.06274509803921569}"#,
    )
    .unwrap();
    let (onnx, preprocess) = (onnx.to_str().unwrap(), preprocess.to_str().unwrap());
    let url = server.url.as_str();
    let export = [
        "models", "export", "digits", "1", "--format", "onnx", "--out", onnx,
    ];
    let import = ["models", "import", onnx, "--name", "digits-pictures"];
    for args in [
        [&export[..], &["--server", url]].concat(),
        [&import[..], &["--preprocess", preprocess, "--server", url]].concat(),
    ] {
        let out = server.aiaas(work, &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let csv = include_str!("../../../../datasets/digits.csv");
    let mut values: Vec<f32> = (csv.lines().nth(1).unwrap().split(','))
        .map(|v| v.parse().unwrap())
        .collect();
    let digit = values.pop().unwrap();
    let pixels = values.iter().map(|v| (v * 255.0 / 16.0).round() as u8);
    let png = work.join("digit.png");
    image::GrayImage::from_raw(8, 8, pixels.collect())
        .unwrap()
        .save(&png)
        .unwrap();
    (png, (digit as u32).to_string())
}

/// Sends `rows` rows of the digits dataset to the `digits` model, one request each, and their
/// true classes as feedback: what the monitoring page shows.
fn predict_and_label_digits(server: &ServerProcess, rows: usize) {
    let csv = include_str!("../../../../datasets/digits.csv");
    let mut labels = Vec::new();
    for (i, line) in csv.lines().skip(1).take(rows).enumerate() {
        let mut values: Vec<f32> = line.split(',').map(|v| v.parse().unwrap()).collect();
        let target = values.pop().unwrap();
        let id = format!("d{i}");
        let body = json!({"id": id, "inputs": [
            {"name": "input", "datatype": "FP32", "shape": [1, values.len()], "data": values}
        ]});
        server.json(
            "POST",
            "/v2/models/digits/infer",
            body.to_string().as_bytes(),
        );
        labels.push(json!({"id": id, "label": (target as u32).to_string()}));
    }
    let body = json!(labels).to_string();
    let outcome = server.json("POST", "/api/v1/models/digits/feedback", body.as_bytes());
    assert_eq!(outcome["matched"], rows, "{outcome}");
}

/// Waits (at most a minute) until the demo has registered `names`.
fn wait_for_models(server: &ServerProcess, names: &[&str]) {
    let start = Instant::now();
    loop {
        let models = server.json("GET", "/api/v1/models", b"");
        let have: Vec<&str> = (models.as_array().unwrap().iter())
            .filter_map(|m| m["name"].as_str())
            .collect();
        if names.iter().all(|n| have.contains(n)) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the demo has {have:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
