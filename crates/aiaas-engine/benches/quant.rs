//! f32 `matmul` (the `gemm` crate, one thread) against int8 `qmatmul` (one thread) for a 784→256
//! dense layer with bias at batch 1, 32 and 256: median of repeated runs.
//!
//! Run with `cargo bench -p aiaas-engine --bench quant`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aiaas_engine::{
    QuantScratch, QuantizedMatrix, Transpose, avx2_available, matmul, qmatmul, qmatmul_portable,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const INPUTS: usize = 784;
const OUTPUTS: usize = 256;

/// Median wall time of `f` over enough runs to fill about 200 ms (at least 5).
fn median(mut f: impl FnMut()) -> Duration {
    f();
    let start = Instant::now();
    f();
    let once = start.elapsed().max(Duration::from_nanos(100));
    let runs = (Duration::from_millis(200).as_nanos() / once.as_nanos()).clamp(5, 10_000) as usize;
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

fn main() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let w: Vec<f32> = (0..OUTPUTS * INPUTS)
        .map(|_| rng.random_range(-0.1..0.1))
        .collect();
    let b: Vec<f32> = (0..OUTPUTS).map(|_| rng.random_range(-0.1..0.1)).collect();
    let q = QuantizedMatrix::quantize(&w, OUTPUTS, INPUTS);
    println!(
        "dense {INPUTS}->{OUTPUTS}, one thread, AVX2 kernel {}",
        if avx2_available() {
            "on"
        } else {
            "off (portable)"
        }
    );
    println!("batch   f32 gemm     int8 qmatmul   int8 portable   speed-up");
    for batch in [1, 32, 256] {
        let x: Vec<f32> = (0..batch * INPUTS)
            .map(|_| rng.random_range(0.0..1.0))
            .collect();
        let mut out = vec![0.0f32; batch * OUTPUTS];
        let mut scratch = QuantScratch::default();
        let f32_time = median(|| {
            for row in out.chunks_exact_mut(OUTPUTS) {
                row.copy_from_slice(&b);
            }
            let (x, w) = (black_box(&x), black_box(&w));
            matmul(
                &mut out,
                x,
                Transpose::No,
                w,
                Transpose::Yes,
                batch,
                OUTPUTS,
                INPUTS,
                true,
                1,
            );
            black_box(&out);
        });
        let int8_time = median(|| {
            qmatmul(black_box(&x), batch, &q, Some(&b), &mut out, &mut scratch);
            black_box(&out);
        });
        let portable_time = median(|| {
            qmatmul_portable(black_box(&x), batch, &q, Some(&b), &mut out, &mut scratch);
            black_box(&out);
        });
        println!(
            "{batch:>5} {:>10.1} us {:>12.1} us {:>13.1} us {:>9.2}x",
            f32_time.as_secs_f64() * 1e6,
            int8_time.as_secs_f64() * 1e6,
            portable_time.as_secs_f64() * 1e6,
            f32_time.as_secs_f64() / int8_time.as_secs_f64()
        );
    }
}
