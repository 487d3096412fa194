//! One compute pool for many models: a flooded model cannot starve another, and shares weigh
//! the compute each busy model gets.

use crate::{bounded, input, mlp};
use aiaas_engine::Network;
use aiaas_serve::{Arrivals, Batcher, BatcherConfig, ComputePool, Dense, ModelMetrics};
use std::sync::Arc;
use std::time::Duration;

const INPUTS: usize = 64;

/// A network whose one-row pass takes tens of microseconds.
fn network(seed: u64) -> Arc<Network> {
    mlp(INPUTS, &[256, 256], 3, seed)
}

/// A batcher in `pool` that computes one request per batch.
fn one_per_batch(pool: &ComputePool, network: Arc<Network>, share: u32, name: &str) -> Batcher {
    let config = BatcherConfig {
        max_batch: 1,
        max_delay: Duration::ZERO,
        queue_capacity: 100_000,
        threads: 1,
        share,
    };
    let metrics = ModelMetrics::new(name, "");
    Batcher::in_pool(
        pool,
        Dense(network),
        config,
        name,
        metrics,
        Arrivals::default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooded_model_does_not_starve_another() {
    let pool = ComputePool::new(1, "fair");
    let flooded = one_per_batch(&pool, network(1), 1, "flooded");
    let other = one_per_batch(&pool, network(2), 1, "other");
    let backlog: Vec<_> = (0..2_000)
        .map(|i| tokio::spawn(flooded.infer(input(1, INPUTS, i), 1, None)))
        .collect();
    // Give the flood a head start, then ask the other model once.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let before = flooded.stats().batches;
    bounded(other.infer(input(1, INPUTS, 0), 1, None))
        .await
        .unwrap();
    let waited_for = flooded.stats().batches - before;
    // Its turn came after about one quantum of the flood (a few batches; more on a busy machine,
    // where this task also waits to see its answer), not after the 2,000 queued.
    assert!(
        waited_for < 200,
        "answered after {waited_for} of the flood's batches"
    );
    assert!(flooded.queue_depth() > 500, "the flood had drained first");
    for call in backlog {
        bounded(call).await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_models_get_compute_in_proportion_to_their_shares() {
    let pool = ComputePool::new(1, "shares");
    let net = network(3);
    let heavy = one_per_batch(&pool, net.clone(), 4, "heavy");
    let light = one_per_batch(&pool, net, 1, "light");
    let mut calls = Vec::new();
    for i in 0..3_000 {
        calls.push(tokio::spawn(heavy.infer(input(1, INPUTS, i), 1, None)));
        calls.push(tokio::spawn(light.infer(input(1, INPUTS, i), 1, None)));
    }
    // While both are busy, the same network's batches come four to one.
    let measured = bounded(async {
        loop {
            let (h, l) = (heavy.stats().batches, light.stats().batches);
            if h + l >= 1_000 {
                return (h, l);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    let ratio = measured.0 as f64 / measured.1.max(1) as f64;
    assert!((2.5..6.0).contains(&ratio), "heavy/light {measured:?}");
    for call in calls {
        bounded(call).await.unwrap().unwrap();
    }
}
