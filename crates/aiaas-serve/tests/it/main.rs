//! Integration tests of aiaas-serve. Models are made in code (small MLPs with fixed seeds), inputs
//! are deterministic; every wait is bounded by a timeout so that a bug fails a test instead of
//! hanging it.

mod batching;
mod density;
mod fairness;
mod limits;
mod memory;
mod metrics;
mod pool;
mod shutdown;

use aiaas_engine::{Mlp, Network};
use aiaas_serve::{Arrivals, Arriving, Batcher, BatcherConfig, ModelMetrics};
use aiaas_types::Activation;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// A freshly initialised ReLU MLP `inputs -> hidden... -> outputs`.
pub fn mlp(inputs: usize, hidden: &[usize], outputs: usize, seed: u64) -> Arc<Network> {
    let layers = aiaas_engine::stack(inputs, hidden, outputs, Activation::Relu);
    Arc::new(Mlp::new(layers, seed).unwrap().into())
}

/// `rows` rows of `inputs` values in [-1, 1], different for each `salt`.
pub fn input(rows: usize, inputs: usize, salt: usize) -> Vec<f32> {
    (0..rows * inputs)
        .map(|i| ((i * 31 + salt * 17) % 41) as f32 / 20.0 - 1.0)
        .collect()
}

/// A batcher configuration with one compute thread.
pub fn config(max_batch: usize, max_delay: Duration, queue_capacity: usize) -> BatcherConfig {
    BatcherConfig {
        max_batch,
        max_delay,
        queue_capacity,
        threads: 1,
        share: 1,
    }
}

/// A batcher that always has a caller on its way (while the guard lives), so each batch waits
/// `config.max_delay` for company unless it fills first.
pub fn awaiting_company(
    network: Arc<Network>,
    config: BatcherConfig,
    name: &str,
) -> (Batcher, Arriving) {
    let arrivals = Arrivals::default();
    let on_the_way = arrivals.arriving();
    let metrics = ModelMetrics::new(name, "");
    let batcher = Batcher::start_with(network, config, name, metrics, arrivals);
    (batcher, on_the_way)
}

/// `f`'s output, or a test failure after 30 s.
pub async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("timed out: something hangs")
}

/// Logits within 1e-5 (relative above 1) of `expected`. A forward pass is not bitwise invariant
/// to the batch a row shares: `gemm` picks its kernels by the number of rows, so a batched row
/// may differ from the same row computed alone in the last bits.
#[track_caller]
pub fn assert_close(got: &[f32], expected: &[f32]) {
    assert_eq!(got.len(), expected.len(), "logit count");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            (g - e).abs() <= 1e-5 * (1.0 + e.abs()),
            "logit {i}: {g} vs {e} (all: {got:?} vs {expected:?})"
        );
    }
}
