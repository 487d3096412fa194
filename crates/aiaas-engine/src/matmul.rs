//! Row-major matrix products over the `gemm` crate (a dense layer's forward pass at a few rows
//! over the engine's own dot-product kernel, `dots`), and the rule that picks how many threads a
//! product gets: a product worth threads is cut into one block of rows per thread.

use crate::dots;
use gemm::Parallelism;

/// Whether an operand is used as stored or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transpose {
    No,
    Yes,
}

/// Below this many multiply-adds, or with fewer than [`MIN_PARALLEL_ROWS`] rows or columns, a
/// product runs on one thread: fan-out costs more than it saves. A 128 x 128 x 256 product (4M,
/// about 50 us with AVX-512) is 1.7x slower cut in two than whole (the training bench's step
/// products); 784 -> 256 at 128 rows (26M) is 1.3x faster cut.
const MIN_PARALLEL_WORK: usize = 1 << 23;
const MIN_PARALLEL_ROWS: usize = 16;

/// The parallelism for an `m x n x k` product given a thread budget.
pub fn parallelism_for(m: usize, n: usize, k: usize, threads: usize) -> Parallelism {
    if threads <= 1 || m.min(n) < MIN_PARALLEL_ROWS || m * n * k < MIN_PARALLEL_WORK {
        Parallelism::None
    } else {
        Parallelism::Rayon(threads)
    }
}

/// `c[m, n] = (accumulate ? c : 0) + op(a) · op(b)`, all row-major.
///
/// `op(a)` is `m x k`: `a` is stored `m x k`, or `k x m` when `ta` is [`Transpose::Yes`];
/// likewise `op(b)` is `k x n`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    c: &mut [f32],
    a: &[f32],
    ta: Transpose,
    b: &[f32],
    tb: Transpose,
    m: usize,
    n: usize,
    k: usize,
    accumulate: bool,
    threads: usize,
) {
    assert!(c.len() >= m * n, "matmul: c holds {} < {m}x{n}", c.len());
    assert!(a.len() >= m * k, "matmul: a holds {} < {m}x{k}", a.len());
    assert!(b.len() >= k * n, "matmul: b holds {} < {k}x{n}", b.len());
    if m == 0 || n == 0 {
        return;
    }
    let dense_forward = ta == Transpose::No && tb == Transpose::Yes;
    if k == 0 || (dense_forward && m <= dots::MAX_ROWS) {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        if k > 0 {
            dots::dots(c, &a[..m * k], &b[..n * k], m, n, k);
        }
        return;
    }
    let parts = row_blocks(m, n, k, threads);
    if parts <= 1 {
        let parallelism = parallelism_for(m, n, k, threads);
        gemm_rows(c, a, m, ta, b, tb, m, n, k, accumulate, parallelism);
        return;
    }
    // Blocks of C's rows, one per thread, each on gemm's single-threaded kernel: independent
    // products with nothing to synchronise, which on the training step's shapes scale better
    // than gemm's own threading.
    let per = m.div_ceil(parts);
    rayon::scope(|scope| {
        for (i, block) in c[..m * n].chunks_mut(per * n).enumerate() {
            let (first, rows) = (i * per, block.len() / n);
            // op(a)'s rows `first..first + rows`: contiguous rows of `a`, or (transposed) the
            // columns from `first` on of every row of `a`, which keeps its leading dimension m.
            let a_block = match ta {
                Transpose::No => &a[first * k..(first + rows) * k],
                Transpose::Yes => &a[first..],
            };
            scope.spawn(move |_| {
                gemm_rows(
                    block,
                    a_block,
                    m,
                    ta,
                    b,
                    tb,
                    rows,
                    n,
                    k,
                    accumulate,
                    Parallelism::None,
                )
            });
        }
    });
}

/// How many blocks of rows [`matmul`] splits a product into: one per thread when the product
/// is worth threads and every block keeps at least [`MIN_PARALLEL_ROWS`] rows, else 1.
fn row_blocks(m: usize, n: usize, k: usize, threads: usize) -> usize {
    let parallel = matches!(parallelism_for(m, n, k, threads), Parallelism::Rayon(_));
    if parallel && m >= threads * MIN_PARALLEL_ROWS {
        threads
    } else {
        1
    }
}

/// `c[m, n] = (accumulate ? c : 0) + op(a) · op(b)` on gemm, where a transposed `a` holds its
/// rows `a_ld` apart (the whole product's m, for a block of its rows).
#[allow(clippy::too_many_arguments)]
fn gemm_rows(
    c: &mut [f32],
    a: &[f32],
    a_ld: usize,
    ta: Transpose,
    b: &[f32],
    tb: Transpose,
    m: usize,
    n: usize,
    k: usize,
    accumulate: bool,
    parallelism: Parallelism,
) {
    assert!(c.len() >= m * n, "gemm: c holds {} < {m}x{n}", c.len());
    // (column stride, row stride) of each operand as gemm wants them, and the last index each
    // reads.
    let (a_cs, a_rs, a_last) = match ta {
        Transpose::No => (1, k as isize, m * k),
        Transpose::Yes => (a_ld as isize, 1, k.saturating_sub(1) * a_ld + m),
    };
    let (b_cs, b_rs) = match tb {
        Transpose::No => (1, n as isize),
        Transpose::Yes => (k as isize, 1),
    };
    assert!(a.len() >= a_last, "gemm: a holds {} < {a_last}", a.len());
    assert!(b.len() >= k * n, "gemm: b holds {} < {k}x{n}", b.len());
    // SAFETY: the asserts above keep every index gemm computes from these strides inside the
    // slices, and `c` does not alias `a` or `b` (it is borrowed mutably).
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        let mut t = vec![0.0; x.len()];
        for r in 0..rows {
            for c in 0..cols {
                t[c * rows + r] = x[r * cols + c];
            }
        }
        t
    }

    #[test]
    fn every_transpose_combination_matches_the_naive_product() {
        let (m, n, k) = (37, 29, 41);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let want = naive(&a, &b, m, n, k);
        let at = transpose(&a, m, k);
        let bt = transpose(&b, k, n);
        for threads in [1, 2] {
            for (aa, ta) in [(&a, Transpose::No), (&at, Transpose::Yes)] {
                for (bb, tb) in [(&b, Transpose::No), (&bt, Transpose::Yes)] {
                    let mut c = vec![1.0; m * n];
                    matmul(&mut c, aa, ta, bb, tb, m, n, k, true, threads);
                    for (got, want) in c.iter().zip(&want) {
                        assert!((got - (want + 1.0)).abs() < 1e-4, "{got} vs {}", want + 1.0);
                    }
                    matmul(&mut c, aa, ta, bb, tb, m, n, k, false, threads);
                    for (got, want) in c.iter().zip(&want) {
                        assert!((got - want).abs() < 1e-4);
                    }
                }
            }
        }
    }

    #[test]
    fn products_split_across_threads_equal_one_thread() {
        let (m, n, k) = (130, 70, 1000);
        assert_eq!(row_blocks(m, n, k, 2), 2);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let at = transpose(&a, m, k);
        let bt = transpose(&b, k, n);
        for (aa, ta) in [(&a, Transpose::No), (&at, Transpose::Yes)] {
            for (bb, tb) in [(&b, Transpose::No), (&bt, Transpose::Yes)] {
                let mut one = vec![0.5; m * n];
                let mut two = one.clone();
                matmul(&mut one, aa, ta, bb, tb, m, n, k, true, 1);
                matmul(&mut two, aa, ta, bb, tb, m, n, k, true, 2);
                let worst = one
                    .iter()
                    .zip(&two)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0, f32::max);
                assert!(worst < 1e-3, "{ta:?} {tb:?}: differ by {worst}");
            }
        }
    }

    #[test]
    fn small_products_stay_on_one_thread() {
        assert!(matches!(parallelism_for(8, 256, 784, 2), Parallelism::None));
        assert!(matches!(
            parallelism_for(128, 256, 784, 1),
            Parallelism::None
        ));
        assert!(matches!(
            parallelism_for(128, 256, 784, 2),
            Parallelism::Rayon(2)
        ));
    }
}
