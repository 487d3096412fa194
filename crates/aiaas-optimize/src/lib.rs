//! Model optimization (DESIGN.md section 8): turning a registered model into a smaller or faster
//! variant, and measuring it against its parent. This crate owns the transformations and the
//! report; registering an accepted variant as a new version is the service layer's job.
//!
//! - [`prune`]: unstructured magnitude pruning with masks kept through fine-tuning, and
//!   structured pruning that removes whole hidden neurons so the layers really shrink.
//! - [`optimize`]: one recipe (prune, quantize, distill) from parent bundle to variant bundle
//!   with its [`aiaas_types::OptimizeReport`] and the `max_drop` guard.

mod measure;
pub mod prune;
mod variant;

pub use prune::{Mask, magnitude_mask, prune_neurons};
pub use variant::{Variant, check_recipe, optimize};

/// Why an optimization could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum OptimizeError {
    /// The fraction of weights to prune is not strictly between 0 and 1 (or is NaN).
    #[error("sparsity must be strictly between 0 and 1, got {0}")]
    InvalidSparsity(f64),
    /// The fraction of hidden neurons to remove is not strictly between 0 and 1 (or is NaN).
    #[error(
        "the fraction of neurons to remove (sparsity) must be strictly between 0 and 1, got {0}"
    )]
    InvalidFraction(f64),
    /// The recipe does not fit this parent or this data.
    #[error("{0}")]
    Invalid(String),
    /// Fine-tuning or distillation could not run.
    #[error(transparent)]
    Train(#[from] aiaas_train::TrainError),
    /// The variant could not be stored.
    #[error(transparent)]
    Artifact(#[from] aiaas_artifact::ArtifactError),
    /// The caller cancelled the run.
    #[error("cancelled")]
    Cancelled,
    /// The caller stopped the run for a shutdown; it has to start again.
    #[error("stopped for a shutdown")]
    Suspended,
    /// The engine refused the transformed model (a bug here, reported rather than hidden).
    #[error("optimized model is inconsistent: {0}")]
    Engine(#[from] aiaas_engine::EngineError),
}
