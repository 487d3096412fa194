//! The figures of an [`OptimizeReport`](aiaas_types::OptimizeReport) — size, parameters,
//! latency, quality on the parent's test split — and the guard that accepts or refuses a variant.

use aiaas_engine::{Network, NetworkWorkspace};
use aiaas_stats::Metrics;
use aiaas_types::{Task, VariantFigures};
use std::time::{Duration, Instant};

/// How long each latency figure samples for (at least [`MIN_RUNS`] runs).
const SAMPLE_TIME: Duration = Duration::from_millis(150);
const MIN_RUNS: usize = 5;
const MAX_RUNS: usize = 2_000;

/// Figures of `network`, whose weights file has `size_bytes` bytes and whose metrics on the
/// test rows `test_x` are `metrics`.
pub(crate) fn figures(
    network: &Network,
    size_bytes: u64,
    metrics: &Metrics,
    test_x: &[f32],
) -> VariantFigures {
    let (accuracy, f1_macro, rmse) = match metrics {
        Metrics::Classification(c) => (Some(c.accuracy), Some(c.f1_macro), None),
        Metrics::Regression(r) => (None, None, Some(r.rmse)),
    };
    VariantFigures {
        size_bytes,
        params: network.param_count(),
        nonzero: network.nonzero_params(),
        latency_ms_batch1: latency_ms(network, test_x, 1),
        latency_ms_batch64: latency_ms(network, test_x, 64),
        accuracy,
        f1_macro,
        rmse,
    }
}

/// Median time of one single-threaded forward pass over `batch` rows taken from `x` (repeated
/// when it has fewer), in milliseconds. Serving runs each batch on one thread, so this is the
/// figure that matters there.
fn latency_ms(network: &Network, x: &[f32], batch: usize) -> f64 {
    let width = network.inputs();
    let rows: Vec<f32> = x
        .chunks_exact(width)
        .cycle()
        .take(batch)
        .flatten()
        .copied()
        .collect();
    if rows.len() != batch * width {
        return 0.0;
    }
    let mut ws = NetworkWorkspace::new(1);
    std::hint::black_box(network.forward(&rows, batch, &mut ws));
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < MIN_RUNS || (start.elapsed() < SAMPLE_TIME && times.len() < MAX_RUNS) {
        let t = Instant::now();
        std::hint::black_box(network.forward(&rows, batch, &mut ws));
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e3
}

/// Whether `variant` is close enough to `parent`: accuracy may fall at most `max_drop`
/// (absolute), RMSE may rise at most `max_drop` (relative). Returns the decision and a sentence
/// that gives the figures behind it.
pub(crate) fn guard(
    task: Task,
    parent: &VariantFigures,
    variant: &VariantFigures,
    max_drop: f64,
) -> (bool, String) {
    // A little slack so that a variant exactly at the limit is not refused by rounding.
    const EPS: f64 = 1e-12;
    match task {
        Task::Classification => {
            let (p, v) = (
                parent.accuracy.unwrap_or(0.0),
                variant.accuracy.unwrap_or(0.0),
            );
            let drop = p - v;
            let accepted = drop <= max_drop + EPS;
            let verdict = format!(
                "accuracy {:.4} against the parent's {:.4} ({} of {:.4}) is {} the allowed drop \
                 of {:.4}",
                v,
                p,
                if drop >= 0.0 { "a drop" } else { "a gain" },
                drop.abs(),
                if accepted { "within" } else { "beyond" },
                max_drop
            );
            (accepted, verdict)
        }
        // (Only imported models have `Other`, and those are not optimized here.)
        Task::Regression | Task::Other => {
            let (p, v) = (parent.rmse.unwrap_or(0.0), variant.rmse.unwrap_or(0.0));
            let rise = if p > 0.0 { (v - p) / p } else { v - p };
            let accepted = rise <= max_drop + EPS;
            let verdict = format!(
                "RMSE {:.6} against the parent's {:.6} ({:+.2}%) is {} the allowed rise of {:.2}%",
                v,
                p,
                rise * 100.0,
                if accepted { "within" } else { "beyond" },
                max_drop * 100.0
            );
            (accepted, verdict)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(accuracy: Option<f64>, rmse: Option<f64>) -> VariantFigures {
        VariantFigures {
            size_bytes: 1,
            params: 1,
            nonzero: 1,
            latency_ms_batch1: 0.0,
            latency_ms_batch64: 0.0,
            accuracy,
            f1_macro: accuracy,
            rmse,
        }
    }

    #[test]
    fn the_guard_takes_accuracy_drops_absolute_and_rmse_rises_relative() {
        let parent = with(Some(0.95), None);
        let (ok, why) = guard(
            Task::Classification,
            &parent,
            &with(Some(0.945), None),
            0.01,
        );
        assert!(ok, "{why}");
        let (ok, why) = guard(Task::Classification, &parent, &with(Some(0.93), None), 0.01);
        assert!(!ok);
        assert!(why.contains("0.9300") && why.contains("beyond"), "{why}");
        // Exactly at the limit passes.
        let (ok, _) = guard(Task::Classification, &parent, &with(Some(0.94), None), 0.01);
        assert!(ok);

        let parent = with(None, Some(2.0));
        assert!(guard(Task::Regression, &parent, &with(None, Some(2.09)), 0.05).0);
        let (ok, why) = guard(Task::Regression, &parent, &with(None, Some(2.2)), 0.05);
        assert!(!ok);
        assert!(why.contains("+10.00%"), "{why}");
    }
}
