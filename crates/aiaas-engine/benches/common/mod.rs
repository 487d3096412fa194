//! Timing shared by the engine's benchmarks.

use std::time::{Duration, Instant};

/// Median wall time of `f` over enough runs to fill about 300 ms (at least 5).
pub fn median(mut f: impl FnMut()) -> Duration {
    f();
    let start = Instant::now();
    f();
    let once = start.elapsed().max(Duration::from_nanos(100));
    let runs = (Duration::from_millis(300).as_nanos() / once.as_nanos()).clamp(5, 20_000) as usize;
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

/// Microseconds.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
