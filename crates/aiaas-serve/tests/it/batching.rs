//! What the batcher computes and how it groups requests.

use crate::{assert_close, awaiting_company, bounded, config, input, mlp};
use aiaas_serve::{Arrivals, Batcher, BatcherConfig, ModelMetrics};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_single_request_gets_exactly_the_logits_of_predict() {
    let mlp = mlp(6, &[16, 8], 3, 1);
    let b = Batcher::start(mlp.clone(), BatcherConfig::default(), "single");
    for (salt, rows) in [1, 2, 5, 64].into_iter().enumerate() {
        let x = input(rows, 6, salt);
        let y = bounded(b.infer(x.clone(), rows, None)).await.unwrap();
        assert_eq!(y, mlp.predict(&x, rows, 1), "{rows} rows");
    }
    let stats = b.stats();
    assert_eq!((stats.requests, stats.rows), (4, 72));
    assert_eq!(b.queue_depth(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_are_batched_and_each_gets_its_own_logits() {
    let mlp = mlp(6, &[16, 8], 3, 2);
    let b = std::sync::Arc::new(Batcher::start(
        mlp.clone(),
        config(64, Duration::from_millis(20), 1024),
        "concurrent",
    ));
    let mut tasks = tokio::task::JoinSet::new();
    let mut total = 0;
    for i in 0..100 {
        let rows = 1 + i % 3;
        total += rows;
        let b = b.clone();
        tasks.spawn(async move {
            let x = input(rows, 6, i);
            let y = b.infer(x.clone(), rows, None).await;
            (x, rows, y)
        });
    }
    let answers = bounded(tasks.join_all()).await;
    for (x, rows, y) in answers {
        assert_close(&y.unwrap(), &mlp.predict(&x, rows, 1));
    }
    let stats = b.stats();
    assert_eq!((stats.requests, stats.rows), (100, total as u64));
    assert!(stats.batches < 100, "no batching: {stats:?}");
    assert!(stats.largest_batch <= 64, "{stats:?}");
}

#[tokio::test]
async fn no_forward_pass_exceeds_max_batch() {
    let mlp = mlp(4, &[8], 2, 3);
    let b = Batcher::start(
        mlp.clone(),
        config(8, Duration::from_millis(5), 1024),
        "max",
    );
    // Queued all at once (`infer` queues when called), before any is awaited.
    let mut pending = Vec::new();
    let mut total = 0;
    for i in 0..100 {
        let rows = 1 + i % 3;
        total += rows;
        let x = input(rows, 4, i);
        pending.push((b.infer(x.clone(), rows, None), x, rows));
    }
    // More rows than max_batch: computed alone, in passes of at most max_batch rows.
    let big = input(21, 4, 1000);
    let big_answer = b.infer(big.clone(), 21, None);
    for (answer, x, rows) in pending {
        assert_close(&bounded(answer).await.unwrap(), &mlp.predict(&x, rows, 1));
    }
    assert_close(
        &bounded(big_answer).await.unwrap(),
        &mlp.predict(&big, 21, 1),
    );
    let stats = b.stats();
    assert_eq!(stats.largest_batch, 8, "{stats:?}");
    assert_eq!(stats.rows, (total + 21) as u64);
    assert!(stats.batches >= (total.div_ceil(8) + 3) as u64, "{stats:?}");
    assert_eq!(stats.requests, 101);
}

#[tokio::test]
async fn a_lone_request_is_computed_at_once() {
    let mlp = mlp(4, &[8], 2, 4);
    let b = Batcher::start(mlp, config(64, Duration::from_secs(60), 16), "lone");
    let started = Instant::now();
    bounded(b.infer(input(1, 4, 0), 1, None)).await.unwrap();
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(5), "answered after {waited:?}");
}

#[tokio::test]
async fn a_request_waits_for_callers_on_their_way_at_most_max_delay() {
    let delay = Duration::from_millis(30);
    // Someone is on the way and never comes: the request waits max_delay, no longer.
    let (b, late) = awaiting_company(mlp(4, &[8], 2, 4), config(64, delay, 16), "company");
    let started = Instant::now();
    bounded(b.infer(input(1, 4, 0), 1, None)).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= delay,
        "answered after {waited:?}, before max_delay"
    );
    assert!(
        waited < delay + Duration::from_millis(50),
        "answered after {waited:?}"
    );
    drop(late);
}

#[tokio::test]
async fn callers_on_their_way_are_waited_for_and_join_the_batch() {
    let arrivals = Arrivals::default();
    let b = Batcher::start_with(
        mlp(4, &[8], 2, 4),
        config(64, Duration::from_secs(60), 16),
        "joined",
        ModelMetrics::new("joined", ""),
        arrivals.clone(),
    );
    let on_the_way = arrivals.arriving();
    let first = b.infer(input(1, 4, 0), 1, None);
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The second caller queues; with no one else on the way the batch is computed at once.
    drop(on_the_way);
    let second = b.infer(input(2, 4, 1), 2, None);
    bounded(first).await.unwrap();
    bounded(second).await.unwrap();
    let stats = b.stats();
    assert_eq!((stats.batches, stats.rows, stats.largest_batch), (1, 3, 3));
}

#[tokio::test]
async fn a_full_batch_does_not_wait_for_max_delay() {
    let mlp = mlp(4, &[8], 2, 5);
    let (b, _on_the_way) = awaiting_company(mlp, config(4, Duration::from_secs(60), 16), "full");
    let started = Instant::now();
    bounded(b.infer(input(4, 4, 0), 4, None)).await.unwrap();
    // Two requests that fill the batch together.
    let first = b.infer(input(1, 4, 1), 1, None);
    let second = b.infer(input(3, 4, 2), 3, None);
    bounded(first).await.unwrap();
    bounded(second).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(b.stats().batches, 2);
}
