//! A monitoring policy (what to watch on a model, and how often) and the decision a check
//! makes: which limits the latest window's quality and drift breach.

use crate::{DriftReport, QualityReport};
use aiaas_stats::Metrics;
use aiaas_types::Version;
use serde::{Deserialize, Serialize};

/// What to watch on a model, and how often.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorPolicy {
    /// Classification: a breach when the window's accuracy falls below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub accuracy_floor: Option<f64>,
    /// Regression: a breach when the window's RMSE rises above this (target units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0))]
    pub rmse_ceiling: Option<f64>,
    /// A breach when at least this share of the input features drifted (default 0.5, as the
    /// drift report's window flag); 0 turns the drift check off.
    #[serde(default = "default_drift_share")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub drift_share: f64,
    /// Quality is judged only with at least this many labelled predictions (default 100).
    #[serde(default = "default_min_labelled")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10_000_000))]
    pub min_labelled: usize,
    /// The window: the most recent this many predictions of the champion (default 1,000).
    #[serde(default = "default_window")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10_000_000))]
    pub window: usize,
    /// Seconds between checks (default 300).
    #[serde(default = "default_interval")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 2_592_000))]
    pub check_interval_s: u64,
    /// On a breach, start a retrain job (unless one is already queued or running): the
    /// champion's data plus the labelled production rows, promoted only if it wins.
    #[serde(default)]
    pub auto_retrain: bool,
    /// How much better the retrained challenger must be on the recent holdout (default 0).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub promote_margin: f64,
}

fn default_drift_share() -> f64 {
    0.5
}
fn default_min_labelled() -> usize {
    100
}
fn default_window() -> usize {
    1_000
}
pub fn default_interval() -> u64 {
    300
}

impl MonitorPolicy {
    /// Checks every field; the error names the field and its range.
    pub fn validate(&self) -> Result<(), String> {
        let fraction = |v: f64| (0.0..=1.0).contains(&v);
        if self.accuracy_floor.is_some_and(|f| !fraction(f)) {
            return Err("accuracy_floor must be between 0 and 1".into());
        }
        if self
            .rmse_ceiling
            .is_some_and(|c| !(c.is_finite() && c > 0.0))
        {
            return Err("rmse_ceiling must be a number above 0".into());
        }
        if !fraction(self.drift_share) {
            return Err("drift_share must be between 0 (off) and 1".into());
        }
        if !(1..=10_000_000).contains(&self.min_labelled)
            || !(1..=10_000_000).contains(&self.window)
        {
            return Err("min_labelled and window must be between 1 and 10,000,000".into());
        }
        if !(self.promote_margin.is_finite() && self.promote_margin >= 0.0) {
            return Err("promote_margin must be a number >= 0".into());
        }
        if self.check_interval_s == 0 || self.check_interval_s > 86_400 * 30 {
            return Err("check_interval_s must be between 1 and 2,592,000 (30 days)".into());
        }
        Ok(())
    }
}

/// What a check found wrong.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    pub version: Version,
    /// `accuracy`, `rmse` or `drift`.
    pub reason: String,
    /// The figure that breached the policy, and the limit.
    pub value: f64,
    pub limit: f64,
    /// Predictions (labelled ones, for quality) in the window.
    pub rows: usize,
}

/// The breaches of `policy` in a window: quality (once at least `min_labelled` rows are
/// labelled) against the floor or ceiling, and the share of drifted features against
/// `drift_share`. A report that could not be made (no labels, no rows, no profile) judges
/// nothing.
pub fn breaches(
    policy: &MonitorPolicy,
    quality: Option<&QualityReport>,
    drift: Option<&DriftReport>,
) -> Vec<Breach> {
    let mut breaches = Vec::new();
    if let Some(q) = quality.filter(|q| q.labelled >= policy.min_labelled) {
        let breach = |reason: &str, value: f64, limit: f64| Breach {
            version: q.version,
            reason: reason.into(),
            value,
            limit,
            rows: q.labelled,
        };
        match &q.metrics {
            Metrics::Classification(c) => {
                if let Some(floor) = policy.accuracy_floor
                    && c.accuracy < floor
                {
                    breaches.push(breach("accuracy", c.accuracy, floor));
                }
            }
            Metrics::Regression(r) => {
                if let Some(ceiling) = policy.rmse_ceiling
                    && r.rmse > ceiling
                {
                    breaches.push(breach("rmse", r.rmse, ceiling));
                }
            }
        }
    }
    if policy.drift_share > 0.0
        && let Some(d) = drift.filter(|d| d.decided_features > 0)
    {
        let share = d.drifted_features as f64 / d.decided_features as f64;
        if share >= policy.drift_share {
            breaches.push(Breach {
                version: d.version,
                reason: "drift".into(),
                value: share,
                limit: policy.drift_share,
                rows: d.rows,
            });
        }
    }
    breaches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DriftReport, QualityDiagnosis, QualityReport};
    use aiaas_stats::RegressionMetrics;
    use aiaas_types::ModelName;

    fn policy(json: serde_json::Value) -> MonitorPolicy {
        let policy: MonitorPolicy = serde_json::from_value(json).unwrap();
        policy.validate().unwrap();
        policy
    }

    fn quality(rmse: f64, labelled: usize) -> QualityReport {
        QualityReport {
            model: ModelName::new("m").unwrap(),
            version: Version::new(3),
            logged: labelled,
            labelled,
            label_coverage: 1.0,
            metrics: Metrics::Regression(RegressionMetrics {
                mae: rmse,
                mse: rmse * rmse,
                rmse,
                r2: 0.0,
                count: labelled as u64,
            }),
            labels: Vec::new(),
            diagnosis: QualityDiagnosis {
                weak_classes: Vec::new(),
                training: None,
                production: rmse,
                gap: None,
                summary: String::new(),
            },
            over_time: Vec::new(),
        }
    }

    fn drift(drifted: usize, decided: usize) -> DriftReport {
        DriftReport {
            model: ModelName::new("m").unwrap(),
            version: Version::new(3),
            rows: 500,
            features: Vec::new(),
            predictions: None,
            predictions_overlay: None,
            drifted_features: drifted,
            decided_features: decided,
            drifted: drifted * 2 >= decided,
        }
    }

    #[test]
    fn limits_breach_only_with_enough_labels() {
        let p = policy(serde_json::json!({"rmse_ceiling": 50.0, "min_labelled": 100}));
        let found = breaches(&p, Some(&quality(60.0, 100)), None);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].reason.as_str(), found[0].value), ("rmse", 60.0));
        assert!(breaches(&p, Some(&quality(60.0, 99)), None).is_empty());
        assert!(breaches(&p, Some(&quality(40.0, 500)), None).is_empty());
    }

    #[test]
    fn drift_breaches_at_its_share_and_not_when_off() {
        let p = policy(serde_json::json!({"drift_share": 0.5}));
        let found = breaches(&p, None, Some(&drift(2, 4)));
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].reason.as_str(), found[0].value), ("drift", 0.5));
        assert!(breaches(&p, None, Some(&drift(1, 4))).is_empty());
        assert!(breaches(&p, None, Some(&drift(0, 0))).is_empty());
        let off = policy(serde_json::json!({"drift_share": 0.0}));
        assert!(breaches(&off, None, Some(&drift(4, 4))).is_empty());
    }
}
