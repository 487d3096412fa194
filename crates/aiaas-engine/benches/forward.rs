//! Whole-model forward pass of an MNIST-shaped MLP 784-256-128-10 (relu), one thread, at batch
//! 1 to 256: f32 `Mlp::forward` (`Workspace::new(1)`: the engine's dot-product kernel up to 64
//! rows, the gemm crate above) against int8
//! `QuantizedMlp::forward` (best kernel), the same int8 layers forced onto the AVX2 kernel (when
//! this CPU has it), and an f32 MLP of the structured-pruned shape 784-128-64-10 (what a pruned
//! model costs). Median of repeated runs, and speed-ups over the f32 model.
//!
//! Run with `cargo bench -p aiaas-engine --bench forward`.

mod common;

use common::{median, us};
use std::hint::black_box;
use std::time::Duration;

use aiaas_engine::{
    Kernel, Mlp, QuantScratch, QuantWorkspace, QuantizedMlp, Workspace, activate, qmatmul_with,
    stack,
};
use aiaas_types::Activation;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn forward_with<'b>(
    q: &QuantizedMlp,
    kernel: Kernel,
    x: &[f32],
    rows: usize,
    bufs: &'b mut [Vec<f32>; 2],
    scratch: &mut QuantScratch,
) -> &'b [f32] {
    let widest = q.layers().iter().map(|l| l.outputs).max().unwrap_or(0);
    for b in bufs.iter_mut() {
        b.resize(rows * widest, 0.0);
    }
    let [a, b] = bufs;
    let (mut src, mut dst) = (a, b);
    for (l, layer) in q.layers().iter().enumerate() {
        let out = &mut dst[..rows * layer.outputs];
        let input = if l == 0 {
            x
        } else {
            &src[..rows * layer.inputs]
        };
        let (w, bias) = (&q.layer_weights()[l], &q.layer_biases()[l]);
        qmatmul_with(kernel, input, rows, w, Some(bias), out, scratch);
        activate(layer.activation, out);
        std::mem::swap(&mut src, &mut dst);
    }
    &src[..rows * q.outputs()]
}

fn main() {
    let full = Mlp::new(stack(784, &[256, 128], 10, Activation::Relu), 1).unwrap();
    let pruned = Mlp::new(stack(784, &[128, 64], 10, Activation::Relu), 2).unwrap();
    let q = QuantizedMlp::from_mlp(&full);
    let avx2 = Kernel::Avx2.available();
    println!(
        "MLP 784-256-128-10 relu forward, one thread. f32 = Mlp::forward (dot kernel to 64 rows, gemm above); int8 = \
         QuantizedMlp::forward, best kernel here: {}; pruned = f32 784-128-64-10",
        Kernel::best().name()
    );
    print!("batch     f32 us   int8 us");
    if avx2 {
        print!(" int8-avx2 us");
    }
    print!(" pruned-f32 us   x int8");
    if avx2 {
        print!(" x int8-avx2");
    }
    println!(" x pruned");
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for batch in [1, 2, 4, 8, 16, 32, 64, 256] {
        let x: Vec<f32> = (0..batch * 784)
            .map(|_| rng.random_range(0.0..1.0))
            .collect();
        let mut ws = Workspace::new(1);
        let mut qws = QuantWorkspace::new();
        let mut pws = Workspace::new(1);
        let (mut bufs, mut scratch) = ([Vec::new(), Vec::new()], QuantScratch::default());
        let f32_time = median(|| {
            black_box(full.forward(black_box(&x), batch, &mut ws));
        });
        let int8_time = median(|| {
            black_box(q.forward(black_box(&x), batch, &mut qws));
        });
        let avx2_time = avx2.then(|| {
            median(|| {
                let out = forward_with(&q, Kernel::Avx2, &x, batch, &mut bufs, &mut scratch);
                black_box(out);
            })
        });
        let pruned_time = median(|| {
            black_box(pruned.forward(black_box(&x), batch, &mut pws));
        });
        let ratio = |t: Duration| f32_time.as_secs_f64() / t.as_secs_f64();
        print!("{batch:>5} {:>10.1} {:>9.1}", us(f32_time), us(int8_time));
        if let Some(t) = avx2_time {
            print!(" {:>12.1}", us(t));
        }
        print!(" {:>13.1} {:>7.2}x", us(pruned_time), ratio(int8_time));
        if let Some(t) = avx2_time {
            print!(" {:>10.2}x", ratio(t));
        }
        println!(" {:>7.2}x", ratio(pruned_time));
    }
    // The forced-kernel path must give the same logits as QuantizedMlp::forward.
    let x: Vec<f32> = (0..7 * 784).map(|_| rng.random_range(0.0..1.0)).collect();
    let want = q.forward(&x, 7, &mut QuantWorkspace::new()).to_vec();
    let (mut bufs, mut scratch) = ([Vec::new(), Vec::new()], QuantScratch::default());
    for kernel in Kernel::ALL.into_iter().filter(|k| k.available()) {
        let got = forward_with(&q, kernel, &x, 7, &mut bufs, &mut scratch);
        assert_eq!(got, want.as_slice(), "{kernel:?}");
    }
}
