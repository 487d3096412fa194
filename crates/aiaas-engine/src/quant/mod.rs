//! Int8 building blocks for quantized dense layers: per-output-channel symmetric weight
//! quantization ([`QuantizedMatrix`], which also keeps its weights pre-packed for the SIMD
//! kernels), per-row activation quantization, and the int8 product [`qmatmul`] with a portable
//! kernel and x86-64 kernels (AVX2, AVX-VNNI, AVX-512 VNNI) chosen at run time ([`Kernel`]).
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
//! # Kernels
//!
//! [`qmatmul`] first quantizes every activation row of the call (padded with zero columns to a
//! multiple of 4), then a [`Kernel`] computes the i32 sums `acc[r,o] = Σ_k xq[r,k]·q[o,k]` for
//! a block of rows, then one shared f32 epilogue gives
//! `out[r,o] = (s_r·scale_o)·acc[r,o] + (lo_r·scale_o)·row_sum_o + bias_o`.
//!
//! The SIMD kernels read weights packed once by [`QuantizedMatrix::from_parts`] in a VNNI-style
//! layout. Outputs are padded with zero rows to a multiple of 8, inputs with zero columns to a
//! multiple of 4. For a *block* of 8 outputs and a *group* of 4 inputs, the 8 × 4 weights
//! (output-major) fill one 32-byte ymm whose i32 lane `o` holds the 4 weights that meet the same
//! 4 activation bytes. So one activation word broadcast to all lanes and one `vpmaddubsw` +
//! `vpmaddwd` (AVX2) or one `vpdpbusd` (VNNI) add 4 products to 8 outputs' sums, with no
//! horizontal sums. Blocks are stored in pairs (a *strip* of 16 outputs): for each group, block
//! `2s` then block `2s + 1`, 64 bytes that AVX-512 reads as one zmm; an odd last block stands
//! alone. The micro-kernels keep a tile of sums in registers (AVX2 and AVX-VNNI: 4 rows × 16
//! outputs; AVX-512 VNNI: 8 rows × 32 outputs), so each weight load serves several rows.
//!
//! # Why nothing saturates or overflows
//!
//! The AVX2 kernel uses `_mm256_maddubs_epi16` (u8 × i8, adjacent pairs summed into a
//! *saturating* i16). With `xq ∈ [0, 127]` and `q ∈ [-127, 127]` a pair sum is at most
//! `2·127·127 = 32,258 < 32,767` in magnitude, so it never saturates (a full u8 range of 255 could:
//! `2·255·127 = 64,770`). `_mm256_madd_epi16` with ones then widens pairs to i32 exactly. The VNNI
//! kernels' `vpdpbusd` forms each u8 × i8 product exactly and adds four of them to an i32 lane
//! without saturating. In i32, each term is at most `127·127 = 16,129`, so a dot product of up to
//! [`MAX_COLS`] columns cannot overflow. All kernels therefore compute the same exact integers
//! and share one float epilogue, so their results are bitwise equal.
//!
//! # Files
//!
//! This file holds the [`Kernel`] choice and its dispatch, [`qmatmul`] and the shared float
//! epilogue. Beside it: `matrix.rs` (the weight format [`QuantizedMatrix`] and its packing),
//! `activations.rs` (the portable activation quantizer and the helpers the AVX2 one shares), `portable.rs` (the plain-Rust kernel, the
//! reference for the others) and `x86_64/` (one file per instruction set: `avx2.rs`,
//! `avx_vnni.rs`, `avx512_vnni.rs`, and what they share in `mod.rs`). The `x86_64/` files are the
//! only ones here with `unsafe`; their entry points are safe functions that check the CPU
//! themselves.

mod activations;
mod matrix;
mod portable;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod x86_64;

pub use matrix::QuantizedMatrix;

use matrix::{padded_cols, padded_rows};
use std::sync::OnceLock;

/// Quantizes one activation row to `u8` in `[0, 127]`; returns `(s, lo)` with
/// `x[k] ≈ s·xq[k] + lo`. A constant row gets `s = 0`, `xq = 0`, `lo = x[0]`. Runs the AVX2
/// quantizer when this CPU has AVX2, else the portable one; both give the same bytes.
pub fn quantize_activations(x: &[f32], xq: &mut [u8]) -> (f32, f32) {
    assert_eq!(x.len(), xq.len(), "quantize_activations: shape");
    #[cfg(target_arch = "x86_64")]
    if let Some(params) = x86_64::avx2::quantize_activations(x, xq) {
        return params;
    }
    activations::quantize_row(x, xq)
}

/// Most columns (inputs) a [`QuantizedMatrix`] may have: `i32::MAX / (127·127)`, so that an i32
/// dot product cannot overflow.
pub const MAX_COLS: usize = (i32::MAX / (127 * 127)) as usize;

/// Outputs per packed block: one ymm of i32 sums.
const BLOCK: usize = 8;
/// Outputs per packed strip: two blocks interleaved per group, one zmm of i32 sums.
const STRIP: usize = 16;
/// Inputs per group: the four u8 × i8 products one i32 lane sums.
const GROUP: usize = 4;
/// Rows whose i32 sums one kernel call computes before the epilogue: small enough that their
/// quantized activations (`ROW_BLOCK × cols` bytes) stay in L1/L2 while every strip of weights
/// passes over them, and that the i32 scratch stays small.
const ROW_BLOCK: usize = 64;

/// Reusable buffers for [`qmatmul`]: the quantized activation rows of a call with their
/// `(s, lo)`, and the i32 sums of one block of rows. Keep one per thread across calls so the hot
/// loop does not allocate.
#[derive(Clone, Debug, Default)]
pub struct QuantScratch {
    xq: Vec<u8>,
    params: Vec<(f32, f32)>,
    acc: Vec<i32>,
}

/// An implementation of the integer part of [`qmatmul`]. All compute the same exact i32 sums,
/// so [`qmatmul_with`] gives bitwise-equal results with every available kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Plain Rust; runs everywhere.
    Portable,
    /// x86-64 AVX2: `vpmaddubsw` + `vpmaddwd` on a tile of 4 rows × 16 outputs.
    Avx2,
    /// x86-64 AVX-VNNI: VEX `vpdpbusd` on ymm, a tile of 4 rows × 16 outputs.
    AvxVnni,
    /// x86-64 AVX-512 VNNI (with AVX-512F and VL): `vpdpbusd` on zmm, a tile of 8 rows × 32
    /// outputs.
    Avx512Vnni,
}

impl Kernel {
    /// Every kernel, in rising order of preference: [`Kernel::best`] is the last available one.
    pub const ALL: [Kernel; 4] = [
        Kernel::Portable,
        Kernel::Avx2,
        Kernel::AvxVnni,
        Kernel::Avx512Vnni,
    ];

    /// Whether this CPU can run the kernel: it has every feature the kernel's functions enable
    /// (each kernel file derives both from one list).
    pub fn available(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => x86_64::avx2::detected(),
            #[cfg(target_arch = "x86_64")]
            Kernel::AvxVnni => x86_64::avx_vnni::detected(),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => x86_64::avx512_vnni::detected(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The preferred kernel this CPU can run (detected once).
    pub fn best() -> Kernel {
        static BEST: OnceLock<Kernel> = OnceLock::new();
        *BEST.get_or_init(|| {
            Kernel::ALL
                .into_iter()
                .rev()
                .find(|k| k.available())
                .unwrap_or(Kernel::Portable)
        })
    }

    /// A short name for logs and benchmarks: `portable`, `avx2`, `avx-vnni`, `avx512-vnni`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            Kernel::Avx2 => "avx2",
            Kernel::AvxVnni => "avx-vnni",
            Kernel::Avx512Vnni => "avx512-vnni",
        }
    }
}

/// `out[r, o] ≈ Σ_k x[r,k]·w[o,k] + bias[o]` for `x [rows, w.cols]`, `out [rows, w.rows]`,
/// with int8 compute on [`Kernel::best`] (every kernel gives bitwise the same results).
pub fn qmatmul(
    x: &[f32],
    rows: usize,
    w: &QuantizedMatrix,
    bias: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut QuantScratch,
) {
    qmatmul_with(Kernel::best(), x, rows, w, bias, out, scratch);
}

/// [`qmatmul`] on a chosen kernel (for tests and comparisons). Panics if this CPU cannot run
/// `kernel` ([`Kernel::available`]).
pub fn qmatmul_with(
    kernel: Kernel,
    x: &[f32],
    rows: usize,
    w: &QuantizedMatrix,
    bias: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut QuantScratch,
) {
    assert!(
        kernel.available(),
        "qmatmul: this CPU cannot run the {} kernel",
        kernel.name()
    );
    let (n, k) = (w.rows, w.cols);
    let (n8, kp) = (padded_rows(n), padded_cols(k));
    assert_eq!(x.len(), rows * k, "qmatmul: x shape");
    assert_eq!(out.len(), rows * n, "qmatmul: out shape");
    assert_eq!(w.values.len(), n * k, "qmatmul: weight shape");
    assert_eq!(w.packed.len(), n8 * kp, "qmatmul: packed weight shape");
    assert_eq!(w.scales.len(), n, "qmatmul: scales");
    assert_eq!(w.row_sums.len(), n, "qmatmul: row sums");
    if let Some(b) = bias {
        assert_eq!(b.len(), n, "qmatmul: bias shape");
    }
    if n == 0 || rows == 0 {
        return;
    }

    scratch.xq.resize(rows * kp, 0);
    scratch.params.clear();
    if k == 0 {
        scratch.params.resize(rows, (0.0, 0.0));
    } else {
        for (xr, qr) in x.chunks_exact(k).zip(scratch.xq.chunks_exact_mut(kp)) {
            let (q, pad) = qr.split_at_mut(k);
            scratch.params.push(quantize_activations(xr, q));
            pad.fill(0);
        }
    }

    let block = rows.min(ROW_BLOCK);
    scratch.acc.resize(block * n8, 0);
    for r0 in (0..rows).step_by(block) {
        let m = block.min(rows - r0);
        let xq = &scratch.xq[r0 * kp..(r0 + m) * kp];
        let acc = &mut scratch.acc[..m * n8];
        dots(kernel, xq, m, kp, w, acc);
        let out = &mut out[r0 * n..(r0 + m) * n];
        epilogue(&scratch.params[r0..r0 + m], acc, n8, w, bias, out);
    }
}

/// `acc[r, o] = Σ_k xq[r,k]·w[o,k]` for `xq [rows, kp]` and `acc [rows, n8]` (its padding
/// columns `o >= w.rows` are 0 or left as they were), on `kernel`. Panics if this CPU cannot run
/// `kernel`.
fn dots(kernel: Kernel, xq: &[u8], rows: usize, kp: usize, w: &QuantizedMatrix, acc: &mut [i32]) {
    let (packed, n8) = (&w.packed, padded_rows(w.rows));
    assert!(
        kernel.available(),
        "qmatmul: this CPU cannot run the {} kernel",
        kernel.name()
    );
    match kernel {
        Kernel::Portable => portable::dots(xq, rows, kp, &w.values, w.rows, w.cols, acc),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => x86_64::avx2::dots(xq, rows, kp, packed, n8, acc),
        #[cfg(target_arch = "x86_64")]
        Kernel::AvxVnni => x86_64::avx_vnni::dots(xq, rows, kp, packed, n8, acc),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni => x86_64::avx512_vnni::dots(xq, rows, kp, packed, n8, acc),
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only the portable kernel is available off x86-64"),
    }
}

/// The one float epilogue of every kernel, so equal integers give bitwise-equal floats:
/// `out[r,o] = (s_r·ws_o)·acc[r,o] + (lo_r·ws_o)·row_sum_o (+ bias_o)`.
fn epilogue(
    params: &[(f32, f32)],
    acc: &[i32],
    n8: usize,
    w: &QuantizedMatrix,
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let n = w.rows;
    for ((&(s, lo), acc), out) in params
        .iter()
        .zip(acc.chunks_exact(n8))
        .zip(out.chunks_exact_mut(n))
    {
        let terms = out
            .iter_mut()
            .zip(&acc[..n])
            .zip(&w.scales)
            .zip(&w.row_sums);
        match bias {
            Some(b) => {
                for ((((y, &a), &ws), &rs), &b) in terms.zip(b) {
                    *y = (s * ws) * a as f32 + (lo * ws) * rs as f32 + b;
                }
            }
            None => {
                for (((y, &a), &ws), &rs) in terms {
                    *y = (s * ws) * a as f32 + (lo * ws) * rs as f32;
                }
            }
        }
    }
}
