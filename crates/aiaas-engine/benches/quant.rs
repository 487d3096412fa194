//! f32 `matmul` (one thread: the engine's dot kernel up to 64 rows, the `gemm` crate above) against int8 `qmatmul_with` on every int8 kernel
//! this CPU runs (one thread) for a 784→256 dense layer with bias at batch 1, 32, 64 and 256:
//! median of repeated runs, and the speed-up of each int8 kernel over f32.
//!
//! Run with `cargo bench -p aiaas-engine --bench quant`.

mod common;

use common::{median, us};
use std::hint::black_box;
use std::time::Duration;

use aiaas_engine::{Kernel, QuantScratch, QuantizedMatrix, Transpose, matmul, qmatmul_with};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const INPUTS: usize = 784;
const OUTPUTS: usize = 256;

fn main() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let w: Vec<f32> = (0..OUTPUTS * INPUTS)
        .map(|_| rng.random_range(-0.1..0.1))
        .collect();
    let b: Vec<f32> = (0..OUTPUTS).map(|_| rng.random_range(-0.1..0.1)).collect();
    let q = QuantizedMatrix::quantize(&w, OUTPUTS, INPUTS);
    let kernels: Vec<Kernel> = Kernel::ALL.into_iter().filter(|k| k.available()).collect();
    println!(
        "dense {INPUTS}->{OUTPUTS} with bias, one thread; f32 = matmul (dot kernel to 64 rows, gemm above); int8 = qmatmul_with \
         (activation quantization included); best int8 kernel here: {}",
        Kernel::best().name()
    );
    print!("batch  f32 gemm us");
    for k in &kernels {
        print!(" {:>12} us", k.name());
    }
    for k in &kernels {
        print!(" {:>12}", format!("x {}", k.name()));
    }
    println!();
    for batch in [1, 32, 64, 256] {
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
        let times: Vec<Duration> = kernels
            .iter()
            .map(|&kernel| {
                median(|| {
                    qmatmul_with(
                        kernel,
                        black_box(&x),
                        batch,
                        &q,
                        Some(&b),
                        &mut out,
                        &mut scratch,
                    );
                    black_box(&out);
                })
            })
            .collect();
        print!("{batch:>5} {:>11.1}", us(f32_time));
        for t in &times {
            print!(" {:>15.1}", us(*t));
        }
        for t in &times {
            print!(" {:>11.2}x", f32_time.as_secs_f64() / t.as_secs_f64());
        }
        println!();
    }
}
