//! Many writers on one store never see "database is locked" and never share a version number.

use crate::{model, new_version};
use aiaas_store::Store;
use aiaas_types::AliasName;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_publishes_and_alias_moves() {
    let (store, _dir) = crate::store().await;
    let latest = AliasName::new("latest").unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        let latest = latest.clone();
        tasks.push(tokio::spawn(async move {
            let new = new_version(&store, "iris", &i.to_string()).await;
            let record = store.publish_version(&new).await?;
            store
                .set_alias(&record.summary.model, &latest, record.summary.version)
                .await?;
            Ok::<_, aiaas_store::StoreError>(record.summary.version)
        }));
    }
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.unwrap().unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=20).collect::<Vec<u32>>());

    let record = store.model(&model("iris")).await.unwrap();
    let numbers: Vec<u32> = record.versions.iter().map(|v| v.version.get()).collect();
    assert_eq!(numbers, (1..=20).collect::<Vec<u32>>());
    let target = record.aliases[&latest];
    assert!((1..=20).contains(&target.get()));
    assert_eq!(
        store
            .resolve(&model("iris"), "latest")
            .await
            .unwrap()
            .summary
            .version,
        target
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_directory_share_the_write_lock() {
    // Two pools stand in for two processes: only the database's write lock (SQLite's, or the
    // advisory lock on PostgreSQL) keeps them apart.
    let (config, _dir) = crate::config().await;
    let a = Store::open(&config).await.unwrap();
    let b = Store::open(&config).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let new = new_version(&store, "wine", &i.to_string()).await;
            store.publish_version(&new).await.map(|r| r.summary.version)
        }));
    }
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.unwrap().unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=16).collect::<Vec<u32>>());
}
