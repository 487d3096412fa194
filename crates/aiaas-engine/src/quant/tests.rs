//! Tests of [`qmatmul`](super::qmatmul) and the kernel choice: every kernel this CPU can run
//! (the portable one and each SIMD one) gives bitwise the same results as a plain reference,
//! extreme values neither saturate nor overflow, and the results are close to the f32 product.
//! Also the shared test helpers of the `quant` module.

use super::*;
use crate::{Transpose, matmul};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub(super) fn random(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

fn run(kernel: Kernel, x: &[f32], rows: usize, w: &QuantizedMatrix, b: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; rows * w.rows];
    let mut scratch = QuantScratch::default();
    qmatmul_with(kernel, x, rows, w, Some(b), &mut out, &mut scratch);
    out
}

/// The scheme computed the obvious way, from the unpacked `values`: quantize each row,
/// plain i32 dot products, and the epilogue formula of the module docs.
fn reference(x: &[f32], rows: usize, w: &QuantizedMatrix, b: &[f32]) -> Vec<f32> {
    let (n, k) = (w.rows, w.cols);
    let mut out = vec![0.0; rows * n];
    let mut xq = vec![0u8; k];
    for r in 0..rows {
        let (s, lo) = quantize_activations(&x[r * k..(r + 1) * k], &mut xq);
        for o in 0..n {
            let acc: i32 = (0..k)
                .map(|c| i32::from(xq[c]) * i32::from(w.values[o * k + c]))
                .sum();
            let ws = w.scales[o];
            out[r * n + o] = (s * ws) * acc as f32 + (lo * ws) * w.row_sums[o] as f32 + b[o];
        }
    }
    out
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(u, v)| u.to_bits() == v.to_bits())
}

fn available() -> Vec<Kernel> {
    let kernels: Vec<Kernel> = Kernel::ALL.into_iter().filter(|k| k.available()).collect();
    println!(
        "kernels available here: {kernels:?}, best {:?}",
        Kernel::best()
    );
    kernels
}

#[test]
fn best_kernel_is_available_and_dispatch_matches_portable() {
    assert!(Kernel::best().available());
    assert!(Kernel::Portable.available());
    assert_eq!(available().last(), Some(&Kernel::best()));
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (rows, n, k) = (5, 13, 47);
    let x = random(&mut rng, rows * k, -1.0, 2.0);
    let q = QuantizedMatrix::quantize(&random(&mut rng, n * k, -1.0, 1.0), n, k);
    let (mut a, mut p) = (vec![0.0; rows * n], vec![0.0; rows * n]);
    let mut scratch = QuantScratch::default();
    qmatmul(&x, rows, &q, None, &mut a, &mut scratch);
    qmatmul_with(Kernel::Portable, &x, rows, &q, None, &mut p, &mut scratch);
    assert!(same_bits(&a, &p));
}

#[test]
fn every_kernel_agrees_bitwise_with_portable_and_reference() {
    let kernels = available();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let shapes = [
        (1, 1),
        (3, 31),
        (5, 32),
        (8, 4),
        (10, 33),
        (9, 100),
        (16, 17),
        (24, 64),
        (33, 7),
        (40, 129),
        (10, 128),
        (7, 65),
        (48, 3),
        (256, 784),
    ];
    for &rows in &[1, 2, 3, 4, 5, 7, 8, 9, 17, 63, 64, 65, 130] {
        for &(n, k) in &shapes {
            if n * k * rows > 1 << 24 {
                continue;
            }
            let x = random(&mut rng, rows * k, -4.0, 4.0);
            let w = random(&mut rng, n * k, -1.0, 1.0);
            let b = random(&mut rng, n, -1.0, 1.0);
            let q = QuantizedMatrix::quantize(&w, n, k);
            let want = reference(&x, rows, &q, &b);
            for &kernel in &kernels {
                let got = run(kernel, &x, rows, &q, &b);
                assert!(
                    same_bits(&got, &want),
                    "{kernel:?}: rows {rows} n {n} k {k}"
                );
            }
        }
    }
    // (256, 784) at the batch sizes that matter for MNIST, against the portable kernel.
    for &rows in &[32, 256] {
        let (n, k) = (256, 784);
        let x = random(&mut rng, rows * k, 0.0, 1.0);
        let w = random(&mut rng, n * k, -0.1, 0.1);
        let b = random(&mut rng, n, -0.1, 0.1);
        let q = QuantizedMatrix::quantize(&w, n, k);
        let want = run(Kernel::Portable, &x, rows, &q, &b);
        for &kernel in &kernels {
            assert!(
                same_bits(&run(kernel, &x, rows, &q, &b), &want),
                "{kernel:?}"
            );
        }
    }
}

/// The i32 sums of every kernel for `xq [rows, kp]` against `q`.
fn sums(kernel: Kernel, xq: &[u8], rows: usize, q: &QuantizedMatrix) -> Vec<i32> {
    let (n8, kp) = (padded_rows(q.rows), padded_cols(q.cols));
    let mut acc = vec![0; rows * n8];
    dots(kernel, xq, rows, kp, q, &mut acc);
    acc
}

#[test]
fn extreme_values_neither_saturate_nor_overflow() {
    // Activations all 127 and weights all ±127: the largest pair sums maddubs can see, and
    // (at MAX_COLS columns) the largest dot product i32 must hold.
    for &(rows, n, k) in &[
        (9, 24, 70),
        (5, 17, 1001),
        (1, 8, MAX_COLS),
        (3, 16, MAX_COLS),
    ] {
        let kp = padded_cols(k);
        let xq: Vec<u8> = (0..rows * kp)
            .map(|i| if i % kp < k { 127 } else { 0 })
            .collect();
        let values: Vec<i8> = (0..n * k)
            .map(|i| if (i / k) % 2 == 0 { 127 } else { -127 })
            .collect();
        let q = QuantizedMatrix::from_parts(n, k, values, vec![1.0; n]);
        let full = 127 * 127 * k as i64;
        assert!(full <= i64::from(i32::MAX));
        for kernel in available() {
            let acc = sums(kernel, &xq, rows, &q);
            let n8 = padded_rows(n);
            for r in 0..rows {
                for o in 0..n8 {
                    let want = match o {
                        o if o >= n => 0,
                        o if o % 2 == 0 => full,
                        _ => -full,
                    };
                    assert_eq!(i64::from(acc[r * n8 + o]), want, "{kernel:?} r {r} o {o}");
                }
            }
        }
    }
    // Through qmatmul: quantization maps a row of ones with one zero to 127s, so the
    // results are exact multiples of 127·127.
    let k = 70;
    let mut x = vec![1.0f32; k];
    x[1] = 0.0;
    let w = QuantizedMatrix::from_parts(
        2,
        k,
        [vec![127i8; k], vec![-127i8; k]].concat(),
        vec![1.0, 1.0],
    );
    for kernel in available() {
        let mut out = [0.0f32; 2];
        qmatmul_with(
            kernel,
            &x,
            1,
            &w,
            None,
            &mut out,
            &mut QuantScratch::default(),
        );
        let s = 1.0f32 / 127.0;
        let acc = 127.0 * 127.0 * (k as f32 - 1.0);
        assert_eq!(out, [s * acc, -(s * acc)], "{kernel:?}");
    }
}

#[test]
fn zero_sized_shapes() {
    for kernel in available() {
        let mut scratch = QuantScratch::default();
        // No inputs: every output is its bias.
        let q = QuantizedMatrix::from_parts(3, 0, vec![], vec![0.5; 3]);
        let mut out = [9.0f32; 6];
        qmatmul_with(
            kernel,
            &[],
            2,
            &q,
            Some(&[1.0, 2.0, 3.0]),
            &mut out,
            &mut scratch,
        );
        assert_eq!(out, [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        // No rows, no outputs.
        let q = QuantizedMatrix::quantize(&[], 0, 5);
        qmatmul_with(kernel, &[0.0; 10], 2, &q, None, &mut [], &mut scratch);
        let q = QuantizedMatrix::quantize(&[1.0; 10], 2, 5);
        qmatmul_with(kernel, &[], 0, &q, None, &mut [], &mut scratch);
    }
}

/// Against the f32 product: (1) every output within the worst-case bound of the two
/// roundings, `Σ_k |x|·Δw + Δx·|w| + Δx·Δw` with `Δw = scale_o/2`, `Δx = s_r/2` (plus f32
/// slack); (2) the largest error within 1% of the output range.
#[test]
fn qmatmul_is_close_to_f32() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for &(rows, n, k, xlo) in &[(1, 256, 784, 0.0), (32, 64, 100, -2.0), (7, 10, 33, -1.0)] {
        let x = random(&mut rng, rows * k, xlo, 2.0);
        let w = random(&mut rng, n * k, -0.5, 0.5);
        let b = random(&mut rng, n, -0.1, 0.1);
        let q = QuantizedMatrix::quantize(&w, n, k);
        let got = run(Kernel::Portable, &x, rows, &q, &b);

        let mut want = vec![0.0; rows * n];
        for row in want.chunks_exact_mut(n) {
            row.copy_from_slice(&b);
        }
        matmul(
            &mut want,
            &x,
            Transpose::No,
            &w,
            Transpose::Yes,
            rows,
            n,
            k,
            true,
            1,
        );

        let (lo, hi) = want
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        let mut max_err = 0.0f32;
        let mut xq = vec![0u8; k];
        for r in 0..rows {
            let xr = &x[r * k..(r + 1) * k];
            let (s, _) = quantize_activations(xr, &mut xq);
            for o in 0..n {
                let wr = &w[o * k..(o + 1) * k];
                let (dw, dx) = (q.scales[o] / 2.0, s / 2.0);
                let bound: f32 = xr
                    .iter()
                    .zip(wr)
                    .map(|(a, c)| a.abs() * dw + dx * c.abs() + dx * dw + 1e-5 * (a * c).abs())
                    .sum();
                let err = (got[r * n + o] - want[r * n + o]).abs();
                assert!(
                    err <= bound + 1e-5,
                    "r {r} o {o}: err {err} > bound {bound}"
                );
                max_err = max_err.max(err);
            }
        }
        assert!(
            max_err <= 0.01 * (hi - lo),
            "shape {rows}x{n}x{k}: max error {max_err} vs range {}",
            hi - lo
        );
    }
}
