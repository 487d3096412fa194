//! The portable kernel: the integer part of `qmatmul` in plain Rust, on the unpacked weights.
//! It runs on every target, and it is the reference every SIMD kernel must equal bitwise.

use super::padded_rows;

/// [`dots`](super::dots) in plain Rust on the unpacked `values [n, k]`: one contiguous dot
/// product per row and output, which compilers vectorize well on any target. (The same exact
/// integers as the SIMD kernels read from the packing of the same values.)
pub(super) fn dots(
    xq: &[u8],
    rows: usize,
    kp: usize,
    values: &[i8],
    n: usize,
    k: usize,
    acc: &mut [i32],
) {
    assert_eq!(xq.len(), rows * kp, "dots: activation shape");
    assert_eq!(values.len(), n * k, "dots: weight shape");
    let n8 = padded_rows(n);
    assert_eq!(acc.len(), rows * n8, "dots: sums shape");
    if k == 0 {
        acc.fill(0);
        return;
    }
    for (a, sums) in xq.chunks_exact(kp).zip(acc.chunks_exact_mut(n8)) {
        let a = &a[..k];
        for (sum, w) in sums.iter_mut().zip(values.chunks_exact(k)) {
            *sum = a
                .iter()
                .zip(w)
                .map(|(&x, &v)| i32::from(x) * i32::from(v))
                .sum();
        }
    }
}
