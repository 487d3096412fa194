//! Bounds: a full queue refuses, deadlines and departed callers are not computed.

use crate::{assert_close, awaiting_company, bounded, config, input, mlp};
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
    // The request waits max_delay (200 ms) for a caller on its way: its 20 ms deadline passes
    // first.
    let (b, _on_the_way) = awaiting_company(
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
    let (b, _on_the_way) = awaiting_company(
        mlp(4, &[8], 2, 9),
        config(64, Duration::from_millis(100), 16),
        "gone",
    );
    drop(b.infer(input(1, 4, 0), 1, None));
    bounded(until(|| b.stats().dropped_gone == 1)).await;
    let stats = b.stats();
    assert_eq!((stats.rows, stats.batches, stats.requests), (0, 0, 0));
}

/// A declared shape is a claim: a request declaring many rows but carrying few values is
/// refused for its values, and one whose rows would make too many model inputs is refused
/// before anything is allocated for them.
#[test]
fn declared_shapes_are_checked_before_buffers_are_sized() {
    use aiaas_serve::v2::RequestInput;
    use aiaas_serve::{MAX_REQUEST_INPUTS, MAX_ROWS, Signature};
    use aiaas_types::{Feature, FeatureKind, Schema, TargetSchema};

    let schema = |features: usize, categorical: bool| Schema {
        features: (0..features)
            .map(|i| Feature {
                name: format!("f{i}"),
                kind: if categorical {
                    FeatureKind::Categorical {
                        vocabulary: (0..1000).map(|v| v.to_string()).collect(),
                    }
                } else {
                    FeatureKind::Numeric {
                        mean: 0.0,
                        scale: 1.0,
                    }
                },
            })
            .collect(),
        target: TargetSchema::Regression {
            name: "y".into(),
            mean: 0.0,
            scale: 1.0,
        },
    };
    let input = |name: &str, shape: Vec<i64>, datatype: &str, data: serde_json::Value| {
        serde_json::from_value::<RequestInput>(serde_json::json!({
            "name": name, "shape": shape, "datatype": datatype, "data": data,
        }))
        .unwrap()
    };
    let refused = |schema: &Schema, inputs: &[RequestInput]| -> String {
        match Signature::of(schema).prepare(schema, inputs, None) {
            Err(ServeError::BadRequest(m)) => m,
            other => panic!("expected a bad request, got {:?}", other.map(|(_, r)| r)),
        }
    };

    // Dense: MAX_ROWS rows declared, four values sent.
    let dense = schema(4, false);
    let few = input(
        "input",
        vec![MAX_ROWS as i64, 4],
        "FP32",
        serde_json::json!([1, 2, 3, 4]),
    );
    assert!(refused(&dense, &[few]).contains("holds 4 values"));
    // Dense and wide: the rows would make more model inputs than one request may.
    let wide = schema(1000, false);
    let rows = (MAX_REQUEST_INPUTS / 1000 + 1) as i64;
    let big = input("input", vec![rows, 1000], "FP32", serde_json::json!([]));
    assert!(refused(&wide, &[big]).contains("split it"));
    // One categorical feature one-hot over 1,000 values: 65,536 rows would be 65.5 M inputs.
    let one_hot = schema(1, true);
    let many = input(
        "f0",
        vec![MAX_ROWS as i64],
        "BYTES",
        serde_json::json!(["1"]),
    );
    assert!(refused(&one_hot, &[many]).contains("split it"));
    // Within the bound, rows declared but not sent are refused for the values, not allocated.
    let fewer = input("f0", vec![1000], "BYTES", serde_json::json!(["1"]));
    let message = refused(&one_hot, &[fewer]);
    assert!(message.contains("holds 1 value"), "{message}");
}
