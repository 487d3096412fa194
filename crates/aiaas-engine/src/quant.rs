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

use std::sync::OnceLock;

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
    packed: Vec<i8>,
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
fn padded_rows(rows: usize) -> usize {
    rows.next_multiple_of(BLOCK)
}

/// Inputs rounded up to whole groups.
fn padded_cols(cols: usize) -> usize {
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

/// Reusable buffers for [`qmatmul`]: the quantized activation rows of a call with their
/// `(s, lo)`, and the i32 sums of one block of rows. Keep one per thread across calls so the hot
/// loop does not allocate.
#[derive(Clone, Debug, Default)]
pub struct QuantScratch {
    xq: Vec<u8>,
    params: Vec<(f32, f32)>,
    acc: Vec<i32>,
}

/// Quantizes one activation row to `u8` in `[0, 127]`; returns `(s, lo)` with
/// `x[k] ≈ s·xq[k] + lo`. A constant row gets `s = 0`, `xq = 0`, `lo = x[0]`.
pub fn quantize_activations(x: &[f32], xq: &mut [u8]) -> (f32, f32) {
    assert_eq!(x.len(), xq.len(), "quantize_activations: shape");
    #[cfg(target_arch = "x86_64")]
    if Kernel::Avx2.available() {
        // SAFETY: this CPU has AVX2, checked just above.
        return unsafe { quantize_activations_avx2(x, xq) };
    }
    quantize_row(x, xq)
}

/// [`quantize_row`] with AVX2 intrinsics, bitwise equal to it: the same lane split for the
/// min/max and the same final scalar fold (so even the sign of a zero `lo` agrees), and the same
/// exactly rounded IEEE operations per element (`min_ps`/`max_ps` are the comparisons
/// `quantize_row` writes, NaN included).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn quantize_activations_avx2(x: &[f32], xq: &mut [u8]) -> (f32, f32) {
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

/// Adds 2^23 and subtracts it again: see [`quantize_one`].
const ROUND: f32 = 8_388_608.0;

/// Folds the 8 lanes of a running min/max and the leftover values `rest` in the same order in
/// both quantizers, so that they agree bitwise (even on the sign of a zero minimum).
#[inline(always)]
fn min_max_finish(mut lo: [f32; 8], mut hi: [f32; 8], rest: &[f32]) -> (f32, f32) {
    for (i, &v) in rest.iter().enumerate() {
        lo[i] = if v < lo[i] { v } else { lo[i] };
        hi[i] = if v > hi[i] { v } else { hi[i] };
    }
    let min = lo
        .into_iter()
        .fold(f32::INFINITY, |a, v| if v < a { v } else { a });
    let max = hi
        .into_iter()
        .fold(f32::NEG_INFINITY, |a, v| if v > a { v } else { a });
    (min, max)
}

/// One activation: `round_half_to_even((v - lo)·inv)` clamped to `[0, 127]`.
///
/// Adding and subtracting 2^23 rounds any value in [0, 2^22) to an integer, ties to even (the
/// default rounding mode), exactly as `round_ties_even` does; unlike that (a library call
/// without SSE4.1) it vectorizes. Larger values still end at 127, and negative ones or NaN at 0,
/// through the clamp, as they would with `round_ties_even`. The clamp keeps rounding error from
/// ever producing 128, which would break the no-saturation argument of the AVX2 kernel.
#[inline(always)]
fn quantize_one(v: f32, lo: f32, inv: f32) -> u8 {
    let r = ((v - lo) * inv + ROUND) - ROUND;
    let r = if r > 0.0 { r } else { 0.0 };
    let r = if r < 127.0 { r } else { 127.0 };
    r as u8
}

/// The body of [`quantize_activations`] in plain Rust.
fn quantize_row(x: &[f32], xq: &mut [u8]) -> (f32, f32) {
    const LANES: usize = 8;
    // Independent lanes, and `if v < lo` rather than `f32::min`, as the AVX2 twin computes; a
    // NaN never wins a comparison, so NaNs are skipped as `f32::min` skips them.
    let mut lo = [f32::INFINITY; LANES];
    let mut hi = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            lo[i] = if c[i] < lo[i] { c[i] } else { lo[i] };
            hi[i] = if c[i] > hi[i] { c[i] } else { hi[i] };
        }
    }
    let (lo, hi) = min_max_finish(lo, hi, rest);
    if x.is_empty() || hi <= lo {
        xq.fill(0);
        return (0.0, if x.is_empty() { 0.0 } else { lo });
    }
    let inv = 127.0 / (hi - lo);
    for (q, &v) in xq.iter_mut().zip(x) {
        *q = quantize_one(v, lo, inv);
    }
    ((hi - lo) / 127.0, lo)
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

    /// Whether this CPU can run the kernel.
    pub fn available(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Kernel::AvxVnni => is_x86_feature_detected!("avxvnni"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512vnni")
            }
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
        Kernel::Portable => dots_portable(xq, rows, kp, &w.values, w.rows, w.cols, acc),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the assert above checked that this CPU has AVX2.
        Kernel::Avx2 => unsafe { x86::avx2::dots(xq, rows, kp, packed, n8, acc) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the assert above checked that this CPU has AVX2 and AVX-VNNI.
        Kernel::AvxVnni => unsafe { x86::avx_vnni::dots(xq, rows, kp, packed, n8, acc) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the assert above checked AVX-512F, VL and VNNI (which imply AVX2).
        Kernel::Avx512Vnni => unsafe { x86::avx512_vnni::dots(xq, rows, kp, packed, n8, acc) },
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

/// [`dots`] in plain Rust on the unpacked `values [n, k]`: one contiguous dot product per row
/// and output, which compilers vectorize well on any target. (The same exact integers as the
/// SIMD kernels read from the packing of the same values.)
fn dots_portable(
    xq: &[u8],
    rows: usize,
    kp: usize,
    values: &[i8],
    n: usize,
    k: usize,
    acc: &mut [i32],
) {
    assert_eq!(xq.len(), rows * kp, "dots: activation shape");
    assert_eq!(values.len(), n * k, "dots: weight shape");
    let n8 = padded_rows(n);
    assert_eq!(acc.len(), rows * n8, "dots: sums shape");
    if k == 0 {
        acc.fill(0);
        return;
    }
    for (a, sums) in xq.chunks_exact(kp).zip(acc.chunks_exact_mut(n8)) {
        let a = &a[..k];
        for (sum, w) in sums.iter_mut().zip(values.chunks_exact(k)) {
            *sum = a
                .iter()
                .zip(w)
                .map(|(&x, &v)| i32::from(x) * i32::from(v))
                .sum();
        }
    }
}

/// The x86-64 kernels. Each `dots` computes [`dots`] from the packed weights; the callers check the
/// CPU features. Micro-kernels (`tile`) assert the slice lengths their raw loads rely on.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{BLOCK, GROUP, STRIP};

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

    /// A ymm kernel: tiles of `R` rows × 8·`B` outputs, one ymm of sums per (row, block), and a
    /// `$step(sums, activations, weights)` that adds `u8 × i8` products of 4-byte groups.
    macro_rules! ymm_kernel {
        ($name:ident, $features:literal, $rows:literal, $step:expr) => {
            pub(super) mod $name {
                use super::super::{BLOCK, GROUP, STRIP};
                #[allow(unused_imports)]
                use std::arch::x86_64::*;

                /// Rows per full tile.
                const R: usize = $rows;

                /// The sums of `xq [rows, kp]` against `packed [n8 × kp]` into `acc [rows, n8]`.
                #[allow(dead_code)] // the AVX-512 kernel uses only `rows_of` of its ymm twin
                #[target_feature(enable = $features)]
                pub(crate) fn dots(
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

                /// All rows against `B` blocks of weights `w` whose sums go to column `col` of
                /// `acc [rows, n8]`: full tiles of `R` rows, then one smaller tile.
                #[target_feature(enable = $features)]
                pub(crate) fn rows_of<const B: usize>(
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

                /// Sums of `M` activation rows (`a`, stride `kp`) against `B` packed blocks
                /// (`w`, 32·`B` bytes per group), stored to `acc` rows `stride` apart.
                #[target_feature(enable = $features)]
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
                            let x =
                                _mm256_set1_epi32(unsafe { super::word(a, r * kp + g * GROUP) });
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
            }
        };
    }

    ymm_kernel!(avx2, "avx2", 4, {
        let ones = _mm256_set1_epi16(1);
        // `xq <= 127` keeps the i16 pair sums of maddubs below saturation (module docs).
        move |sum, x, w| _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), ones))
    });
    ymm_kernel!(avx_vnni, "avx2,avxvnni", 4, _mm256_dpbusd_avx_epi32);
    ymm_kernel!(
        avx512_vnni_ymm,
        "avx2,avx512f,avx512vl,avx512vnni",
        8,
        _mm256_dpbusd_epi32
    );

    /// AVX-512 VNNI: strips of 16 outputs as one zmm; pairs of strips × 8 rows per tile; an odd
    /// last block goes through the ymm form of the same instruction.
    pub(super) mod avx512_vnni {
        use super::{BLOCK, GROUP, STRIP};
        use std::arch::x86_64::*;

        /// Rows per full tile.
        const R: usize = 8;

        /// The sums of `xq [rows, kp]` against `packed [n8 × kp]` into `acc [rows, n8]`.
        #[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
        pub(crate) fn dots(
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
                super::avx512_vnni_ymm::rows_of::<1>(xq, rows, kp, w, acc, n8 - BLOCK, n8);
            }
        }

        /// All rows against `S` strips `w` whose sums go to column `col` of `acc [rows, n8]`.
        #[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
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
        #[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
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

    /// The scheme computed the obvious way, from the unpacked `values`: quantize each row,
    /// plain i32 dot products, and the epilogue formula of the module docs.
    fn reference(x: &[f32], rows: usize, w: &QuantizedMatrix, b: &[f32]) -> Vec<f32> {
        let (n, k) = (w.rows, w.cols);
        let mut out = vec![0.0; rows * n];
        let mut xq = vec![0u8; k];
        for r in 0..rows {
            let (s, lo) = quantize_activations(&x[r * k..(r + 1) * k], &mut xq);
            for o in 0..n {
                let acc: i32 = (0..k)
                    .map(|c| i32::from(xq[c]) * i32::from(w.values[o * k + c]))
                    .sum();
                let ws = w.scales[o];
                out[r * n + o] = (s * ws) * acc as f32 + (lo * ws) * w.row_sums[o] as f32 + b[o];
            }
        }
        out
    }

    fn same_bits(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(u, v)| u.to_bits() == v.to_bits())
    }

    fn available() -> Vec<Kernel> {
        let kernels: Vec<Kernel> = Kernel::ALL.into_iter().filter(|k| k.available()).collect();
        println!(
            "kernels available here: {kernels:?}, best {:?}",
            Kernel::best()
        );
        kernels
    }

    #[test]
    fn best_kernel_is_available_and_dispatch_matches_portable() {
        assert!(Kernel::best().available());
        assert!(Kernel::Portable.available());
        assert_eq!(available().last(), Some(&Kernel::best()));
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (rows, n, k) = (5, 13, 47);
        let x = random(&mut rng, rows * k, -1.0, 2.0);
        let q = QuantizedMatrix::quantize(&random(&mut rng, n * k, -1.0, 1.0), n, k);
        let (mut a, mut p) = (vec![0.0; rows * n], vec![0.0; rows * n]);
        let mut scratch = QuantScratch::default();
        qmatmul(&x, rows, &q, None, &mut a, &mut scratch);
        qmatmul_with(Kernel::Portable, &x, rows, &q, None, &mut p, &mut scratch);
        assert!(same_bits(&a, &p));
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

    #[test]
    fn every_kernel_agrees_bitwise_with_portable_and_reference() {
        let kernels = available();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let shapes = [
            (1, 1),
            (3, 31),
            (5, 32),
            (8, 4),
            (10, 33),
            (9, 100),
            (16, 17),
            (24, 64),
            (33, 7),
            (40, 129),
            (10, 128),
            (7, 65),
            (48, 3),
            (256, 784),
        ];
        for &rows in &[1, 2, 3, 4, 5, 7, 8, 9, 17, 63, 64, 65, 130] {
            for &(n, k) in &shapes {
                if n * k * rows > 1 << 24 {
                    continue;
                }
                let x = random(&mut rng, rows * k, -4.0, 4.0);
                let w = random(&mut rng, n * k, -1.0, 1.0);
                let b = random(&mut rng, n, -1.0, 1.0);
                let q = QuantizedMatrix::quantize(&w, n, k);
                let want = reference(&x, rows, &q, &b);
                for &kernel in &kernels {
                    let got = run(kernel, &x, rows, &q, &b);
                    assert!(
                        same_bits(&got, &want),
                        "{kernel:?}: rows {rows} n {n} k {k}"
                    );
                }
            }
        }
        // (256, 784) at the batch sizes that matter for MNIST, against the portable kernel.
        for &rows in &[32, 256] {
            let (n, k) = (256, 784);
            let x = random(&mut rng, rows * k, 0.0, 1.0);
            let w = random(&mut rng, n * k, -0.1, 0.1);
            let b = random(&mut rng, n, -0.1, 0.1);
            let q = QuantizedMatrix::quantize(&w, n, k);
            let want = run(Kernel::Portable, &x, rows, &q, &b);
            for &kernel in &kernels {
                assert!(
                    same_bits(&run(kernel, &x, rows, &q, &b), &want),
                    "{kernel:?}"
                );
            }
        }
    }

    /// The i32 sums of every kernel for `xq [rows, kp]` against `q`.
    fn sums(kernel: Kernel, xq: &[u8], rows: usize, q: &QuantizedMatrix) -> Vec<i32> {
        let (n8, kp) = (padded_rows(q.rows), padded_cols(q.cols));
        let mut acc = vec![0; rows * n8];
        dots(kernel, xq, rows, kp, q, &mut acc);
        acc
    }

    #[test]
    fn extreme_values_neither_saturate_nor_overflow() {
        // Activations all 127 and weights all ±127: the largest pair sums maddubs can see, and
        // (at MAX_COLS columns) the largest dot product i32 must hold.
        for &(rows, n, k) in &[
            (9, 24, 70),
            (5, 17, 1001),
            (1, 8, MAX_COLS),
            (3, 16, MAX_COLS),
        ] {
            let kp = padded_cols(k);
            let xq: Vec<u8> = (0..rows * kp)
                .map(|i| if i % kp < k { 127 } else { 0 })
                .collect();
            let values: Vec<i8> = (0..n * k)
                .map(|i| if (i / k) % 2 == 0 { 127 } else { -127 })
                .collect();
            let q = QuantizedMatrix::from_parts(n, k, values, vec![1.0; n]);
            let full = 127 * 127 * k as i64;
            assert!(full <= i64::from(i32::MAX));
            for kernel in available() {
                let acc = sums(kernel, &xq, rows, &q);
                let n8 = padded_rows(n);
                for r in 0..rows {
                    for o in 0..n8 {
                        let want = match o {
                            o if o >= n => 0,
                            o if o % 2 == 0 => full,
                            _ => -full,
                        };
                        assert_eq!(i64::from(acc[r * n8 + o]), want, "{kernel:?} r {r} o {o}");
                    }
                }
            }
        }
        // Through qmatmul: quantization maps a row of ones with one zero to 127s, so the
        // results are exact multiples of 127·127.
        let k = 70;
        let mut x = vec![1.0f32; k];
        x[1] = 0.0;
        let w = QuantizedMatrix::from_parts(
            2,
            k,
            [vec![127i8; k], vec![-127i8; k]].concat(),
            vec![1.0, 1.0],
        );
        for kernel in available() {
            let mut out = [0.0f32; 2];
            qmatmul_with(
                kernel,
                &x,
                1,
                &w,
                None,
                &mut out,
                &mut QuantScratch::default(),
            );
            let s = 1.0f32 / 127.0;
            let acc = 127.0 * 127.0 * (k as f32 - 1.0);
            assert_eq!(out, [s * acc, -(s * acc)], "{kernel:?}");
        }
    }

    #[test]
    fn activation_rounding_matches_round_ties_even() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for len in [1, 2, 7, 8, 9, 31, 100, 784] {
            for scale in [1e-3f32, 1.0, 127.0, 3e4] {
                let mut x = random(&mut rng, len, -scale, scale);
                if len > 4 {
                    // Exact ties: with lo = 0 and hi = 127, (x - lo)·1 is x itself.
                    x[0] = 0.0;
                    x[1] = 127.0;
                    x[2] = 2.5;
                    x[3] = 63.5;
                }
                let mut got = vec![0u8; len];
                let (s, lo) = quantize_activations(&x, &mut got);
                // The plain-Rust quantizer (used without AVX2) agrees bitwise.
                let mut plain = vec![0u8; len];
                let (s2, lo2) = quantize_row(&x, &mut plain);
                assert_eq!(
                    (s.to_bits(), lo.to_bits(), &plain),
                    (s2.to_bits(), lo2.to_bits(), &got)
                );
                let (lo_want, hi) = x
                    .iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
                        (l.min(v), h.max(v))
                    });
                assert_eq!(lo, lo_want);
                if hi <= lo {
                    assert_eq!(s, 0.0);
                    continue;
                }
                assert_eq!(s, (hi - lo) / 127.0);
                let inv = 127.0 / (hi - lo);
                let want: Vec<u8> = x
                    .iter()
                    .map(|&v| ((v - lo) * inv).round_ties_even().clamp(0.0, 127.0) as u8)
                    .collect();
                assert_eq!(got, want, "len {len} scale {scale}");
            }
        }
        let mut q = [0u8; 6];
        quantize_activations(&[0.0, 127.0, 2.5, 63.5, 0.5, 1.5], &mut q);
        assert_eq!(q, [0, 127, 2, 64, 0, 2]);
        quantize_row(&[0.0, 127.0, 2.5, 63.5, 0.5, 1.5], &mut q);
        assert_eq!(q, [0, 127, 2, 64, 0, 2]);
        // NaN is skipped by min/max and quantizes to 0.
        quantize_activations(&[0.0, f32::NAN, 127.0, 3.0, 0.0, 0.0], &mut q);
        assert_eq!(q, [0, 0, 127, 3, 0, 0]);
        // Signed zeros and NaNs in every lane position: both quantizers agree bitwise.
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for len in [9, 17, 40, 77] {
            let x: Vec<f32> = (0..len)
                .map(|_| match rng.random_range(0..4) {
                    0 => 0.0,
                    1 => -0.0,
                    2 => f32::NAN,
                    _ => rng.random_range(-1.0..1.0),
                })
                .collect();
            let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
            let (s1, l1) = quantize_activations(&x, &mut a);
            let (s2, l2) = quantize_row(&x, &mut b);
            assert_eq!(
                (s1.to_bits(), l1.to_bits(), a),
                (s2.to_bits(), l2.to_bits(), b)
            );
        }
    }

    #[test]
    fn zero_sized_shapes() {
        for kernel in available() {
            let mut scratch = QuantScratch::default();
            // No inputs: every output is its bias.
            let q = QuantizedMatrix::from_parts(3, 0, vec![], vec![0.5; 3]);
            let mut out = [9.0f32; 6];
            qmatmul_with(
                kernel,
                &[],
                2,
                &q,
                Some(&[1.0, 2.0, 3.0]),
                &mut out,
                &mut scratch,
            );
            assert_eq!(out, [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
            // No rows, no outputs.
            let q = QuantizedMatrix::quantize(&[], 0, 5);
            qmatmul_with(kernel, &[0.0; 10], 2, &q, None, &mut [], &mut scratch);
            let q = QuantizedMatrix::quantize(&[1.0; 10], 2, 5);
            qmatmul_with(kernel, &[], 0, &q, None, &mut [], &mut scratch);
        }
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
