//! Datasets beyond CSV through the server: MNIST uploaded as its four IDX files (packed as a
//! folder is by `aiaas datasets upload DIR`) trains to the test accuracy of the same run done
//! locally; an archive of a few hundred PNG digits trains and serves; and bad files (a corrupt
//! IDX header, a nested Parquet column, one class of images, an undecodable image) are refused
//! with a 422 that says why, registering nothing.

use crate::{TestServer, error_of};
use aiaas_train::{Silent, resolve, train};
use aiaas_types::TrainJob;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Cursor;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mnist_uploaded_as_idx_files_trains_as_it_does_locally() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mnist = aiaas_data::samples::mnist_dir().unwrap();
    let res = server
        .upload("mnist", aiaas_data::pack_folder(&mnist).unwrap())
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let dataset: Value = res.json().await.unwrap();
    assert_eq!(dataset["rows"], 70_000, "{dataset}");
    assert_eq!(dataset["target"], "label");

    let request =
        json!({"kind": "train", "dataset": "mnist", "hidden": [32], "epochs": 1, "seed": 7});
    let job = server.train(request.clone()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let served = job["report"]["test"]["accuracy"].as_f64().unwrap();

    // The same job's options and split, trained here on the bundled files, one thread as the
    // test server's worker.
    let job: TrainJob = serde_json::from_value(request).unwrap();
    let local = tokio::task::spawn_blocking(move || {
        let ds = aiaas_data::load("mnist", None, None).unwrap();
        let spec = resolve(&job.options, &ds).unwrap();
        let trained = train(&ds, &spec, &job.split(), 1, &mut Silent, None)
            .unwrap()
            .unwrap();
        trained.metrics.test.unwrap().headline()
    })
    .await
    .unwrap();
    assert_eq!(served, local, "served {served}, local {local}");
    assert!(local > 0.9, "{local}");
}

/// PNGs of the first `rows` rows of the digits sample as `digits/<class>/<row>.png`, in a tar.
fn digit_archive(rows: usize) -> Vec<u8> {
    let digits = aiaas_data::load("digits", None, None).unwrap();
    tar_of(
        (0..rows)
            .map(|r| {
                let png = png_of(&digits.x[r * 64..(r + 1) * 64]);
                (format!("digits/{}/{r:04}.png", digits.y[r]), png)
            })
            .collect(),
    )
}

/// `files` (path, bytes) as a tar archive.
fn tar_of(files: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    aiaas_data::pack_files(&files).unwrap()
}

/// An 8x8 grayscale PNG of the digits sample's values (0..16, made 0..255).
fn png_of(values: &[f32]) -> Vec<u8> {
    let pixels = values
        .iter()
        .map(|&v| (v * 16.0).min(255.0) as u8)
        .collect();
    let mut png = Vec::new();
    image::GrayImage::from_raw(8, 8, pixels)
        .unwrap()
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_archive_trains_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let res = server.upload("digit-images", digit_archive(400)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let dataset: Value = res.json().await.unwrap();
    assert_eq!(dataset["rows"], 400, "{dataset}");

    let job = server
        .train(json!({"kind": "train", "dataset": "digit-images", "hidden": [32], "epochs": 100, "seed": 1}))
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let accuracy = job["report"]["test"]["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.85, "{accuracy}");

    // Served by the image's pixels, as the dataset's columns hold them.
    let digits = aiaas_data::load("digits", None, None).unwrap();
    let row = 1500; // not among the 400 trained on
    let pixels: Vec<f32> = digits.x[row * 64..(row + 1) * 64]
        .iter()
        .map(|&v| f32::from((v * 16.0).min(255.0) as u8))
        .collect();
    let body = json!({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": pixels}]});
    let res = server
        .post_json("/v2/models/digit-images/infer", &body)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer: Value = res.json().await.unwrap();
    let label = answer["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "label")
        .unwrap_or_else(|| panic!("{answer}"));
    let classes: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    assert!(
        classes.contains(&label["data"][0].as_str().unwrap().to_string()),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_are_refused_and_nothing_is_registered() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mnist = aiaas_data::samples::mnist_dir().unwrap();
    let mut idx: Vec<(String, Vec<u8>)> = aiaas_data::idx::MNIST_FILES
        .iter()
        .map(|f| (f.trim_end_matches(".gz").to_string(), vec![]))
        .collect();
    for (i, f) in aiaas_data::idx::MNIST_FILES.iter().enumerate() {
        let gz = std::fs::read(mnist.join(f)).unwrap();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(gz.as_slice()),
            &mut idx[i].1,
        )
        .unwrap();
    }
    idx[0].1[3] = 1; // images' magic 2051 becomes 2049
    let digits = aiaas_data::load("digits", None, None).unwrap();
    let png = png_of(&digits.x[..64]);
    let one_class = tar_of(
        (0..5)
            .map(|i| (format!("d/7/{i}.png"), png.clone()))
            .collect(),
    );
    let undecodable = tar_of(vec![
        ("d/0/a.png".into(), png.clone()),
        ("d/1/b.png".into(), png[..40].to_vec()),
    ]);
    let nested = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../aiaas-data/tests/data/nested.parquet"
    ))
    .unwrap();
    let cases = [
        (
            tar_of(idx),
            "expected magic number 2051 (images), found 2049",
        ),
        (nested, "column \"tags\" is nested"),
        (one_class, "all 5 images are in one class (7)"),
        (undecodable, "d/1/b.png: cannot decode the image"),
    ];
    for (bytes, why) in cases {
        let (status, message) = error_of(server.upload("bad", bytes).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        assert!(message.contains(why), "{message}");
    }
    let listed: Value = server.get_json("/api/v1/datasets").await;
    assert_eq!(listed, json!([]));
}
