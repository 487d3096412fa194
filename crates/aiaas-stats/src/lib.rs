//! Pure statistics for aiaas: classification and regression metrics, confusion matrices,
//! per-feature profiles and drift statistics against those profiles. No I/O and no knowledge of
//! models, so that training (evaluation reports) and monitoring (served-prediction quality,
//! drift) compute every number the same way.
//!
//! Conventions follow scikit-learn and NumPy wherever they have one, so reports can be checked
//! against those tools by hand.

pub mod classification;
pub mod drift;
pub mod profile;
pub mod regression;

pub use classification::{
    ClassMetrics, ClassificationMetrics, ConfusionMatrix, classification_metrics,
    majority_baseline_accuracy,
};
pub use drift::{
    ALPHA, ChiSquare, DriftTest, FeatureDrift, Ks, LARGE_WINDOW, NoDecision, PSI_THRESHOLD, Psi,
    PsiBin, categorical_drift, chi_square, chi_square_counts, correct_for_features, kolmogorov_sf,
    ks, numeric_drift, psi, window_drifted,
};
pub use profile::{
    Binned, CategoricalProfile, Histogram, NumericProfile, categorical_profile, numeric_profile,
    quantile,
};
pub use regression::{RegressionMetrics, mean_baseline, regression_metrics};

#[cfg(test)]
pub(crate) mod test_util {
    /// Hand-worked values are exact fractions; f64 arithmetic gets them within this.
    const TOL: f64 = 1e-12;

    pub fn close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() <= TOL,
            "expected {expected}, got {actual}"
        );
    }
}

/// `num / den`, or 0 when `den` is 0: scikit-learn's `zero_division=0`, which keeps reports
/// free of NaN when a class is absent or never predicted.
pub(crate) fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 { 0.0 } else { num / den }
}

/// The metrics of one evaluation, whichever the task. Serialized without a tag, so a report
/// reads `{"accuracy": ..}` or `{"mae": ..}` directly.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Metrics {
    Classification(ClassificationMetrics),
    Regression(RegressionMetrics),
}

impl Metrics {
    /// The headline figure: accuracy, or R² for regression.
    pub fn headline(&self) -> f64 {
        match self {
            Metrics::Classification(m) => m.accuracy,
            Metrics::Regression(m) => m.r2,
        }
    }
}
