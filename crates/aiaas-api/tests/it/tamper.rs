//! A flipped byte in a stored blob makes its load fail with a clear checksum error.

use crate::{IRIS, TestServer, coded_error_of, quick_iris_job};
use aiaas_api::ErrorCode;
use aiaas_types::ModelName;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_in_a_stored_blob_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    server.upload("iris", IRIS).await;
    assert_eq!(server.train(quick_iris_job()).await["state"], "succeeded");
    let version: Value = server.get_json("/api/v1/models/iris/versions/1").await;
    let digest = version["weights_digest"].as_str().unwrap();
    let path = dir.path().join("blobs/sha256").join(digest);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();

    let (code, message) =
        coded_error_of(server.get("/api/v1/models/iris/versions/1/archive").await).await;
    assert_eq!(code, ErrorCode::CorruptData);
    assert!(message.contains("checksum"), "{message}");
    let err = server
        .platform
        .load_bundle(
            &ModelName::new("iris").unwrap(),
            aiaas_types::Version::new(1),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    assert_eq!(server.get("/api/v1/health").await.status(), StatusCode::OK);
    server.stop().await;
}

/// A blob that no record names (what a crash leaves between storing a file and committing its
/// row) is removed at the next start; every blob a record names stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_blobs_are_collected_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    let blobs = server.platform.store().blobs().clone();
    let stray = blobs
        .put(bytes::Bytes::from_static(b"left by a crash"))
        .await
        .unwrap();
    let named = blobs.list().await.unwrap().len() - 1;
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    let blobs = server.platform.store().blobs().clone();
    assert!(!blobs.exists(&stray).await.unwrap());
    assert_eq!(blobs.list().await.unwrap().len(), named);
    let res = server.get("/api/v1/models/iris/versions/1/archive").await;
    assert_eq!(res.status(), StatusCode::OK);
    server.stop().await;
}
