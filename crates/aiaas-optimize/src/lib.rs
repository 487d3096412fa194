//! Model optimization (DESIGN.md section 8): turning a trained [`aiaas_engine::Mlp`] into a
//! smaller or faster one. This crate owns the transformations themselves; registering the result
//! as a new version with a report is the service layer's job.
//!
//! - [`prune`]: unstructured magnitude pruning with masks kept through fine-tuning, and
//!   structured pruning that removes whole hidden neurons so the layers really shrink.

pub mod prune;

pub use prune::{Mask, Scope, magnitude_mask, prune_neurons};

/// Why an optimization could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum OptimizeError {
    /// The fraction of weights to prune is not strictly between 0 and 1 (or is NaN).
    #[error("sparsity must be strictly between 0 and 1, got {0}")]
    InvalidSparsity(f64),
    /// The fraction of hidden neurons to remove is not strictly between 0 and 1 (or is NaN).
    #[error("neuron fraction must be strictly between 0 and 1, got {0}")]
    InvalidFraction(f64),
    /// The engine refused the transformed model (a bug here, reported rather than hidden).
    #[error("optimized model is inconsistent: {0}")]
    Engine(#[from] aiaas_engine::EngineError),
}
