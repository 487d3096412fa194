//! The update loop's state: policies and when they are due, model events, rollback.

use crate::{model, new_version, store};
use aiaas_store::StoreError;
use aiaas_types::AliasName;
use aiaas_types::Version;
use serde_json::json;

#[tokio::test]
async fn policies_come_due_and_events_are_numbered_per_model() {
    let (store, _dir) = store().await;
    let (m, n) = (model("m"), model("n"));
    store
        .set_policy(&m, &json!({"accuracy_floor": 0.9}))
        .await
        .unwrap();
    let now = 4_000_000_000_000; // ms: in 2096, after the policy was set
    let due = store.claim_due_policies(now, 60_000).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].policy["accuracy_floor"], 0.9);
    // Taken: no one else gets it until the hold runs out.
    assert!(
        store
            .claim_due_policies(now, 60_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .claim_due_policies(now + 60_000, 60_000)
            .await
            .unwrap()
            .len(),
        1
    );
    store.set_next_check(&m, i64::MAX - 1).await.unwrap();
    assert!(
        store
            .claim_due_policies(now * 2, 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.policy(&m).await.unwrap().is_some());
    store.delete_policy(&m).await.unwrap();
    assert!(matches!(
        store.delete_policy(&m).await,
        Err(StoreError::NotFound(..))
    ));

    for kind in ["breach", "retrain"] {
        store
            .append_model_event(&m, kind, &json!({"k": kind}))
            .await
            .unwrap();
    }
    let other = store
        .append_model_event(&n, "breach", &json!({}))
        .await
        .unwrap();
    assert_eq!(other.seq, 1);
    let events = store.model_events(&m, 0).await.unwrap();
    let kinds: Vec<(i64, &str)> = events.iter().map(|e| (e.seq, e.kind.as_str())).collect();
    assert_eq!(kinds, [(1, "breach"), (2, "retrain")]);
    assert_eq!(store.model_events(&m, 1).await.unwrap().len(), 1);
}

#[tokio::test]
async fn rollback_swaps_champion_and_previous() {
    let (store, _dir) = store().await;
    let m = model("m");
    for seed in ["a", "b"] {
        let v = new_version(&store, "m", seed).await;
        store.publish_version(&v).await.unwrap();
    }
    let alias = |a: &str| AliasName::new(a).unwrap();
    assert!(matches!(
        store.rollback(&m).await,
        Err(StoreError::Conflict(_))
    ));
    store
        .set_alias(&m, &alias("champion"), Version::new(2))
        .await
        .unwrap();
    store
        .set_alias(&m, &alias("previous"), Version::new(1))
        .await
        .unwrap();
    assert_eq!(
        store.rollback(&m).await.unwrap(),
        (Version::new(2), Version::new(1))
    );
    let record = store.model(&m).await.unwrap();
    let aliases: Vec<(String, u32)> = record
        .aliases
        .iter()
        .map(|(a, v)| (a.to_string(), v.get()))
        .collect();
    assert!(aliases.contains(&("champion".into(), 1)), "{aliases:?}");
    assert!(aliases.contains(&("previous".into(), 2)), "{aliases:?}");
}
