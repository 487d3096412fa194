//! [`Network`]: the one type the runtime predicts with, whatever the weights are stored as. A
//! model trained in f32 (or stored as f16 or sparse, which load into f32) runs on [`Mlp`]; an
//! int8-quantized model runs on [`QuantizedMlp`] and its int8 kernel.

use crate::mlp::{Mlp, Workspace, param_count};
use crate::qmlp::{QuantWorkspace, QuantizedMlp};
use aiaas_types::LayerSpec;

/// Anything that turns scaled input rows into logits: evaluation and reports take any of the
/// engine's models through this.
pub trait Predict {
    /// Width of an output (logit) row.
    fn outputs(&self) -> usize;
    /// Logits for `rows` rows of `x`.
    fn predict(&self, x: &[f32], rows: usize, threads: usize) -> Vec<f32>;
}

impl Predict for Mlp {
    fn outputs(&self) -> usize {
        Mlp::outputs(self)
    }
    fn predict(&self, x: &[f32], rows: usize, threads: usize) -> Vec<f32> {
        Mlp::predict(self, x, rows, threads)
    }
}

impl Predict for Network {
    fn outputs(&self) -> usize {
        Network::outputs(self)
    }
    fn predict(&self, x: &[f32], rows: usize, threads: usize) -> Vec<f32> {
        Network::predict(self, x, rows, threads)
    }
}

/// A network ready for inference.
#[derive(Clone, Debug, PartialEq)]
pub enum Network {
    F32(Mlp),
    Int8(QuantizedMlp),
}

/// Reused buffers of [`Network::forward`], for either kind of network.
#[derive(Debug)]
pub struct NetworkWorkspace {
    f32: Workspace,
    int8: QuantWorkspace,
    /// The logits of the last int8 pass (an f32 pass leaves them in `f32`).
    int8_logits: Vec<f32>,
    last_was_int8: bool,
}

impl NetworkWorkspace {
    /// Buffers for forward passes on `threads` threads (the int8 kernel uses one).
    pub fn new(threads: usize) -> Self {
        Self {
            f32: Workspace::new(threads),
            int8: QuantWorkspace::new(),
            int8_logits: Vec::new(),
            last_was_int8: false,
        }
    }

    /// The logits of the last [`Network::forward`] pass.
    pub fn output(&self) -> &[f32] {
        if self.last_was_int8 {
            &self.int8_logits
        } else {
            self.f32.output()
        }
    }
}

impl From<Mlp> for Network {
    fn from(mlp: Mlp) -> Self {
        Network::F32(mlp)
    }
}

impl From<QuantizedMlp> for Network {
    fn from(q: QuantizedMlp) -> Self {
        Network::Int8(q)
    }
}

impl Network {
    pub fn layers(&self) -> &[LayerSpec] {
        match self {
            Network::F32(m) => m.layers(),
            Network::Int8(q) => q.layers(),
        }
    }

    /// Width of an input row.
    pub fn inputs(&self) -> usize {
        self.layers()[0].inputs
    }

    /// Width of an output (logit) row.
    pub fn outputs(&self) -> usize {
        self.layers()[self.layers().len() - 1].outputs
    }

    /// Weights and biases, counted as in the f32 model.
    pub fn param_count(&self) -> usize {
        param_count(self.layers())
    }

    /// Parameters (weights and biases) that are not zero: what pruning removed shows here.
    pub fn nonzero_params(&self) -> usize {
        match self {
            Network::F32(m) => m.params().iter().filter(|&&p| p != 0.0).count(),
            Network::Int8(q) => {
                let weights: usize = q
                    .layer_weights()
                    .iter()
                    .map(|w| w.values.iter().filter(|&&v| v != 0).count())
                    .sum();
                let biases: usize = q
                    .layer_biases()
                    .iter()
                    .map(|b| b.iter().filter(|&&v| v != 0.0).count())
                    .sum();
                weights + biases
            }
        }
    }

    /// Whether the weights are int8.
    pub fn is_quantized(&self) -> bool {
        matches!(self, Network::Int8(_))
    }

    /// The f32 network: the model itself, or its dequantized weights for an int8 model (for
    /// uses that need f32, such as a teacher's soft targets).
    pub fn to_f32(&self) -> Mlp {
        match self {
            Network::F32(m) => m.clone(),
            Network::Int8(q) => q.dequantize(),
        }
    }

    /// Forward pass over `rows` rows of `x` (`rows × inputs`); returns the logits.
    pub fn forward<'w>(&self, x: &[f32], rows: usize, ws: &'w mut NetworkWorkspace) -> &'w [f32] {
        match self {
            Network::F32(m) => {
                ws.last_was_int8 = false;
                m.forward(x, rows, &mut ws.f32)
            }
            Network::Int8(q) => {
                // Copied out (a few floats per row) so that `output` can hand them back later.
                let logits = q.forward(x, rows, &mut ws.int8);
                ws.int8_logits.clear();
                ws.int8_logits.extend_from_slice(logits);
                ws.last_was_int8 = true;
                &ws.int8_logits
            }
        }
    }

    /// Logits for `rows` rows of `x`, in bounded chunks.
    pub fn predict(&self, x: &[f32], rows: usize, threads: usize) -> Vec<f32> {
        match self {
            Network::F32(m) => m.predict(x, rows, threads),
            Network::Int8(q) => q.predict(x, rows),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::stack;
    use aiaas_types::Activation;

    #[test]
    fn both_kinds_answer_through_one_interface() {
        let mlp = Mlp::new(stack(6, &[8], 3, Activation::Relu), 2).unwrap();
        let x: Vec<f32> = (0..12).map(|i| i as f32 / 12.0).collect();
        let dense = Network::from(mlp.clone());
        let int8 = Network::from(QuantizedMlp::from_mlp(&mlp));
        let mut ws = NetworkWorkspace::new(1);
        assert_eq!(dense.forward(&x, 2, &mut ws), mlp.predict(&x, 2, 1));
        let q = int8.forward(&x, 2, &mut ws).to_vec();
        assert_eq!(q, int8.predict(&x, 2, 1));
        assert_eq!(ws.output(), q);
        dense.forward(&x, 2, &mut ws);
        assert_eq!(ws.output(), mlp.predict(&x, 2, 1));
        assert_eq!((int8.inputs(), int8.outputs()), (6, 3));
        assert_eq!(int8.param_count(), mlp.param_count());
        assert!(int8.is_quantized() && !dense.is_quantized());
        assert_eq!(dense.nonzero_params(), mlp.param_count());
        // Dequantizing gives back an f32 model of the same shape.
        assert_eq!(int8.to_f32().layers(), mlp.layers());
    }
}
