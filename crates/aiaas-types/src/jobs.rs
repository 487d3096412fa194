//! What a job is asked to do. A job request is JSON with a `kind` and that kind's fields; the
//! fields of a training job are the flags of `aiaas train`.

use crate::ids::{DatasetName, ModelName};
use crate::{Recipe, SplitSpec, TrainOptions};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A job request, tagged by `kind`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobSpec {
    Train(TrainJob),
    Optimize(OptimizeJob),
    Retrain(RetrainJob),
}

impl JobSpec {
    /// Every [`JobSpec::kind`].
    pub const KINDS: [&'static str; 3] = ["train", "optimize", "retrain"];

    /// Its `kind`: one of [`JobSpec::KINDS`].
    pub fn kind(&self) -> &'static str {
        match self {
            JobSpec::Train(_) => "train",
            JobSpec::Optimize(_) => "optimize",
            JobSpec::Retrain(_) => "retrain",
        }
    }

    /// Fields nobody reads are refused rather than silently ignored (a misspelt `epocs` must
    /// not train for the default 200 epochs).
    pub fn check_fields(&self) -> Result<(), String> {
        // An optimize job refuses unknown fields as it is parsed.
        let JobSpec::Train(job) = self else {
            return Ok(());
        };
        if job.unknown.is_empty() {
            return Ok(());
        }
        let keys: Vec<&str> = job.unknown.keys().map(String::as_str).collect();
        Err(format!(
            "unknown field(s) {} in a train job; expected dataset, name, val_split, \
             test_split or a training option (model, hidden, activation, loss, optimizer, lr, \
             momentum, nesterov, weight_decay, c, tolerance, schedule, batch_size, epochs, \
             patience, restore_best, seed)",
            keys.join(", ")
        ))
    }
}

/// Train a model on a registered dataset and register the result as a new version.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainJob {
    pub dataset: DatasetName,
    /// Model to register the new version under (default: the dataset's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<ModelName>,
    /// Fraction of rows held out for validation (default 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_split: Option<f64>,
    /// Fraction of rows held out for the test report (default 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_split: Option<f64>,
    #[serde(flatten)]
    pub options: TrainOptions,
    /// Whatever else the request held; see [`JobSpec::check_fields`].
    #[serde(flatten, skip_serializing)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub unknown: BTreeMap<String, IgnoredAny>,
}

impl TrainJob {
    /// The model name the result is registered under.
    pub fn model_name(&self) -> ModelName {
        self.name.clone().unwrap_or_else(|| {
            ModelName::new(self.dataset.as_str())
                .expect("dataset and model names share one alphabet")
        })
    }

    /// The split, seeded like the CLI: by the training seed when one is given.
    pub fn split(&self) -> SplitSpec {
        let default = SplitSpec::default();
        SplitSpec {
            val_fraction: self
                .val_split
                .unwrap_or_else(|| self.options.default_val_fraction()),
            test_fraction: self.test_split.unwrap_or(default.test_fraction),
            seed: self.options.seed.unwrap_or(default.seed),
        }
    }
}

/// Derive a variant of a registered model (prune, quantize or distill) and register it as the
/// model's next version if it passes the guard.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizeJob {
    /// The parent model.
    pub model: ModelName,
    /// The parent version: a number or an alias (default: the champion, else the newest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub recipe: Recipe,
    /// The largest accuracy drop (absolute, default 0.01) or RMSE rise (relative, default 0.05)
    /// the variant may show against its parent on the parent's test split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_drop: Option<f64>,
}

/// Retrain a model on its training data plus its labelled production rows, with the
/// champion's hyperparameters; register the challenger (alias `challenger`) and promote it to
/// `champion` (the old one keeps `previous`) only if it beats the champion on the recent
/// holdout by `margin`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrainJob {
    pub model: ModelName,
    /// The version to retrain and compete with (default: the champion, else the newest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// How much better (accuracy, or R²) the challenger must be on the recent holdout to be
    /// promoted (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OptimizerKind;

    #[test]
    fn a_train_job_takes_the_cli_fields_and_refuses_others() {
        let json = r#"{"kind": "train", "dataset": "iris", "epochs": 5, "optimizer": "adamw", "val_split": 0.2}"#;
        let spec: JobSpec = serde_json::from_str(json).unwrap();
        spec.check_fields().unwrap();
        let JobSpec::Train(job) = &spec else {
            panic!("a train job")
        };
        assert_eq!(job.options.epochs, Some(5));
        assert_eq!(job.options.optimizer, Some(OptimizerKind::AdamW));
        assert_eq!(job.model_name().as_str(), "iris");
        assert_eq!(job.split().val_fraction, 0.2);

        let typo: JobSpec =
            serde_json::from_str(r#"{"kind": "train", "dataset": "iris", "epocs": 5}"#).unwrap();
        assert!(typo.check_fields().unwrap_err().contains("epocs"));
        assert!(
            serde_json::from_str::<JobSpec>(r#"{"kind": "train", "dataset": "../x"}"#).is_err()
        );
        assert!(serde_json::from_str::<JobSpec>(r#"{"kind": "fly", "dataset": "iris"}"#).is_err());
    }

    #[test]
    fn a_job_spec_round_trips() {
        let spec: JobSpec = serde_json::from_str(
            r#"{"kind": "train", "dataset": "wine", "name": "w", "hidden": [8]}"#,
        )
        .unwrap();
        let again: JobSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(spec, again);
    }

    #[test]
    fn an_optimize_job_nests_its_recipe_and_refuses_unknown_fields() {
        let json = r#"{"kind": "optimize", "model": "mnist", "version": "2",
            "recipe": {"method": "prune", "sparsity": 0.9, "epochs": 2}}"#;
        let spec: JobSpec = serde_json::from_str(json).unwrap();
        spec.check_fields().unwrap();
        let JobSpec::Optimize(job) = &spec else {
            panic!("an optimize job")
        };
        assert_eq!(job.version.as_deref(), Some("2"));
        let Recipe::Prune(p) = &job.recipe else {
            panic!("a prune recipe")
        };
        assert_eq!((p.sparsity, p.structured, p.epochs), (0.9, false, 2));
        let again: JobSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(spec, again);

        let distill: JobSpec = serde_json::from_str(
            r#"{"kind": "optimize", "model": "m", "recipe": {"method": "distill", "hidden": [32]}}"#,
        )
        .unwrap();
        let JobSpec::Optimize(OptimizeJob {
            recipe: Recipe::Distill(d),
            ..
        }) = distill
        else {
            panic!("a distill job")
        };
        assert_eq!((d.temperature, d.alpha), (4.0, 0.7));

        for bad in [
            r#"{"kind": "optimize", "model": "m", "recipe": {"method": "prune", "sparsity": 0.5}, "spars": 1}"#,
            r#"{"kind": "optimize", "model": "m", "recipe": {"method": "prune", "sparsity": 0.5, "x": 1}}"#,
            r#"{"kind": "optimize", "model": "m", "recipe": {"method": "shrink"}}"#,
        ] {
            assert!(serde_json::from_str::<JobSpec>(bad).is_err(), "{bad}");
        }
    }
}
