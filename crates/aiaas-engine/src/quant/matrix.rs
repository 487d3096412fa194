//! The int8 weight format: [`QuantizedMatrix`], symmetric per output row (one scale per output
//! channel, values in `[-127, 127]`, row sums for the activation zero point), and the copy of its
//! weights packed for the SIMD kernels: blocks of 8 outputs × groups of 4 inputs, blocks paired
//! into strips of 16 outputs (the layout is described in the `quant` module docs).

use super::{BLOCK, GROUP, MAX_COLS, STRIP};

/// An int8 weight matrix `[rows = outputs, cols = inputs]`, row-major, with one symmetric scale
/// per output row: `w[o,k] ≈ scales[o] · values[o*cols + k]`.
///
/// The SIMD kernels read a private copy of the weights packed for them (see the module docs), made
/// by [`QuantizedMatrix::quantize`] and [`QuantizedMatrix::from_parts`]. Whoever edits `values`
/// directly must rebuild the matrix with [`QuantizedMatrix::from_parts`], which recomputes both
/// the packing and `row_sums`.
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
    /// whoever edits `values` directly must rebuild via `from_parts`.
    pub row_sums: Vec<i32>,
    /// `values` in the packed layout of the module docs: `padded_rows(rows) × padded_cols(cols)`
    /// bytes, zero in the padding.
    pub(super) packed: Vec<i8>,
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
    /// the row sums and the packed copy the kernels read. Panics on inconsistent lengths or a value of -128.
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
        let packed = pack(&values, rows, cols);
        Self {
            rows,
            cols,
            values,
            scales,
            row_sums,
            packed,
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

/// Outputs rounded up to whole packed blocks.
pub(super) fn padded_rows(rows: usize) -> usize {
    rows.next_multiple_of(BLOCK)
}

/// Inputs rounded up to whole groups.
pub(super) fn padded_cols(cols: usize) -> usize {
    cols.next_multiple_of(GROUP)
}

/// Where block `b` (outputs `8b..8b+8`) of a packed matrix starts, and the bytes from one of its
/// groups to the next: 64 inside a strip of two blocks, 32 for an odd last block.
fn block_at(b: usize, padded_rows: usize, padded_cols: usize) -> (usize, usize) {
    let strip = b / 2;
    if (strip + 1) * STRIP <= padded_rows {
        (
            strip * STRIP * padded_cols + (b % 2) * BLOCK * GROUP,
            STRIP * GROUP,
        )
    } else {
        (strip * STRIP * padded_cols, BLOCK * GROUP)
    }
}

/// Packs `values [rows, cols]` into the layout of the module docs.
fn pack(values: &[i8], rows: usize, cols: usize) -> Vec<i8> {
    let (n8, kp) = (padded_rows(rows), padded_cols(cols));
    let mut packed = vec![0i8; n8 * kp];
    if cols == 0 {
        return packed;
    }
    for (o, row) in values.chunks_exact(cols).enumerate() {
        let (base, step) = block_at(o / BLOCK, n8, kp);
        let lane = base + (o % BLOCK) * GROUP;
        for (g, quad) in row.chunks(GROUP).enumerate() {
            let at = lane + g * step;
            packed[at..at + quad.len()].copy_from_slice(quad);
        }
    }
    packed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::tests::random;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

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
    fn packing_puts_each_weight_in_its_lane() {
        // 24 outputs (one strip of two blocks, then a lone block) × 6 inputs (two groups, the
        // second padded): value = 10·o + c + 1, distinct for every weight.
        let (n, k) = (24, 6);
        let values: Vec<i8> = (0..n * k)
            .map(|i| ((i / k) * 10 % 120 + i % k + 1) as i8)
            .collect();
        let q = QuantizedMatrix::from_parts(n, k, values.clone(), vec![1.0; n]);
        assert_eq!(q.packed.len(), 24 * 8);
        let at = |o: usize, c: usize| {
            let (base, step) = block_at(o / 8, 24, 8);
            q.packed[base + (c / 4) * step + (o % 8) * 4 + c % 4]
        };
        for o in 0..n {
            for c in 0..8 {
                let want = if c < k { values[o * k + c] } else { 0 };
                assert_eq!(at(o, c), want, "o {o} c {c}");
            }
        }
        // Strip 0, group 0: block 0 lanes then block 1 lanes; the lone block follows the strip.
        assert_eq!(&q.packed[..4], &values[..4]);
        assert_eq!(&q.packed[32..36], &values[8 * k..8 * k + 4]);
        assert_eq!(&q.packed[128..132], &values[16 * k..16 * k + 4]);
    }
}
