//! The prediction log's writer, off the request path: an answered request hands its inputs and
//! logits to a bounded channel without waiting; one task turns them into rows (raw feature
//! values, decoded prediction) and writes them in batches, one transaction each. When the writer
//! falls behind and the channel is full, records are dropped and counted; requests never wait.
//! The same task applies retention (age, then count per model) every few minutes.

use crate::LoadedModel;
use crate::v2::RequestInput;
use aiaas_engine::{Predictions, decode};
use aiaas_service::{NewPrediction, Platform, Target};
use aiaas_types::TargetSchema;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// Requests queued for the writer at most; more are dropped.
const CAPACITY: usize = 16_384;
/// Requests written in one transaction at most.
const BATCH: usize = 512;
/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(300);

/// What the writer receives.
enum Message {
    Entry(Entry),
    /// Write what came before, answer, and stop.
    Close(oneshot::Sender<()>),
}

/// One answered request, as the request path hands it over (nothing copied).
struct Entry {
    model: Arc<LoadedModel>,
    id: String,
    inputs: Vec<RequestInput>,
    logits: Vec<f32>,
    rows: usize,
    at_ms: i64,
    latency_us: u64,
}

/// Counts of what happened to offered requests.
#[derive(Debug, Default)]
pub struct LogCounts {
    /// Requests whose rows were written.
    pub written: AtomicU64,
    /// Requests dropped: the queue was full, or the write failed.
    pub dropped: AtomicU64,
    /// Requests not sampled.
    pub skipped: AtomicU64,
}

/// The handle the request path offers answered requests to.
pub struct PredictionLog {
    sender: mpsc::Sender<Message>,
    sample: f64,
    offered: AtomicU64,
    counts: Arc<LogCounts>,
}

impl PredictionLog {
    /// Starts the writer for `platform`'s store, logging a `sample` fraction of requests.
    pub fn start(platform: Platform, sample: f64) -> PredictionLog {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        let counts = Arc::new(LogCounts::default());
        tokio::spawn(write_loop(platform, receiver, counts.clone()));
        PredictionLog {
            sender,
            sample,
            offered: AtomicU64::new(0),
            counts,
        }
    }

    /// What happened to the requests offered so far.
    pub fn counts(&self) -> &LogCounts {
        &self.counts
    }

    /// Offers an answered request; returns at once. Sampling is by count (every request at
    /// 1.0, every other at 0.5, ...), so it needs no random numbers and is exact over time.
    pub(crate) fn offer(
        &self,
        model: Arc<LoadedModel>,
        id: String,
        inputs: Vec<RequestInput>,
        logits: Vec<f32>,
        rows: usize,
        started: Instant,
    ) {
        let n = self.offered.fetch_add(1, Ordering::Relaxed);
        let sampled = ((n + 1) as f64 * self.sample).floor() > (n as f64 * self.sample).floor();
        if !sampled {
            self.counts.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let entry = Entry {
            model,
            id,
            inputs,
            logits,
            rows,
            at_ms: now_ms(),
            latency_us: started.elapsed().as_micros() as u64,
        };
        if self.sender.try_send(Message::Entry(entry)).is_err() {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            crate::metrics::prediction_log_dropped().increment(1);
        }
    }

    /// Waits (at most `wait`) until the writer has written everything offered before, then
    /// stops it; later offers are dropped. For a clean shutdown.
    pub async fn close(&self, wait: Duration) {
        let (done, written) = oneshot::channel();
        let closed = async {
            if self.sender.send(Message::Close(done)).await.is_ok() {
                let _ = written.await;
            }
        };
        let _ = tokio::time::timeout(wait, closed).await;
    }
}

async fn write_loop(
    platform: Platform,
    mut receiver: mpsc::Receiver<Message>,
    counts: Arc<LogCounts>,
) {
    let config = platform.config().clone();
    let retention = Duration::from_secs(config.prediction_retention_days * 86_400);
    let mut last_retention = Instant::now() - RETENTION_EVERY;
    let mut messages = Vec::with_capacity(BATCH);
    loop {
        if receiver.recv_many(&mut messages, BATCH).await == 0 {
            return;
        }
        let mut closing = None;
        let mut requests = 0u64;
        let mut rows: Vec<NewPrediction> = Vec::new();
        for message in messages.drain(..) {
            match message {
                Message::Entry(e) => {
                    requests += 1;
                    rows.extend(rows_of(e));
                }
                Message::Close(done) => closing = Some(done),
            }
        }
        match platform.record_predictions(&rows).await {
            Ok(()) => {
                counts.written.fetch_add(requests, Ordering::Relaxed);
                crate::metrics::prediction_log_written().increment(rows.len() as u64);
            }
            Err(e) => {
                counts.dropped.fetch_add(requests, Ordering::Relaxed);
                crate::metrics::prediction_log_dropped().increment(requests);
                tracing::warn!(error = %e, rows = rows.len(), "could not log predictions");
            }
        }
        if let Some(done) = closing {
            let _ = done.send(());
            return;
        }
        if last_retention.elapsed() >= RETENTION_EVERY {
            last_retention = Instant::now();
            let cutoff = now_ms() - retention.as_millis() as i64;
            if let Err(e) = platform
                .prune_predictions(cutoff, config.prediction_keep)
                .await
            {
                tracing::warn!(error = %e, "could not apply prediction retention");
            }
        }
    }
}

/// The log rows of one answered request: one per row, with id `<id>` for a single row and
/// `<id>/<row>` for several.
fn rows_of(e: Entry) -> Vec<NewPrediction> {
    let schema = &e.model.manifest.schema;
    let raw = match e.model.signature.raw_rows(schema, &e.inputs, e.rows) {
        Ok(raw) => raw,
        Err(err) => {
            tracing::warn!(error = %err, "a logged request no longer parses");
            return Vec::new();
        }
    };
    let predicted: Vec<Target> = match decode(&schema.target, &e.logits, e.model.outputs) {
        Predictions::Classes { predicted, .. } => {
            let TargetSchema::Classification { labels, .. } = &schema.target else {
                unreachable!("decode follows the target")
            };
            predicted
                .iter()
                .map(|&c| Target::Class(labels[c].clone()))
                .collect()
        }
        Predictions::Values(values) => values.into_iter().map(Target::Value).collect(),
    };
    raw.into_iter()
        .zip(predicted)
        .enumerate()
        .map(|(r, ((inputs, categories), predicted))| NewPrediction {
            id: if e.rows == 1 {
                e.id.clone()
            } else {
                format!("{}/{r}", e.id)
            },
            model: e.model.name.clone(),
            version: e.model.version,
            at_ms: e.at_ms,
            latency_us: e.latency_us,
            inputs,
            categories,
            predicted,
        })
        .collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
