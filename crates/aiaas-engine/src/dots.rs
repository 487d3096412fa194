//! `c[m, n] += a[m, k] · b[n, k]ᵀ` for a few rows `m`: each output is the dot product of two
//! contiguous rows, read where they are stored. This is a dense layer's forward pass at the
//! batch sizes a server sees. gemm packs `b` on every call, which at a few rows costs far more
//! than the product itself (784 × 256 at 2 rows: about 6x the time of 1 row); here each tile
//! of rows reads the weights once, unpacked.
//!
//! Every dot product is summed in the same order (8 lanes over `k`, the lanes in a fixed
//! order, then the tail) whatever `m` is and wherever its row falls in a tile, so a row's
//! result does not depend on the batch it was computed in.

/// Lanes of one partial sum (one AVX register of f32).
const LANES: usize = 8;
/// Rows per tile: each weight lane loaded is used this many times.
const ROWS: usize = 4;
/// Outputs per tile: each input lane loaded is used this many times.
const COLS: usize = 2;

/// Row counts up to which [`dots`] runs instead of gemm: the serving batch's default bound, so
/// every served row's result is the same in any batch. It beats gemm below 32 rows and is no
/// slower at 64 (the engine's `forward` bench: 741 against 865 us for the MLP).
pub(crate) const MAX_ROWS: usize = 64;

/// `c[m, n] += a[m, k] · b[n, k]ᵀ`, all row-major. The caller checks the lengths.
pub(crate) fn dots(c: &mut [f32], a: &[f32], b: &[f32], m: usize, n: usize, k: usize) {
    #[cfg(target_arch = "x86_64")]
    if fma::detected() {
        return fma::dots(c, a, b, m, n, k);
    }
    portable(c, a, m, b, n, k);
}

/// The kernel without SIMD, for CPUs that lack the features of the others.
fn portable(c: &mut [f32], a: &[f32], rows: usize, b: &[f32], n: usize, k: usize) {
    for r in 0..rows {
        for (j, w) in b.chunks_exact(k).enumerate() {
            c[r * n + j] += dot(&a[r * k..(r + 1) * k], w);
        }
    }
}

/// One dot product in the kernel's order, without SIMD.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let (a_body, b_body) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (a_tail, b_tail) = (a_body.remainder(), b_body.remainder());
    for (x, y) in a_body.zip(b_body) {
        for l in 0..LANES {
            lanes[l] += x[l] * y[l];
        }
    }
    finish(lanes, a_tail, b_tail, |x, y, acc| x * y + acc)
}

/// The sum of a dot product's lanes in a fixed order, plus its tail (`k % LANES` products).
#[inline(always)]
fn finish(v: [f32; LANES], a: &[f32], b: &[f32], fma: impl Fn(f32, f32, f32) -> f32) -> f32 {
    let mut sum = ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
    for (&x, &y) in a.iter().zip(b) {
        sum = fma(x, y, sum);
    }
    sum
}

/// The AVX2 + FMA kernel: tiles of up to `ROWS` rows × `COLS` outputs, one ymm of partial sums
/// each.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod fma {
    use super::{COLS, LANES, ROWS, finish};
    use std::arch::x86_64::*;

    /// Whether this CPU has the features the kernel enables: the condition for [`dots`].
    pub(super) fn detected() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }

    /// [`super::dots`] in tiles of `ROWS` rows, then one smaller tile.
    pub(super) fn dots(c: &mut [f32], a: &[f32], b: &[f32], m: usize, n: usize, k: usize) {
        assert!(detected(), "dots: this CPU has no AVX2 and FMA");
        assert!(c.len() >= m * n && a.len() >= m * k && b.len() >= n * k);
        for (c, a) in c[..m * n].chunks_mut(ROWS * n).zip(a.chunks(ROWS * k)) {
            // SAFETY: `detected()` tests the two features these functions enable.
            unsafe {
                match c.len() / n {
                    4 => rows_of::<4>(c, a, b, n, k),
                    3 => rows_of::<3>(c, a, b, n, k),
                    2 => rows_of::<2>(c, a, b, n, k),
                    _ => rows_of::<1>(c, a, b, n, k),
                }
            }
        }
    }

    /// `R` rows of `a` against every row of `b`: tiles of `COLS` outputs, then single ones.
    #[target_feature(enable = "avx2", enable = "fma")]
    fn rows_of<const R: usize>(c: &mut [f32], a: &[f32], b: &[f32], n: usize, k: usize) {
        let mut rows: [&[f32]; R] = [&[]; R];
        for (r, row) in rows.iter_mut().enumerate() {
            *row = &a[r * k..(r + 1) * k];
        }
        let mut j = 0;
        while j + COLS <= n {
            tile::<R, COLS>(c, &rows, &b[j * k..(j + COLS) * k], j, n, k);
            j += COLS;
        }
        while j < n {
            tile::<R, 1>(c, &rows, &b[j * k..(j + 1) * k], j, n, k);
            j += 1;
        }
    }

    /// The `R × C` dot products of rows `a` with the `C` rows of `b`, added to `c` at
    /// column `j`.
    #[inline]
    #[target_feature(enable = "avx2", enable = "fma")]
    fn tile<const R: usize, const C: usize>(
        c: &mut [f32],
        a: &[&[f32]; R],
        b: &[f32],
        j: usize,
        n: usize,
        k: usize,
    ) {
        assert!(a.iter().all(|row| row.len() == k) && b.len() == C * k);
        let body = k - k % LANES;
        let mut acc = [[_mm256_setzero_ps(); C]; R];
        let mut bv = [_mm256_setzero_ps(); C];
        for p in (0..body).step_by(LANES) {
            for (o, v) in bv.iter_mut().enumerate() {
                // SAFETY: o * k + p + LANES <= o * k + k <= b.len() (asserted above).
                *v = unsafe { _mm256_loadu_ps(b.as_ptr().add(o * k + p)) };
            }
            for r in 0..R {
                // SAFETY: p + LANES <= body <= k, the length of each row (asserted above).
                let av = unsafe { _mm256_loadu_ps(a[r].as_ptr().add(p)) };
                for o in 0..C {
                    acc[r][o] = _mm256_fmadd_ps(av, bv[o], acc[r][o]);
                }
            }
        }
        for r in 0..R {
            for o in 0..C {
                let mut lanes = [0.0f32; LANES];
                // SAFETY: `lanes` holds exactly one ymm of f32.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc[r][o]) };
                let w = &b[o * k..(o + 1) * k];
                let sum = finish(lanes, &a[r][body..], &w[body..], f32::mul_add);
                c[r * n + j + o] += sum;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_naive_product_at_every_shape_and_tail() {
        for (m, n, k) in [
            (1, 1, 1),
            (1, 3, 7),
            (2, 5, 8),
            (3, 4, 17),
            (4, 2, 16),
            (7, 9, 33),
        ] {
            let a: Vec<f32> = (0..m * k).map(|i| (i % 11) as f32 * 0.25 - 1.0).collect();
            let b: Vec<f32> = (0..n * k).map(|i| (i % 7) as f32 * 0.5 - 1.5).collect();
            let mut c: Vec<f32> = (0..m * n).map(|i| i as f32).collect();
            let mut want = c.clone();
            for i in 0..m {
                for o in 0..n {
                    want[i * n + o] += (0..k).map(|p| a[i * k + p] * b[o * k + p]).sum::<f32>();
                }
            }
            dots(&mut c, &a, &b, m, n, k);
            // Small integers times quarters: every sum is exact in any order.
            assert_eq!(c, want, "m {m} n {n} k {k}");
        }
    }

    #[test]
    fn the_portable_kernel_sums_as_the_simd_one_does() {
        let (m, n, k) = (3, 5, 45);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect();
        let (mut simd, mut plain) = (vec![1.0; m * n], vec![1.0; m * n]);
        dots(&mut simd, &a, &b, m, n, k);
        portable(&mut plain, &a, m, &b, n, k);
        for (x, y) in simd.iter().zip(&plain) {
            // Only fused against separate multiply-adds may differ.
            assert!((x - y).abs() <= 1e-5 * x.abs().max(1.0), "{x} against {y}");
        }
    }

    #[test]
    fn a_row_gets_the_same_bits_in_any_batch() {
        let (n, k) = (10, 37);
        let a: Vec<f32> = (0..5 * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut all = vec![0.0; 5 * n];
        dots(&mut all, &a, &b, 5, n, k);
        for r in 0..5 {
            let mut one = vec![0.0; n];
            dots(&mut one, &a[r * k..(r + 1) * k], &b, 1, n, k);
            assert_eq!(one, all[r * n..(r + 1) * n], "row {r}");
        }
    }
}
