//! The prediction log's writer, off the request path: an answered request hands its inputs and
//! logits to a bounded channel without waiting; one task turns them into rows (raw feature
//! values, decoded prediction) and writes them in batches, one transaction each. When the writer
//! falls behind and the channel is full, records are dropped and counted; requests never wait.
//! Where the rows go is the [`PredictionSink`]'s business (retention too).

use crate::signature::RawRow;
use crate::{LoadedModel, PredictionSink, Runtime};
use aiaas_engine::{Predictions, decode};
use aiaas_types::{NewPrediction, TargetSchema, TargetValue};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// Requests queued for the writer at most; more are dropped. (At MNIST's 784 inputs a queued
/// row holds about 3 KiB, so a full queue holds about 25 MiB.)
const CAPACITY: usize = 8_192;
/// Requests written in one transaction at most.
const BATCH: usize = 2_048;
/// How long the writer gathers requests after the first of a batch: fewer, larger transactions
/// cost less CPU (each is several round trips to the database's thread) than a stream of small
/// ones, and the log is read minutes later, not milliseconds.
const GATHER: Duration = Duration::from_millis(100);
/// The largest share of wall time the writer may spend writing. Serving comes first: past this
/// share the log takes no new requests for a while (they are counted as dropped), so that at
/// full load it costs the server a bounded fraction of its throughput. Below full load it never
/// binds, and every sampled request is written.
const BUSY_SHARE: f64 = 0.15;

/// What the writer receives.
enum Message {
    Entry(Entry),
    /// Write what came before and answer.
    Flush(oneshot::Sender<()>),
    /// Write what came before, answer, and stop.
    Close(oneshot::Sender<()>),
}

/// One answered request, as the request path hands it over.
struct Entry {
    model: Arc<LoadedModel>,
    id: String,
    answered: Answered,
    at_ms: i64,
    latency_us: u64,
}

/// What an answered request leaves for the log.
pub(crate) enum Answered {
    /// A model trained here: each row's raw feature values (compact: what a queued record holds
    /// is bounded by the rows, not by the request's JSON) and the logits, decoded by the writer.
    Logits { raw: Vec<RawRow>, logits: Vec<f32> },
    /// An imported classifier: each row's label, and in place of its input tensors, their
    /// summaries (`per_row` numbers a row, row after row; see [`aiaas_artifact::summaries`]).
    Classes {
        labels: Vec<String>,
        summaries: Vec<f32>,
    },
}

/// The handle the request path offers answered requests to.
pub struct PredictionLog {
    sender: mpsc::Sender<Message>,
    sample: f64,
    offered: AtomicU64,
    /// Until when (µs after `epoch`) new requests are not taken: the writer's rest after a
    /// write, to keep within [`BUSY_SHARE`].
    resting_until: Arc<AtomicU64>,
    epoch: Instant,
}

impl PredictionLog {
    /// Starts the writer into `sink`, logging a `sample` fraction (0 to 1) of requests. Needs a
    /// tokio runtime.
    pub fn start(sink: Arc<dyn PredictionSink>, sample: f64) -> PredictionLog {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        let resting_until = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let rest = Rest {
            until: resting_until.clone(),
            epoch,
            credit: MAX_CREDIT,
            last: epoch,
        };
        tokio::spawn(write_loop(sink, receiver, rest));
        PredictionLog {
            sender,
            sample,
            offered: AtomicU64::new(0),
            resting_until,
            epoch,
        }
    }

    /// Whether to log the next request: sampling by count (every request at 1.0, every other
    /// at 0.5, ...), exact over time without random numbers; no while the writer is behind (the
    /// request is then counted as dropped before any work is spent on it).
    pub(crate) fn wants_next(&self) -> bool {
        let n = self.offered.fetch_add(1, Ordering::Relaxed);
        let sampled = ((n + 1) as f64 * self.sample).floor() > (n as f64 * self.sample).floor();
        if !sampled {
            return false;
        }
        let now = self.epoch.elapsed().as_micros() as u64;
        if self.sender.capacity() == 0 || now < self.resting_until.load(Ordering::Relaxed) {
            self.drop_one();
            return false;
        }
        true
    }

    /// Hands an answered request to the writer; returns at once (a full queue drops it).
    pub(crate) fn submit(
        &self,
        model: &Arc<LoadedModel>,
        id: &str,
        answered: Answered,
        started: Instant,
    ) {
        let entry = Entry {
            model: model.clone(),
            id: id.to_string(),
            answered,
            at_ms: now_ms(),
            latency_us: started.elapsed().as_micros() as u64,
        };
        if self.sender.try_send(Message::Entry(entry)).is_err() {
            self.drop_one();
        }
    }

    fn drop_one(&self) {
        crate::metrics::prediction_log_dropped().increment(1);
    }

    /// Waits (at most `wait`) until the writer has written everything offered before, so that
    /// feedback sent right after its predictions finds their rows.
    pub async fn flush(&self, wait: Duration) {
        self.send_and_wait(Message::Flush, wait).await;
    }

    /// Waits (at most `wait`) until the writer has written everything offered before, then
    /// stops it; later offers are dropped. For a clean shutdown.
    pub async fn close(&self, wait: Duration) {
        self.send_and_wait(Message::Close, wait).await;
    }

    async fn send_and_wait(&self, message: fn(oneshot::Sender<()>) -> Message, wait: Duration) {
        let (done, written) = oneshot::channel();
        let answered = async {
            if self.sender.send(message(done)).await.is_ok() {
                let _ = written.await;
            }
        };
        let _ = tokio::time::timeout(wait, answered).await;
    }
}

/// The writer's time budget: it earns [`BUSY_SHARE`] of wall time as credit (at most
/// [`MAX_CREDIT`] saved up), spends it writing, and when a write leaves it in debt, the log takes
/// no new requests until the debt is earned back. Light load never runs out of credit.
struct Rest {
    until: Arc<AtomicU64>,
    epoch: Instant,
    credit: f64,
    last: Instant,
}

/// How long the log takes no new requests after a failed write (a full disk, a locked
/// database): they are counted as dropped instead of piling up behind a store that cannot take
/// them, and no request waits for the log.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// Credit the writer may save up, in seconds of writing: enough for bursts.
const MAX_CREDIT: f64 = 0.5;

impl Rest {
    fn after(&mut self, write: Duration) {
        let now = Instant::now();
        let earned = now.duration_since(self.last).as_secs_f64() * BUSY_SHARE;
        self.last = now;
        self.credit = (self.credit + earned).min(MAX_CREDIT) - write.as_secs_f64();
        let rest = if self.credit < 0.0 {
            Duration::from_secs_f64(-self.credit / BUSY_SHARE)
        } else {
            Duration::ZERO
        };
        self.rest_for(rest);
    }

    fn rest_for(&self, rest: Duration) {
        let until = (self.epoch.elapsed() + rest).as_micros() as u64;
        self.until.store(until, Ordering::Relaxed);
    }
}

async fn write_loop(
    sink: Arc<dyn PredictionSink>,
    mut receiver: mpsc::Receiver<Message>,
    mut rest: Rest,
) {
    let mut messages = Vec::with_capacity(BATCH);
    loop {
        if receiver.recv_many(&mut messages, BATCH).await == 0 {
            return;
        }
        // Someone waits on a flush or close: write now rather than gather.
        let waited_on = messages
            .iter()
            .any(|m| matches!(m, Message::Flush(_) | Message::Close(_)));
        if messages.len() < BATCH && !waited_on {
            tokio::time::sleep(GATHER).await;
            while messages.len() < BATCH {
                match receiver.try_recv() {
                    Ok(m) => messages.push(m),
                    Err(_) => break,
                }
            }
        }
        let mut closing = None;
        let mut flushed = Vec::new();
        let mut requests = 0u64;
        let mut rows: Vec<NewPrediction> = Vec::new();
        for message in messages.drain(..) {
            match message {
                Message::Entry(e) => {
                    requests += 1;
                    // A request the writer cannot turn into rows costs that request's rows,
                    // never the writer: it goes on logging every other model.
                    let model = e.model.name.clone();
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rows_of(e))) {
                        Ok(new) => rows.extend(new),
                        Err(_) => {
                            crate::metrics::prediction_log_dropped().increment(1);
                            tracing::error!(model = %model, "could not decode a request for the prediction log");
                        }
                    }
                }
                Message::Flush(done) => flushed.push(done),
                Message::Close(done) => closing = Some(done),
            }
        }
        if !rows.is_empty() {
            let started = Instant::now();
            let written = sink.write(&rows).await;
            rest.after(started.elapsed());
            match written {
                Ok(()) => {
                    crate::metrics::prediction_log_written().increment(rows.len() as u64);
                }
                Err(e) => {
                    crate::metrics::prediction_log_dropped().increment(requests);
                    rest.rest_for(PAUSE_AFTER_FAILURE);
                    tracing::warn!(error = %e, rows = rows.len(), "could not log predictions; logging pauses for {PAUSE_AFTER_FAILURE:?}");
                }
            }
        }
        for done in flushed {
            let _ = done.send(());
        }
        if let Some(done) = closing {
            let _ = done.send(());
            return;
        }
    }
}

/// The log rows of one answered request: one per row, with id `<id>` for a single row and
/// `<id>/<row>` for several.
fn rows_of(e: Entry) -> Vec<NewPrediction> {
    let rows: Vec<(RawRow, TargetValue)> = match e.answered {
        Answered::Classes { labels, summaries } => {
            let per_row = summaries.len() / labels.len().max(1);
            (labels.into_iter().enumerate())
                .map(|(r, l)| {
                    let row = summaries[r * per_row..(r + 1) * per_row].to_vec();
                    ((row, None), TargetValue::Class(l))
                })
                .collect()
        }
        Answered::Logits { raw, logits } => {
            let Runtime::Dense(model) = &e.model.runtime else {
                return Vec::new();
            };
            raw.into_iter()
                .zip(predicted(
                    &model.manifest.schema.target,
                    &logits,
                    model.outputs,
                ))
                .collect()
        }
    };
    let count = rows.len();
    rows.into_iter()
        .enumerate()
        .map(|(r, ((inputs, categories), predicted))| NewPrediction {
            id: if count == 1 {
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

/// What a model trained here predicted, decoded from its logits.
fn predicted(target: &TargetSchema, logits: &[f32], outputs: usize) -> Vec<TargetValue> {
    match (decode(target, logits, outputs), target) {
        (Predictions::Classes { predicted, .. }, TargetSchema::Classification { labels, .. }) => {
            (predicted.iter())
                .map(|&c| TargetValue::Class(labels[c].clone()))
                .collect()
        }
        (Predictions::Values(values), _) => values.into_iter().map(TargetValue::Value).collect(),
        (Predictions::Classes { .. }, TargetSchema::Regression { .. }) => {
            unreachable!("decode follows the target")
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
