//! The AVX-512 VNNI kernel: `vpdpbusd` on zmm. A strip of 16 outputs is one zmm of i32 sums; a
//! tile is 8 rows × 2 strips; an odd last block of 8 outputs goes through the ymm form of the same
//! instruction (the `ymm` kernel that `isa!` builds). Each u8 × i8 product is exact and four of
//! them add to an i32 lane without saturating.

#![allow(unsafe_code)]

use crate::quant::{BLOCK, GROUP, STRIP};
use std::arch::x86_64::*;

/// Rows per full tile.
const R: usize = 8;

isa! {
    name: "avx512-vnni";
    features: ["avx2", "avx512f", "avx512vl", "avx512vnni"];
    ymm: 8 rows, _mm256_dpbusd_epi32;
    dots: zmm_dots;

    /// The sums of `xq [rows, kp]` against `packed [n8 × kp]` into `acc [rows, n8]`.
    fn zmm_dots(
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
        let mut s = 0;
        while s + 2 <= strips {
            let w = &packed[s * STRIP * kp..(s + 2) * STRIP * kp];
            rows_of::<2>(xq, rows, kp, w, acc, s * STRIP, n8);
            s += 2;
        }
        if s < strips {
            let w = &packed[s * STRIP * kp..(s + 1) * STRIP * kp];
            rows_of::<1>(xq, rows, kp, w, acc, s * STRIP, n8);
        }
        if n8 % STRIP == BLOCK {
            let w = &packed[(n8 - BLOCK) * kp..];
            ymm::rows_of::<1>(xq, rows, kp, w, acc, n8 - BLOCK, n8);
        }
    }

    /// All rows against `S` strips `w` whose sums go to column `col` of `acc [rows, n8]`.
    fn rows_of<const S: usize>(
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
            tile::<R, S>(&xq[r * kp..], kp, w, &mut acc[r * n8 + col..], n8);
            r += R;
        }
        if r == rows {
            return;
        }
        let (a, c) = (&xq[r * kp..], &mut acc[r * n8 + col..]);
        match rows - r {
            1 => tile::<1, S>(a, kp, w, c, n8),
            2 => tile::<2, S>(a, kp, w, c, n8),
            3 => tile::<3, S>(a, kp, w, c, n8),
            4 => tile::<4, S>(a, kp, w, c, n8),
            5 => tile::<5, S>(a, kp, w, c, n8),
            6 => tile::<6, S>(a, kp, w, c, n8),
            7 => tile::<7, S>(a, kp, w, c, n8),
            _ => unreachable!("a remainder tile has 1 to 7 rows"),
        }
    }

    /// Sums of `M` activation rows (`a`, stride `kp`) against `S` packed strips (`w`,
    /// `16·kp` bytes each, 64 per group), stored to `acc` rows `stride` apart.
    fn tile<const M: usize, const S: usize>(
        a: &[u8],
        kp: usize,
        w: &[i8],
        acc: &mut [i32],
        stride: usize,
    ) {
        let groups = kp / GROUP;
        let strip = STRIP * kp;
        assert!(a.len() >= M * kp, "tile: activations");
        assert!(w.len() >= S * strip, "tile: weights");
        assert!(acc.len() >= (M - 1) * stride + S * STRIP, "tile: sums");
        let zero = _mm512_setzero_si512();
        let (mut sums, mut odd) = ([[zero; S]; M], [[zero; S]; M]);
        let accumulate = |g: usize, sums: &mut [[__m512i; S]; M]| {
            let mut ws = [zero; S];
            for (t, v) in ws.iter_mut().enumerate() {
                // SAFETY: t·strip + (g + 1)·64 <= (S - 1)·strip + groups·64 = S·strip <=
                // w.len() (assert above).
                *v = unsafe { _mm512_loadu_si512(w.as_ptr().add(t * strip + g * 64).cast()) };
            }
            for (r, row) in sums.iter_mut().enumerate() {
                // SAFETY: r·kp + 4g + 4 <= (M - 1)·kp + kp <= a.len() (assert above).
                let x = _mm512_set1_epi32(unsafe { super::word(a, r * kp + g * GROUP) });
                for (sum, &v) in row.iter_mut().zip(&ws) {
                    *sum = _mm512_dpbusd_epi32(*sum, x, v);
                }
            }
        };
        let mut g = 0;
        while g + 2 <= groups {
            accumulate(g, &mut sums);
            // As in the ymm kernels: small tiles give odd groups their own sums, to hide
            // the latency of vpdpbusd.
            accumulate(g + 1, if M <= 2 { &mut odd } else { &mut sums });
            g += 2;
        }
        if g < groups {
            accumulate(g, &mut sums);
        }
        for (row, odd) in sums.iter_mut().zip(&odd) {
            for (sum, &o) in row.iter_mut().zip(odd) {
                *sum = _mm512_add_epi32(*sum, o);
            }
        }
        for (r, row) in sums.iter().enumerate() {
            for (t, &sum) in row.iter().enumerate() {
                // SAFETY: r·stride + 16t + 16 <= (M - 1)·stride + 16·S <= acc.len().
                unsafe {
                    _mm512_storeu_si512(
                        acc.as_mut_ptr().add(r * stride + t * STRIP).cast(),
                        sum,
                    )
                };
            }
        }
    }
}
