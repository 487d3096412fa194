//! The AVX-VNNI kernel: the VEX-encoded `vpdpbusd` on ymm tiles of 4 rows × 16 outputs. Each
//! u8 × i8 product is exact and four of them add to an i32 lane without saturating.

#![allow(unsafe_code)]

isa! {
    name: "avx-vnni";
    features: ["avx2", "avxvnni"];
    ymm: 4 rows, _mm256_dpbusd_avx_epi32;
    dots: ymm::dots;
}
