//! The per-model dynamic batcher (DESIGN.md section 7): one bounded queue per loaded model
//! version, its batches computed on the threads of a [`ComputePool`] shared by every version.
//!
//! Callers queue rows with [`Batcher::infer`]; a pool thread whose turn gives it the queue takes
//! every request already queued, and then waits for more only while there is company to wait
//! for (callers on their way, [`Arrivals`]: arrived, not yet queued) and no other model has
//! work. It stops at `max_batch` rows or `max_delay` after the first was queued, runs one
//! forward pass over the batch, and answers each caller its own answer through a oneshot
//! channel. So a lone caller is computed at once, and under load batches fill. While it waits
//! the thread sleeps until the last caller on its way has queued, the batch is full, or another
//! model's queue is listed: one wake-up per batch, not one per request. Forward passes never
//! run on the async runtime.
//!
//! What a pass computes is a [`Compute`]: [`Dense`] for a network trained here, whose reused
//! workspace and input buffer mean a batch allocates nothing but the per-request output vectors;
//! an imported graph for an ONNX model. A request with more rows than `max_batch` is computed
//! alone, in passes of at most `max_batch` rows each (so buffers never grow past `max_batch`
//! rows), and answered once. Requests whose caller has gone or whose deadline has passed are
//! dropped before compute. A panic in a forward pass answers that batch
//! [`ServeError::Internal`] and the thread keeps serving. Dropping the [`Batcher`] closes the
//! queue: what is already queued is still computed, then the queue is dropped by the pool.
//!
//! Besides its own counters ([`BatcherStats`]) the batcher records the queue depth, each
//! request's queue time, each batch's compute time and each pass's rows into its model's
//! [`ModelMetrics`], through handles resolved when it starts.

use crate::ServeError;
use crate::compute::{Compute, Dense};
use crate::compute_pool::{ComputePool, Lane, Shared as PoolThreads, thread_cpu_time};
use crate::metrics::ModelMetrics;
use aiaas_engine::Network;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::Thread;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Settings of one model's batcher. Zero `max_batch`, `queue_capacity`, `threads` or `share`
/// are taken as 1.
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
    /// Its weight among the models with work in the compute pool's round robin (default 1).
    pub share: u32,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        BatcherConfig {
            max_batch: 64,
            max_delay: Duration::from_micros(500),
            queue_capacity: 1024,
            threads: 1,
            share: 1,
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

/// One model's queue, served by a [`ComputePool`]. `Send + Sync`: share it behind an `Arc`.
pub struct Batcher<C: Compute = Dense> {
    queue: Arc<Queue<C>>,
    /// Keeps the pool's threads alive while the batcher lives (its own, for a batcher started
    /// alone).
    pool: ComputePool,
}

/// The queue and what forming and computing its batches needs; listed in the pool's ring
/// while it has work.
struct Queue<C: Compute> {
    waiting: Mutex<Waiting<C>>,
    /// Compute time it may still spend in its turn (see `compute_pool`).
    credit: AtomicI64,
    config: BatcherConfig,
    counters: Counters,
    metrics: ModelMetrics,
    name: Arc<str>,
    /// Callers on their way: the company worth waiting for.
    arrivals: Arrivals,
    compute: Arc<C>,
    /// Buffers reused by its passes, one set per batch computing at once.
    buffers: Mutex<Vec<Buffers<C>>>,
}

/// What one batch's pass reuses: the compute's scratch, the joined rows, the answers.
struct Buffers<C: Compute> {
    scratch: C::Scratch,
    input: Vec<(C::Rows, usize)>,
    answers: Vec<Answer<C>>,
}

/// The requests waiting, and who looks at them.
struct Waiting<C: Compute> {
    requests: VecDeque<Request<C>>,
    /// Rows of `requests`.
    rows: usize,
    /// In the pool's ring.
    listed: bool,
    /// A pool thread forms a batch from it now (it is listed again afterwards if work remains).
    forming: bool,
    /// Pool threads forming or computing its batches now: at most
    /// [`PoolThreads::per_queue`], so that a busy model leaves a thread free for the others.
    active: usize,
    /// That thread, asleep until the batch has company or room for this many rows no more.
    sleeper: Option<(Thread, usize)>,
}

impl<C: Compute> Waiting<C> {
    /// Whether the queue must be put in the pool's ring now: it has work, is not listed, no
    /// thread forms a batch from it, and fewer than `per_queue` threads serve it. Marks it
    /// listed when so; the caller lists it once the lock is released.
    fn claim_listing(&mut self, per_queue: usize) -> bool {
        let due =
            !self.requests.is_empty() && !self.listed && !self.forming && self.active < per_queue;
        self.listed |= due;
        due
    }
}

/// Counters behind [`BatcherStats`].
#[derive(Default)]
struct Counters {
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
    /// A batcher for `network` on a compute thread of its own; `name` names the thread,
    /// appears in error messages and logs, and labels its metrics (`model` = `name`,
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
    /// into `metrics` (the handles of the model version `network` is), and waiting for the
    /// callers `arrivals` counts.
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
    /// [`Batcher::start_with`] for any [`Compute`], on a compute thread of its own.
    pub fn spawn(
        compute: C,
        config: BatcherConfig,
        name: &str,
        metrics: ModelMetrics,
        arrivals: Arrivals,
    ) -> Batcher<C> {
        let pool = ComputePool::new(1, name);
        Batcher::in_pool(&pool, compute, config, name, metrics, arrivals)
    }

    /// A batcher whose batches `pool` computes, beside every other batcher of that pool.
    pub fn in_pool(
        pool: &ComputePool,
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
            share: config.share.max(1),
            ..config
        };
        let queue = Queue {
            waiting: Mutex::new(Waiting {
                requests: VecDeque::new(),
                rows: 0,
                listed: false,
                forming: false,
                active: 0,
                sleeper: None,
            }),
            credit: AtomicI64::new(0),
            config,
            counters: Counters::default(),
            metrics,
            name: name.into(),
            arrivals,
            compute: Arc::new(compute),
            buffers: Mutex::new(Vec::new()),
        };
        Batcher {
            queue: Arc::new(queue),
            pool: pool.clone(),
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
    /// (it is dropped without compute), [`ServeError::Unavailable`] if no compute thread runs,
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
        let name = self.queue.name.clone();
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
        let q = &*self.queue;
        if let Err(why) = q.compute.check(&x, rows) {
            return Err(ServeError::BadRequest(format!("model {}: {why}", q.name)));
        }
        if rows == 0 {
            return Ok(None);
        }
        let pool = self.pool.shared();
        if !pool.running() {
            return Err(stopped(&q.name));
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| d <= now) {
            q.counters.dropped_deadline.fetch_add(1, Ordering::Relaxed);
            return Err(deadline_exceeded(&q.name));
        }
        let (reply, answer) = oneshot::channel();
        let mut waiting = q.waiting();
        if waiting.requests.len() >= q.config.queue_capacity {
            drop(waiting);
            q.counters.overloaded.fetch_add(1, Ordering::Relaxed);
            return Err(ServeError::Overloaded(format!(
                "model {}: the queue is full (capacity {}); retry later",
                q.name, q.config.queue_capacity
            )));
        }
        waiting.requests.push_back(Request {
            x,
            rows,
            queued: now,
            deadline,
            reply,
        });
        waiting.rows += rows;
        q.metrics.queue_depth.increment(1.0);
        // A thread waiting for company sleeps until the last caller on its way has queued or
        // the batch is full: one wake-up per batch, not one per request.
        let company = !q.arrivals.any();
        let wake = match &waiting.sleeper {
            Some((_, room)) if company || waiting.rows >= *room => waiting.sleeper.take(),
            _ => None,
        };
        let list = waiting.claim_listing(pool.per_queue());
        drop(waiting);
        if let Some((thread, _)) = wake {
            thread.unpark();
        }
        if list {
            pool.list(self.queue.clone());
        }
        Ok(Some(answer))
    }

    /// Requests waiting now (for metrics).
    pub fn queue_depth(&self) -> usize {
        self.queue.waiting().requests.len()
    }

    /// What this batcher has done so far. Counters are updated before callers are answered, so
    /// a caller that has its answer sees its own request counted.
    pub fn stats(&self) -> BatcherStats {
        let s = &self.queue.counters;
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
        &self.queue.name
    }
}

fn stopped(name: &str) -> ServeError {
    ServeError::Unavailable(format!("model {name}: no compute thread serves it"))
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

impl<C: Compute> Lane for Queue<C> {
    fn serve(self: Arc<Self>, pool: &PoolThreads) {
        let batch = self.form(pool);
        if !batch.is_empty() {
            self.compute(batch);
        }
        // Done with it: list it again if work waits that no thread could take meanwhile.
        let mut waiting = self.waiting();
        waiting.active -= 1;
        let list = waiting.claim_listing(pool.per_queue());
        drop(waiting);
        if list {
            pool.list(self);
        }
    }

    fn share(&self) -> u32 {
        self.config.share
    }

    fn credit(&self) -> &AtomicI64 {
        &self.credit
    }
}

impl<C: Compute> Queue<C> {
    fn waiting(&self) -> MutexGuard<'_, Waiting<C>> {
        // Nothing panics while it is held.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a batch of up to `max_batch` rows (or one larger request alone). Requests already
    /// queued join without waiting (so a backlog is computed in full batches); the thread waits
    /// for more only while callers are on their way and no other queue has work, and no later
    /// than `max_delay` after the first was queued. Lists the queue again if work remains.
    fn form(self: &Arc<Self>, pool: &PoolThreads) -> Vec<Request<C>> {
        let max_batch = self.config.max_batch;
        let mut batch = Vec::new();
        let mut rows = 0;
        let mut until = None;
        let mut waiting = self.waiting();
        waiting.listed = false;
        waiting.forming = true;
        waiting.active += 1;
        loop {
            while let Some(next) = waiting.requests.front() {
                if rows > 0 && rows + next.rows > max_batch {
                    break;
                }
                let next = waiting.requests.pop_front().expect("a front request");
                waiting.rows -= next.rows;
                self.metrics.queue_depth.decrement(1.0);
                let now = Instant::now();
                if is_dead(&next, now) {
                    self.drop_dead(next, now);
                    continue;
                }
                until.get_or_insert(next.queued + self.config.max_delay);
                rows += next.rows;
                batch.push(next);
            }
            let now = Instant::now();
            let Some(end) = until.filter(|&end| now < end) else {
                break;
            };
            if rows >= max_batch || !waiting.requests.is_empty() || !self.arrivals.any() {
                break;
            }
            // Woken by the caller that brings company (see `enqueue`), by another queue listed,
            // or at `until`.
            waiting.sleeper = Some((std::thread::current(), max_batch - rows));
            drop(waiting);
            let waited = pool.wait_for_company(end - now);
            waiting = self.waiting();
            waiting.sleeper = None;
            if !waited {
                // Others have work: compute what we have (after taking what came meanwhile).
                until = Some(now);
            }
        }
        waiting.forming = false;
        let idle = waiting.requests.is_empty();
        let list = waiting.claim_listing(pool.per_queue());
        drop(waiting);
        if list {
            pool.list(self.clone());
        } else if idle {
            // Idle now: a surplus is not kept for later, a debt is.
            self.credit.fetch_min(0, Ordering::Relaxed);
        }
        batch
    }

    /// Counts a request that will not be computed and answers it, if anyone still listens.
    fn drop_dead(&self, r: Request<C>, now: Instant) {
        if r.reply.is_closed() {
            self.counters.dropped_gone.fetch_add(1, Ordering::Relaxed);
        } else if r.deadline.is_some_and(|d| d <= now) {
            self.counters
                .dropped_deadline
                .fetch_add(1, Ordering::Relaxed);
            let _ = r.reply.send(Err(deadline_exceeded(&self.name)));
        }
    }

    /// Runs the batch's forward pass, answers its callers and charges its time to the turn.
    fn compute(&self, mut batch: Vec<Request<C>>) {
        // The wait for company may have outlived some deadlines or callers.
        let now = Instant::now();
        for r in batch.extract_if(.., |r| is_dead(r, now)) {
            self.drop_dead(r, now);
        }
        if batch.is_empty() {
            return;
        }
        for r in &batch {
            self.metrics
                .queue_duration
                .record(now.saturating_duration_since(r.queued));
        }
        let max_batch = self.config.max_batch;
        let rows: usize = batch.iter().map(|r| r.rows).sum();
        let passes = rows.div_ceil(max_batch);
        let reused = self.buffers.lock().ok().and_then(|mut b| b.pop());
        let mut buffers = reused.unwrap_or_else(|| Buffers {
            scratch: self.compute.scratch(self.config.threads),
            input: Vec::new(),
            answers: Vec::new(),
        });
        let Buffers {
            scratch,
            input,
            answers,
        } = &mut buffers;
        input.extend(batch.iter_mut().map(|r| (std::mem::take(&mut r.x), r.rows)));
        let (started, cpu) = (Instant::now(), thread_cpu_time());
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.compute.run(scratch, input, max_batch, answers)
        }));
        input.clear();
        let spent = started.elapsed();
        let charged = thread_cpu_time().saturating_sub(cpu);
        self.credit
            .fetch_sub(charged.as_nanos() as i64, Ordering::Relaxed);
        let s = &self.counters;
        s.batches.fetch_add(passes as u64, Ordering::Relaxed);
        match outcome {
            Ok(()) => {
                self.metrics.compute_duration.record(spent);
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
                debug_assert_eq!(answers.len(), batch.len(), "one answer per request");
                for (r, answer) in batch.into_iter().zip(answers.drain(..)) {
                    let _ = r.reply.send(answer);
                }
                if let Ok(mut reused) = self.buffers.lock() {
                    reused.push(buffers);
                }
            }
            Err(panic) => {
                // The buffers may have been left half-resized: they are dropped, not reused.
                let why = panic
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("unknown panic");
                tracing::error!(model = %self.name, rows, panic = why, "forward pass panicked");
                s.panics.fetch_add(1, Ordering::Relaxed);
                s.failed.fetch_add(batch.len() as u64, Ordering::Relaxed);
                for r in batch {
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
        {
            let mut waiting = b.queue.waiting();
            waiting.requests.push_back(Request {
                x: vec![1.0; 4],
                rows: 1,
                queued: Instant::now(),
                deadline: None,
                reply,
            });
            waiting.rows += 1;
            waiting.listed = true;
        }
        b.pool.shared().list(b.queue.clone());
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
        // What a batcher whose thread could not start looks like.
        let pool = ComputePool::without_threads();
        let b = Batcher::in_pool(
            &pool,
            Dense(mlp()),
            BatcherConfig::default(),
            "stopped",
            ModelMetrics::new("stopped", ""),
            Arrivals::default(),
        );
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
