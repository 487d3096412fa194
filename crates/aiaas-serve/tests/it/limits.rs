//! Bounds: a full queue refuses, deadlines and departed callers are not computed.

use crate::{assert_close, bounded, config, input, mlp};
use aiaas_serve::{Batcher, ServeError};
use std::time::{Duration, Instant};

/// Polls `done` every millisecond until it holds (bounded by the caller's timeout).
async fn until(mut done: impl FnMut() -> bool) {
    while !done() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn a_full_queue_answers_overloaded_at_once() {
    // 512 -> 2048 -> 2048 -> 4: a 64-row forward pass takes milliseconds, queueing takes
    // microseconds, so the queue is still full when the last requests arrive.
    let mlp = mlp(512, &[2048, 2048], 4, 6);
    let b = Batcher::start(mlp.clone(), config(64, Duration::ZERO, 1), "busy");
    let busy = b.infer(input(64, 512, 0), 64, None);
    // The thread has taken it (a full batch: it computes at once), the queue is empty.
    bounded(until(|| b.queue_depth() == 0)).await;

    let x = input(1, 512, 1);
    let queued = b.infer(x.clone(), 1, None);
    assert_eq!(b.queue_depth(), 1);
    let mut refused = 0;
    for i in 0..20 {
        match bounded(b.infer(input(1, 512, 2 + i), 1, None)).await {
            Err(ServeError::Overloaded(message)) => {
                assert!(message.contains("capacity 1"), "{message}");
                assert!(message.contains("retry"), "{message}");
                refused += 1;
            }
            other => panic!("expected Overloaded, got {other:?}"),
        }
    }
    assert_eq!(refused, 20);
    assert_close(&bounded(queued).await.unwrap(), &mlp.predict(&x, 1, 1));
    bounded(busy).await.unwrap();
    let stats = b.stats();
    assert_eq!((stats.overloaded, stats.requests, stats.rows), (20, 2, 65));
}

#[tokio::test]
async fn a_deadline_already_past_is_refused_without_compute() {
    let b = Batcher::start(mlp(4, &[8], 2, 7), config(64, Duration::ZERO, 16), "late");
    let past = Instant::now() - Duration::from_millis(1);
    let err = bounded(b.infer(input(2, 4, 0), 2, Some(past)))
        .await
        .unwrap_err();
    assert!(matches!(err, ServeError::DeadlineExceeded(_)), "{err:?}");
    let stats = b.stats();
    assert_eq!(
        (stats.dropped_deadline, stats.rows, stats.batches),
        (1, 0, 0)
    );
}

#[tokio::test]
async fn a_deadline_that_passes_while_queued_is_dropped_before_compute() {
    // Alone, the request waits max_delay (200 ms) for company: its 20 ms deadline passes first.
    let b = Batcher::start(
        mlp(4, &[8], 2, 8),
        config(64, Duration::from_millis(200), 16),
        "slow",
    );
    let deadline = Instant::now() + Duration::from_millis(20);
    let err = bounded(b.infer(input(1, 4, 0), 1, Some(deadline)))
        .await
        .unwrap_err();
    assert!(matches!(err, ServeError::DeadlineExceeded(_)), "{err:?}");
    let stats = b.stats();
    assert_eq!(
        (stats.dropped_deadline, stats.rows, stats.batches),
        (1, 0, 0)
    );
    // A deadline far enough away is met.
    let later = Instant::now() + Duration::from_secs(10);
    bounded(b.infer(input(1, 4, 1), 1, Some(later)))
        .await
        .unwrap();
    assert_eq!(b.stats().rows, 1);
}

#[tokio::test]
async fn a_request_whose_caller_has_gone_is_not_computed() {
    let b = Batcher::start(
        mlp(4, &[8], 2, 9),
        config(64, Duration::from_millis(100), 16),
        "gone",
    );
    drop(b.infer(input(1, 4, 0), 1, None));
    bounded(until(|| b.stats().dropped_gone == 1)).await;
    let stats = b.stats();
    assert_eq!((stats.rows, stats.batches, stats.requests), (0, 0, 0));
}
