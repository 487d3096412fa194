//! Configuration errors surface from `Store::open` with actionable messages.

use aiaas_store::{Store, StoreConfig};

#[tokio::test]
async fn a_server_that_is_not_postgres_is_named_without_the_password() {
    // Something listens, but it is not PostgreSQL: it hangs up at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        database_url: Some(format!("postgres://aiaas:secret@127.0.0.1:{port}/aiaas")),
        ..StoreConfig::in_dir(dir.path())
    };
    let err = Store::open(&config).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "PostgreSQL at postgres://aiaas:***@127.0.0.1:{port}/aiaas"
        )),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");
}

#[tokio::test]
async fn explicit_sqlite_and_file_urls_work() {
    let dir = tempfile::tempdir().unwrap();
    let blob_dir = dir.path().join("elsewhere");
    let config = StoreConfig {
        data_dir: dir.path().join("data"),
        database_url: Some(format!("sqlite://{}/meta.db", dir.path().display())),
        store_url: Some(format!("file://{}", blob_dir.display())),
    };
    let store = Store::open(&config).await.unwrap();
    let digest = store
        .blobs()
        .put(bytes::Bytes::from_static(b"x"))
        .await
        .unwrap();
    assert!(blob_dir.join("blobs/sha256").join(digest).is_file());
    assert!(dir.path().join("meta.db").is_file());
}
