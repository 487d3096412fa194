//! Parallel uploads and alias moves leave the registry consistent.

use crate::{IRIS, TestServer, quick_iris_job, rewritten};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_uploads_and_alias_moves_stay_consistent() {
    let dir = tempfile::tempdir().unwrap();
    // All twenty are let in at once, to race for real.
    let config = aiaas_service::ServiceConfig {
        max_concurrent_uploads: 20,
        ..crate::test_config()
    };
    let server = TestServer::with_config(dir.path(), config).await;
    server.upload("iris", IRIS).await;
    let job = server.train(quick_iris_job()).await;
    assert_eq!(job["state"], "succeeded");
    let archive = server.iris_archive().await;
    // Twenty different models: the registry refuses to import weights a model already holds.
    let archives = (0..20u8).map(|i| {
        rewritten(&archive, |_, weights| {
            // The lowest mantissa byte of the last f32 (little-endian).
            let low = weights.len() - 4;
            weights[low] ^= i;
        })
    });

    let mut tasks = Vec::new();
    for (i, archive) in archives.enumerate() {
        let (http, base) = (server.http.clone(), server.base.clone());
        tasks.push(tokio::spawn(async move {
            let csv = format!("x,target\n{i},a\n{},b\n1,a\n2,b\n", i + 1);
            let res = http
                .post(format!("{base}/api/v1/datasets?name=d{i}"))
                .body(csv)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::CREATED);
            let res = http
                .post(format!("{base}/api/v1/models/copies/versions"))
                .body(archive)
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                StatusCode::CREATED,
                "{}",
                res.text().await.unwrap()
            );
            let version: Value = res.json().await.unwrap();
            let res = http
                .put(format!("{base}/api/v1/models/copies/aliases/champion"))
                .json(&json!({"version": version["version"]}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            version["version"].as_u64().unwrap()
        }));
    }
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.unwrap());
    }
    versions.sort();
    assert_eq!(versions, (1..=20).collect::<Vec<u64>>());

    let model: Value = server.get_json("/api/v1/models/copies").await;
    assert_eq!(model["versions"].as_array().unwrap().len(), 20);
    let champion = model["aliases"]["champion"].as_u64().unwrap();
    assert!((1..=20).contains(&champion));
    let datasets: Value = server.get_json("/api/v1/datasets").await;
    assert_eq!(datasets.as_array().unwrap().len(), 21);
    // Every version is whole: its archive exports.
    for v in 1..=20 {
        let res = server
            .get(&format!("/api/v1/models/copies/versions/{v}/archive"))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    server.stop().await;
}
