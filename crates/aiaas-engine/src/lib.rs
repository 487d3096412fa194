//! Dense f32 compute for aiaas: matrix products on the `gemm` crate, activations, and MLPs with
//! explicit forward and backward passes, and the output head that decodes logits. Synchronous and allocation-free in the hot loop: callers
//! keep a [`Workspace`] across steps.

mod activation;
mod dots;
mod head;
mod matmul;
mod mlp;
mod network;
mod qmlp;
mod quant;

pub use activation::{
    activate, activation_backward, argmax_rows, class_probabilities, log_softmax_rows, sigmoid,
    softmax_rows,
};
pub use head::{Predictions, decode};
pub use matmul::{Transpose, matmul, parallelism_for};
pub use mlp::{EngineError, Mlp, Workspace, param_count, stack};
pub use network::{Network, NetworkWorkspace, Predict};
pub use qmlp::{QuantWorkspace, QuantizedMlp};
pub use quant::{
    Kernel, MAX_COLS, QuantScratch, QuantizedMatrix, qmatmul, qmatmul_with, quantize_activations,
};
