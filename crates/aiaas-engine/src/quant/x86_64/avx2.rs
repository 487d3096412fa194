//! The AVX2 kernel: `vpmaddubsw` + `vpmaddwd` on ymm tiles of 4 rows × 16 outputs (the `quant`
//! module docs explain why the saturating `vpmaddubsw` never saturates here), and the AVX2 twin
//! of the activation quantizer.

#![allow(unsafe_code)]

use crate::quant::activations::{ROUND, min_max_finish, quantize_one};

isa! {
    name: "avx2";
    features: ["avx2"];
    ymm: 4 rows, {
        let ones = _mm256_set1_epi16(1);
        // `xq <= 127` keeps the i16 pair sums of maddubs below saturation (`quant` module docs).
        move |sum, x, w| _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), ones))
    };
    dots: ymm::dots;

    /// `quantize_row` of `activations.rs` with AVX2 intrinsics, bitwise equal to it: the same
    /// lane split for the min/max and the same final scalar fold (so even the sign of a zero `lo`
    /// agrees), and the same exactly rounded IEEE operations per element (`min_ps`/`max_ps` are
    /// the comparisons `quantize_row` writes, NaN included).
    fn quantize_row(x: &[f32], xq: &mut [u8]) -> (f32, f32) {
        use std::arch::x86_64::*;
        const LANES: usize = 8;
        let body = x.len() / LANES * LANES;
        let (mut lo8, mut hi8) = (
            _mm256_set1_ps(f32::INFINITY),
            _mm256_set1_ps(f32::NEG_INFINITY),
        );
        for i in (0..body).step_by(LANES) {
            // SAFETY: i + 8 <= body <= x.len().
            let v = unsafe { _mm256_loadu_ps(x.as_ptr().add(i)) };
            // min_ps(v, lo) is `if v < lo { v } else { lo }`, as in `quantize_row`.
            lo8 = _mm256_min_ps(v, lo8);
            hi8 = _mm256_max_ps(v, hi8);
        }
        let (mut lo, mut hi) = ([0.0f32; LANES], [0.0f32; LANES]);
        // SAFETY: each array holds exactly 8 f32.
        unsafe {
            _mm256_storeu_ps(lo.as_mut_ptr(), lo8);
            _mm256_storeu_ps(hi.as_mut_ptr(), hi8);
        }
        let (lo, hi) = min_max_finish(lo, hi, &x[body..]);
        if x.is_empty() || hi <= lo {
            xq.fill(0);
            return (0.0, if x.is_empty() { 0.0 } else { lo });
        }
        let inv = 127.0 / (hi - lo);
        let (lo8, inv8) = (_mm256_set1_ps(lo), _mm256_set1_ps(inv));
        let (round, zero, top) = (
            _mm256_set1_ps(ROUND),
            _mm256_setzero_ps(),
            _mm256_set1_ps(127.0),
        );
        let quantize = |i: usize| {
            // SAFETY: callers pass i + 8 <= x.len().
            let v = unsafe { _mm256_loadu_ps(x.as_ptr().add(i)) };
            let r = _mm256_sub_ps(
                _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(v, lo8), inv8), round),
                round,
            );
            // max_ps(r, 0) is `if r > 0 { r } else { 0 }`; min_ps(r, 127) likewise.
            _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(r, zero), top))
        };
        let wide = x.len() / 32 * 32;
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        for i in (0..wide).step_by(32) {
            let (a, b, c, d) = (
                quantize(i),
                quantize(i + 8),
                quantize(i + 16),
                quantize(i + 24),
            );
            // Values are in [0, 127], so the saturating packs are exact; the permute undoes their
            // per-128-bit-lane interleave.
            let bytes = _mm256_packus_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
            let bytes = _mm256_permutevar8x32_epi32(bytes, order);
            // SAFETY: i + 32 <= wide <= x.len() = xq.len().
            unsafe { _mm256_storeu_si256(xq.as_mut_ptr().add(i).cast(), bytes) };
        }
        for (q, &v) in xq[wide..].iter_mut().zip(&x[wide..]) {
            *q = quantize_one(v, lo, inv);
        }
        ((hi - lo) / 127.0, lo)
    }
}

/// [`quantize_activations`](crate::quant::quantize_activations) on AVX2, or `None` if this CPU
/// lacks AVX2.
pub(in crate::quant) fn quantize_activations(x: &[f32], xq: &mut [u8]) -> Option<(f32, f32)> {
    // SAFETY: `detected()` tests every feature `quantize_row` enables.
    detected().then(|| unsafe { quantize_row(x, xq) })
}
