//! Dataset rows: insert, get, list, name conflicts, and deletion refused while in use.

use crate::{add_dataset, dataset_name, model, new_version};
use aiaas_store::StoreError;
use aiaas_types::Version;

#[tokio::test]
async fn insert_get_list_and_conflict() {
    let (store, _dir) = crate::store().await;
    let wine = add_dataset(&store, "wine").await;
    let iris = add_dataset(&store, "iris").await;
    assert_eq!(store.dataset(&dataset_name("wine")).await.unwrap(), wine);
    assert_eq!(wine.schema["columns"][0]["name"], "x");
    assert_eq!(wine.profile["x"]["mean"], 1.5);
    let names: Vec<_> = store
        .datasets()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, vec![iris.name.clone(), wine.name.clone()]);

    let mut again: aiaas_store::NewDataset = serde_json::from_value(serde_json::json!({
        "name": "wine", "digest": wine.digest, "target": "y", "task": "regression",
        "rows": 1, "size_bytes": 1, "schema": {}, "profile": {}
    }))
    .unwrap();
    let err = store.insert_dataset(&again).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(err.to_string().contains("\"wine\" already exists"), "{err}");

    again.digest = "not a digest".into();
    again.name = dataset_name("other");
    assert!(matches!(
        store.insert_dataset(&again).await.unwrap_err(),
        StoreError::InvalidArgument(_)
    ));

    let err = store.dataset(&dataset_name("nope")).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(..)), "{err:?}");
}

#[tokio::test]
async fn delete_is_refused_while_a_version_or_a_job_uses_the_dataset() {
    let (store, _dir) = crate::store().await;
    let iris = add_dataset(&store, "iris").await;
    let mut version = new_version(&store, "iris-mlp", "a").await;
    version.dataset = Some(iris.name.clone());
    version.dataset_digest = Some(iris.digest.clone());
    store.publish_version(&version).await.unwrap();

    let err = store.delete_dataset(&iris.name).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(err.to_string().contains("iris-mlp v1"), "{err}");

    store
        .delete_version(&model("iris-mlp"), Version::new(1))
        .await
        .unwrap();
    let job = crate::queue_job(&store, "iris").await;
    let err = store.delete_dataset(&iris.name).await.unwrap_err();
    assert!(err.to_string().contains(job.as_str()), "{err}");

    store.request_cancel(&job).await.unwrap();
    let deleted = store.delete_dataset(&iris.name).await.unwrap();
    assert_eq!(deleted, iris);
    assert!(!store.blob_in_use(&iris.digest).await.unwrap());
    assert!(matches!(
        store.delete_dataset(&iris.name).await.unwrap_err(),
        StoreError::NotFound(..)
    ));
}
