//! A served prediction as the prediction log keeps it: the serving runtime makes these rows, the
//! store writes them, monitoring reads them back with their labels.

use crate::{ModelName, Version};
use serde::{Deserialize, Serialize};

/// A predicted or true target value: a class label, or a number for regression.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetValue {
    /// A class label.
    Class(String),
    /// A regression value, in target units.
    Value(f64),
}

/// One predicted row to log.
#[derive(Clone, Debug, PartialEq)]
pub struct NewPrediction {
    /// The row's id, unique within the model.
    pub id: String,
    /// The model that answered.
    pub model: ModelName,
    /// Its version.
    pub version: Version,
    /// When it was answered (ms since the Unix epoch).
    pub at_ms: i64,
    /// How long the request took, in microseconds.
    pub latency_us: u64,
    /// Raw feature values in schema order (NaN for a categorical feature).
    pub inputs: Vec<f32>,
    /// Categorical values in schema order, if the model has categorical features.
    pub categories: Option<Vec<String>>,
    /// What the model answered.
    pub predicted: TargetValue,
}

/// A logged row, with its label if one arrived.
#[derive(Clone, Debug, PartialEq)]
pub struct PredictionRow {
    /// The row's id.
    pub id: String,
    /// The version that answered.
    pub version: Version,
    /// When (ms since the Unix epoch).
    pub at_ms: i64,
    /// Request latency in microseconds.
    pub latency_us: u64,
    /// Raw feature values in schema order (NaN for a categorical feature).
    pub inputs: Vec<f32>,
    /// Categorical values in schema order, if any.
    pub categories: Option<Vec<String>>,
    /// What the model answered.
    pub predicted: TargetValue,
    /// The true target, once feedback gave it.
    pub label: Option<TargetValue>,
}

/// What the prediction log keeps of a model's raw inputs (its predictions, ids and times are
/// always kept): `{"inputs": "all"}` (the default), `{"inputs": "none"}`, or
/// `{"inputs": "all_but", "except": ["age", ...]}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "inputs", rename_all = "snake_case", deny_unknown_fields)]
pub enum LoggingPolicy {
    // `{}` variants: serde's deny_unknown_fields holds only for variants with fields.
    /// Every input.
    All {},
    /// No input: quality still works, drift has nothing to compare.
    None {},
    /// Every input but the named features.
    AllBut {
        /// Features never written to the log.
        #[cfg_attr(feature = "openapi", schema(min_items = 1))]
        except: Vec<String>,
    },
}

/// Which logged predictions of a model to erase: by id, or by the time they were logged, or
/// both (a row must match every given condition).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Erasure {
    /// Row ids, as the responses gave them (`<id>` or `<id>/<row>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 10_000))]
    pub ids: Option<Vec<String>>,
    /// Rows logged at or after this time (ms since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_ms: Option<i64>,
    /// Rows logged before this time (ms since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_ms: Option<i64>,
}
