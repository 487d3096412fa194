//! The job series: how many jobs ended, by kind and state, how long they ran, and how many run
//! now. Recorded by the workers; rendered by the API's `/metrics` with the buckets below.

use metrics::Unit;
use std::sync::Once;
use std::time::Duration;

/// Jobs that ended, by `kind` (train, optimize, retrain) and `state` (succeeded, failed,
/// cancelled, suspended: stopped by a shutdown, to resume on the next start).
pub const JOBS_ENDED_TOTAL: &str = "aiaas_jobs_ended_total";
/// Run time of a job that ended, by `kind` and `state` (a resumed job counts its last run).
pub const JOB_DURATION_SECONDS: &str = "aiaas_job_duration_seconds";
/// Jobs running now, by `kind`.
pub const JOBS_RUNNING: &str = "aiaas_jobs_running";

/// Buckets of [`JOB_DURATION_SECONDS`]: a second to two hours.
pub const JOB_DURATION_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0,
];

/// Every histogram of this crate with its buckets.
pub const HISTOGRAMS: &[(&str, &[f64])] = &[(JOB_DURATION_SECONDS, JOB_DURATION_BUCKETS)];

/// Give the installed recorder the unit and description of every series above, and register
/// them at zero. Call once the recorder is installed; later calls do nothing.
pub fn describe() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        metrics::describe_counter!(
            JOBS_ENDED_TOTAL,
            Unit::Count,
            "Jobs that ended, by kind and state (suspended: stopped by a shutdown, to resume)."
        );
        metrics::describe_histogram!(
            JOB_DURATION_SECONDS,
            Unit::Seconds,
            "Run time of a job that ended, by kind and state."
        );
        metrics::describe_gauge!(JOBS_RUNNING, Unit::Count, "Jobs running now, by kind.");
        // Every kind's series exists before any job has run.
        for kind in aiaas_types::JobSpec::KINDS {
            metrics::gauge!(JOBS_RUNNING, "kind" => kind).increment(0.0);
        }
    });
}

/// A job of `kind` started running.
pub(crate) fn job_started(kind: &'static str) {
    metrics::gauge!(JOBS_RUNNING, "kind" => kind).increment(1.0);
}

/// A job of `kind` stopped running after `ran`, in `state`.
pub(crate) fn job_ended(kind: &'static str, state: &'static str, ran: Duration) {
    metrics::gauge!(JOBS_RUNNING, "kind" => kind).decrement(1.0);
    metrics::counter!(JOBS_ENDED_TOTAL, "kind" => kind, "state" => state).increment(1);
    metrics::histogram!(JOB_DURATION_SECONDS, "kind" => kind, "state" => state).record(ran);
}
