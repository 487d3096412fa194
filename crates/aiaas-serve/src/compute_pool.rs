//! The compute pool: one set of threads, sized to the cores, runs the batches of every loaded
//! version, so a thousand models cost a thousand queues and no thread each.
//!
//! A version's [`crate::Batcher`] is a *lane*: its own bounded queue and batching rules. A lane
//! with work is listed in the pool's ring once; a free thread takes the lane whose turn it is,
//! forms one batch from its queue and computes it. Turns are deficit round robin over the lanes
//! with work, counted in compute time: a lane whose turn comes gets `share x QUANTUM` of credit,
//! keeps its turn while it has credit and work, and each batch's compute time is charged to it
//! when the batch ends: the CPU time of the thread that ran it ([`thread_cpu_time`]), so a
//! pass the OS preempted on a busy machine is not charged for the time it waited. A flood of requests to one model therefore delays another model's
//! request by about one quantum and one batch, whatever the flood's size, and a model tagged
//! `serve.share=4` gets four times the compute of a model with the default share of 1 when both
//! are busy. While one thread forms a lane's batch the lane is off the ring; if more is queued
//! when it is formed, the lane is listed again, so a busy lane can use every thread but one:
//! that one stays free (asleep) for the other lanes, so a request to a quiet model is taken at
//! once even while another model is flooded.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::Thread;
use std::time::Duration;

/// Compute time a share of 1 earns per turn: about one batch of a small network, so a lane's
/// turn is short and another lane's request waits little.
pub const QUANTUM: Duration = Duration::from_micros(100);

/// A queue the pool serves: what a [`crate::Batcher`] is to the pool.
pub(crate) trait Lane: Send + Sync {
    /// Forms one batch from the queue and computes it, relisting the lane (through `pool`) when
    /// more is queued once the batch is formed; charges the batch's compute time to
    /// [`Lane::credit`].
    fn serve(self: Arc<Self>, pool: &Shared);

    /// Its weight in the round robin (at least 1).
    fn share(&self) -> u32;

    /// Compute time it may still spend in this turn, in nanoseconds (negative: owed).
    fn credit(&self) -> &AtomicI64;
}

/// The pool's threads. Clones share them; once the last clone is dropped the threads compute
/// what is listed and exit.
#[derive(Clone)]
pub struct ComputePool(Arc<Owner>);

/// Closes the pool when the last handle goes.
struct Owner(Arc<Shared>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.ready().closed = true;
        self.0.work.notify_all();
    }
}

/// What the pool's threads and its lanes share.
pub(crate) struct Shared {
    ready: Mutex<Ready>,
    /// Idle threads wait here for a lane to be listed.
    work: Condvar,
    /// Threads that started.
    threads: AtomicUsize,
}

/// The ring of lanes with work and who waits for it.
struct Ready {
    lanes: VecDeque<Arc<dyn Lane>>,
    /// Threads waiting on `work`.
    idle: usize,
    /// Threads holding a lane's batch open for callers on their way: woken when another lane
    /// is listed, so that waiting for company never holds back another model's work.
    waiting: Vec<Thread>,
    closed: bool,
}

impl ComputePool {
    /// A pool of `threads` threads (0: one per core), named after `name`. Threads the OS refuses
    /// are logged; a pool without any answers every request `Unavailable`.
    pub fn new(threads: usize, name: &str) -> ComputePool {
        let wanted = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        ComputePool::start(wanted, name)
    }

    fn start(wanted: usize, name: &str) -> ComputePool {
        let shared = Arc::new(Shared {
            ready: Mutex::new(Ready {
                lanes: VecDeque::new(),
                idle: 0,
                waiting: Vec::new(),
                closed: false,
            }),
            work: Condvar::new(),
            threads: AtomicUsize::new(0),
        });
        for i in 0..wanted {
            let pool = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("aiaas-compute-{name}-{i}"))
                .spawn(move || pool.run());
            match spawned {
                Ok(_) => {
                    shared.threads.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::error!(pool = name, error = %e, "could not start a compute thread")
                }
            }
        }
        ComputePool(Arc::new(Owner(shared)))
    }

    /// A pool whose threads the OS refused, for tests.
    #[cfg(test)]
    pub(crate) fn without_threads() -> ComputePool {
        ComputePool::start(0, "none")
    }

    /// How many threads compute.
    pub fn threads(&self) -> usize {
        self.0.0.threads.load(Ordering::Relaxed)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.0.0
    }
}

impl Shared {
    fn ready(&self) -> MutexGuard<'_, Ready> {
        // A lane never panics while the lock is held (compute runs outside it).
        self.ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Threads that may serve one queue at once: all but one (when there are two or more), so
    /// that however busy one model is, a thread waits, asleep, for another model's request and
    /// takes it at once (a thread the OS wakes runs soon; one busy with a flood's batches is
    /// preempted like any other).
    pub(crate) fn per_queue(&self) -> usize {
        self.threads
            .load(Ordering::Relaxed)
            .saturating_sub(1)
            .max(1)
    }

    /// Whether any thread computes (none when the OS refused them all).
    pub(crate) fn running(&self) -> bool {
        self.threads.load(Ordering::Relaxed) > 0
    }

    /// Lists `lane`, which has work and is not listed: at the front of the ring while it has
    /// credit left (it keeps its turn), else at the back. A lane that was idle has none: its
    /// credit is cut to at most 0 when its queue empties.
    pub(crate) fn list(&self, lane: Arc<dyn Lane>) {
        let keeps_turn = lane.credit().load(Ordering::Relaxed) > 0;
        let mut ready = self.ready();
        if keeps_turn {
            ready.lanes.push_front(lane);
        } else {
            ready.lanes.push_back(lane);
        }
        if ready.idle > 0 {
            self.work.notify_one();
        } else {
            for thread in ready.waiting.drain(..) {
                thread.unpark();
            }
        }
    }

    /// Waits up to `timeout` for company of the batch this thread forms, unless another lane
    /// has work; `false` if it did not wait. The lane's caller that brings company unparks
    /// this thread, as does a lane listed meanwhile.
    pub(crate) fn wait_for_company(&self, timeout: Duration) -> bool {
        let me = std::thread::current();
        {
            let mut ready = self.ready();
            if !ready.lanes.is_empty() {
                return false;
            }
            ready.waiting.push(me.clone());
        }
        std::thread::park_timeout(timeout);
        self.ready().waiting.retain(|t| t.id() != me.id());
        true
    }

    /// A thread's life: the lane whose turn it is, served, until the pool is closed and
    /// nothing is listed.
    fn run(self: Arc<Self>) {
        while let Some(lane) = self.next() {
            lane.serve(&self);
        }
    }

    /// The lane whose turn it is, waiting for one; `None` once closed with nothing listed.
    fn next(&self) -> Option<Arc<dyn Lane>> {
        let mut ready = self.ready();
        loop {
            if let Some(lane) = take_turn(&mut ready.lanes) {
                return Some(lane);
            }
            if ready.closed {
                return None;
            }
            ready.idle += 1;
            ready = self.work.wait(ready).unwrap_or_else(|e| e.into_inner());
            ready.idle -= 1;
        }
    }
}

/// CPU time the calling thread has used (on Linux; elsewhere, wall time since a fixed instant,
/// which charges a preempted pass for its wait too).
pub(crate) fn thread_cpu_time() -> Duration {
    #[cfg(target_os = "linux")]
    {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime only writes the timespec it is handed, which lives for the
        // call; CLOCK_THREAD_CPUTIME_ID is supported by every Linux kernel.
        #[allow(unsafe_code)]
        let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
        if status == 0 {
            return Duration::new(now.tv_sec as u64, now.tv_nsec as u32);
        }
    }
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

/// Deficit round robin: the first lane with credit, after giving each lane passed over its
/// turn's credit and moving it to the back. When a whole round finds none, every lane gets as
/// many turns' credit as the least indebted needs (so the loop is short however deep the debts).
fn take_turn(lanes: &mut VecDeque<Arc<dyn Lane>>) -> Option<Arc<dyn Lane>> {
    let quantum = QUANTUM.as_nanos() as i64;
    let turn = |lane: &Arc<dyn Lane>| quantum * i64::from(lane.share().max(1));
    for _ in 0..lanes.len() {
        let lane = lanes.pop_front()?;
        if lane.credit().load(Ordering::Relaxed) > 0 {
            return Some(lane);
        }
        lane.credit().fetch_add(turn(&lane), Ordering::Relaxed);
        lanes.push_back(lane);
    }
    // Those topped up past 0 in this round need no more (0 rounds).
    let rounds = lanes
        .iter()
        .map(|lane| match lane.credit().load(Ordering::Relaxed) {
            credit if credit > 0 => 0,
            credit => -credit / turn(lane) + 1,
        })
        .min()?;
    for lane in lanes.iter() {
        lane.credit()
            .fetch_add(rounds * turn(lane), Ordering::Relaxed);
    }
    let at = lanes
        .iter()
        .position(|lane| lane.credit().load(Ordering::Relaxed) > 0)?;
    lanes.remove(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        share: u32,
        credit: AtomicI64,
    }

    impl Lane for Fake {
        fn serve(self: Arc<Self>, _: &Shared) {}
        fn share(&self) -> u32 {
            self.share
        }
        fn credit(&self) -> &AtomicI64 {
            &self.credit
        }
    }

    fn lane(share: u32, credit: i64) -> Arc<dyn Lane> {
        Arc::new(Fake {
            share,
            credit: AtomicI64::new(credit),
        })
    }

    #[test]
    fn the_turn_goes_round_and_debts_are_paid_in_turns() {
        let q = QUANTUM.as_nanos() as i64;
        let (a, b) = (lane(1, -5 * q), lane(2, 0));
        let mut lanes: VecDeque<_> = [a.clone(), b.clone()].into();
        // b has no credit yet: both are topped up once; b, owed nothing, comes first.
        let first = take_turn(&mut lanes).unwrap();
        assert!(Arc::ptr_eq(&first, &b));
        assert_eq!(b.credit().load(Ordering::Relaxed), 2 * q);
        // a owes five turns: it is served only after enough rounds.
        lanes.push_back(b.clone());
        b.credit().store(-1, Ordering::Relaxed);
        let next = take_turn(&mut lanes).unwrap();
        assert!(Arc::ptr_eq(&next, &b), "b's debt is one nanosecond");
        assert!(a.credit().load(Ordering::Relaxed) <= 0);
        assert!(take_turn(&mut VecDeque::new()).is_none());
    }
}
