//! The model pool over the in-memory source: what a reference means, loading on first use, hot
//! swap when an alias moves (no request fails), serving settings applied by restarting a
//! version's batcher, the prediction log, and the memory budget.

use crate::memory::*;
use crate::{bounded, mlp};
use aiaas_serve::v2::InferResponse;
use aiaas_serve::{BatcherConfig, ModelPool, PoolConfig, PredictionLog, Preload, ServeError};
use aiaas_types::{ServingSettings, TargetSchema, TargetValue, Version};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[tokio::test]
async fn references_resolve_and_load_once_without_a_database() {
    let source = MemorySource::new();
    let m = name("m");
    source.publish(&m, 1, 1);
    source.publish(&m, 2, 2);
    let pool = start(&source, None);

    // No champion: the name alone means the newest version.
    let newest = bounded(pool.get(&m, None)).await.unwrap();
    assert_eq!(newest.version, 2);
    source.set_alias(&m, "champion", 1);
    eventually("the name follows the champion", || {
        pool.loaded().iter().any(|l| l.version == 1)
    })
    .await;
    assert_eq!(bounded(pool.get(&m, None)).await.unwrap().version, 1);
    assert_eq!(bounded(pool.get(&m, Some("2"))).await.unwrap().version, 2);
    assert_eq!(
        bounded(pool.get(&m, Some("champion")))
            .await
            .unwrap()
            .version,
        1
    );

    // Each version was read from the source once, however often it was asked for.
    let loads = source.loads.load(Ordering::SeqCst);
    for _ in 0..5 {
        bounded(pool.get(&m, Some("2"))).await.unwrap();
    }
    assert_eq!(source.loads.load(Ordering::SeqCst), loads);
    assert_eq!(loads, 2);

    for (model, reference) in [("m", Some("3")), ("m", Some("nope")), ("other", None)] {
        let err = bounded(pool.get(&name(model), reference))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ServeError::NotFound(_)), "{err:?}");
    }

    // The answer is version 1's network on the request's rows, softmaxed.
    let response = bounded(infer(&pool, &m, request(None, 2))).await.unwrap();
    assert_eq!(response.model_version, "1");
    let expected = mlp(INPUTS, &[8], 2, 1).predict(&request_values(2), 2, 1);
    let softmax: Vec<f32> = expected
        .chunks(2)
        .flat_map(|logits| {
            let max = logits[0].max(logits[1]);
            let e: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
            let sum: f32 = e.iter().sum();
            e.into_iter().map(move |v| v / sum)
        })
        .collect();
    crate::assert_close(&probabilities(&response), &softmax);
}

fn request_values(rows: usize) -> Vec<f32> {
    (0..rows * INPUTS).map(|i| i as f32 / 10.0 - 0.5).collect()
}

#[tokio::test]
async fn version_lists_come_from_memory_until_the_model_changes() {
    let source = MemorySource::new();
    let a = name("a");
    source.publish(&a, 1, 1);
    let pool = start(&source, None);
    let numbers = |v: Arc<[Version]>| v.iter().map(|v| v.get()).collect::<Vec<_>>();
    for _ in 0..3 {
        assert_eq!(numbers(pool.versions(&a).await.unwrap()), [1]);
    }
    assert_eq!(source.listings.load(Ordering::SeqCst), 1, "asked once");
    assert!(pool.versions(&name("ghost")).await.is_err());

    source.publish(&a, 2, 2);
    for _ in 0..200 {
        if numbers(pool.versions(&a).await.unwrap()) == [1, 2] {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the new version never showed");
}

#[tokio::test]
async fn preload_aliased_loads_every_reference() {
    let source = MemorySource::new();
    let (a, b) = (name("a"), name("b"));
    source.publish(&a, 1, 1);
    source.publish(&a, 2, 2);
    source.set_alias(&a, "champion", 1);
    source.set_alias(&a, "challenger", 2);
    source.publish(&b, 1, 3);
    let config = PoolConfig {
        preload: Preload::Aliased,
        ..PoolConfig::default()
    };
    let pool = ModelPool::start(source.clone(), config, None);
    // Four references (a, a@champion, a@challenger, b) name three versions: a's name and its
    // champion both mean a@1.
    assert_eq!(bounded(pool.preload()).await.unwrap(), 3);
    let loaded: Vec<(String, u32)> = pool
        .loaded()
        .iter()
        .map(|l| (l.name.to_string(), l.version.get()))
        .collect();
    assert_eq!(
        loaded,
        [("a".into(), 1), ("a".into(), 2), ("b".into(), 1)].to_vec()
    );
}

/// Clients keep calling while the champion moves from version 1 to 2: every call is answered,
/// and once the pool has followed, the name answers with version 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swap_under_load_drops_nothing() {
    let source = MemorySource::new();
    let m = name("m");
    source.publish(&m, 1, 1);
    source.set_alias(&m, "champion", 1);
    let pool = start(&source, None);
    bounded(pool.preload()).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (pool, m, stop) = (pool.clone(), m.clone(), stop.clone());
            tokio::spawn(async move {
                let mut versions = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let response = infer(&pool, &m, request(None, 1))
                        .await
                        .expect("no call fails during the swap");
                    versions.push(response.model_version);
                }
                versions
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    source.publish(&m, 2, 2);
    source.set_alias(&m, "champion", 2);
    let followed = async {
        loop {
            let response = infer(&pool, &m, request(None, 1)).await;
            if response.unwrap().model_version == "2" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    bounded(followed).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, Ordering::SeqCst);
    let mut answered = 0;
    let mut saw = std::collections::BTreeSet::new();
    for client in clients {
        let versions = bounded(client).await.unwrap();
        answered += versions.len();
        saw.extend(versions);
    }
    assert!(answered > 100, "only {answered} calls were made");
    assert_eq!(saw, ["1".to_string(), "2".to_string()].into());
}

#[tokio::test]
async fn serving_settings_restart_the_batcher() {
    let source = MemorySource::new();
    let m = name("m");
    source.publish(&m, 1, 1);
    let pool = start(&source, None);
    let before = bounded(pool.get(&m, None)).await.unwrap();
    assert_eq!(before.config.max_batch, BatcherConfig::default().max_batch);
    source.set_settings(
        &m,
        1,
        ServingSettings {
            max_batch: Some(4),
            ..ServingSettings::default()
        },
    );
    eventually("the new settings apply", || {
        pool.loaded().iter().any(|l| l.config.max_batch == 4)
    })
    .await;
    // The model handed out before still answers: its batcher lives as long as it does.
    let rows = dense(&before)
        .batcher
        .infer(vec![0.0; INPUTS], 1, None)
        .await;
    assert_eq!(rows.unwrap().len(), LABELS.len());
}

#[tokio::test]
async fn the_prediction_log_writes_each_row_with_its_id_and_label() {
    let source = MemorySource::new();
    let m = name("m");
    source.publish(&m, 1, 1);
    let sink = Arc::new(MemorySink::default());
    let log = PredictionLog::start(sink.clone(), 1.0);
    let pool = start(&source, Some(log));
    let one = bounded(infer(&pool, &m, request(Some("a"), 1)))
        .await
        .unwrap();
    let three = bounded(infer(&pool, &m, request(Some("b"), 3)))
        .await
        .unwrap();
    bounded(pool.log().unwrap().close(Duration::from_secs(5))).await;

    let rows = sink.rows.lock().unwrap().clone();
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a", "b/0", "b/1", "b/2"]);
    let labels = |response: &InferResponse| -> Vec<TargetValue> {
        probabilities(response)
            .chunks(2)
            .map(|p| TargetValue::Class(LABELS[usize::from(p[1] > p[0])].to_string()))
            .collect()
    };
    let predicted: Vec<TargetValue> = rows.iter().map(|r| r.predicted.clone()).collect();
    assert_eq!(predicted, [labels(&one), labels(&three)].concat());
    assert!(rows.iter().all(|r| r.model == m && r.version == 1));
    assert_eq!(rows[3].inputs, request_values(3)[2 * INPUTS..].to_vec());
}

/// Requests for versions that do not exist leave nothing behind: when the model changes, the
/// pool looks at the references it serves, not at every number it was ever asked for.
#[tokio::test]
async fn references_to_missing_versions_are_not_remembered() {
    let source = MemorySource::new();
    let m = name("m");
    source.publish(&m, 1, 1);
    let pool = start(&source, None);
    bounded(pool.get(&m, None)).await.unwrap();
    for missing in 2..52 {
        let reference = missing.to_string();
        assert!(bounded(pool.get(&m, Some(&reference))).await.is_err());
    }
    let before = source.loads.load(Ordering::SeqCst);
    source.set_alias(&m, "champion", 1);
    eventually("the change is followed", || {
        source.loads.load(Ordering::SeqCst) == before
            && pool.loaded().iter().all(|l| l.version == 1)
    })
    .await;
    // Give the follower time to (wrongly) re-resolve 50 missing versions.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(source.loads.load(Ordering::SeqCst), before);
}

/// A source may hand over anything: a bundle whose labels do not match its outputs, or which
/// has no features, is refused when it loads, and the pool goes on serving the others.
#[tokio::test]
async fn bundles_the_runtime_cannot_serve_are_refused_at_load() {
    let source = MemorySource::new();
    let (good, bad) = (name("good"), name("bad"));
    source.publish(&good, 1, 1);
    let mut one_label = bundle(&bad, 2);
    one_label.manifest.schema.target = TargetSchema::Classification {
        name: "y".into(),
        labels: vec!["only".into()],
    };
    let mut no_features = bundle(&bad, 3);
    no_features.manifest.schema.features.clear();
    {
        let mut memory = source.memory.lock().unwrap();
        memory
            .versions
            .insert((bad.clone(), Version::new(1)), one_label);
        memory
            .versions
            .insert((bad.clone(), Version::new(2)), no_features);
    }
    let pool = start(&source, None);
    for version in ["1", "2"] {
        match bounded(pool.get(&bad, Some(version))).await {
            Err(ServeError::Internal(message)) => {
                assert!(message.contains("cannot be served"), "{message}")
            }
            Err(other) => panic!("expected Internal, got {other:?}"),
            Ok(_) => panic!("version {version} was loaded"),
        }
    }
    let response = bounded(infer(&pool, &good, request(None, 1))).await;
    assert_eq!(response.unwrap().model_version, "1");
}

#[tokio::test]
async fn past_its_memory_budget_the_pool_unloads_the_least_recently_used() {
    let source = MemorySource::new();
    let (a, b, c) = (name("a"), name("b"), name("c"));
    for (seed, m) in [&a, &b, &c].into_iter().enumerate() {
        source.publish(m, 1, seed as u64);
    }
    // Each of the three models takes the same memory: room for two.
    let one = {
        let probe = start(&source, None);
        bounded(probe.get(&a, None)).await.unwrap().memory_bytes
    };
    let pool = start_with_budget(&source, None, 2 * one + one / 2);
    let held = |pool: &ModelPool| {
        let mut names: Vec<String> = pool.loaded().iter().map(|m| m.name.to_string()).collect();
        names.sort();
        names
    };
    let pause = || tokio::time::sleep(Duration::from_millis(5));
    bounded(pool.get(&a, None)).await.unwrap();
    pause().await;
    bounded(pool.get(&b, None)).await.unwrap();
    pause().await;
    // a is used again, so b is now the least recently used.
    let in_flight = bounded(pool.get(&a, None)).await.unwrap();
    pause().await;
    bounded(pool.get(&c, None)).await.unwrap();
    assert_eq!(held(&pool), ["a", "c"]);
    // b comes back on its next request, and a (used before c) makes room.
    let answer = bounded(infer(&pool, &b, request(None, 1))).await;
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(held(&pool), ["b", "c"]);
    // A request that held a when it was unloaded still gets its answer.
    assert!(
        bounded(dense(&in_flight).batcher.infer(vec![0.0; INPUTS], 1, None))
            .await
            .is_ok()
    );
}
