//! Many models in one pool: ready after the index and the pinned versions alone, every other
//! version loaded once on its first request, and a small memory budget that unloads the least
//! recently used but never a pinned version nor one with requests in flight, while every
//! request is answered.

use crate::bounded;
use crate::memory::*;
use aiaas_serve::{ModelPool, PoolConfig, ServeError, VersionState};
use aiaas_types::{ModelName, ServingSettings, Version};
use std::sync::Arc;
use std::sync::atomic::Ordering;

fn pinned() -> ServingSettings {
    ServingSettings {
        pinned: true,
        ..ServingSettings::default()
    }
}

/// `count` models `m0`, `m1`, ..., each with one version aliased `champion`.
fn registry(count: usize) -> (Arc<MemorySource>, Vec<ModelName>) {
    let source = MemorySource::new();
    let names: Vec<ModelName> = (0..count).map(|i| name(&format!("m{i}"))).collect();
    for (i, m) in names.iter().enumerate() {
        source.publish(m, 1, i as u64);
        source.set_alias(m, "champion", 1);
    }
    (source, names)
}

/// The bytes one of `registry`'s versions holds once loaded.
async fn one_version_bytes(source: &Arc<MemorySource>, m: &ModelName) -> usize {
    let probe = start(source, None);
    bounded(probe.get(m, None)).await.unwrap().memory_bytes
}

#[tokio::test]
async fn ready_means_the_index_read_and_the_pinned_versions_loaded() {
    let (source, names) = registry(20);
    source.set_settings(&names[3], 1, pinned());
    let pool = start(&source, None);
    assert_eq!(
        bounded(pool.preload()).await.unwrap(),
        1,
        "one pinned version"
    );
    let loaded: Vec<_> = pool.loaded().iter().map(|m| m.name.clone()).collect();
    assert_eq!(loaded, [names[3].clone()]);
    assert!(pool.loaded()[0].pinned());
    assert_eq!(
        pool.state(&names[0], Version::new(1)),
        VersionState::Unloaded
    );

    // The index told the pool what every name and alias means: no request asks the source.
    let resolves = source.resolves.load(Ordering::SeqCst);
    for m in &names[..5] {
        let answer = bounded(infer(&pool, m, request(None, 1))).await.unwrap();
        assert_eq!(answer.model_version, "1");
        bounded(pool.get(m, Some("champion"))).await.unwrap();
    }
    assert_eq!(source.resolves.load(Ordering::SeqCst), resolves);
    assert_eq!(pool.state(&names[0], Version::new(1)), VersionState::Ready);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_load_a_version_once() {
    let (source, names) = registry(8);
    let pool = start(&source, None);
    let calls: Vec<_> = (0..64)
        .map(|i| {
            let (pool, m) = (pool.clone(), names[i % names.len()].clone());
            tokio::spawn(async move { infer(&pool, &m, request(None, 1)).await })
        })
        .collect();
    for call in calls {
        assert!(bounded(call).await.unwrap().is_ok());
    }
    assert_eq!(source.loads.load(Ordering::SeqCst), names.len());
    assert_eq!(pool.loaded().len(), names.len());
    // One compute pool serves them all.
    assert!(pool.compute_threads() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_small_budget_every_request_is_answered_and_pinned_versions_stay() {
    let (source, names) = registry(12);
    source.set_settings(&names[0], 1, pinned());
    let one = one_version_bytes(&source, &names[0]).await;
    // Room for three versions, one of them the pinned one.
    let pool = start_with_budget(&source, None, 3 * one + one / 2);
    bounded(pool.preload()).await.unwrap();
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (pool, names) = (pool.clone(), names.clone());
            tokio::spawn(async move {
                for i in 0..60 {
                    let m = &names[(i * 7 + c * 5) % names.len()];
                    infer(&pool, m, request(None, 1)).await?;
                }
                Ok::<_, ServeError>(())
            })
        })
        .collect();
    for client in clients {
        bounded(client)
            .await
            .unwrap()
            .expect("every request answered");
    }
    let held: usize = pool.loaded().iter().map(|m| m.memory_bytes).sum();
    assert!(held <= 3 * one + one / 2, "{held} bytes held");
    assert_eq!(pool.state(&names[0], Version::new(1)), VersionState::Ready);
    let evicted = (pool.not_loaded().iter())
        .filter(|(_, _, state)| *state == VersionState::Evicted)
        .count();
    assert!(evicted > 0, "nothing was evicted: {:?}", pool.not_loaded());
    assert!(
        source.loads.load(Ordering::SeqCst) > names.len(),
        "no reload"
    );
}

#[tokio::test]
async fn a_version_with_requests_in_flight_is_not_evicted() {
    let (source, names) = registry(3);
    let [a, b, c] = [&names[0], &names[1], &names[2]];
    let one = one_version_bytes(&source, a).await;
    let pool = start_with_budget(&source, None, 2 * one + one / 2);
    // a is the least recently used, but a request holds it: b makes room instead.
    let in_flight = bounded(pool.acquire(a, None)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    bounded(pool.get(b, None)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    bounded(pool.get(c, None)).await.unwrap();
    assert_eq!(in_flight.model().in_flight(), 1);
    let mut held: Vec<_> = pool.loaded().iter().map(|m| m.name.clone()).collect();
    held.sort();
    assert_eq!(held, [a.clone(), c.clone()]);
    assert_eq!(pool.state(b, Version::new(1)), VersionState::Evicted);
    drop(in_flight);
    // Once it is released, a may go: the next load evicts it, the least recently used.
    bounded(pool.get(b, None)).await.unwrap();
    assert_eq!(pool.state(a, Version::new(1)), VersionState::Evicted);
    assert_eq!(pool.state(b, Version::new(1)), VersionState::Ready);
}

#[tokio::test]
async fn a_version_pinned_while_serving_is_loaded_and_kept() {
    let (source, names) = registry(3);
    let one = one_version_bytes(&source, &names[0]).await;
    let pool = ModelPool::start(
        source.clone(),
        PoolConfig {
            max_loaded_bytes: one + one / 2,
            ..PoolConfig::default()
        },
        None,
    );
    source.set_settings(&names[2], 1, pinned());
    eventually("the pinned version loads", || {
        pool.state(&names[2], Version::new(1)) == VersionState::Ready
    })
    .await;
    // Room for one: the others load and go in turn, the pinned one stays.
    for m in &names[..2] {
        bounded(infer(&pool, m, request(None, 1))).await.unwrap();
        assert_eq!(pool.state(&names[2], Version::new(1)), VersionState::Ready);
    }
}
