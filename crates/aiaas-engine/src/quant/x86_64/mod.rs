//! What the x86-64 kernels share. Each instruction set has its own file: `avx2.rs`,
//! `avx_vnni.rs`, `avx512_vnni.rs`, each declared with `isa!` from a single list of CPU
//! features. That list gives every function of the kernel its `#[target_feature]`s *and* the
//! kernel's run-time check `detected()`, so the check that makes calling those functions sound
//! always tests exactly the features they enable. `isa!` also builds each kernel's ymm tile
//! (tiles of rows × 16 outputs, one ymm of i32 sums per row and block of 8 outputs): the whole
//! AVX2 and AVX-VNNI kernels, and the odd last block of the AVX-512 VNNI kernel.
//!
//! The kernels' entry points (`dots`, and AVX2's `quantize_activations`) are safe: they check
//! `detected()` themselves. Inside, micro-kernels (`tile`) assert the slice lengths their raw
//! loads and stores rely on. These files are the only ones of `quant` with `unsafe`.

#![allow(unsafe_code)]

/// Declares one instruction set's kernel from one list of CPU features:
///
/// ```text
/// isa! {
///     name: "avx-vnni";
///     features: ["avx2", "avxvnni"];
///     ymm: 4 rows, _mm256_dpbusd_avx_epi32;
///     dots: ymm::dots;
///     /* more items that need the features */
/// }
/// ```
///
/// expands to `detected()`, which tests every feature at run time; a module `ymm` with the ymm
/// kernel, whose tiles have that many rows and whose `step(sums, activations, weights)` adds the
/// u8 × i8 products of 4-byte groups; the kernel's safe entry point `dots`, which checks
/// `detected()` and calls the function named; and the items as given. Each function in `ymm`
/// and each item gets `#[target_feature(enable = ...)]` for every feature of the list.
macro_rules! isa {
    (
        name: $name:literal;
        features: $features:tt;
        ymm: $rows:literal rows, $step:expr;
        dots: $kernel:path;
        $($item:item)*
    ) => {
        isa!(@detected $features);
        isa!(@ymm $features, $rows, $step);
        isa!(@dots $name, $kernel);
        $(isa!(@enable $features $item);)*
    };
    (@dots $name:literal, $kernel:path) => {
        /// The i32 sums of `xq [rows, kp]` against `packed [n8 × kp]` into `acc [rows, n8]`
        /// (see `dots` in the `quant` module). Panics if this CPU lacks a feature of the kernel.
        pub(in crate::quant) fn dots(
            xq: &[u8],
            rows: usize,
            kp: usize,
            packed: &[i8],
            n8: usize,
            acc: &mut [i32],
        ) {
            assert!(
                detected(),
                concat!("qmatmul: this CPU cannot run the ", $name, " kernel")
            );
            // SAFETY: `detected()` tests every feature the kernel enables (the same list).
            unsafe { $kernel(xq, rows, kp, packed, n8, acc) }
        }
    };
    (@detected [$($feature:tt),+]) => {
        /// Whether this CPU has every feature that the functions of this module enable: the
        /// condition for calling them.
        pub(in crate::quant) fn detected() -> bool {
            $(std::arch::is_x86_feature_detected!($feature))&&+
        }
    };
    (@enable [$($feature:tt),+] $item:item) => {
        $(#[target_feature(enable = $feature)])+
        $item
    };
    (@ymm $features:tt, $rows:literal, $step:expr) => {
        /// The ymm kernel: tiles of `R` rows × 8·`B` outputs, one ymm of sums per (row, block).
        pub(in crate::quant) mod ymm {
            use $crate::quant::{BLOCK, GROUP, STRIP};
            #[allow(unused_imports)]
            use std::arch::x86_64::*;

            /// Rows per full tile.
            const R: usize = $rows;

            isa!(@enable $features
                /// The sums of `xq [rows, kp]` against `packed [n8 × kp]` into `acc [rows, n8]`.
                #[allow(dead_code)] // the AVX-512 kernel uses only `rows_of` of its `ymm`
                pub(in crate::quant) fn dots(
                    xq: &[u8],
                    rows: usize,
                    kp: usize,
                    packed: &[i8],
                    n8: usize,
                    acc: &mut [i32],
                ) {
                    assert_eq!(xq.len(), rows * kp, "dots: activation shape");
                    assert_eq!(packed.len(), n8 * kp, "dots: weight shape");
                    assert_eq!(acc.len(), rows * n8, "dots: sums shape");
                    let strips = n8 / STRIP;
                    for s in 0..strips {
                        let w = &packed[s * STRIP * kp..(s + 1) * STRIP * kp];
                        rows_of::<2>(xq, rows, kp, w, acc, s * STRIP, n8);
                    }
                    if n8 % STRIP == BLOCK {
                        let w = &packed[(n8 - BLOCK) * kp..];
                        rows_of::<1>(xq, rows, kp, w, acc, n8 - BLOCK, n8);
                    }
                }
            );

            isa!(@enable $features
                /// All rows against `B` blocks of weights `w` whose sums go to column `col` of
                /// `acc [rows, n8]`: full tiles of `R` rows, then one smaller tile.
                pub(in crate::quant) fn rows_of<const B: usize>(
                    xq: &[u8],
                    rows: usize,
                    kp: usize,
                    w: &[i8],
                    acc: &mut [i32],
                    col: usize,
                    n8: usize,
                ) {
                    let mut r = 0;
                    while r + R <= rows {
                        tile::<R, B>(&xq[r * kp..], kp, w, &mut acc[r * n8 + col..], n8);
                        r += R;
                    }
                    if r == rows {
                        return;
                    }
                    let (a, c) = (&xq[r * kp..], &mut acc[r * n8 + col..]);
                    match rows - r {
                        1 => tile::<1, B>(a, kp, w, c, n8),
                        2 => tile::<2, B>(a, kp, w, c, n8),
                        3 => tile::<3, B>(a, kp, w, c, n8),
                        4 => tile::<4, B>(a, kp, w, c, n8),
                        5 => tile::<5, B>(a, kp, w, c, n8),
                        6 => tile::<6, B>(a, kp, w, c, n8),
                        7 => tile::<7, B>(a, kp, w, c, n8),
                        _ => unreachable!("a remainder tile has 1 to 7 rows"),
                    }
                }
            );

            isa!(@enable $features
                /// Sums of `M` activation rows (`a`, stride `kp`) against `B` packed blocks
                /// (`w`, 32·`B` bytes per group), stored to `acc` rows `stride` apart.
                fn tile<const M: usize, const B: usize>(
                    a: &[u8],
                    kp: usize,
                    w: &[i8],
                    acc: &mut [i32],
                    stride: usize,
                ) {
                    let groups = kp / GROUP;
                    assert!(a.len() >= M * kp, "tile: activations");
                    assert!(w.len() >= groups * B * BLOCK * GROUP, "tile: weights");
                    assert!(acc.len() >= (M - 1) * stride + B * BLOCK, "tile: sums");
                    let step = $step;
                    let zero = _mm256_setzero_si256();
                    let (mut sums, mut odd) = ([[zero; B]; M], [[zero; B]; M]);
                    let accumulate = |g: usize, sums: &mut [[__m256i; B]; M]| {
                        let mut ws = [zero; B];
                        for (b, v) in ws.iter_mut().enumerate() {
                            // SAFETY: (g·B + b + 1)·32 <= groups·B·32 <= w.len() (assert above).
                            *v = unsafe {
                                _mm256_loadu_si256(w.as_ptr().add((g * B + b) * 32).cast())
                            };
                        }
                        for (r, row) in sums.iter_mut().enumerate() {
                            // SAFETY: r·kp + 4g + 4 <= (M - 1)·kp + kp <= a.len() (assert above).
                            let x = _mm256_set1_epi32(unsafe {
                                super::super::word(a, r * kp + g * GROUP)
                            });
                            for (sum, &v) in row.iter_mut().zip(&ws) {
                                *sum = step(*sum, x, v);
                            }
                        }
                    };
                    let mut g = 0;
                    while g + 2 <= groups {
                        accumulate(g, &mut sums);
                        // A tile of 1 or 2 rows has too few independent sums to hide the
                        // latency of the accumulating instruction: odd groups get their own.
                        accumulate(g + 1, if M <= 2 { &mut odd } else { &mut sums });
                        g += 2;
                    }
                    if g < groups {
                        accumulate(g, &mut sums);
                    }
                    for (row, odd) in sums.iter_mut().zip(&odd) {
                        for (sum, &o) in row.iter_mut().zip(odd) {
                            *sum = _mm256_add_epi32(*sum, o);
                        }
                    }
                    for (r, row) in sums.iter().enumerate() {
                        for (b, &sum) in row.iter().enumerate() {
                            // SAFETY: r·stride + b·8 + 8 <= (M - 1)·stride + B·8 <= acc.len().
                            unsafe {
                                _mm256_storeu_si256(
                                    acc.as_mut_ptr().add(r * stride + b * BLOCK).cast(),
                                    sum,
                                )
                            };
                        }
                    }
                }
            );
        }
    };
}

pub(super) mod avx2;
pub(super) mod avx512_vnni;
pub(super) mod avx_vnni;

/// Reads the 4 activation bytes at `a[i..i + 4]` as one i32 (for a broadcast).
///
/// # Safety
/// `i + 4 <= a.len()`.
#[inline(always)]
unsafe fn word(a: &[u8], i: usize) -> i32 {
    debug_assert!(i + 4 <= a.len());
    // SAFETY: the caller guarantees `i + 4 <= a.len()`; the read is unaligned.
    unsafe { a.as_ptr().add(i).cast::<i32>().read_unaligned() }
}
