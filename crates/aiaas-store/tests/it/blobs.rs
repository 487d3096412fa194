//! Content-addressed blobs: round trip, idempotence, corruption detection, digest checks, cleanup.

use aiaas_store::{Store, StoreConfig, StoreError, sha256_hex};
use bytes::Bytes;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;
use std::time::Duration;

#[tokio::test]
async fn put_get_round_trip_and_idempotent_put() {
    let (config, _dir) = crate::config().await;
    let store = Store::open(&config).await.unwrap();
    let blobs = store.blobs();
    let data = Bytes::from_static(b"hello, blobs");
    let digest = blobs.put(data.clone()).await.unwrap();
    assert_eq!(digest, sha256_hex(&data));
    let key = ObjectPath::from(format!("blobs/sha256/{digest}"));
    assert_eq!(
        crate::raw_objects(&config).head(&key).await.unwrap().size,
        12
    );
    assert_eq!(blobs.get(&digest).await.unwrap(), data);
    assert!(blobs.exists(&digest).await.unwrap());

    assert_eq!(blobs.put(data.clone()).await.unwrap(), digest);
    assert_eq!(blobs.get(&digest).await.unwrap(), data);

    // Large enough to be hashed off the runtime.
    let big = Bytes::from(vec![7u8; 1 << 20]);
    let big_digest = blobs.put(big.clone()).await.unwrap();
    assert_eq!(blobs.get(&big_digest).await.unwrap(), big);

    blobs.delete(&digest).await.unwrap();
    assert!(!blobs.exists(&digest).await.unwrap());
    blobs.delete(&digest).await.unwrap();
    let err = blobs.get(&digest).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(..)), "{err:?}");
}

#[tokio::test]
async fn a_flipped_byte_in_storage_is_reported_as_corrupt() {
    let (config, _dir) = crate::config().await;
    let store = Store::open(&config).await.unwrap();
    let digest = store
        .blobs()
        .put(Bytes::from_static(b"weights weights weights"))
        .await
        .unwrap();
    // Changed behind the store's back: on disk, or in the bucket.
    let raw = crate::raw_objects(&config);
    let key = ObjectPath::from(format!("blobs/sha256/{digest}"));
    let mut bytes = raw.get(&key).await.unwrap().bytes().await.unwrap().to_vec();
    bytes[3] ^= 0x01;
    raw.put(&key, Bytes::from(bytes.clone()).into())
        .await
        .unwrap();

    let err = store.blobs().get(&digest).await.unwrap_err();
    match &err {
        StoreError::Corrupt {
            key,
            expected,
            actual,
        } => {
            assert_eq!(key, &format!("blobs/sha256/{digest}"));
            assert_eq!(expected, &digest);
            assert_eq!(actual, &sha256_hex(&bytes));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(err.to_string().contains("checksum"), "{err}");

    // Putting the right bytes again repairs it.
    store
        .blobs()
        .put(Bytes::from_static(b"weights weights weights"))
        .await
        .unwrap();
    store.blobs().get(&digest).await.unwrap();

    // Removed behind its back: a not-found error that names the blob.
    raw.delete(&key).await.unwrap();
    let err = store.blobs().get(&digest).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(..)), "{err:?}");
    assert!(err.to_string().contains(&digest), "{err}");
}

#[tokio::test]
async fn malformed_digests_are_refused() {
    let (store, _dir) = crate::store().await;
    let upper = sha256_hex(b"x").to_uppercase();
    for bad in [
        "",
        "../../etc/passwd",
        "abc",
        upper.as_str(),
        &"g".repeat(64),
    ] {
        for err in [
            store.blobs().get(bad).await.unwrap_err(),
            store.blobs().exists(bad).await.unwrap_err(),
            store.blobs().delete(bad).await.unwrap_err(),
        ] {
            assert!(
                matches!(err, StoreError::InvalidArgument(_)),
                "{bad:?}: {err:?}"
            );
        }
    }
}

#[tokio::test]
async fn stale_temp_files_of_interrupted_uploads_are_removed() {
    let (config, dir) = crate::config().await;
    // Temp files are a local directory's (an S3 upload is one request).
    let config = StoreConfig {
        store_url: None,
        ..config
    };
    let store = Store::open(&config).await.unwrap();
    let digest = store
        .blobs()
        .put(Bytes::from_static(b"kept"))
        .await
        .unwrap();
    let blob_dir = dir.path().join("blobs/sha256");
    let stale = blob_dir.join(format!("{}#1", sha256_hex(b"half")));
    let fresh = blob_dir.join(format!("{}#2", sha256_hex(b"in flight")));
    std::fs::write(&stale, b"half a blob").unwrap();
    std::fs::write(&fresh, b"being written").unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();
    drop(store);

    // Opening removes the stale file and leaves a recent one (maybe another process's upload).
    let store = Store::open(&config).await.unwrap();
    assert!(!stale.exists());
    assert!(fresh.exists());
    assert_eq!(
        store
            .blobs()
            .remove_stale_uploads(Duration::ZERO)
            .await
            .unwrap(),
        1
    );
    assert!(!fresh.exists());
    assert_eq!(&store.blobs().get(&digest).await.unwrap()[..], b"kept");
}
