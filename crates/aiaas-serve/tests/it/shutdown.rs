//! Dropping a batcher: queued requests are still answered, and its thread exits.

use crate::{assert_close, bounded, config, input, mlp};
use aiaas_serve::Batcher;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_batcher_answers_what_is_queued_and_stops_its_thread() {
    let mlp = mlp(64, &[256, 256], 3, 10);
    let b = Batcher::start(mlp.clone(), config(4, Duration::from_millis(1), 64), "drop");
    let mut pending = Vec::new();
    for i in 0..40 {
        let rows = 1 + i % 4;
        let x = input(rows, 64, i);
        pending.push((tokio::spawn(b.infer(x.clone(), rows, None)), x, rows));
    }
    assert!(b.queue_depth() > 0, "nothing was left queued");
    drop(b);
    for (answer, x, rows) in pending {
        let y = bounded(answer).await.unwrap().unwrap();
        assert_close(&y, &mlp.predict(&x, rows, 1));
    }
    // The thread held the only other reference to the model: it has exited once that is gone.
    bounded(async {
        while Arc::strong_count(&mlp) > 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
}
