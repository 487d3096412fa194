//! Multi-layer perceptrons: parameters in one flat buffer, forward and backward passes that write
//! only into a caller-kept [`Workspace`].
//!
//! One flat parameter buffer (per layer: weight `[outputs, inputs]` as in PyTorch's `Linear`, then
//! bias) lets optimizers update every parameter in a single loop, and makes a gradient the same
//! shape as the parameters.

use crate::activation::{activate, activation_backward};
use crate::dots;
use crate::matmul::{Transpose, matmul};
use aiaas_types::{Activation, LayerSpec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A model's parameters do not fit the architecture it claims.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("architecture has no layers")]
    NoLayers,
    #[error("layer {layer} takes {inputs} inputs but the layer before it gives {previous}")]
    LayerMismatch {
        layer: usize,
        inputs: usize,
        previous: usize,
    },
    #[error("architecture needs {expected} parameters, got {got}")]
    ParamCount { expected: usize, got: usize },
    /// Stored parts (int8 matrices, biases) do not have the shapes the layers need.
    #[error("{0}")]
    Shape(String),
}

/// A stack of dense layers, each `y = act(x · Wᵀ + b)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    layers: Vec<LayerSpec>,
    /// Start of each layer's weight in `params`; its bias follows the weight.
    offsets: Vec<usize>,
    params: Vec<f32>,
}

/// Buffers of one forward/backward pass, reused across steps so the hot loop does not allocate.
/// They grow to the largest batch seen and never shrink.
#[derive(Debug, Default)]
pub struct Workspace {
    threads: usize,
    rows: usize,
    /// Output of each layer after its activation, `rows x outputs`.
    outputs: Vec<Vec<f32>>,
    /// dL/d(pre-activation) of each layer, same shapes as `outputs`.
    deltas: Vec<Vec<f32>>,
}

impl Workspace {
    /// A workspace whose products may use up to `threads` threads.
    pub fn new(threads: usize) -> Self {
        Workspace {
            threads: threads.max(1),
            ..Workspace::default()
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    fn prepare(&mut self, mlp: &Mlp, rows: usize) {
        let n = mlp.layers.len();
        self.outputs.resize_with(n, Vec::new);
        self.deltas.resize_with(n, Vec::new);
        for (l, layer) in mlp.layers.iter().enumerate() {
            self.outputs[l].resize(rows * layer.outputs, 0.0);
            self.deltas[l].resize(rows * layer.outputs, 0.0);
        }
        self.rows = rows;
    }

    /// The last forward pass's output (logits), `rows x outputs`.
    pub fn output(&self) -> &[f32] {
        self.outputs.last().map_or(&[], Vec::as_slice)
    }

    /// The last output together with the buffer the loss writes dL/d(output) into before
    /// [`Mlp::backward`].
    pub fn output_and_grad_mut(&mut self) -> (&[f32], &mut [f32]) {
        match (self.outputs.last(), self.deltas.last_mut()) {
            (Some(o), Some(d)) => (o, d),
            _ => (&[], &mut []),
        }
    }
}

impl Mlp {
    /// A freshly initialised network, PyTorch's `Linear` default: weights and biases uniform in
    /// `±1/sqrt(inputs)`, drawn from a generator seeded with `seed`.
    pub fn new(layers: Vec<LayerSpec>, seed: u64) -> Result<Self, EngineError> {
        let offsets = layout(&layers)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut params = Vec::with_capacity(param_count(&layers));
        for layer in &layers {
            let bound = 1.0 / (layer.inputs.max(1) as f32).sqrt();
            let count = layer.outputs * (layer.inputs + 1);
            params.extend((0..count).map(|_| rng.random_range(-bound..=bound)));
        }
        Ok(Mlp {
            layers,
            offsets,
            params,
        })
    }

    /// A network with the given parameters (in [`Mlp::params`] order).
    pub fn from_params(layers: Vec<LayerSpec>, params: Vec<f32>) -> Result<Self, EngineError> {
        let offsets = layout(&layers)?;
        let expected = param_count(&layers);
        if params.len() != expected {
            return Err(EngineError::ParamCount {
                expected,
                got: params.len(),
            });
        }
        Ok(Mlp {
            layers,
            offsets,
            params,
        })
    }

    pub fn layers(&self) -> &[LayerSpec] {
        &self.layers
    }

    pub fn inputs(&self) -> usize {
        self.layers[0].inputs
    }

    pub fn outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].outputs
    }

    /// Every parameter, layer by layer: weight `[outputs, inputs]` row-major, then bias.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    /// Where layer `layer`'s weight matrix lies in [`Mlp::params`].
    pub fn weight_range(&self, layer: usize) -> std::ops::Range<usize> {
        let l = &self.layers[layer];
        self.offsets[layer]..self.offsets[layer] + l.outputs * l.inputs
    }

    pub fn weight(&self, layer: usize) -> &[f32] {
        &self.params[self.weight_range(layer)]
    }

    pub fn bias(&self, layer: usize) -> &[f32] {
        let l = &self.layers[layer];
        let start = self.offsets[layer] + l.outputs * l.inputs;
        &self.params[start..start + l.outputs]
    }

    /// Forward pass over `rows` rows of `x` (`rows x inputs`); returns the logits.
    ///
    /// With more than one thread and enough work, the rows are cut into one block per thread and
    /// each thread takes its block through every layer (bias, product, activation): rows are
    /// independent, so the threads never wait for each other between layers.
    pub fn forward<'w>(&self, x: &[f32], rows: usize, ws: &'w mut Workspace) -> &'w [f32] {
        assert_eq!(x.len(), rows * self.inputs(), "forward: input shape");
        ws.prepare(self, rows);
        let parts = self.row_parts(rows, ws.threads);
        if parts <= 1 {
            self.forward_block(x, rows, &mut ws.outputs, ws.threads);
            return ws.output();
        }
        let per = rows.div_ceil(parts);
        let mut blocks: Vec<Vec<&mut [f32]>> = (0..parts).map(|_| Vec::new()).collect();
        for (out, layer) in ws.outputs.iter_mut().zip(&self.layers) {
            for (block, chunk) in blocks.iter_mut().zip(out.chunks_mut(per * layer.outputs)) {
                block.push(chunk);
            }
        }
        let inputs = self.inputs();
        rayon::scope(|scope| {
            for (i, mut block) in blocks.into_iter().enumerate() {
                let n = block[0].len() / self.layers[0].outputs;
                let x = &x[i * per * inputs..(i * per + n) * inputs];
                scope.spawn(move |_| self.forward_block(x, n, &mut block, 1));
            }
        });
        ws.output()
    }

    /// Into how many blocks of rows [`Mlp::forward`] cuts `rows` rows on `threads` threads: one
    /// per thread when each block keeps at least 16 rows and the pass is worth threads, unless
    /// that would move the products from gemm to the few-rows kernel (`dots`), which is slower
    /// per row where gemm has wider vectors: then the products are cut instead.
    fn row_parts(&self, rows: usize, threads: usize) -> usize {
        const MIN_ROWS: usize = 16;
        const MIN_WORK: usize = 1 << 20;
        let work = rows.saturating_mul(self.param_count());
        let per = rows.div_ceil(threads.max(1));
        let leaves_gemm = rows > dots::MAX_ROWS && per <= dots::MAX_ROWS;
        if threads > 1 && rows >= threads * MIN_ROWS && work >= MIN_WORK && !leaves_gemm {
            threads
        } else {
            1
        }
    }

    /// The forward pass of `rows` rows of `x` into `outs` (each layer's output, `rows x
    /// outputs`), its products on up to `threads` threads.
    fn forward_block<S: AsRef<[f32]> + AsMut<[f32]>>(
        &self,
        x: &[f32],
        rows: usize,
        outs: &mut [S],
        threads: usize,
    ) {
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, rest) = outs.split_at_mut(l);
            let out = rest[0].as_mut();
            let input = if l == 0 { x } else { before[l - 1].as_ref() };
            for row in out.chunks_exact_mut(layer.outputs) {
                row.copy_from_slice(self.bias(l));
            }
            matmul(
                out,
                input,
                Transpose::No,
                self.weight(l),
                Transpose::Yes,
                rows,
                layer.outputs,
                layer.inputs,
                true,
                threads,
            );
            activate(layer.activation, out);
        }
    }

    /// Backward pass after [`Mlp::forward`] on the same `x`, once the loss has written
    /// dL/d(logits) through [`Workspace::output_and_grad_mut`]. Overwrites `grads` (same layout
    /// as [`Mlp::params`]). The gradient with respect to `x` is not computed: nothing needs it.
    pub fn backward(&self, x: &[f32], ws: &mut Workspace, grads: &mut [f32]) {
        assert_eq!(grads.len(), self.params.len(), "backward: gradient shape");
        let (rows, threads) = (ws.rows, ws.threads);
        assert_eq!(x.len(), rows * self.inputs(), "backward: input shape");
        for l in (0..self.layers.len()).rev() {
            let layer = &self.layers[l];
            let (lower, upper) = ws.deltas.split_at_mut(l);
            let delta = &mut upper[0];
            activation_backward(layer.activation, &ws.outputs[l], delta);
            let input = if l == 0 { x } else { &ws.outputs[l - 1] };
            let w_start = self.offsets[l];
            let b_start = w_start + layer.outputs * layer.inputs;
            let (grad_w, rest) = grads[w_start..].split_at_mut(b_start - w_start);
            let db = &mut rest[..layer.outputs];
            // dW = deltaᵀ · input, and db the column sums of delta.
            let mut weight_grads = |threads: usize| {
                matmul(
                    grad_w,
                    delta,
                    Transpose::Yes,
                    input,
                    Transpose::No,
                    layer.outputs,
                    layer.inputs,
                    rows,
                    false,
                    threads,
                );
                db.fill(0.0);
                for row in delta.chunks_exact(layer.outputs) {
                    db.iter_mut().zip(row).for_each(|(d, g)| *d += g);
                }
            };
            if l == 0 {
                weight_grads(threads);
                continue;
            }
            // dL/d(previous output) = delta · W
            let mut input_grads = |threads: usize| {
                matmul(
                    &mut lower[l - 1],
                    delta,
                    Transpose::No,
                    self.weight(l),
                    Transpose::No,
                    rows,
                    layer.inputs,
                    layer.outputs,
                    false,
                    threads,
                )
            };
            // The two products are independent: with threads to spare each takes half of them,
            // which beats cutting products this small in two one after the other.
            if threads > 1 {
                let half = threads / 2;
                rayon::join(|| weight_grads(half), || input_grads(threads - half));
            } else {
                weight_grads(1);
                input_grads(1);
            }
        }
    }

    /// Logits for `rows` rows of `x`, computed a bounded number of rows at a time so that memory
    /// stays small for any input size.
    pub fn predict(&self, x: &[f32], rows: usize, threads: usize) -> Vec<f32> {
        const CHUNK: usize = 4096;
        let width = self.inputs();
        let mut ws = Workspace::new(threads);
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

    pub fn param_count(&self) -> usize {
        self.params.len()
    }
}

/// Parameters (weights and biases) of the dense `layers`, as [`Mlp`] lays them out. Saturates
/// rather than overflows, so an absurd request can be checked against a limit.
pub fn param_count(layers: &[LayerSpec]) -> usize {
    layers
        .iter()
        .map(|l| l.outputs.saturating_mul(l.inputs.saturating_add(1)))
        .fold(0, usize::saturating_add)
}

fn layout(layers: &[LayerSpec]) -> Result<Vec<usize>, EngineError> {
    if layers.is_empty() {
        return Err(EngineError::NoLayers);
    }
    let mut offsets = Vec::with_capacity(layers.len());
    let mut at = 0;
    for (i, l) in layers.iter().enumerate() {
        if i > 0 && layers[i - 1].outputs != l.inputs {
            return Err(EngineError::LayerMismatch {
                layer: i,
                inputs: l.inputs,
                previous: layers[i - 1].outputs,
            });
        }
        offsets.push(at);
        at += l.outputs * (l.inputs + 1);
    }
    Ok(offsets)
}

/// The layer stack for `inputs -> hidden... -> outputs` with `activation` on hidden layers and
/// identity (logits) on the output layer.
pub fn stack(
    inputs: usize,
    hidden: &[usize],
    outputs: usize,
    activation: Activation,
) -> Vec<LayerSpec> {
    let mut layers = Vec::with_capacity(hidden.len() + 1);
    let mut width = inputs;
    for &h in hidden {
        layers.push(LayerSpec {
            inputs: width,
            outputs: h,
            activation,
        });
        width = h;
    }
    layers.push(LayerSpec {
        inputs: width,
        outputs,
        activation: Activation::Identity,
    });
    layers
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loss `sum(logits ⊙ r)` in f64, so that dL/d(logits) = r exactly, and which hidden units
    /// were active (a difference across a ReLU kink says nothing about the gradient).
    fn loss(mlp: &Mlp, x: &[f32], rows: usize, r: &[f32]) -> (f64, Vec<bool>) {
        let mut ws = Workspace::new(1);
        let out = mlp.forward(x, rows, &mut ws);
        let loss = out.iter().zip(r).map(|(&o, &r)| o as f64 * r as f64).sum();
        let active = ws.outputs[..ws.outputs.len() - 1]
            .iter()
            .flatten()
            .map(|&a| a > 0.0)
            .collect();
        (loss, active)
    }

    fn check_gradients(activation: Activation) {
        let rows = 5;
        let layers = stack(4, &[6, 5], 3, activation);
        let mut mlp = Mlp::new(layers, 7).unwrap();
        let x: Vec<f32> = (0..rows * 4)
            .map(|i| ((i * 37 % 17) as f32 - 8.0) / 6.0)
            .collect();
        let r: Vec<f32> = (0..rows * 3)
            .map(|i| ((i * 11 % 7) as f32 - 3.0) / 4.0)
            .collect();

        let mut ws = Workspace::new(1);
        mlp.forward(&x, rows, &mut ws);
        ws.output_and_grad_mut().1.copy_from_slice(&r);
        let mut grads = vec![0.0; mlp.param_count()];
        mlp.backward(&x, &mut ws, &mut grads);

        let eps = 1e-2;
        let (_, active) = loss(&mlp, &x, rows, &r);
        let mut checked = 0;
        for (i, &analytic) in grads.iter().enumerate() {
            let keep = mlp.params[i];
            mlp.params[i] = keep + eps;
            let (up, active_up) = loss(&mlp, &x, rows, &r);
            mlp.params[i] = keep - eps;
            let (down, active_down) = loss(&mlp, &x, rows, &r);
            mlp.params[i] = keep;
            if activation == Activation::Relu && (active_up != active || active_down != active) {
                continue;
            }
            checked += 1;
            let numeric = (up - down) / (2.0 * eps as f64);
            let analytic = analytic as f64;
            // f32 forward passes: a central difference is good to about 1e-3 here.
            assert!(
                (numeric - analytic).abs() <= 2e-3 + 1e-2 * analytic.abs(),
                "{activation:?} param {i}: numeric {numeric} vs analytic {analytic}"
            );
        }
        assert!(
            checked * 10 >= mlp.param_count() * 9,
            "{activation:?}: only {checked} checked"
        );
    }

    #[test]
    fn gradients_match_finite_differences_for_every_activation() {
        for act in [
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::Identity,
            Activation::Relu,
        ] {
            check_gradients(act);
        }
    }

    #[test]
    fn two_threads_compute_what_one_does() {
        let layers = stack(64, &[128], 10, Activation::Relu);
        let mlp = Mlp::new(layers, 1).unwrap();
        let rows = 256;
        let x: Vec<f32> = (0..rows * 64).map(|i| (i % 13) as f32 / 13.0).collect();
        let a = mlp.predict(&x, rows, 1);
        let b = mlp.predict(&x, rows, 2);
        for (a, b) in a.iter().zip(&b) {
            assert!((a - b).abs() < 1e-4);
        }
    }

    #[test]
    fn the_workspace_stops_allocating_once_it_has_seen_the_largest_batch() {
        let mlp = Mlp::new(stack(8, &[16], 3, Activation::Tanh), 3).unwrap();
        let x = vec![0.5; 32 * 8];
        let mut ws = Workspace::new(1);
        let mut grads = vec![0.0; mlp.param_count()];
        mlp.forward(&x, 32, &mut ws);
        let ptrs: Vec<*const f32> = ws.outputs.iter().map(|v| v.as_ptr()).collect();
        for rows in [7, 32, 1, 32] {
            mlp.forward(&x[..rows * 8], rows, &mut ws);
            mlp.backward(&x[..rows * 8], &mut ws, &mut grads);
        }
        let after: Vec<*const f32> = ws.outputs.iter().map(|v| v.as_ptr()).collect();
        assert_eq!(ptrs, after);
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert!(matches!(Mlp::new(vec![], 0), Err(EngineError::NoLayers)));
        let mut layers = stack(4, &[3], 2, Activation::Relu);
        layers[1].inputs = 5;
        assert!(matches!(
            Mlp::new(layers, 0),
            Err(EngineError::LayerMismatch { .. })
        ));
        let layers = stack(4, &[], 2, Activation::Relu);
        assert!(matches!(
            Mlp::from_params(layers, vec![0.0; 9]),
            Err(EngineError::ParamCount {
                expected: 10,
                got: 9
            })
        ));
    }
}
