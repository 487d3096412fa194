//! The model registry: version numbering, task conflicts, aliases, deletion, job idempotence,
//! duplicate imports, tags and blob references.

use crate::{model, new_version};
use aiaas_store::{StoreError, VersionPage};
use aiaas_types::Version;
use aiaas_types::{AliasName, JobId, Task};

fn alias(name: &str) -> AliasName {
    AliasName::new(name).unwrap()
}

#[tokio::test]
async fn versions_are_numbered_in_order_and_listed() {
    let (store, _dir) = crate::store().await;
    for (i, seed) in ["a", "b", "c"].into_iter().enumerate() {
        let mut new = new_version(&store, "iris", seed).await;
        new.parent = (i > 0).then_some(Version::new(i as u32));
        let record = store.publish_version(&new).await.unwrap();
        assert_eq!(record.summary.version, i as u32 + 1);
        assert_eq!(record.manifest, new.manifest);
        assert_eq!(record.summary.weights_digest, new.weights_digest);
    }
    store
        .publish_version(&new_version(&store, "digits", "a").await)
        .await
        .unwrap();

    let iris = store.model(&model("iris")).await.unwrap();
    assert_eq!(iris.task, Task::Classification);
    let numbers: Vec<_> = iris.versions.iter().map(|v| v.version).collect();
    assert_eq!(numbers, vec![1, 2, 3]);
    assert_eq!(iris.versions[2].parent, Some(Version::new(2)));
    assert_eq!(iris.version_count, 3);
    // A page: the newest `limit` below `before`, oldest first, with the count of them all.
    let page = |before: Option<u32>, limit: Option<u32>| VersionPage {
        before: before.map(Version::new),
        limit,
    };
    for (before, limit, expected) in [
        (None, Some(2), vec![2, 3]),
        (Some(3), Some(1), vec![2]),
        (Some(3), None, vec![1, 2]),
        (Some(1), Some(5), vec![]),
    ] {
        let paged = store
            .model_page(&model("iris"), page(before, limit))
            .await
            .unwrap();
        let numbers: Vec<_> = paged.versions.iter().map(|v| v.version).collect();
        assert_eq!(numbers, expected, "before {before:?}, limit {limit:?}");
        assert_eq!(paged.version_count, 3);
    }
    let missing = store.model(&model("ghost")).await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(..)), "{missing:?}");

    let models = store.models().await.unwrap();
    let names: Vec<_> = models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, vec!["digits", "iris"]);
    assert_eq!(models[1].latest_version, Some(Version::new(3)));
    assert_eq!(models[1].version_count, 3);
    assert_eq!(models[1].champion_metrics, None, "no champion yet");

    let v2 = store
        .version(&model("iris"), Version::new(2))
        .await
        .unwrap();
    assert_eq!(v2.manifest["seed"], "b");
    let err = store
        .version(&model("iris"), Version::new(7))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(..)));
    assert_eq!(err.to_string(), "model \"iris\" has no version 7");
    let err = store
        .version(&model("nope"), Version::new(1))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "model \"nope\" not found");
    assert!(matches!(
        store.model(&model("nope")).await.unwrap_err(),
        StoreError::NotFound(..)
    ));
}

#[tokio::test]
async fn a_model_keeps_its_task() {
    let (store, _dir) = crate::store().await;
    store
        .publish_version(&new_version(&store, "iris", "a").await)
        .await
        .unwrap();
    let mut regression = new_version(&store, "iris", "b").await;
    regression.task = Task::Regression;
    let err = store.publish_version(&regression).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(err.to_string().contains("classification"), "{err}");
    assert_eq!(store.model(&model("iris")).await.unwrap().versions.len(), 1);
}

#[tokio::test]
async fn aliases_move_resolve_and_guard_deletion() {
    let (store, _dir) = crate::store().await;
    let iris = model("iris");
    for seed in ["a", "b", "c"] {
        store
            .publish_version(&new_version(&store, "iris", seed).await)
            .await
            .unwrap();
    }
    store
        .set_alias(&iris, &alias("champion"), Version::new(1))
        .await
        .unwrap();
    store
        .set_alias(&iris, &alias("challenger"), Version::new(3))
        .await
        .unwrap();
    let resolved = async |reference: &str| {
        let record = store.resolve(&iris, reference).await.unwrap();
        record.summary.version
    };
    assert_eq!(resolved("champion").await, 1);
    store
        .set_alias(&iris, &alias("champion"), Version::new(2))
        .await
        .unwrap();
    assert_eq!(resolved("champion").await, 2);
    assert_eq!(resolved("3").await, 3);

    let record = store.model(&iris).await.unwrap();
    assert_eq!(record.aliases.len(), 2);
    assert_eq!(record.aliases[&alias("champion")], 2);
    let summary = &store.models().await.unwrap()[0];
    assert_eq!(summary.aliases, record.aliases);
    let champion = store.version(&iris, Version::new(2)).await.unwrap();
    assert_eq!(
        summary.champion_metrics.as_ref(),
        Some(&champion.summary.metrics),
        "the list carries the champion's metrics"
    );

    for reference in ["nope", "9", "bad name/..", ""] {
        let err = store.resolve(&iris, reference).await.unwrap_err();
        assert!(
            matches!(err, StoreError::NotFound(..)),
            "{reference:?}: {err:?}"
        );
    }
    let err = store
        .set_alias(&iris, &alias("x"), Version::new(9))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "model \"iris\" has no version 9");
    let err = store
        .set_alias(&iris, &alias("42"), Version::new(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidArgument(_)), "{err:?}");

    let err = store
        .delete_version(&iris, Version::new(2))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(err.to_string().contains("\"champion\""), "{err}");

    store.delete_alias(&iris, &alias("champion")).await.unwrap();
    assert!(matches!(
        store
            .delete_alias(&iris, &alias("champion"))
            .await
            .unwrap_err(),
        StoreError::NotFound(..)
    ));
    let deleted = store.delete_version(&iris, Version::new(2)).await.unwrap();
    assert_eq!(deleted.summary.version, 2);
    assert!(
        !store
            .blob_in_use(&deleted.summary.weights_digest)
            .await
            .unwrap()
    );
    assert!(
        !store
            .blob_in_use(&deleted.summary.manifest_digest)
            .await
            .unwrap()
    );
    assert!(matches!(
        store.version(&iris, Version::new(2)).await.unwrap_err(),
        StoreError::NotFound(..)
    ));

    // Numbers are not reused after a deletion.
    let next = store
        .publish_version(&new_version(&store, "iris", "d").await)
        .await
        .unwrap();
    assert_eq!(next.summary.version, 4);
    let v3 = store.version(&iris, Version::new(3)).await.unwrap();
    assert!(store.blob_in_use(&v3.summary.weights_digest).await.unwrap());
}

#[tokio::test]
async fn a_job_publishes_at_most_one_version() {
    let (store, _dir) = crate::store().await;
    let job = JobId::new("job-1").unwrap();
    let mut new = new_version(&store, "iris", "a").await;
    new.job_id = Some(job.clone());
    let first = store.publish_version(&new).await.unwrap();
    let mut retry = new_version(&store, "iris", "b").await;
    retry.job_id = Some(job.clone());
    let second = store.publish_version(&retry).await.unwrap();
    assert_eq!(first, second);
    let record = store.model(&model("iris")).await.unwrap();
    assert_eq!(record.versions.len(), 1);
    assert_eq!(record.versions[0].job_id, Some(job));
}

#[tokio::test]
async fn an_import_of_weights_the_model_holds_is_refused_and_names_the_version() {
    let (store, _dir) = crate::store().await;
    let first = new_version(&store, "iris", "a").await;
    store.publish_version(&first).await.unwrap();
    let again = store.publish_version(&first).await.unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again:?}");
    assert!(
        again
            .to_string()
            .contains("version 1 already has these weights"),
        "{again}"
    );
    // Another model may hold them, and a job (which may reproduce weights) is not refused.
    let mut other = first.clone();
    other.model = model("iris-copy");
    store.publish_version(&other).await.unwrap();
    let mut retrained = first.clone();
    retrained.job_id = Some(JobId::new("job-1").unwrap());
    assert_eq!(
        store
            .publish_version(&retrained)
            .await
            .unwrap()
            .summary
            .version,
        2
    );
}

#[tokio::test]
async fn tags_per_version() {
    let (store, _dir) = crate::store().await;
    let iris = model("iris");
    store
        .publish_version(&new_version(&store, "iris", "a").await)
        .await
        .unwrap();
    store
        .set_tag(&iris, Version::new(1), "stage", "staging")
        .await
        .unwrap();
    store
        .set_tag(&iris, Version::new(1), "stage", "production")
        .await
        .unwrap();
    store
        .set_tag(&iris, Version::new(1), "owner", "ml-team")
        .await
        .unwrap();
    let tags = store.tags(&iris, Version::new(1)).await.unwrap();
    assert_eq!(tags.len(), 2);
    assert_eq!(tags["stage"], "production");
    store
        .delete_tag(&iris, Version::new(1), "owner")
        .await
        .unwrap();
    assert_eq!(store.tags(&iris, Version::new(1)).await.unwrap().len(), 1);
    assert!(matches!(
        store
            .set_tag(&iris, Version::new(2), "k", "v")
            .await
            .unwrap_err(),
        StoreError::NotFound(..)
    ));
    assert!(matches!(
        store
            .set_tag(&iris, Version::new(1), "", "v")
            .await
            .unwrap_err(),
        StoreError::InvalidArgument(_)
    ));
    // Tags go with their version.
    store.delete_version(&iris, Version::new(1)).await.unwrap();
    assert!(matches!(
        store.tags(&iris, Version::new(1)).await.unwrap_err(),
        StoreError::NotFound(..)
    ));
}
