//! Sweeps: a sweep and its trials are created together, trials keep their output while the
//! sweep runs, the sweep settles once (whoever asks first), and cancelling reaches every trial.

use crate::train_spec;
use aiaas_store::{Store, StoreError, SweepResult};
use aiaas_types::{JobState, SweepMetric, SweepSpec, Version};
use bytes::Bytes;

fn spec() -> SweepSpec {
    serde_json::from_value(serde_json::json!({
        "dataset": "wine", "name": "best-wine", "grid": {"lr": [0.1, 0.01, 0.001]}
    }))
    .unwrap()
}

async fn claim(store: &Store) -> aiaas_types::JobId {
    store.claim_job("worker-1").await.unwrap().unwrap().id
}

#[tokio::test]
async fn a_sweep_settles_once_after_its_last_trial_and_keeps_outputs_only_while_it_runs() {
    let (store, _dir) = crate::store().await;
    let trials = vec![train_spec("wine"); 3];
    let (sweep, jobs) = store
        .create_sweep(&spec(), SweepMetric::Accuracy, &trials)
        .await
        .unwrap();
    assert_eq!(sweep.state, JobState::Running);
    assert_eq!(sweep.model.as_str(), "best-wine");
    assert_eq!(sweep.metric, SweepMetric::Accuracy);
    assert_eq!(jobs.len(), 3);
    assert!(jobs.iter().all(|j| j.sweep.as_ref() == Some(&sweep.id)));
    assert!(jobs.iter().all(|j| j.model.as_str() == "best-wine"));
    let (_, listed) = store.sweep_with_trials(&sweep.id).await.unwrap();
    assert_eq!(
        listed.iter().map(|j| &j.id).collect::<Vec<_>>(),
        jobs.iter().map(|j| &j.id).collect::<Vec<_>>()
    );
    assert_eq!(store.sweeps().await.unwrap(), vec![sweep.clone()]);

    // A plain job is not a trial; a trial records its output while it runs.
    let plain = crate::queue_job(&store, "iris").await;
    let mut outputs = Vec::new();
    for (i, score) in [0.5, 0.9, 0.7].into_iter().enumerate() {
        let id = claim(&store).await;
        assert_eq!(id, jobs[i].id);
        let digest = store
            .blobs()
            .put(Bytes::from(format!("bundle {i}")))
            .await
            .unwrap();
        assert_eq!(
            store.set_trial_output(&id, &digest, score).await.unwrap(),
            None
        );
        assert!(store.blob_in_use(&digest).await.unwrap());
        if i < 2 {
            assert!(store.unsettled_sweeps().await.unwrap().is_empty());
        }
        store
            .finish_job(&id, JobState::Succeeded, None, None)
            .await
            .unwrap();
        outputs.push(digest);
    }
    let id = claim(&store).await;
    assert_eq!(id, plain);
    let err = store.set_trial_output(&plain, &outputs[0], 1.0).await;
    assert!(
        matches!(err, Err(StoreError::InvalidArgument(_))),
        "{err:?}"
    );

    let (_, trials) = store.sweep_with_trials(&sweep.id).await.unwrap();
    assert_eq!(
        trials.iter().map(|j| j.score).collect::<Vec<_>>(),
        [Some(0.5), Some(0.9), Some(0.7)]
    );
    assert_eq!(
        store.unsettled_sweeps().await.unwrap(),
        vec![sweep.id.clone()]
    );
    let result = SweepResult {
        trial: trials[1].id.clone(),
        version: Version::new(1),
    };
    let done = store
        .finish_sweep(&sweep.id, JobState::Succeeded, None, Some(&result))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.result, Some(result.clone()));
    assert!(done.finished_at_ms.is_some());
    // A second settler finds nothing to do.
    let again = store
        .finish_sweep(&sweep.id, JobState::Failed, Some("late"), None)
        .await
        .unwrap();
    assert_eq!(again, None);
    assert!(store.unsettled_sweeps().await.unwrap().is_empty());
    assert_eq!(
        store.sweep(&sweep.id).await.unwrap().state,
        JobState::Succeeded
    );
    // The sweep ended: its trials' outputs are free to collect.
    for digest in &outputs {
        assert!(!store.blob_in_use(digest).await.unwrap());
    }
    let err = store.cancel_sweep(&sweep.id).await.unwrap_err();
    assert!(err.to_string().contains("already succeeded"), "{err}");
}

#[tokio::test]
async fn cancelling_a_sweep_cancels_queued_trials_and_stops_running_ones() {
    let (store, _dir) = crate::store().await;
    let (sweep, jobs) = store
        .create_sweep(&spec(), SweepMetric::LogLoss, &vec![train_spec("wine"); 3])
        .await
        .unwrap();
    let running = claim(&store).await;
    assert_eq!(running, jobs[0].id);
    let cancelled = store.cancel_sweep(&sweep.id).await.unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);
    let (_, trials) = store.sweep_with_trials(&sweep.id).await.unwrap();
    assert_eq!(trials[0].state, JobState::Running);
    assert!(trials[0].cancel_requested);
    assert!(trials[1..].iter().all(|j| j.state == JobState::Cancelled));
    assert!(store.claim_job("worker-2").await.unwrap().is_none());
    let last = store.last_event(&jobs[2].id, "cancelled").await.unwrap();
    assert!(last.is_some());
    // A cancelled sweep never settles.
    store
        .finish_job(&running, JobState::Cancelled, None, None)
        .await
        .unwrap();
    assert!(store.unsettled_sweeps().await.unwrap().is_empty());

    let ghost = aiaas_types::SweepId::new("sweep-ghost").unwrap();
    let err = store.sweep(&ghost).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(..)), "{err}");
    assert!(store.sweep_with_trials(&ghost).await.is_err());
}
