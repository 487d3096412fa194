//! Per-row activation quantization in plain Rust: [`quantize_row`] maps a row of f32 to `u8` in
//! `[0, 127]` with a scale and an offset (the scheme is in the `quant` module docs). It is the
//! reference the AVX2 twin in `x86_64/avx2.rs` follows; the helpers here are shared by both so
//! that they agree bitwise. The choice between them is made in `quant/mod.rs`
//! ([`quantize_activations`](super::quantize_activations)).

/// Adds 2^23 and subtracts it again: see [`quantize_one`].
pub(super) const ROUND: f32 = 8_388_608.0;

/// Folds the 8 lanes of a running min/max and the leftover values `rest` in the same order in
/// both quantizers, so that they agree bitwise (even on the sign of a zero minimum).
#[inline(always)]
pub(super) fn min_max_finish(mut lo: [f32; 8], mut hi: [f32; 8], rest: &[f32]) -> (f32, f32) {
    for (i, &v) in rest.iter().enumerate() {
        lo[i] = if v < lo[i] { v } else { lo[i] };
        hi[i] = if v > hi[i] { v } else { hi[i] };
    }
    let min = lo
        .into_iter()
        .fold(f32::INFINITY, |a, v| if v < a { v } else { a });
    let max = hi
        .into_iter()
        .fold(f32::NEG_INFINITY, |a, v| if v > a { v } else { a });
    (min, max)
}

/// One activation: `round_half_to_even((v - lo)·inv)` clamped to `[0, 127]`.
///
/// Adding and subtracting 2^23 rounds any value in [0, 2^22) to an integer, ties to even (the
/// default rounding mode), exactly as `round_ties_even` does; unlike that (a library call
/// without SSE4.1) it vectorizes. Larger values still end at 127, and negative ones or NaN at 0,
/// through the clamp, as they would with `round_ties_even`. The clamp keeps rounding error from
/// ever producing 128, which would break the no-saturation argument of the AVX2 kernel.
#[inline(always)]
pub(super) fn quantize_one(v: f32, lo: f32, inv: f32) -> u8 {
    let r = ((v - lo) * inv + ROUND) - ROUND;
    let r = if r > 0.0 { r } else { 0.0 };
    let r = if r < 127.0 { r } else { 127.0 };
    r as u8
}

/// [`quantize_activations`](super::quantize_activations) in plain Rust.
pub(super) fn quantize_row(x: &[f32], xq: &mut [u8]) -> (f32, f32) {
    const LANES: usize = 8;
    // Independent lanes, and `if v < lo` rather than `f32::min`, as the AVX2 twin computes; a
    // NaN never wins a comparison, so NaNs are skipped as `f32::min` skips them.
    let mut lo = [f32::INFINITY; LANES];
    let mut hi = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            lo[i] = if c[i] < lo[i] { c[i] } else { lo[i] };
            hi[i] = if c[i] > hi[i] { c[i] } else { hi[i] };
        }
    }
    let (lo, hi) = min_max_finish(lo, hi, rest);
    if x.is_empty() || hi <= lo {
        xq.fill(0);
        return (0.0, if x.is_empty() { 0.0 } else { lo });
    }
    let inv = 127.0 / (hi - lo);
    for (q, &v) in xq.iter_mut().zip(x) {
        *q = quantize_one(v, lo, inv);
    }
    ((hi - lo) / 127.0, lo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::quantize_activations;
    use crate::quant::tests::random;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn activations_quantize_into_0_127() {
        let mut xq = [0u8; 4];
        let (s, lo) = quantize_activations(&[-1.0, 0.0, 0.27, 1.54], &mut xq);
        assert_eq!(lo, -1.0);
        assert!((s - 2.54 / 127.0).abs() < 1e-7);
        // (x + 1) / 0.02: 0, 50, 63.5 -> 64 (inexact in f32, so no exact tie claimed), 127.
        assert_eq!(xq[0], 0);
        assert_eq!(xq[1], 50);
        assert!(xq[2] == 63 || xq[2] == 64);
        assert_eq!(xq[3], 127);
        // A constant row: scale 0, offset carries the value.
        let (s, lo) = quantize_activations(&[2.0, 2.0], &mut xq[..2]);
        assert_eq!((s, lo, xq[0], xq[1]), (0.0, 2.0, 0, 0));
    }

    #[test]
    fn activation_rounding_matches_round_ties_even() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for len in [1, 2, 7, 8, 9, 31, 100, 784] {
            for scale in [1e-3f32, 1.0, 127.0, 3e4] {
                let mut x = random(&mut rng, len, -scale, scale);
                if len > 4 {
                    // Exact ties: with lo = 0 and hi = 127, (x - lo)·1 is x itself.
                    x[0] = 0.0;
                    x[1] = 127.0;
                    x[2] = 2.5;
                    x[3] = 63.5;
                }
                let mut got = vec![0u8; len];
                let (s, lo) = quantize_activations(&x, &mut got);
                // The plain-Rust quantizer (used without AVX2) agrees bitwise.
                let mut plain = vec![0u8; len];
                let (s2, lo2) = quantize_row(&x, &mut plain);
                assert_eq!(
                    (s.to_bits(), lo.to_bits(), &plain),
                    (s2.to_bits(), lo2.to_bits(), &got)
                );
                let (lo_want, hi) = x
                    .iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
                        (l.min(v), h.max(v))
                    });
                assert_eq!(lo, lo_want);
                if hi <= lo {
                    assert_eq!(s, 0.0);
                    continue;
                }
                assert_eq!(s, (hi - lo) / 127.0);
                let inv = 127.0 / (hi - lo);
                let want: Vec<u8> = x
                    .iter()
                    .map(|&v| ((v - lo) * inv).round_ties_even().clamp(0.0, 127.0) as u8)
                    .collect();
                assert_eq!(got, want, "len {len} scale {scale}");
            }
        }
        let mut q = [0u8; 6];
        quantize_activations(&[0.0, 127.0, 2.5, 63.5, 0.5, 1.5], &mut q);
        assert_eq!(q, [0, 127, 2, 64, 0, 2]);
        quantize_row(&[0.0, 127.0, 2.5, 63.5, 0.5, 1.5], &mut q);
        assert_eq!(q, [0, 127, 2, 64, 0, 2]);
        // NaN is skipped by min/max and quantizes to 0.
        quantize_activations(&[0.0, f32::NAN, 127.0, 3.0, 0.0, 0.0], &mut q);
        assert_eq!(q, [0, 0, 127, 3, 0, 0]);
        // Signed zeros and NaNs in every lane position: both quantizers agree bitwise.
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for len in [9, 17, 40, 77] {
            let x: Vec<f32> = (0..len)
                .map(|_| match rng.random_range(0..4) {
                    0 => 0.0,
                    1 => -0.0,
                    2 => f32::NAN,
                    _ => rng.random_range(-1.0..1.0),
                })
                .collect();
            let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
            let (s1, l1) = quantize_activations(&x, &mut a);
            let (s2, l2) = quantize_row(&x, &mut b);
            assert_eq!(
                (s1.to_bits(), l1.to_bits(), a),
                (s2.to_bits(), l2.to_bits(), b)
            );
        }
    }
}
