//! Int8 inference for MLPs: [`QuantizedMlp`] is an [`Mlp`] whose dense layers run through
//! [`qmatmul`] with per-output-channel int8 weights (biases stay f32), and [`QuantWorkspace`]
//! holds the buffers a forward pass reuses.
//!
//! Inference only: there is no backward pass, since training stays in f32.

use crate::activation::activate;
use crate::mlp::{EngineError, Mlp, Workspace};
use crate::quant::{Kernel, QuantScratch, QuantizedMatrix, qmatmul};
use aiaas_types::LayerSpec;

/// An [`Mlp`] with int8 weights: each layer `y = act(x · Wᵀ + b)` with `W` quantized
/// symmetrically per output row ([`QuantizedMatrix::quantize`]) and `b` kept in f32.
///
/// On a CPU without a SIMD int8 kernel the portable kernel is 2.5-7x slower than f32 `gemm`
/// (`cargo bench -p aiaas-engine --bench quant`), so there the forward pass runs on the
/// dequantized weights instead: an int8 model is never slower than its f32 form.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedMlp {
    layers: Vec<LayerSpec>,
    weights: Vec<QuantizedMatrix>,
    biases: Vec<Vec<f32>>,
    /// The dequantized model, kept only where the int8 kernel would be the slower path.
    fallback: Option<Mlp>,
}

/// Buffers of a [`QuantizedMlp::forward`] pass: two ping-pong activation buffers of
/// `rows × widest layer` and the [`QuantScratch`] of [`qmatmul`]. They grow to the largest batch
/// seen and never shrink, so a kept workspace makes the forward pass allocation-free.
#[derive(Debug, Default)]
pub struct QuantWorkspace {
    buffers: [Vec<f32>; 2],
    scratch: QuantScratch,
    /// Buffers of the f32 fallback (one thread, like the int8 kernel).
    fallback: Workspace,
}

impl QuantWorkspace {
    /// An empty workspace; it grows on first use.
    pub fn new() -> Self {
        Self::default()
    }
}

impl QuantizedMlp {
    /// Quantizes every layer's weights of `mlp` per output channel; biases and layer specs are
    /// copied unchanged.
    pub fn from_mlp(mlp: &Mlp) -> Self {
        let layers = mlp.layers().to_vec();
        let weights = layers
            .iter()
            .enumerate()
            .map(|(l, spec)| QuantizedMatrix::quantize(mlp.weight(l), spec.outputs, spec.inputs))
            .collect();
        let biases = (0..layers.len()).map(|l| mlp.bias(l).to_vec()).collect();
        Self::assemble(layers, weights, biases)
    }

    /// A model from checked parts, with the f32 fallback where the CPU needs it.
    fn assemble(
        layers: Vec<LayerSpec>,
        weights: Vec<QuantizedMatrix>,
        biases: Vec<Vec<f32>>,
    ) -> Self {
        let mut q = Self {
            layers,
            weights,
            biases,
            fallback: None,
        };
        if Kernel::best() == Kernel::Portable {
            q.fallback = Some(q.dequantize());
        }
        q
    }

    /// The f32 model with the dequantized weights (`scale · value`) and the biases.
    pub fn dequantize(&self) -> Mlp {
        let params = self
            .weights
            .iter()
            .zip(&self.biases)
            .flat_map(|(w, b)| w.dequantize().into_iter().chain(b.iter().copied()))
            .collect();
        Mlp::from_params(self.layers.clone(), params)
            .expect("a quantized model has the parameter layout of its layers")
    }

    /// Rebuilds a model from stored parts (an int8 bundle): one weight matrix and one bias per
    /// layer, shaped as `layers` says. An error names the first part that does not fit.
    pub fn from_parts(
        layers: Vec<LayerSpec>,
        weights: Vec<QuantizedMatrix>,
        biases: Vec<Vec<f32>>,
    ) -> Result<Self, EngineError> {
        let bad = |m: String| Err(EngineError::Shape(m));
        if layers.is_empty() {
            return bad("a model needs at least one layer".into());
        }
        if weights.len() != layers.len() || biases.len() != layers.len() {
            return bad(format!(
                "{} layers but {} weight matrices and {} biases",
                layers.len(),
                weights.len(),
                biases.len()
            ));
        }
        for (l, ((spec, w), b)) in layers.iter().zip(&weights).zip(&biases).enumerate() {
            if (w.rows, w.cols) != (spec.outputs, spec.inputs) {
                return bad(format!(
                    "layer {l}: weights are {}x{}, expected {}x{}",
                    w.rows, w.cols, spec.outputs, spec.inputs
                ));
            }
            if b.len() != spec.outputs {
                return bad(format!(
                    "layer {l}: {} biases, expected {}",
                    b.len(),
                    spec.outputs
                ));
            }
            if l > 0 && layers[l - 1].outputs != spec.inputs {
                return bad(format!(
                    "layer {l} takes {} inputs but layer {} gives {}",
                    spec.inputs,
                    l - 1,
                    layers[l - 1].outputs
                ));
            }
        }
        Ok(Self::assemble(layers, weights, biases))
    }

    /// The layer stack, as in the f32 model.
    pub fn layers(&self) -> &[LayerSpec] {
        &self.layers
    }

    /// Width of an input row.
    pub fn inputs(&self) -> usize {
        self.layers[0].inputs
    }

    /// Width of an output (logit) row.
    pub fn outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].outputs
    }

    /// Each layer's int8 weights `[outputs, inputs]`, in layer order.
    pub fn layer_weights(&self) -> &[QuantizedMatrix] {
        &self.weights
    }

    /// Each layer's f32 bias `[outputs]`, in layer order.
    pub fn layer_biases(&self) -> &[Vec<f32>] {
        &self.biases
    }

    /// Bytes a quantized bundle stores for the parameters: one byte per int8 weight, four per
    /// f32 scale and four per f32 bias. (The row sums are derived on load, not stored.)
    pub fn weight_bytes(&self) -> usize {
        let weights: usize = self
            .weights
            .iter()
            .map(|w| w.values.len() + w.scales.len() * size_of::<f32>())
            .sum();
        let biases: usize = self.biases.iter().map(|b| b.len() * size_of::<f32>()).sum();
        weights + biases
    }

    /// Forward pass over `rows` rows of `x` (`rows × inputs`); returns the logits
    /// (`rows × outputs`). Each layer runs [`qmatmul`] into the other buffer of `ws`, then its
    /// activation in place, as [`Mlp::forward`] does.
    pub fn forward<'w>(&self, x: &[f32], rows: usize, ws: &'w mut QuantWorkspace) -> &'w [f32] {
        assert_eq!(x.len(), rows * self.inputs(), "forward: input shape");
        if let Some(mlp) = &self.fallback {
            return mlp.forward(x, rows, &mut ws.fallback);
        }
        let widest = self.layers.iter().map(|l| l.outputs).max().unwrap_or(0);
        let needed = rows * widest;
        for buf in &mut ws.buffers {
            if buf.len() < needed {
                buf.resize(needed, 0.0);
            }
        }
        let [a, b] = &mut ws.buffers;
        let (mut src, mut dst): (&mut Vec<f32>, &mut Vec<f32>) = (a, b);
        for (l, layer) in self.layers.iter().enumerate() {
            let out = &mut dst[..rows * layer.outputs];
            let input = if l == 0 {
                x
            } else {
                &src[..rows * layer.inputs]
            };
            qmatmul(
                input,
                rows,
                &self.weights[l],
                Some(&self.biases[l]),
                out,
                &mut ws.scratch,
            );
            activate(layer.activation, out);
            std::mem::swap(&mut src, &mut dst);
        }
        // After the last swap, `src` holds the last layer's output.
        &src[..rows * self.outputs()]
    }

    /// Logits for `rows` rows of `x`, computed a bounded number of rows at a time with a fresh
    /// workspace, so that memory stays small for any input size.
    pub fn predict(&self, x: &[f32], rows: usize) -> Vec<f32> {
        const CHUNK: usize = 4096;
        let width = self.inputs();
        assert_eq!(x.len(), rows * width, "predict: input shape");
        let mut ws = QuantWorkspace::new();
        let mut logits = Vec::with_capacity(rows * self.outputs());
        for start in (0..rows).step_by(CHUNK) {
            let n = CHUNK.min(rows - start);
            logits.extend_from_slice(self.forward(
                &x[start * width..(start + n) * width],
                n,
                &mut ws,
            ));
        }
        logits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::argmax_rows;
    use crate::mlp::stack;
    use aiaas_types::Activation;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn inputs(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..rows * cols)
            .map(|_| rng.random_range(0.0f32..=1.0))
            .collect()
    }

    #[test]
    fn int8_logits_track_f32_logits() {
        let mlp = Mlp::new(stack(784, &[64], 10, Activation::Relu), 7).unwrap();
        let q = QuantizedMlp::from_mlp(&mlp);
        let rows = 256;
        let x = inputs(rows, 784, 11);
        let want = mlp.predict(&x, rows, 1);
        let got = q.predict(&x, rows);
        assert_eq!(got.len(), want.len());
        let (lo, hi) = want
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let range = hi - lo;
        assert!(range > 0.0);
        let max_err = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (g - w).abs())
            .fold(0.0f32, f32::max);
        // Tolerance: 2% of the f32 logit range.
        assert!(
            max_err < 0.02 * range,
            "max abs error {max_err} vs logit range {range}"
        );
        let agree = argmax_rows(&got, 10)
            .iter()
            .zip(argmax_rows(&want, 10))
            .filter(|(g, w)| **g == *w)
            .count();
        assert!(
            agree * 100 >= rows * 95,
            "argmax agrees on {agree}/{rows} rows"
        );
    }

    #[test]
    fn dequantized_weights_within_half_a_step() {
        let mlp = Mlp::new(stack(50, &[30, 20], 5, Activation::Tanh), 3).unwrap();
        let q = QuantizedMlp::from_mlp(&mlp);
        assert_eq!(q.layers(), mlp.layers());
        assert_eq!(q.inputs(), 50);
        assert_eq!(q.outputs(), 5);
        for (l, (w, b)) in q.layer_weights().iter().zip(q.layer_biases()).enumerate() {
            assert_eq!(b.as_slice(), mlp.bias(l));
            let spec = &mlp.layers()[l];
            assert_eq!((w.rows, w.cols), (spec.outputs, spec.inputs));
            let deq = w.dequantize();
            let orig = mlp.weight(l);
            for o in 0..w.rows {
                let step = w.scales[o];
                // Half a step, plus f32 rounding of the scale product.
                let tol = 0.5 * step * (1.0 + 1e-5) + 1e-7;
                for k in 0..w.cols {
                    let i = o * w.cols + k;
                    let err = (deq[i] - orig[i]).abs();
                    assert!(
                        err <= tol,
                        "layer {l} [{o},{k}]: error {err} > half step {}",
                        0.5 * step
                    );
                }
            }
        }
    }

    #[test]
    fn without_a_simd_kernel_the_dequantized_model_runs() {
        let mlp = Mlp::new(stack(20, &[16], 4, Activation::Relu), 9).unwrap();
        let q = QuantizedMlp::from_mlp(&mlp);
        assert_eq!(q.fallback.is_some(), Kernel::best() == Kernel::Portable);
        let mut forced = q.clone();
        forced.fallback = Some(q.dequantize());
        let x = inputs(5, 20, 4);
        let got = forced.forward(&x, 5, &mut QuantWorkspace::new()).to_vec();
        assert_eq!(got, q.dequantize().predict(&x, 5, 1));
        // Close to the int8 answer either way.
        let int8 = q.predict(&x, 5);
        let err = got
            .iter()
            .zip(&int8)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 0.05, "{err}");
    }

    #[test]
    fn reused_workspace_matches_fresh_one() {
        let mlp = Mlp::new(stack(40, &[96, 16], 6, Activation::Sigmoid), 5).unwrap();
        let q = QuantizedMlp::from_mlp(&mlp);
        let mut ws = QuantWorkspace::new();
        for (i, &rows) in [1usize, 7, 64, 7, 1].iter().enumerate() {
            let x = inputs(rows, 40, 100 + i as u64);
            let reused = q.forward(&x, rows, &mut ws).to_vec();
            let fresh = q.forward(&x, rows, &mut QuantWorkspace::new()).to_vec();
            assert_eq!(reused.len(), rows * 6);
            assert_eq!(reused, fresh, "batch of {rows}");
        }
    }

    #[test]
    fn weight_bytes_about_a_quarter_of_f32() {
        let mlp = Mlp::new(stack(784, &[512, 256], 10, Activation::Relu), 1).unwrap();
        let q = QuantizedMlp::from_mlp(&mlp);
        let f32_bytes = mlp.param_count() * size_of::<f32>();
        let ratio = q.weight_bytes() as f64 / f32_bytes as f64;
        assert!(ratio < 0.3, "ratio {ratio}");
        assert!(ratio > 0.25, "ratio {ratio}");
    }
}
