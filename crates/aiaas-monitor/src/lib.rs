//! Monitoring for aiaas, the pure part (DESIGN.md section 9): windows of logged predictions in,
//! reports and decisions out. Realised quality over the labelled rows, drift against the
//! training profile, label checks for feedback, a policy's breaches, and whether a retrained
//! challenger beats the champion. Reading windows and recording events is the store's job
//! (through `aiaas-service`); answering over HTTP is `aiaas-api`'s.

mod drift;
mod feedback;
mod policy;
mod promotion;
mod quality;

pub use drift::{DriftReport, FeatureDriftReport, Overlay, drift_report, reference_drift_report};
pub use feedback::{Feedback, label_of};
pub use policy::{Breach, MonitorPolicy, breaches, default_interval};
pub use promotion::{RetrainReport, Scores, held_out, promotes};
pub use quality::{ClassGap, QualityDiagnosis, QualityPoint, QualityReport, quality_report};

/// Why a window or a label cannot be judged; the message says what to send instead.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The input cannot be used as it is: no labelled rows, no training profile, a label that
    /// is not one of the model's.
    #[error("{0}")]
    Unusable(String),
    /// The window holds no predictions (or no labelled ones) to judge.
    #[error("{0}")]
    Empty(String),
}
