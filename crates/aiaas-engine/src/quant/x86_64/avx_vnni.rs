//! The AVX-VNNI kernel: the VEX-encoded `vpdpbusd` on ymm tiles of 4 rows × 16 outputs. Each
//! u8 × i8 product is exact and four of them add to an i32 lane without saturating.

#![allow(unsafe_code)]

isa! {
    features: ["avx2", "avxvnni"];
    ymm: 4 rows, _mm256_dpbusd_avx_epi32;
}

/// The i32 sums of `xq [rows, kp]` against `packed [n8 × kp]` into `acc [rows, n8]` (see
/// `dots` in the `quant` module). Panics if this CPU lacks AVX2 or AVX-VNNI.
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
        "qmatmul: this CPU cannot run the avx-vnni kernel"
    );
    // SAFETY: `detected()` tests every feature `ymm::dots` enables.
    unsafe { ymm::dots(xq, rows, kp, packed, n8, acc) }
}
