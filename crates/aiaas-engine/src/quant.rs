//! Int8 building blocks for quantized dense layers: per-output-channel symmetric weight
//! quantization ([`QuantizedMatrix`]), per-row activation quantization, and the int8 product
//! [`qmatmul`] with a portable kernel and an AVX2 kernel chosen at run time.
//!
//! # Scheme
//!
//! Weights `w [rows = out, cols = in]` (the layout of [`crate::Mlp::weight`]) are quantized
//! symmetrically per output row: `scale_o = max_k |w[o,k]| / 127` and
//! `q[o,k] = round_half_to_even(w[o,k] / scale_o)` in `[-127, 127]` (never -128).
//!
//! Activations `x [rows, cols]` are quantized per input row `r`, asymmetrically, to `u8` in
//! `[0, 127]`: `lo_r = min_k x[r,k]`, `s_r = (max_k x[r,k] - lo_r) / 127`,
//! `xq[r,k] = round_half_to_even((x[r,k] - lo_r) / s_r)`. Per row rather than per batch so that a
//! row's answer does not depend on which other requests it was batched with. Then
//!
//! ```text
//! Σ_k x[r,k]·w[o,k] ≈ Σ_k (s_r·xq[r,k] + lo_r)·(scale_o·q[o,k])
//!                   = s_r·scale_o·Σ_k xq[r,k]·q[o,k]  +  lo_r·scale_o·Σ_k q[o,k]
//! ```
//!
//! The integer sum `Σ xq·q` is exact in `i32`; `Σ_k q[o,k]` is kept in
//! [`QuantizedMatrix::row_sums`].
//!
//! # Why nothing saturates or overflows
//!
//! The AVX2 kernel uses `_mm256_maddubs_epi16` (u8 × i8, adjacent pairs summed into a
//! *saturating* i16). With `xq ∈ [0, 127]` and `q ∈ [-127, 127]` a pair sum is at most
//! `2·127·127 = 32,258 < 32,767` in magnitude, so it never saturates (a full u8 range of 255 could:
//! `2·255·127 = 64,770`). `_mm256_madd_epi16` with ones then widens pairs to i32 exactly. In i32,
//! each term is at most `127·127 = 16,129`, so a dot product of up to [`MAX_COLS`] columns
//! cannot overflow. Both kernels therefore compute the same exact integers and share one float
//! epilogue, so their results are bitwise equal.

use std::sync::OnceLock;

/// Most columns (inputs) a [`QuantizedMatrix`] may have: `i32::MAX / (127·127)`, so that an i32
/// dot product cannot overflow.
pub const MAX_COLS: usize = (i32::MAX / (127 * 127)) as usize;

/// An int8 weight matrix `[rows = outputs, cols = inputs]`, row-major, with one symmetric scale
/// per output row: `w[o,k] ≈ scales[o] · values[o*cols + k]`.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedMatrix {
    /// Output channels.
    pub rows: usize,
    /// Input channels.
    pub cols: usize,
    /// `rows × cols` values in `[-127, 127]`.
    pub values: Vec<i8>,
    /// One scale per output row; 0 for an all-zero row.
    pub scales: Vec<f32>,
    /// `Σ_k values[o*cols + k]` per output row, for the activation zero-point correction. Kept in
    /// step with `values` by [`QuantizedMatrix::quantize`] and [`QuantizedMatrix::from_parts`];
    /// whoever edits `values` directly must recompute it.
    pub row_sums: Vec<i32>,
}

impl QuantizedMatrix {
    /// Quantizes finite f32 weights `[rows, cols]` row-major, symmetric per output row.
    ///
    /// `q = round_half_to_even(w · (127 / max|w_row|))`, clamped to `[-127, 127]`; a zero row
    /// gets scale 0 and zero values.
    pub fn quantize(weights: &[f32], rows: usize, cols: usize) -> Self {
        assert_eq!(weights.len(), rows * cols, "quantize: weight shape");
        assert!(cols <= MAX_COLS, "quantize: {cols} columns > {MAX_COLS}");
        let mut values = Vec::with_capacity(rows * cols);
        let mut scales = Vec::with_capacity(rows);
        for row in weights.chunks_exact(cols.max(1)).take(rows) {
            let max = row.iter().fold(0.0f32, |m, &w| m.max(w.abs()));
            if max == 0.0 {
                scales.push(0.0);
                values.extend(std::iter::repeat_n(0i8, cols));
                continue;
            }
            scales.push(max / 127.0);
            // Multiplying by 127/max (not dividing by the rounded max/127) maps the largest
            // weight to exactly ±127 and keeps exact ties (x.5) exact.
            let inv = 127.0 / max;
            values.extend(
                row.iter()
                    .map(|&w| (w * inv).round_ties_even().clamp(-127.0, 127.0) as i8),
            );
        }
        if cols == 0 {
            scales.resize(rows, 0.0);
        }
        Self::from_parts(rows, cols, values, scales)
    }

    /// Builds a matrix from stored values and scales (e.g. read from an artifact), computing
    /// the row sums. Panics on inconsistent lengths or a value of -128.
    pub fn from_parts(rows: usize, cols: usize, values: Vec<i8>, scales: Vec<f32>) -> Self {
        assert_eq!(values.len(), rows * cols, "QuantizedMatrix: values shape");
        assert_eq!(scales.len(), rows, "QuantizedMatrix: one scale per row");
        assert!(
            cols <= MAX_COLS,
            "QuantizedMatrix: {cols} columns > {MAX_COLS}"
        );
        assert!(
            !values.contains(&i8::MIN),
            "QuantizedMatrix: -128 would let the AVX2 kernel saturate"
        );
        let row_sums = if cols == 0 {
            vec![0; rows]
        } else {
            values
                .chunks_exact(cols)
                .map(|r| r.iter().map(|&v| i32::from(v)).sum())
                .collect()
        };
        Self {
            rows,
            cols,
            values,
            scales,
            row_sums,
        }
    }

    /// The f32 weights `scales[o] · values[o, k]`, `[rows, cols]` row-major.
    pub fn dequantize(&self) -> Vec<f32> {
        if self.cols == 0 {
            return Vec::new();
        }
        self.values
            .chunks_exact(self.cols)
            .zip(&self.scales)
            .flat_map(|(row, &s)| row.iter().map(move |&v| f32::from(v) * s))
            .collect()
    }
}

/// Reusable buffers for [`qmatmul`]: one quantized activation row and one row of i32 dot
/// products. Keep one per thread across calls so the hot loop does not allocate.
#[derive(Clone, Debug, Default)]
pub struct QuantScratch {
    xq: Vec<u8>,
    acc: Vec<i32>,
}

/// Quantizes one activation row to `u8` in `[0, 127]`; returns `(s, lo)` with
/// `x[k] ≈ s·xq[k] + lo`. A constant row gets `s = 0`, `xq = 0`, `lo = x[0]`.
pub fn quantize_activations(x: &[f32], xq: &mut [u8]) -> (f32, f32) {
    assert_eq!(x.len(), xq.len(), "quantize_activations: shape");
    let (lo, hi) = x
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if x.is_empty() || hi <= lo {
        xq.fill(0);
        return (0.0, if x.is_empty() { 0.0 } else { lo });
    }
    let inv = 127.0 / (hi - lo);
    for (q, &v) in xq.iter_mut().zip(x) {
        // The clamp keeps rounding error from ever producing 128, which would break the
        // no-saturation argument of the AVX2 kernel.
        *q = ((v - lo) * inv).round_ties_even().clamp(0.0, 127.0) as u8;
    }
    ((hi - lo) / 127.0, lo)
}

/// `out[r, o] ≈ Σ_k x[r,k]·w[o,k] + bias[o]` for `x [rows, w.cols]`, `out [rows, w.rows]`,
/// with int8 compute (AVX2 when the CPU has it, else portable; the results are bitwise equal).
pub fn qmatmul(
    x: &[f32],
    rows: usize,
    w: &QuantizedMatrix,
    bias: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut QuantScratch,
) {
    let kernel = if avx2_available() {
        Kernel::Avx2
    } else {
        Kernel::Portable
    };
    qmatmul_with(kernel, x, rows, w, bias, out, scratch);
}

/// [`qmatmul`] forced onto the portable scalar kernel (for tests and comparisons).
pub fn qmatmul_portable(
    x: &[f32],
    rows: usize,
    w: &QuantizedMatrix,
    bias: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut QuantScratch,
) {
    qmatmul_with(Kernel::Portable, x, rows, w, bias, out, scratch);
}

/// Whether this CPU runs the AVX2 kernel (detected once).
pub fn avx2_available() -> bool {
    static AVX2: OnceLock<bool> = OnceLock::new();
    *AVX2.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            is_x86_feature_detected!("avx2")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    Portable,
    Avx2,
}

fn qmatmul_with(
    kernel: Kernel,
    x: &[f32],
    rows: usize,
    w: &QuantizedMatrix,
    bias: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut QuantScratch,
) {
    let (n, k) = (w.rows, w.cols);
    assert_eq!(x.len(), rows * k, "qmatmul: x shape");
    assert_eq!(out.len(), rows * n, "qmatmul: out shape");
    assert_eq!(w.values.len(), n * k, "qmatmul: weight shape");
    assert_eq!(w.scales.len(), n, "qmatmul: scales");
    assert_eq!(w.row_sums.len(), n, "qmatmul: row sums");
    if let Some(b) = bias {
        assert_eq!(b.len(), n, "qmatmul: bias shape");
    }
    if n == 0 {
        return;
    }
    scratch.xq.resize(k, 0);
    scratch.acc.resize(n, 0);
    for r in 0..rows {
        let (s, lo) = quantize_activations(&x[r * k..(r + 1) * k], &mut scratch.xq);
        match kernel {
            Kernel::Portable => dots_portable(&scratch.xq, &w.values, &mut scratch.acc),
            Kernel::Avx2 => {
                assert!(avx2_available(), "qmatmul: AVX2 kernel without AVX2");
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the assert above checked that this CPU has AVX2.
                unsafe {
                    avx2::dots(&scratch.xq, &w.values, &mut scratch.acc)
                };
            }
        }
        // One epilogue for both kernels, so equal integers give bitwise-equal floats.
        let out_row = &mut out[r * n..(r + 1) * n];
        for o in 0..n {
            let ws = w.scales[o];
            let mut y = (s * ws) * scratch.acc[o] as f32 + (lo * ws) * w.row_sums[o] as f32;
            if let Some(b) = bias {
                y += b[o];
            }
            out_row[o] = y;
        }
    }
}

/// `acc[o] = Σ_k xq[k]·w[o,k]` for every output row `o` of `w [acc.len(), xq.len()]`.
fn dots_portable(xq: &[u8], w: &[i8], acc: &mut [i32]) {
    let k = xq.len();
    if k == 0 {
        acc.fill(0);
        return;
    }
    for (a, row) in acc.iter_mut().zip(w.chunks_exact(k)) {
        *a = xq
            .iter()
            .zip(row)
            .map(|(&x, &v)| i32::from(x) * i32::from(v))
            .sum();
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// AVX2 twin of [`super::dots_portable`]: same integers, four weight rows per pass so each
    /// activation load is used four times.
    #[target_feature(enable = "avx2")]
    pub(super) fn dots(xq: &[u8], w: &[i8], acc: &mut [i32]) {
        let k = xq.len();
        let n = acc.len();
        assert_eq!(w.len(), n * k, "dots: weight shape");
        if k == 0 {
            acc.fill(0);
            return;
        }
        let body = k / 32 * 32;
        let ones = _mm256_set1_epi16(1);
        let mut o = 0;
        while o + 4 <= n {
            let rows = [
                &w[o * k..(o + 1) * k],
                &w[(o + 1) * k..(o + 2) * k],
                &w[(o + 2) * k..(o + 3) * k],
                &w[(o + 3) * k..(o + 4) * k],
            ];
            let mut sums = [_mm256_setzero_si256(); 4];
            let mut i = 0;
            while i < body {
                // SAFETY: i + 32 <= body <= k = xq.len() = each row's length.
                let a = unsafe { load(xq.as_ptr().add(i)) };
                for (sum, row) in sums.iter_mut().zip(&rows) {
                    let b = unsafe { load(row.as_ptr().add(i).cast()) };
                    *sum = _mm256_add_epi32(*sum, madd(a, b, ones));
                }
                i += 32;
            }
            for j in 0..4 {
                acc[o + j] = hsum(sums[j]) + tail(&xq[body..], &rows[j][body..]);
            }
            o += 4;
        }
        while o < n {
            let row = &w[o * k..(o + 1) * k];
            let mut sum = _mm256_setzero_si256();
            let mut i = 0;
            while i < body {
                // SAFETY: i + 32 <= body <= k = xq.len() = row.len().
                let (a, b) =
                    unsafe { (load(xq.as_ptr().add(i)), load(row.as_ptr().add(i).cast())) };
                sum = _mm256_add_epi32(sum, madd(a, b, ones));
                i += 32;
            }
            acc[o] = hsum(sum) + tail(&xq[body..], &row[body..]);
            o += 1;
        }
    }

    /// Loads 32 unaligned bytes.
    ///
    /// # Safety
    /// `p` must be valid for reading 32 bytes.
    #[target_feature(enable = "avx2")]
    unsafe fn load(p: *const u8) -> __m256i {
        // SAFETY: the caller guarantees 32 readable bytes; loadu has no alignment requirement.
        unsafe { _mm256_loadu_si256(p.cast()) }
    }

    /// u8 × i8 products of 32 lanes, summed into eight i32 lanes. `a <= 127` keeps the i16
    /// pair sums of `maddubs` below saturation (see the module docs).
    #[target_feature(enable = "avx2")]
    fn madd(a: __m256i, b: __m256i, ones: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones)
    }

    #[target_feature(enable = "avx2")]
    fn hsum(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }

    fn tail(xq: &[u8], w: &[i8]) -> i32 {
        xq.iter()
            .zip(w)
            .map(|(&x, &v)| i32::from(x) * i32::from(v))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Transpose, matmul};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(lo..hi)).collect()
    }

    #[test]
    fn quantize_hand_worked_row() {
        let q = QuantizedMatrix::quantize(&[0.5, -1.0, 0.25], 1, 3);
        assert_eq!(q.scales, vec![1.0 / 127.0]);
        // 63.5 -> 64 (tie to even), -127, 31.75 -> 32.
        assert_eq!(q.values, vec![64, -127, 32]);
        assert_eq!(q.row_sums, vec![64 - 127 + 32]);
        let d = q.dequantize();
        let want = [64.0 / 127.0, -1.0, 32.0 / 127.0];
        for (a, b) in d.iter().zip(want) {
            assert!((a - b).abs() <= 1e-6, "{d:?}");
        }
    }

    #[test]
    fn quantize_ties_round_half_to_even() {
        // max 127 gives scale 1, so w / scale is w itself: exact ties.
        let q = QuantizedMatrix::quantize(&[127.0, 2.5, 3.5, -2.5, -3.5, 0.5, 1.5], 1, 7);
        assert_eq!(q.scales, vec![1.0]);
        assert_eq!(q.values, vec![127, 2, 4, -2, -4, 0, 2]);
    }

    #[test]
    fn quantize_clamps_symmetric_and_zero_row() {
        // Row 0: a negative maximum maps to -127, never -128. Row 1: all zero. Row 2: tiny values.
        let tiny = 0.5f32.powi(60); // a power of two, so 63.5 below is an exact tie
        let w = [-1.0, 0.3, 0.999, 0.0, 0.0, 0.0, tiny, -2.0 * tiny, 0.0];
        let q = QuantizedMatrix::quantize(&w, 3, 3);
        assert_eq!(&q.values[0..3], &[-127, 38, 127]);
        assert_eq!(&q.values[3..6], &[0, 0, 0]);
        assert_eq!(q.scales[1], 0.0);
        assert_eq!(&q.values[6..9], &[64, -127, 0]);
        assert!(q.dequantize()[3..6].iter().all(|&v| v == 0.0));

        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let w = random(&mut rng, 50 * 33, -3.0, 3.0);
        let q = QuantizedMatrix::quantize(&w, 50, 33);
        assert!(q.values.iter().all(|&v| (-127..=127).contains(&v)));
        for (row, (&s, orig)) in q.scales.iter().zip(w.chunks_exact(33)).enumerate() {
            // Every row reaches ±127 and dequantizes within half a step.
            assert!(
                q.values[row * 33..(row + 1) * 33]
                    .iter()
                    .any(|v| v.abs() == 127)
            );
            let d = &q.dequantize()[row * 33..(row + 1) * 33];
            for (a, b) in d.iter().zip(orig) {
                assert!((a - b).abs() <= s * 0.5 + 1e-6, "{a} vs {b} (scale {s})");
            }
        }
    }

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

    fn run(kernel: Kernel, x: &[f32], rows: usize, w: &QuantizedMatrix, b: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; rows * w.rows];
        let mut scratch = QuantScratch::default();
        qmatmul_with(kernel, x, rows, w, Some(b), &mut out, &mut scratch);
        out
    }

    #[test]
    fn avx2_and_portable_agree_bitwise() {
        if !avx2_available() {
            println!("avx2_and_portable_agree_bitwise: skipped, this CPU has no AVX2");
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for &rows in &[1, 7, 64] {
            for &(n, k) in &[
                (1, 1),
                (3, 31),
                (5, 32),
                (10, 33),
                (9, 100),
                (256, 784),
                (7, 65),
            ] {
                let x = random(&mut rng, rows * k, -4.0, 4.0);
                let w = random(&mut rng, n * k, -1.0, 1.0);
                let b = random(&mut rng, n, -1.0, 1.0);
                let q = QuantizedMatrix::quantize(&w, n, k);
                let p = run(Kernel::Portable, &x, rows, &q, &b);
                let a = run(Kernel::Avx2, &x, rows, &q, &b);
                let same = p.iter().zip(&a).all(|(u, v)| u.to_bits() == v.to_bits());
                assert!(same, "rows {rows} n {n} k {k}");
            }
        }
        // Extreme values everywhere: the largest possible pair sums must not saturate.
        let k = 70;
        let mut x = vec![1.0f32; k];
        x[1] = 0.0; // so the row is not constant; every other value quantizes to 127
        let w = QuantizedMatrix::from_parts(
            2,
            k,
            [vec![127i8; k], vec![-127i8; k]].concat(),
            vec![1.0, 1.0],
        );
        let mut acc_p = [0i32; 2];
        let mut acc_a = [0i32; 2];
        let mut xq = vec![0u8; k];
        quantize_activations(&x, &mut xq);
        dots_portable(&xq, &w.values, &mut acc_p);
        // SAFETY: AVX2 availability checked at the top of the test.
        unsafe { avx2::dots(&xq, &w.values, &mut acc_a) };
        assert_eq!(
            acc_p,
            [127 * 127 * (k as i32 - 1), -127 * 127 * (k as i32 - 1)]
        );
        assert_eq!(acc_p, acc_a);
    }

    #[test]
    fn qmatmul_dispatch_matches_portable() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (rows, n, k) = (5, 13, 47);
        let x = random(&mut rng, rows * k, -1.0, 2.0);
        let q = QuantizedMatrix::quantize(&random(&mut rng, n * k, -1.0, 1.0), n, k);
        let (mut a, mut p) = (vec![0.0; rows * n], vec![0.0; rows * n]);
        let mut scratch = QuantScratch::default();
        qmatmul(&x, rows, &q, None, &mut a, &mut scratch);
        qmatmul_portable(&x, rows, &q, None, &mut p, &mut scratch);
        assert_eq!(a, p);
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
}
