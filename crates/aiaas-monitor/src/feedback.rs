//! Feedback: a label for a logged prediction, checked against the model's target before it is
//! stored.

use crate::MonitorError;
use aiaas_types::{TargetSchema, TargetValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One label for a logged prediction.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// The prediction's id (the inference response's `id`; `<id>/<row>` for a row of a
    /// request of several rows).
    pub id: String,
    /// The true class label, or the true value for regression.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub label: Value,
}

/// The label of `f` as the model's target: a known class (a JSON string, or a number that
/// names a class such as `3` for label "3"), or a finite number for regression.
pub fn label_of(target: &TargetSchema, f: &Feedback) -> Result<TargetValue, MonitorError> {
    let bad = |why: String| MonitorError::Unusable(format!("label of id {:?}: {why}", f.id));
    match target {
        TargetSchema::Classification { labels, .. } => {
            let text = match &f.label {
                Value::String(s) => s.clone(),
                // A whole number names a class the way the CSV did: 3.0 is class "3".
                Value::Number(n) => match n.as_f64() {
                    Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
                    _ => n.to_string(),
                },
                Value::Bool(b) => b.to_string(),
                other => return Err(bad(format!("{other} is not a class label"))),
            };
            if labels.contains(&text) {
                Ok(TargetValue::Class(text))
            } else {
                Err(bad(format!(
                    "{text:?} is not one of the model's classes ({})",
                    labels.join(", ")
                )))
            }
        }
        TargetSchema::Regression { .. } => match f
            .label
            .as_f64()
            .or_else(|| f.label.as_str().and_then(|s| s.trim().parse().ok()))
        {
            Some(v) if v.is_finite() => Ok(TargetValue::Value(v)),
            _ => Err(bad(format!(
                "{} is not a number; this model predicts values",
                f.label
            ))),
        },
    }
}
