//! ONNX models on `tract-onnx` (pure Rust, embedded: no system library). An `.onnx` file is read
//! and checked once, when it is imported ([`OnnxModel::read`]): every operator must be one the
//! runtime implements (all the missing ones are named at once), every input and output of a
//! datatype the V2 protocol carries, every shape resolvable with its dynamic axes as symbols.
//! What passes is optimized once into a plan that [`OnnxModel::run`] runs on [`Tensor`]s; a
//! request is checked against the [`TensorSpec`]s before it reaches tract. A graph that is a plain
//! dense network runs on the platform's own engine instead (`dense`), once it has answered as
//! tract does ([`OnnxModel::engine`] says which).
//!
//! tract stays inside this crate: the rest of the platform sees only its own types.

mod dense;
pub mod export;
mod model;
mod tensor;

pub use aiaas_types::{DataType, OnnxSource, TensorSpec};
pub use dense::NativeForm;
pub use model::OnnxModel;
pub use tensor::{Tensor, Values};

/// Why a model cannot be imported or a run failed. Each message names what to fix.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OnnxError {
    /// The bytes are not an ONNX model (truncated, another format, no graph).
    #[error("not an ONNX model: {0}")]
    NotOnnx(String),
    /// Operators the runtime does not implement, by ONNX name, sorted.
    #[error(
        "the model uses operators the runtime does not support: {}; export it without them \
         (a lower opset, or the operators replaced) or serve it elsewhere",
        .0.join(", ")
    )]
    Unsupported(Vec<String>),
    /// The graph's inputs, outputs or shapes cannot be served.
    #[error("the model cannot be served: {0}")]
    Unservable(String),
    /// A request's tensors do not fit the model's inputs.
    #[error("{0}")]
    BadInput(String),
    /// tract failed while running a request that fit the inputs.
    #[error("the model failed on this input: {0}")]
    Run(String),
}
