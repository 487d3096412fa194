//! API keys and the audit log: stored, read back, deleted or pruned.

use crate::store;
use aiaas_store::{KeyRecord, NewAuditEntry, NewKey, StoreError};
use aiaas_types::{KeyId, KeyName, ModelName, Resource, Role};

#[tokio::test]
async fn keys_are_stored_listed_and_deleted() {
    let (store, _dir) = store().await;
    let record = KeyRecord {
        id: KeyId::new("k1").unwrap(),
        name: KeyName::new("ci").unwrap(),
        role: Role::Predictor,
        models: Some(vec![ModelName::new("iris").unwrap()]),
        created_at_ms: 5,
        expires_at_ms: Some(10),
        rate_limit: Some(2.5),
    };
    store
        .insert_key(NewKey {
            record: &record,
            secret_sha256: "ab",
        })
        .await
        .unwrap();
    assert_eq!(store.keys().await.unwrap(), vec![(record, "ab".into())]);
    store.delete_key(&KeyId::new("k1").unwrap()).await.unwrap();
    assert!(store.keys().await.unwrap().is_empty());
    assert!(matches!(
        store.delete_key(&KeyId::new("k1").unwrap()).await,
        Err(StoreError::NotFound(Resource::Key, _))
    ));
}

#[tokio::test]
async fn of_processes_starting_at_once_one_makes_the_first_key() {
    let (store, _dir) = store().await;
    let admin = |id: &str| KeyRecord {
        id: KeyId::new(id).unwrap(),
        name: KeyName::new("admin").unwrap(),
        role: Role::Admin,
        models: None,
        created_at_ms: 1,
        expires_at_ms: None,
        rate_limit: None,
    };
    let records: Vec<KeyRecord> = (0..8).map(|i| admin(&format!("a{i}"))).collect();
    let attempts = records.iter().map(|record| {
        store.insert_first_key(NewKey {
            record,
            secret_sha256: "cd",
        })
    });
    let made = futures_util::future::join_all(attempts).await;
    let made: Vec<bool> = made.into_iter().map(Result::unwrap).collect();
    assert_eq!(made.iter().filter(|m| **m).count(), 1, "{made:?}");
    assert_eq!(store.keys().await.unwrap().len(), 1);
}

#[tokio::test]
async fn entries_are_recorded_read_since_a_time_and_pruned() {
    let (store, _dir) = store().await;
    let entry = |status| NewAuditEntry {
        key: Some((
            KeyId::new("k1").unwrap(),
            KeyName::new("ci").unwrap(),
            Role::Operator,
        )),
        method: "PUT".into(),
        route: "/api/v1/models/{name}/aliases/{alias}".into(),
        target: "/api/v1/models/iris/aliases/champion".into(),
        status,
        client: "127.0.0.1:5000".into(),
    };
    store.insert_audit(&entry(200)).await.unwrap();
    store
        .insert_audit(&NewAuditEntry {
            key: None,
            ..entry(401)
        })
        .await
        .unwrap();
    let all = store.audit(0, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].role, Some(Role::Operator));
    assert_eq!((all[1].status, all[1].key_id.clone()), (401, None));
    assert_eq!(store.audit(0, 1).await.unwrap().len(), 1);
    assert!(store.audit(i64::MAX, 10).await.unwrap().is_empty());
    assert_eq!(store.prune_audit(i64::MAX).await.unwrap(), 2);
}
