//! What a hyperparameter sweep is asked to do: train one trial per point of a grid or of a
//! seeded random draw, pick the best on the validation split, register it.

use crate::TrainOptions;
use crate::ids::{DatasetName, ModelName};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A sweep request: the dataset and split of a train job, the options every trial shares, and
/// the search, either `grid` or `random`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    pub dataset: DatasetName,
    /// Model to register the best trial under (default: the dataset's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<ModelName>,
    /// Fraction of rows held out for validation, where trials are compared (default 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_split: Option<f64>,
    /// Fraction of rows held out for the test report (default 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_split: Option<f64>,
    /// Training options every trial shares (the fields of a train job: `epochs`, `optimizer`...).
    #[serde(default)]
    pub base: TrainOptions,
    /// Every combination of these values: `{"lr": [0.1, 0.01], "hidden": [[32], [32, 32]]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid: Option<BTreeMap<String, Vec<ParamValue>>>,
    /// A seeded random draw from a space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random: Option<RandomSearch>,
    /// What the best trial is chosen by, on the validation split (default: `accuracy` for a
    /// classifier, `r2` for a regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<SweepMetric>,
}

impl SweepSpec {
    /// The model name the best trial is registered under.
    pub fn model_name(&self) -> ModelName {
        self.name.clone().unwrap_or_else(|| {
            ModelName::new(self.dataset.as_str())
                .expect("dataset and model names share one alphabet")
        })
    }

    /// The options a search varies, in order.
    pub fn swept(&self) -> Vec<&str> {
        match (&self.grid, &self.random) {
            (Some(grid), _) => grid.keys().map(String::as_str).collect(),
            (None, Some(random)) => random.space.keys().map(String::as_str).collect(),
            (None, None) => Vec::new(),
        }
    }
}

/// One value of a training option, as JSON writes it: `0.01`, `64`, `"adamw"`, `true`,
/// `[32, 32]`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    Bool(bool),
    /// Whole numbers stay whole, so `batch_size` and `epochs` accept them.
    Int(i64),
    Float(f64),
    Text(String),
    Layers(Vec<usize>),
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Text(s) => f.write_str(s),
            ParamValue::Layers(widths) => {
                let widths: Vec<String> = widths.iter().map(usize::to_string).collect();
                f.write_str(&widths.join("x"))
            }
        }
    }
}

/// `trials` points drawn from `space` with `seed`: the same request draws the same points.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomSearch {
    pub trials: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub space: BTreeMap<String, Distribution>,
}

/// Where a random search draws one option from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    /// Uniform between the two bounds.
    Uniform([f64; 2]),
    /// Uniform in the logarithm between the two (positive) bounds: learning rates.
    LogUniform([f64; 2]),
    /// A whole number from the first bound to the second, both included.
    IntUniform([i64; 2]),
    /// One of these values, each as likely.
    Choice(Vec<ParamValue>),
}

/// What trials are compared by, on the validation split.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepMetric {
    Accuracy,
    /// Macro-averaged F1.
    F1Macro,
    LogLoss,
    R2,
    Rmse,
    Mae,
}

impl SweepMetric {
    /// True when a larger value is better.
    pub fn higher_is_better(self) -> bool {
        matches!(
            self,
            SweepMetric::Accuracy | SweepMetric::F1Macro | SweepMetric::R2
        )
    }

    /// Its name as requests write it.
    pub fn as_str(self) -> &'static str {
        match self {
            SweepMetric::Accuracy => "accuracy",
            SweepMetric::F1Macro => "f1_macro",
            SweepMetric::LogLoss => "log_loss",
            SweepMetric::R2 => "r2",
            SweepMetric::Rmse => "rmse",
            SweepMetric::Mae => "mae",
        }
    }
}

impl std::str::FromStr for SweepMetric {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [
            SweepMetric::Accuracy,
            SweepMetric::F1Macro,
            SweepMetric::LogLoss,
            SweepMetric::R2,
            SweepMetric::Rmse,
            SweepMetric::Mae,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or_else(|| {
            format!("unknown metric {s:?}; expected accuracy, f1_macro, log_loss, r2, rmse or mae")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_request_reads_grid_values_as_json_writes_them() {
        let json = r#"{"dataset": "wine", "base": {"epochs": 30},
            "grid": {"lr": [0.1, 0.01], "hidden": [[32], [32, 32]], "batch_size": [16],
                     "optimizer": ["adamw"], "nesterov": [true]}}"#;
        let spec: SweepSpec = serde_json::from_str(json).unwrap();
        let grid = spec.grid.as_ref().unwrap();
        assert_eq!(
            grid["lr"],
            [ParamValue::Float(0.1), ParamValue::Float(0.01)]
        );
        assert_eq!(grid["hidden"][1], ParamValue::Layers(vec![32, 32]));
        assert_eq!(grid["batch_size"], [ParamValue::Int(16)]);
        assert_eq!(grid["optimizer"], [ParamValue::Text("adamw".into())]);
        assert_eq!(grid["nesterov"], [ParamValue::Bool(true)]);
        assert_eq!(spec.base.epochs, Some(30));
        assert_eq!(spec.model_name().as_str(), "wine");
        assert_eq!(
            spec.swept(),
            ["batch_size", "hidden", "lr", "nesterov", "optimizer"]
        );
        assert_eq!(grid["hidden"][1].to_string(), "32x32");
        let again: SweepSpec =
            serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(spec, again);
    }

    #[test]
    fn a_random_search_names_its_distributions() {
        let json = r#"{"dataset": "wine", "metric": "f1_macro", "random": {"trials": 8, "seed": 3,
            "space": {"lr": {"log_uniform": [0.0001, 0.1]}, "batch_size": {"int_uniform": [8, 64]},
                      "hidden": {"choice": [[16], [64]]}}}}"#;
        let spec: SweepSpec = serde_json::from_str(json).unwrap();
        let random = spec.random.as_ref().unwrap();
        assert_eq!(random.trials, 8);
        assert_eq!(random.space["lr"], Distribution::LogUniform([0.0001, 0.1]));
        assert_eq!(spec.metric, Some(SweepMetric::F1Macro));
        assert!(!SweepMetric::LogLoss.higher_is_better());
        assert_eq!("rmse".parse::<SweepMetric>(), Ok(SweepMetric::Rmse));
        assert!(
            "speed"
                .parse::<SweepMetric>()
                .unwrap_err()
                .contains("accuracy")
        );
        for bad in [
            r#"{"dataset": "wine", "grid": {}, "epochs": 3}"#,
            r#"{"dataset": "wine", "random": {"trials": 2, "space": {"lr": {"normal": [0, 1]}}}}"#,
            r#"{"dataset": "wine", "metric": "speed"}"#,
        ] {
            assert!(serde_json::from_str::<SweepSpec>(bad).is_err(), "{bad}");
        }
    }
}
