//! The per-model dynamic batcher (DESIGN.md section 7): one bounded queue and one dedicated
//! compute thread per loaded model version.
//!
//! Callers queue rows with [`Batcher::infer`]; the thread blocks for the first request, takes
//! every request already queued behind it, and then waits for more only while there is company
//! to wait for: callers on their way ([`Arrivals`]: arrived, not yet queued). It stops at
//! `max_batch` rows or `max_delay` after the first was queued, runs one forward pass over the
//! batch, and answers each caller its own answer through a oneshot channel. So a
//! lone caller is computed at once, and under load batches fill. While it waits the thread
//! sleeps until the last caller on its way has queued or the batch is full (that caller wakes
//! it): one wake-up per batch, not one per request. Forward passes never run on the async
//! runtime.
//!
//! What a pass computes is a [`Compute`]: [`Dense`] for a network trained here, whose reused
//! workspace and input buffer mean a batch allocates nothing but the per-request output vectors;
//! an imported graph for an ONNX model. A request with more rows than `max_batch` is computed
//! alone, in passes of at most `max_batch` rows each (so buffers never grow past `max_batch`
//! rows), and answered once. Requests whose caller has gone or whose deadline has passed are
//! dropped before compute. A panic in a forward pass answers that batch
//! [`ServeError::Internal`] and the thread keeps serving. Dropping the [`Batcher`] closes the
//! queue: the thread computes what is already queued, then exits on its own (nothing joins it).
//!
//! Besides its own counters ([`BatcherStats`]) the batcher records the queue depth, each
//! request's queue time, each batch's compute time and each pass's rows into its model's
//! [`ModelMetrics`], through handles resolved when it starts.

use crate::ServeError;
use crate::compute::{Compute, Dense};
use crate::metrics::ModelMetrics;
use aiaas_engine::Network;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread::Thread;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Settings of one model's batcher. Zero `max_batch`, `queue_capacity` or `threads` are taken
/// as 1.
#[derive(Clone, Debug, PartialEq)]
pub struct BatcherConfig {
    /// Most rows in one forward pass (default 64).
    pub max_batch: usize,
    /// Longest a request waits for others to join its batch, while other calls are on their
    /// way in (default 500 µs).
    pub max_delay: Duration,
    /// Requests that may wait in the queue; more are refused (default 1024).
    pub queue_capacity: usize,
    /// Compute threads of one forward pass (default 1).
    pub threads: usize,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        BatcherConfig {
            max_batch: 64,
            max_delay: Duration::from_micros(500),
            queue_capacity: 1024,
            threads: 1,
        }
    }
}

/// What a batcher has done since it started (a snapshot of its counters, for metrics and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatcherStats {
    /// Forward passes run (including ones that panicked).
    pub batches: u64,
    /// Rows computed by forward passes.
    pub rows: u64,
    /// Requests answered with logits.
    pub requests: u64,
    /// Most rows in one forward pass so far (never above `max_batch`).
    pub largest_batch: u64,
    /// Requests refused because the queue was full.
    pub overloaded: u64,
    /// Requests dropped without compute because their deadline had passed.
    pub dropped_deadline: u64,
    /// Requests dropped without compute because their caller had gone.
    pub dropped_gone: u64,
    /// Forward passes that panicked.
    pub panics: u64,
    /// Requests answered [`ServeError::Internal`] because their forward pass panicked.
    pub failed: u64,
}

/// Callers on their way to a batcher: counted from when a request arrives (before it is parsed)
/// until it is queued, by the [`Arriving`] guard each holds. Batchers that share it wait for
/// company only while it counts someone. Clones share one count.
#[derive(Clone, Debug, Default)]
pub struct Arrivals(Arc<AtomicUsize>);

impl Arrivals {
    /// Count one caller until the guard is dropped (drop it just before queuing).
    pub fn arriving(&self) -> Arriving {
        self.0.fetch_add(1, Ordering::Relaxed);
        Arriving(self.0.clone())
    }

    /// Whether any caller is on its way.
    fn any(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }
}

/// One caller counted by [`Arrivals`] while it lives.
#[derive(Debug)]
pub struct Arriving(Arc<AtomicUsize>);

impl Drop for Arriving {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One model's queue and the thread that batches and computes it. `Send + Sync`: share it
/// behind an `Arc`.
pub struct Batcher<C: Compute = Dense> {
    tx: SyncSender<Request<C>>,
    shared: Arc<Shared>,
    /// The batching thread, woken when a batch that waits for company has it (none if it
    /// could not start).
    thread: Option<Thread>,
    arrivals: Arrivals,
    metrics: ModelMetrics,
    name: Arc<str>,
    /// The model, for checking requests before they are queued.
    compute: Arc<C>,
    queue_capacity: usize,
}

/// State the callers and the thread both see.
#[derive(Default)]
struct Shared {
    /// Requests in the channel. Raised before `try_send` (and lowered again if it fails) so that
    /// the thread's decrement never comes first.
    depth: AtomicUsize,
    /// Rows in the channel, counted as `depth` is.
    queued_rows: AtomicUsize,
    /// Rows the batch the thread is forming still has room for while it waits for company
    /// (`usize::MAX` otherwise): a caller whose rows fill it wakes the thread.
    room: AtomicUsize,
    batches: AtomicU64,
    rows: AtomicU64,
    requests: AtomicU64,
    largest_batch: AtomicU64,
    overloaded: AtomicU64,
    dropped_deadline: AtomicU64,
    dropped_gone: AtomicU64,
    panics: AtomicU64,
    failed: AtomicU64,
}

type Answer<C> = Result<<C as Compute>::Answer, ServeError>;

/// One queued call of [`Batcher::infer`].
struct Request<C: Compute> {
    x: C::Rows,
    rows: usize,
    queued: Instant,
    deadline: Option<Instant>,
    reply: oneshot::Sender<Answer<C>>,
}

impl Batcher<Dense> {
    /// Start the batching thread for `mlp` (an `aiaas_engine::Mlp`, shared); `name` names the
    /// thread, appears in error messages and logs, and labels its metrics (`model` = `name`,
    /// `version` = `""`; see [`Batcher::start_with`] to label them otherwise).
    ///
    /// Should the OS refuse the thread, this logs the error and returns a batcher whose every
    /// request is answered [`ServeError::Unavailable`].
    ///
    /// Its callers are not counted on their way ([`Arrivals`]), so it never waits for company:
    /// each batch is what is queued; see [`Batcher::start_with`].
    pub fn start(network: Arc<Network>, config: BatcherConfig, name: &str) -> Batcher {
        let metrics = ModelMetrics::new(name, "");
        Batcher::start_with(network, config, name, metrics, Arrivals::default())
    }

    /// [`Batcher::start`], recording queue depth, queue and compute durations and batch sizes
    /// into `metrics` (the handles of the model version `mlp` is), and waiting for the callers
    /// `arrivals` counts.
    pub fn start_with(
        network: Arc<Network>,
        config: BatcherConfig,
        name: &str,
        metrics: ModelMetrics,
        arrivals: Arrivals,
    ) -> Batcher {
        Batcher::spawn(Dense(network), config, name, metrics, arrivals)
    }
}

impl<C: Compute> Batcher<C> {
    /// [`Batcher::start_with`] for any [`Compute`].
    pub fn spawn(
        compute: C,
        config: BatcherConfig,
        name: &str,
        metrics: ModelMetrics,
        arrivals: Arrivals,
    ) -> Batcher<C> {
        let config = BatcherConfig {
            max_batch: config.max_batch.max(1),
            queue_capacity: config.queue_capacity.max(1),
            threads: config.threads.max(1),
            ..config
        };
        let (tx, rx) = sync_channel(config.queue_capacity);
        let shared = Arc::new(Shared {
            room: AtomicUsize::new(usize::MAX),
            ..Shared::default()
        });
        let name: Arc<str> = name.into();
        let compute = Arc::new(compute);
        let queue_capacity = config.queue_capacity;
        let worker = Worker {
            scratch: compute.scratch(config.threads),
            rows: Vec::new(),
            answers: Vec::new(),
            batch: Vec::new(),
            carry: None,
            arrivals: arrivals.clone(),
            compute: compute.clone(),
            config,
            rx,
            shared: shared.clone(),
            metrics: metrics.clone(),
            name: name.clone(),
        };
        // If the spawn fails the closure, and with it the receiver, is dropped: the channel is
        // disconnected and `infer` answers Unavailable.
        let spawned = std::thread::Builder::new()
            .name(format!("aiaas-batch-{name}"))
            .spawn(move || worker.run());
        let thread = match spawned {
            Ok(handle) => Some(handle.thread().clone()),
            Err(e) => {
                tracing::error!(model = %name, error = %e, "could not start the batching thread");
                None
            }
        };
        Batcher {
            tx,
            shared,
            thread,
            arrivals,
            metrics,
            name,
            compute,
            queue_capacity,
        }
    }

    /// Queue `rows` input rows (for [`Dense`], `x.len() == rows * network.inputs()`, already
    /// validated by the caller) and wait for their answer (for [`Dense`], their logits,
    /// `rows * network.outputs()`), computed in one pass together with whatever else is queued.
    ///
    /// The request is queued when `infer` is called, not when the future is first polled, and the
    /// future does not borrow the batcher: the batcher may be dropped while answers are awaited
    /// (queued requests are still computed). Dropping the future withdraws the request.
    ///
    /// Errors: [`ServeError::Overloaded`] at once when the queue is full,
    /// [`ServeError::DeadlineExceeded`] when `deadline` passed before the request was computed
    /// (it is dropped without compute), [`ServeError::Unavailable`] if the batcher has stopped,
    /// [`ServeError::Internal`] if the forward pass panicked, [`ServeError::BadRequest`] if `x`
    /// does not hold `rows` rows (a caller's bug, refused here so it cannot fail a whole batch);
    /// or the error the [`Compute`] answered for this request.
    pub fn infer(
        &self,
        x: C::Rows,
        rows: usize,
        deadline: Option<Instant>,
    ) -> impl Future<Output = Answer<C>> + Send + 'static {
        let queued = self.enqueue(x, rows, deadline);
        let name = self.name.clone();
        async move {
            match queued? {
                Some(answer) => answer.await.unwrap_or_else(|_| Err(stopped(&name))),
                None => Ok(C::Answer::default()),
            }
        }
    }

    /// Puts the request in the queue; `None` when there is nothing to compute.
    fn enqueue(
        &self,
        x: C::Rows,
        rows: usize,
        deadline: Option<Instant>,
    ) -> Result<Option<oneshot::Receiver<Answer<C>>>, ServeError> {
        if let Err(why) = self.compute.check(&x, rows) {
            return Err(ServeError::BadRequest(format!(
                "model {}: {why}",
                self.name
            )));
        }
        if rows == 0 {
            return Ok(None);
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| d <= now) {
            self.shared.dropped_deadline.fetch_add(1, Ordering::Relaxed);
            return Err(deadline_exceeded(&self.name));
        }
        let (reply, answer) = oneshot::channel();
        let request = Request {
            x,
            rows,
            queued: now,
            deadline,
            reply,
        };
        let s = &self.shared;
        s.depth.fetch_add(1, Ordering::Relaxed);
        // SeqCst with the thread's store of `room` and load of `queued_rows`: one of the two
        // sees the other, so a batch filled while the thread goes to sleep is not missed.
        let queued_rows = s.queued_rows.fetch_add(rows, Ordering::SeqCst) + rows;
        self.metrics.queue_depth.increment(1.0);
        match self.tx.try_send(request) {
            Ok(()) => {
                // A thread waiting for company sleeps until the last caller on its way has
                // queued or the batch is full: one wake-up per batch, not one per request.
                let wake = !self.arrivals.any() || queued_rows >= s.room.load(Ordering::SeqCst);
                if let Some(thread) = self.thread.as_ref().filter(|_| wake) {
                    thread.unpark();
                }
                Ok(Some(answer))
            }
            Err(e) => {
                s.depth.fetch_sub(1, Ordering::Relaxed);
                s.queued_rows.fetch_sub(rows, Ordering::Relaxed);
                self.metrics.queue_depth.decrement(1.0);
                match e {
                    TrySendError::Full(_) => {
                        self.shared.overloaded.fetch_add(1, Ordering::Relaxed);
                        Err(ServeError::Overloaded(format!(
                            "model {}: the queue is full (capacity {}); retry later",
                            self.name, self.queue_capacity
                        )))
                    }
                    TrySendError::Disconnected(_) => Err(stopped(&self.name)),
                }
            }
        }
    }

    /// Requests waiting now (for metrics).
    pub fn queue_depth(&self) -> usize {
        self.shared.depth.load(Ordering::Relaxed)
    }

    /// What this batcher has done so far. Counters are updated before callers are answered, so
    /// a caller that has its answer sees its own request counted.
    pub fn stats(&self) -> BatcherStats {
        let s = &self.shared;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BatcherStats {
            batches: get(&s.batches),
            rows: get(&s.rows),
            requests: get(&s.requests),
            largest_batch: get(&s.largest_batch),
            overloaded: get(&s.overloaded),
            dropped_deadline: get(&s.dropped_deadline),
            dropped_gone: get(&s.dropped_gone),
            panics: get(&s.panics),
            failed: get(&s.failed),
        }
    }

    /// The name given to [`Batcher::start`].
    pub fn name(&self) -> &str {
        &self.name
    }
}

fn stopped(name: &str) -> ServeError {
    ServeError::Unavailable(format!("model {name}: its batcher has stopped"))
}

fn deadline_exceeded(name: &str) -> ServeError {
    ServeError::DeadlineExceeded(format!(
        "model {name}: the deadline passed before the request was computed"
    ))
}

/// Whether `r` must be dropped without compute: its caller has gone or its deadline has passed.
fn is_dead<C: Compute>(r: &Request<C>, now: Instant) -> bool {
    r.reply.is_closed() || r.deadline.is_some_and(|d| d <= now)
}

/// The batching thread's state.
struct Worker<C: Compute> {
    compute: Arc<C>,
    config: BatcherConfig,
    rx: Receiver<Request<C>>,
    shared: Arc<Shared>,
    metrics: ModelMetrics,
    name: Arc<str>,
    scratch: C::Scratch,
    /// The batch's rows, taken from its requests (kept for its capacity).
    rows: Vec<(C::Rows, usize)>,
    /// The batch's answers, one per request (kept for its capacity).
    answers: Vec<Answer<C>>,
    /// The requests of the batch being built (kept for its capacity).
    batch: Vec<Request<C>>,
    /// A request that did not fit the last batch; it opens the next one.
    carry: Option<Request<C>>,
    /// Callers on their way: the company worth waiting for.
    arrivals: Arrivals,
}

impl<C: Compute> Worker<C> {
    fn run(mut self) {
        tracing::debug!(model = %self.name, "batching thread started");
        loop {
            let first = match self.carry.take() {
                Some(r) => r,
                // Err: the batcher was dropped and the queue is empty.
                None => match self.rx.recv() {
                    Ok(r) => self.took(r),
                    Err(_) => break,
                },
            };
            let mut batch = std::mem::take(&mut self.batch);
            self.collect(first, &mut batch);
            self.compute(&mut batch);
            self.batch = batch;
        }
        tracing::debug!(model = %self.name, "batching thread stopped");
    }

    fn took(&self, r: Request<C>) -> Request<C> {
        self.shared.depth.fetch_sub(1, Ordering::Relaxed);
        self.shared.queued_rows.fetch_sub(r.rows, Ordering::Relaxed);
        self.metrics.queue_depth.decrement(1.0);
        r
    }

    /// Fills `batch` from `first` on, until `max_batch` rows. Requests already queued join
    /// without waiting (so a backlog is computed in full batches); the thread waits for more
    /// only while callers are on their way, and no later than `max_delay` after `first` was
    /// queued.
    fn collect(&mut self, first: Request<C>, batch: &mut Vec<Request<C>>) {
        let max_batch = self.config.max_batch;
        let until = first.queued + self.config.max_delay;
        let Some(first) = self.admit(first, Instant::now()) else {
            return;
        };
        let mut rows = first.rows;
        batch.push(first);
        while rows < max_batch {
            let next = match self.rx.try_recv() {
                Ok(next) => next,
                // The batcher was dropped: compute what we have.
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    let now = Instant::now();
                    if now >= until || !self.arrivals.any() {
                        break;
                    }
                    // Woken by the caller that brings company (see `enqueue`), or at `until`;
                    // a wake-up that came before the park makes it return at once.
                    let (room, shared) = (max_batch - rows, &self.shared);
                    shared.room.store(room, Ordering::SeqCst);
                    if shared.queued_rows.load(Ordering::SeqCst) < room {
                        std::thread::park_timeout(until - now);
                    }
                    shared.room.store(usize::MAX, Ordering::Relaxed);
                    continue;
                }
            };
            let next = self.took(next);
            let Some(next) = self.admit(next, Instant::now()) else {
                continue;
            };
            if rows + next.rows > max_batch {
                self.carry = Some(next);
                break;
            }
            rows += next.rows;
            batch.push(next);
        }
    }

    /// `r` unless its caller has gone or its deadline has passed (then it is dropped).
    fn admit(&self, r: Request<C>, now: Instant) -> Option<Request<C>> {
        if is_dead(&r, now) {
            self.drop_dead(r, now);
            return None;
        }
        Some(r)
    }

    /// Counts a request that will not be computed and answers it, if anyone still listens.
    fn drop_dead(&self, r: Request<C>, now: Instant) {
        if r.reply.is_closed() {
            self.shared.dropped_gone.fetch_add(1, Ordering::Relaxed);
        } else if r.deadline.is_some_and(|d| d <= now) {
            self.shared.dropped_deadline.fetch_add(1, Ordering::Relaxed);
            let _ = r.reply.send(Err(deadline_exceeded(&self.name)));
        }
    }

    /// Runs the batch's forward pass and answers its callers; leaves `batch` empty.
    fn compute(&mut self, batch: &mut Vec<Request<C>>) {
        // The wait for company may have outlived some deadlines or callers.
        let now = Instant::now();
        for r in batch.extract_if(.., |r| is_dead(r, now)) {
            self.drop_dead(r, now);
        }
        if batch.is_empty() {
            return;
        }
        for r in batch.iter() {
            self.metrics
                .queue_duration
                .record(now.saturating_duration_since(r.queued));
        }
        let max_batch = self.config.max_batch;
        let rows: usize = batch.iter().map(|r| r.rows).sum();
        let passes = rows.div_ceil(max_batch);
        self.rows
            .extend(batch.iter_mut().map(|r| (std::mem::take(&mut r.x), r.rows)));
        let (compute, scratch) = (&*self.compute, &mut self.scratch);
        let (input, answers) = (&self.rows, &mut self.answers);
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            compute.run(scratch, input, max_batch, answers)
        }));
        self.rows.clear();
        let s = &self.shared;
        s.batches.fetch_add(passes as u64, Ordering::Relaxed);
        match outcome {
            Ok(()) => {
                self.metrics.compute_duration.record(started.elapsed());
                // Full passes of `max_batch` rows, then the rest (all of it when it fits).
                let full = rows / max_batch;
                if full > 0 {
                    self.metrics.batch_size.record_many(max_batch as f64, full);
                }
                let rest = rows % max_batch;
                if rest > 0 {
                    self.metrics.batch_size.record(rest as f64);
                }
                s.rows.fetch_add(rows as u64, Ordering::Relaxed);
                s.requests.fetch_add(batch.len() as u64, Ordering::Relaxed);
                s.largest_batch
                    .fetch_max(rows.min(max_batch) as u64, Ordering::Relaxed);
                debug_assert_eq!(self.answers.len(), batch.len(), "one answer per request");
                for (r, answer) in batch.drain(..).zip(self.answers.drain(..)) {
                    let _ = r.reply.send(answer);
                }
            }
            Err(panic) => {
                let why = panic
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("unknown panic");
                tracing::error!(model = %self.name, rows, panic = why, "forward pass panicked");
                s.panics.fetch_add(1, Ordering::Relaxed);
                s.failed.fetch_add(batch.len() as u64, Ordering::Relaxed);
                // The buffers may have been left half-resized: start from fresh ones.
                self.scratch = self.compute.scratch(self.config.threads);
                self.answers.clear();
                for r in batch.drain(..) {
                    let _ = r.reply.send(Err(ServeError::Internal(format!(
                        "model {}: the forward pass failed: {why}",
                        self.name
                    ))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiaas_types::Activation;

    fn mlp() -> Arc<Network> {
        let mlp = aiaas_engine::Mlp::new(aiaas_engine::stack(3, &[5], 2, Activation::Relu), 1);
        Arc::new(mlp.unwrap().into())
    }

    #[test]
    fn a_batcher_can_be_shared_between_tasks() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<Batcher>();
    }

    #[tokio::test]
    async fn a_panicking_forward_pass_answers_internal_and_the_thread_keeps_serving() {
        let mlp = mlp();
        let b = Batcher::start(mlp.clone(), BatcherConfig::default(), "panics");
        // Bypass `infer`'s shape check: 4 values are not 1 row of 3 inputs, so `forward` panics.
        let (reply, answer) = oneshot::channel();
        b.shared.depth.fetch_add(1, Ordering::Relaxed);
        b.shared.queued_rows.fetch_add(1, Ordering::Relaxed);
        b.tx.try_send(Request {
            x: vec![1.0; 4],
            rows: 1,
            queued: Instant::now(),
            deadline: None,
            reply,
        })
        .unwrap_or_else(|_| panic!("queue refused the request"));
        let err = answer.await.unwrap().unwrap_err();
        assert!(matches!(err, ServeError::Internal(_)), "{err:?}");

        let x = vec![0.5, -1.0, 2.0];
        let y = b.infer(x.clone(), 1, None).await.unwrap();
        assert_eq!(y, mlp.predict(&x, 1, 1));
        let stats = b.stats();
        assert_eq!((stats.panics, stats.failed, stats.requests), (1, 1, 1));
    }

    #[tokio::test]
    async fn a_stopped_batcher_answers_unavailable() {
        // What a batcher whose thread could not start (or has died) looks like.
        let (tx, rx) = sync_channel(1);
        drop(rx);
        let b = Batcher {
            tx,
            shared: Arc::default(),
            thread: None,
            arrivals: Arrivals::default(),
            metrics: ModelMetrics::new("stopped", ""),
            name: "stopped".into(),
            compute: Arc::new(Dense(mlp())),
            queue_capacity: 1,
        };
        let err = b.infer(vec![1.0; 3], 1, None).await.unwrap_err();
        assert!(matches!(err, ServeError::Unavailable(_)), "{err:?}");
        assert_eq!(b.queue_depth(), 0);
    }

    #[tokio::test]
    async fn a_request_of_the_wrong_shape_is_refused_before_it_is_queued() {
        let b = Batcher::start(mlp(), BatcherConfig::default(), "shape");
        let err = b.infer(vec![1.0; 4], 1, None).await.unwrap_err();
        assert!(matches!(err, ServeError::BadRequest(_)), "{err:?}");
        assert_eq!(
            b.infer(Vec::new(), 0, None).await.unwrap(),
            Vec::<f32>::new()
        );
        assert_eq!(b.stats(), BatcherStats::default());
    }
}
