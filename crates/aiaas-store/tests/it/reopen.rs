//! Data survives closing and reopening the store; migrations run once.

use crate::{add_dataset, dataset_name, model, new_version, queue_job};
use aiaas_store::Store;
use aiaas_types::Version;
use aiaas_types::{AliasName, JobState};

#[tokio::test]
async fn data_survives_a_reopen() {
    let (config, _dir) = crate::config().await;
    let (version, job, dataset) = {
        let store = Store::open(&config).await.unwrap();
        let dataset = add_dataset(&store, "iris").await;
        let version = store
            .publish_version(&new_version(&store, "iris", "a").await)
            .await
            .unwrap();
        store
            .set_alias(
                &model("iris"),
                &AliasName::new("champion").unwrap(),
                Version::new(1),
            )
            .await
            .unwrap();
        let job = queue_job(&store, "iris").await;
        store.claim_job("w").await.unwrap().unwrap();
        store.close().await;
        (version, job, dataset)
    };

    for _ in 0..2 {
        let store = Store::open(&config).await.unwrap();
        assert_eq!(store.dataset(&dataset_name("iris")).await.unwrap(), dataset);
        assert_eq!(
            store.resolve(&model("iris"), "champion").await.unwrap(),
            version
        );
        let bytes = store
            .blobs()
            .get(&version.summary.weights_digest)
            .await
            .unwrap();
        assert_eq!(&bytes[..], b"weights of iris a");
        assert_eq!(store.job(&job).await.unwrap().attempts, 1);
        store.requeue_interrupted().await.unwrap();
        assert_eq!(store.job(&job).await.unwrap().state, JobState::Queued);
    }
}
