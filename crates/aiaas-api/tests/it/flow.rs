//! The life of a model through the API: upload, train, registry with lineage, alias, export,
//! import into a second server, identical predictions.

use crate::{IRIS, TestServer, coded_error_of, quick_iris_job};
use aiaas_api::ErrorCode;
use aiaas_types::ModelName;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_train_register_alias_export_import() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;

    let res = server.upload("iris", IRIS).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let dataset: Value = res.json().await.unwrap();
    assert_eq!(dataset["rows"], 150);
    assert_eq!(dataset["digest"].as_str().unwrap().len(), 64);
    let shown: Value = server.get_json("/api/v1/datasets/iris").await;
    assert_eq!(shown["digest"], dataset["digest"]);
    assert!(!shown["profile"].as_array().unwrap().is_empty(), "{shown}");
    let listed: Value = server.get_json("/api/v1/datasets").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Follow the job's events live while it trains.
    let res = server.post_json("/api/v1/jobs", &quick_iris_job()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let job: Value = res.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_string();
    let events = server
        .get(&format!("/api/v1/jobs/{id}/events"))
        .await
        .text()
        .await
        .unwrap();
    let kinds: Vec<&str> = events
        .lines()
        .filter_map(|l| l.strip_prefix("event:"))
        .map(str::trim)
        .collect();
    assert_eq!(kinds.first(), Some(&"queued"), "{events}");
    assert!(kinds.contains(&"started"), "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "epoch").count(),
        20,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"checkpoint"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"succeeded"), "{kinds:?}");

    let job = server.wait_job(&id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["history"].as_array().unwrap().len(), 20);
    // Its report, as the `report` event had it: the figures and the diagnosis.
    assert_eq!(job["report"]["epochs_run"], 20, "{job}");
    assert!(job["report"]["diagnosis"]["summary"].is_string(), "{job}");
    assert!(
        job["checkpoint_digest"].is_null(),
        "a finished job keeps no checkpoint: {job}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "checkpoint").count(),
        9,
        "{kinds:?}"
    );
    assert_eq!(job["result"]["version"], 1, "{job}");

    // The version's lineage names the dataset digest, the job and the hyperparameters.
    let version: Value = server.get_json("/api/v1/models/iris/versions/1").await;
    let lineage = &version["manifest"]["lineage"];
    assert_eq!(lineage["dataset"]["digest"], dataset["digest"], "{version}");
    assert_eq!(lineage["job"], json!(id));
    assert_eq!(lineage["spec"]["epochs"], 20);
    assert_eq!(lineage["spec"]["model"]["hidden"], json!([8]));
    assert!(
        version["metrics"]["test"]["accuracy"].as_f64().unwrap() > 0.8,
        "{version}"
    );

    let res = server
        .http
        .put(server.url("/api/v1/models/iris/aliases/champion"))
        .json(&json!({"version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let model: Value = server.get_json("/api/v1/models/iris").await;
    assert_eq!(model["aliases"]["champion"], 1, "{model}");
    // Every version by default; the newest `limit` when asked, with the count of them all.
    let versions = model["versions"].as_array().unwrap();
    assert_eq!(model["version_count"], versions.len(), "{model}");
    let newest: Value = server.get_json("/api/v1/models/iris?limit=1").await;
    assert_eq!(newest["versions"].as_array().unwrap().len(), 1, "{newest}");
    assert_eq!(newest["versions"][0], *versions.last().unwrap());
    assert_eq!(newest["version_count"], versions.len());
    let by_alias: Value = server
        .get_json("/api/v1/models/iris/versions/champion")
        .await;
    assert_eq!(by_alias["version"], 1);
    // The model is a summary: no manifests. The version has its manifest without the profile,
    // which is at its own path, as is the whole manifest.
    assert!(model["versions"][0].get("manifest").is_none(), "{model}");
    assert!(
        model["versions"][0]["metrics"]["test"].is_object(),
        "{model}"
    );
    assert!(by_alias["manifest"]["schema"].is_object(), "{by_alias}");
    assert!(by_alias["manifest"].get("profile").is_none(), "{by_alias}");
    let manifest: Value = server
        .get_json("/api/v1/models/iris/versions/1/manifest")
        .await;
    let profile: Value = server
        .get_json("/api/v1/models/iris/versions/champion/profile")
        .await;
    assert_eq!(profile.as_array().map(Vec::len), Some(4), "{profile}");
    assert_eq!(manifest["profile"], profile);
    assert_eq!(manifest["schema"], by_alias["manifest"]["schema"]);

    let res = server
        .get("/api/v1/models/iris/versions/champion/archive")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let archive = res.bytes().await.unwrap();

    let other_dir = tempfile::tempdir().unwrap();
    let other = TestServer::start(other_dir.path()).await;
    let res = other.import("flowers", archive.clone()).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let imported: Value = other.get_json("/api/v1/models/flowers/versions/1").await;
    assert_eq!(imported["manifest"]["lineage"]["job"], json!(id));

    // Importing it again is refused, naming the version that holds these weights.
    let again = other.import("flowers", archive.clone()).await;
    let (code, message) = coded_error_of(again).await;
    assert_eq!(code, ErrorCode::Conflict);
    assert!(
        message.contains("version 1 already has these weights"),
        "{message}"
    );
    // The archive people make by hand, `tar -czf iris.tar.gz -C models iris`, is read too.
    let res = other.import("handmade", hand_made_tar_gz(&archive)).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );

    // The same weights give the same predictions on both servers.
    let original = server
        .platform
        .load_bundle(
            &ModelName::new("iris").unwrap(),
            aiaas_types::Version::new(1),
        )
        .await
        .unwrap();
    let copy = other
        .platform
        .load_bundle(
            &ModelName::new("flowers").unwrap(),
            aiaas_types::Version::new(1),
        )
        .await
        .unwrap();
    let rows = 5;
    let x: Vec<f32> = (0..rows * 4).map(|i| (i % 7) as f32 * 0.3 - 1.0).collect();
    let a = original.network.predict(&x, rows, 1);
    let b = copy.network.predict(&x, rows, 1);
    assert_eq!(a, b);
    assert_eq!(original.network, copy.network);

    // A dataset a version was trained on cannot be deleted; an aliased version neither.
    let res = server
        .http
        .delete(server.url("/api/v1/datasets/iris"))
        .send()
        .await
        .unwrap();
    assert_eq!(coded_error_of(res).await.0, ErrorCode::Conflict);
    let res = server
        .http
        .delete(server.url("/api/v1/models/iris/versions/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(coded_error_of(res).await.0, ErrorCode::Conflict);

    // Versions are referred to one way only: `01` is not version 1.
    let res = server.get("/api/v1/models/iris/versions/01").await;
    assert_eq!(coded_error_of(res).await.0, ErrorCode::VersionNotFound);
    // Without its alias the version can go, then the dataset, and their blobs with them.
    let delete = |path: &str| server.http.delete(server.url(path)).send();
    let res = delete("/api/v1/models/iris/aliases/champion")
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = delete("/api/v1/models/iris/versions/1").await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = delete("/api/v1/datasets/iris").await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let digest = dataset["digest"].as_str().unwrap();
    assert!(!dir.path().join("blobs/sha256").join(digest).exists());
    let weights = version["weights_digest"].as_str().unwrap();
    assert!(!dir.path().join("blobs/sha256").join(weights).exists());

    other.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_can_be_cancelled_and_registers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    server.upload("iris", IRIS).await;
    let body = json!({"kind": "train", "dataset": "iris", "epochs": 100000, "patience": 0});
    let job: Value = server
        .post_json("/api/v1/jobs", &body)
        .await
        .json()
        .await
        .unwrap();
    let id = job["id"].as_str().unwrap();
    // Wait until it is running, then cancel.
    for _ in 0..100 {
        let j: Value = server.get_json(&format!("/api/v1/jobs/{id}")).await;
        if j["state"] == "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let res = server
        .http
        .post(server.url(&format!("/api/v1/jobs/{id}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let job = server.wait_job(id).await;
    assert_eq!(job["state"], "cancelled", "{job}");
    let res = server.get("/api/v1/models/iris").await;
    assert_eq!(coded_error_of(res).await.0, ErrorCode::ModelNotFound);
    // Cancelling again is a conflict, not a crash.
    let res = server
        .http
        .post(server.url(&format!("/api/v1/jobs/{id}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(coded_error_of(res).await.0, ErrorCode::Conflict);
    server.stop().await;
}

/// The files of `archive` as `tar -czf iris.tar.gz -C models iris` writes them: a folder entry,
/// then the files under it, gzip-compressed.
fn hand_made_tar_gz(archive: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let files = aiaas_artifact::archive::unpack(archive, usize::MAX).unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    let mut folder = tar::Header::new_ustar();
    folder.set_entry_type(tar::EntryType::Directory);
    folder.set_mode(0o755);
    folder.set_size(0);
    builder.append_data(&mut folder, "iris/", &[][..]).unwrap();
    for (name, bytes) in &files {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, format!("iris/{name}"), &bytes[..])
            .unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}
