//! The job queue: life cycle, atomic claims, requeue after a crash, cancellation, events.

use crate::{model, queue_job};
use aiaas_store::{EpochRow, JobResult, Store, StoreError, sha256_hex};
use aiaas_types::Version;
use aiaas_types::{JobId, JobState};
use bytes::Bytes;

fn epoch(epoch: u32, train_loss: f64) -> EpochRow {
    EpochRow {
        epoch,
        epochs: 3,
        train_loss,
        val_loss: Some(train_loss + 0.1),
        val_metric: Some(0.5 + f64::from(epoch) / 10.0),
        lr: 1e-3,
    }
}

fn kinds(events: &[aiaas_store::JobEvent]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

#[tokio::test]
async fn a_job_runs_from_queue_to_success() {
    let (store, _dir) = crate::store().await;
    let id = queue_job(&store, "iris").await;
    let job = store.job(&id).await.unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.kind, "train");
    assert_eq!(job.spec, crate::train_spec("iris"));
    assert_eq!(job.attempts, 0);

    let claimed = store.claim_job("worker-1").await.unwrap().unwrap();
    assert_eq!(claimed.id, id);
    assert_eq!(claimed.state, JobState::Running);
    assert_eq!(claimed.attempts, 1);
    assert_eq!(claimed.lease_owner.as_deref(), Some("worker-1"));
    assert!(claimed.started_at_ms.is_some() && claimed.heartbeat_at_ms.is_some());
    assert!(store.claim_job("worker-2").await.unwrap().is_none());
    store.heartbeat(&id, "worker-1").await.unwrap();
    // Not the lease holder: refused, so a worker whose lease expired learns it.
    let err = store.heartbeat(&id, "worker-2").await.unwrap_err();
    assert!(err.to_string().contains("lease expired"), "{err}");

    store.record_epoch(&id, &epoch(1, 0.9)).await.unwrap();
    store.record_epoch(&id, &epoch(2, 0.7)).await.unwrap();
    // A resumed job redoes epoch 2: its row is replaced, not duplicated.
    store.record_epoch(&id, &epoch(2, 0.6)).await.unwrap();
    let history = store.metric_history(&id).await.unwrap();
    assert_eq!(history, vec![epoch(1, 0.9), epoch(2, 0.6)]);
    assert_eq!(store.job(&id).await.unwrap().progress, Some(epoch(2, 0.6)));

    let first = store
        .blobs()
        .put(Bytes::from_static(b"ckpt 1"))
        .await
        .unwrap();
    assert_eq!(store.set_checkpoint(&id, &first, 1).await.unwrap(), None);
    let second = store
        .blobs()
        .put(Bytes::from_static(b"ckpt 2"))
        .await
        .unwrap();
    assert_eq!(
        store.set_checkpoint(&id, &second, 2).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.set_checkpoint(&id, &second, 2).await.unwrap(), None);
    assert!(store.blob_in_use(&second).await.unwrap());
    assert!(!store.blob_in_use(&first).await.unwrap());

    let done = store
        .finish_job(
            &id,
            JobState::Succeeded,
            None,
            Some(JobResult {
                model: model("iris"),
                version: Version::new(1),
            }),
        )
        .await
        .unwrap();
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(
        done.result,
        Some(JobResult {
            model: model("iris"),
            version: Version::new(1)
        })
    );
    assert!(done.finished_at_ms.is_some());
    assert_eq!(done.checkpoint_epoch, Some(2));

    let err = store
        .finish_job(&id, JobState::Failed, Some("late"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(matches!(
        store.heartbeat(&id, "worker-1").await.unwrap_err(),
        StoreError::Conflict(_)
    ));
    assert!(matches!(
        store.record_epoch(&id, &epoch(3, 0.5)).await.unwrap_err(),
        StoreError::Conflict(_)
    ));

    let events = store.events_after(&id, 0).await.unwrap();
    assert_eq!(
        kinds(&events),
        vec![
            "queued",
            "started",
            "epoch",
            "epoch",
            "epoch",
            "checkpoint",
            "checkpoint",
            "checkpoint",
            "succeeded"
        ]
    );
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<i64>>());
    assert_eq!(events[2].data["train_loss"], 0.9);
    assert_eq!(store.events_after(&id, 7).await.unwrap().len(), 2);
    assert!(store.events_after(&id, 9).await.unwrap().is_empty());

    let unknown = JobId::new("job-nope").unwrap();
    for err in [
        store.job(&unknown).await.unwrap_err(),
        store.events_after(&unknown, 0).await.unwrap_err(),
        store.metric_history(&unknown).await.unwrap_err(),
        store.cancel_requested(&unknown).await.unwrap_err(),
        store.request_cancel(&unknown).await.unwrap_err(),
        store
            .append_event(&unknown, "note", serde_json::json!({}))
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::NotFound(..)), "{err:?}");
    }
}

#[tokio::test]
async fn finish_needs_a_final_state() {
    let (store, _dir) = crate::store().await;
    let id = queue_job(&store, "iris").await;
    store.claim_job("w").await.unwrap().unwrap();
    let err = store
        .finish_job(&id, JobState::Queued, None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidArgument(_)), "{err:?}");
    let failed = store
        .finish_job(&id, JobState::Failed, Some("loss is NaN"), None)
        .await
        .unwrap();
    assert_eq!(failed.error.as_deref(), Some("loss is NaN"));
    let last = store.events_after(&id, 0).await.unwrap().pop().unwrap();
    assert_eq!(last.kind, "failed");
    assert_eq!(last.data["error"], "loss is NaN");
}

#[tokio::test]
async fn jobs_are_claimed_oldest_first_and_listed_newest_first() {
    let (store, _dir) = crate::store().await;
    let ids: Vec<JobId> = [
        queue_job(&store, "a").await,
        queue_job(&store, "b").await,
        queue_job(&store, "c").await,
    ]
    .into();
    let listed: Vec<JobId> = store
        .jobs(None)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(listed, ids.iter().rev().cloned().collect::<Vec<_>>());
    let claimed = store.claim_job("w").await.unwrap().unwrap();
    assert_eq!(claimed.id, ids[0]);
    let queued = store.jobs(Some(JobState::Queued)).await.unwrap();
    assert_eq!(queued.len(), 2);
    assert_eq!(queued[1].id, ids[1]);
    assert_eq!(store.jobs(Some(JobState::Running)).await.unwrap().len(), 1);
    assert!(store.jobs(Some(JobState::Failed)).await.unwrap().is_empty());
}

async fn race_two_claimers(a: Store, b: Store) {
    let id = queue_job(&a, "iris").await;
    let (ra, rb) = tokio::join!(
        tokio::spawn(async move { a.claim_job("worker-a").await }),
        tokio::spawn(async move { b.claim_job("worker-b").await }),
    );
    let got: Vec<_> = [ra.unwrap().unwrap(), rb.unwrap().unwrap()]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(got.len(), 1, "exactly one claimer gets the job: {got:?}");
    assert_eq!(got[0].id, id);
    assert_eq!(got[0].attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_claimers_never_get_the_same_job() {
    for _ in 0..5 {
        let (store, _dir) = crate::store().await;
        race_two_claimers(store.clone(), store).await;
    }
    // Two pools on one database, as two processes would be.
    for _ in 0..5 {
        let (config, _dir) = crate::config().await;
        let a = Store::open(&config).await.unwrap();
        let b = Store::open(&config).await.unwrap();
        race_two_claimers(a, b).await;
    }
}

#[tokio::test]
async fn interrupted_jobs_are_requeued_with_their_checkpoint() {
    let (store, _dir) = crate::store().await;
    let id = queue_job(&store, "iris").await;
    let other = queue_job(&store, "wine").await;
    store.claim_job("w").await.unwrap().unwrap();
    store.record_epoch(&id, &epoch(1, 0.9)).await.unwrap();
    let ckpt = sha256_hex(b"checkpoint");
    store.set_checkpoint(&id, &ckpt, 1).await.unwrap();

    // The server restarts: the running job goes back to the queue, the queued one stays.
    assert_eq!(store.requeue_interrupted().await.unwrap(), vec![id.clone()]);
    let job = store.job(&id).await.unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.checkpoint_digest.as_deref(), Some(ckpt.as_str()));
    assert_eq!(job.checkpoint_epoch, Some(1));
    assert_eq!(job.lease_owner, None);
    assert_eq!(store.job(&other).await.unwrap().state, JobState::Queued);

    // It keeps its place at the front of the queue and counts a second attempt.
    let again = store.claim_job("w2").await.unwrap().unwrap();
    assert_eq!(again.id, id);
    assert_eq!(again.attempts, 2);
    assert_eq!(again.checkpoint_epoch, Some(1));
    let events = store.events_after(&id, 0).await.unwrap();
    assert_eq!(
        kinds(&events),
        vec![
            "queued",
            "started",
            "epoch",
            "checkpoint",
            "requeued",
            "started"
        ]
    );
    assert_eq!(events[5].data["resume_from_epoch"], 1);
    assert_eq!(store.requeue_interrupted().await.unwrap(), vec![id]);
}

#[tokio::test]
async fn only_jobs_whose_lease_expired_are_requeued() {
    let (store, _dir) = crate::store().await;
    let (dead, alive) = (
        queue_job(&store, "iris").await,
        queue_job(&store, "wine").await,
    );
    store.claim_job("node-a/worker-0").await.unwrap().unwrap();
    store.claim_job("node-b/worker-0").await.unwrap().unwrap();
    let lease = std::time::Duration::from_millis(300);
    assert!(store.requeue_expired(lease).await.unwrap().is_empty());
    // Node b keeps sending heartbeats; node a has gone quiet.
    for _ in 0..4 {
        tokio::time::sleep(lease / 3).await;
        store.heartbeat(&alive, "node-b/worker-0").await.unwrap();
    }
    assert_eq!(
        store.requeue_expired(lease).await.unwrap(),
        vec![dead.clone()]
    );
    assert_eq!(store.job(&alive).await.unwrap().state, JobState::Running);
    // Another worker takes the dead one over; its old worker is told when it comes back.
    let taken = store.claim_job("node-b/worker-1").await.unwrap().unwrap();
    assert_eq!((taken.id.clone(), taken.attempts), (dead.clone(), 2));
    let err = store.heartbeat(&dead, "node-a/worker-0").await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn cancel_queued_running_and_finished_jobs() {
    let (store, _dir) = crate::store().await;
    let queued = queue_job(&store, "iris").await;
    let cancelled = store.request_cancel(&queued).await.unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert!(cancelled.finished_at_ms.is_some());
    assert!(store.claim_job("w").await.unwrap().is_none());

    let running = queue_job(&store, "iris").await;
    store.claim_job("w").await.unwrap().unwrap();
    assert!(!store.cancel_requested(&running).await.unwrap());
    let job = store.request_cancel(&running).await.unwrap();
    assert_eq!(job.state, JobState::Running);
    assert!(job.cancel_requested);
    assert!(store.cancel_requested(&running).await.unwrap());
    store
        .finish_job(&running, JobState::Cancelled, None, None)
        .await
        .unwrap();
    let events = store.events_after(&running, 0).await.unwrap();
    assert_eq!(
        kinds(&events),
        vec!["queued", "started", "cancel_requested", "cancelled"]
    );

    for id in [&queued, &running] {
        let err = store.request_cancel(id).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert!(err.to_string().contains("already cancelled"), "{err}");
    }
    let done = queue_job(&store, "iris").await;
    store.claim_job("w").await.unwrap().unwrap();
    store
        .finish_job(&done, JobState::Succeeded, None, None)
        .await
        .unwrap();
    let err = store.request_cancel(&done).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("job \"{done}\" already succeeded; there is nothing to cancel")
    );

    // A cancel asked for just before a crash is honoured at restart rather than requeued.
    let doomed = queue_job(&store, "iris").await;
    store.claim_job("w").await.unwrap().unwrap();
    store.request_cancel(&doomed).await.unwrap();
    assert!(store.requeue_interrupted().await.unwrap().is_empty());
    assert_eq!(store.job(&doomed).await.unwrap().state, JobState::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_event_appends_get_distinct_increasing_numbers() {
    let (store, _dir) = crate::store().await;
    let id = queue_job(&store, "iris").await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_event(&id, "note", serde_json::json!({ "i": i }))
                .await
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap().unwrap().seq);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (2..=41).collect::<Vec<i64>>());
    let events = store.events_after(&id, 0).await.unwrap();
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(events.len(), 41);
}

#[tokio::test]
async fn a_job_that_keeps_dying_with_its_server_is_failed_and_a_clean_stop_does_not_count() {
    use aiaas_store::MAX_INTERRUPTIONS;
    let (store, _dir) = crate::store().await;
    let id = queue_job(&store, "iris").await;
    // Clean stops (suspend) are free.
    for _ in 0..5 {
        store.claim_job("w").await.unwrap().unwrap();
        let job = store.suspend_job(&id).await.unwrap();
        assert_eq!(job.state, JobState::Queued);
    }
    // Crashes are counted: the last allowed one fails the job instead of requeueing it.
    for crash in 1..=MAX_INTERRUPTIONS {
        store.claim_job("w").await.unwrap().unwrap();
        let requeued = store.requeue_interrupted().await.unwrap();
        let job = store.job(&id).await.unwrap();
        if crash < MAX_INTERRUPTIONS {
            assert_eq!(requeued, vec![id.clone()]);
            assert_eq!(job.state, JobState::Queued);
        } else {
            assert!(requeued.is_empty());
            assert_eq!(job.state, JobState::Failed);
            assert!(job.error.unwrap().contains("out of memory"));
        }
    }
    assert!(store.claim_job("w").await.unwrap().is_none());
    let err = store.suspend_job(&id).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
}
