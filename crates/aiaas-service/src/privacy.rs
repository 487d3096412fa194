//! What the prediction log may keep, and erasing what it kept: a logging policy per model
//! (all inputs, none, or all but named features), applied before a row is written, and erasure
//! of logged rows by id or time, followed by a checkpoint so that the write-ahead log holds no
//! copy of them either (deleted rows are overwritten in the database file: `secure_delete`).

use crate::Platform;
use crate::error::ServiceError;
use aiaas_types::{Erasure, FeatureKind, LoggingPolicy, ModelName, NewPrediction, Version};
use std::borrow::Cow;
use std::collections::HashMap;

/// Most ids one erasure may name.
pub const MAX_ERASE_IDS: usize = 10_000;

/// The logging policies, and for `all_but` policies the positions each version's excluded
/// features take in a logged row.
#[derive(Default)]
pub(crate) struct Policies {
    by_model: HashMap<ModelName, LoggingPolicy>,
    masks: HashMap<(ModelName, Version), Mask>,
}

/// Where a version's excluded features are: in `inputs` (one value per feature) and in
/// `categories` (one per categorical feature).
#[derive(Clone)]
struct Mask {
    inputs: Vec<usize>,
    categories: Vec<usize>,
}

impl Policies {
    pub(crate) fn new(by_model: HashMap<ModelName, LoggingPolicy>) -> Policies {
        Policies {
            by_model,
            masks: HashMap::new(),
        }
    }
}

impl Platform {
    /// Sets what the prediction log keeps of `model`'s inputs, from its next logged row on.
    /// Every feature an `all_but` policy names must be one of the model's default version.
    pub async fn set_logging_policy(
        &self,
        model: &ModelName,
        policy: LoggingPolicy,
    ) -> Result<LoggingPolicy, ServiceError> {
        let version = self.default_version(model).await?;
        if let LoggingPolicy::AllBut { except } = &policy {
            let manifest = self.manifest(model, version).await?;
            let names: Vec<&str> = manifest
                .schema
                .features
                .iter()
                .map(|f| f.name.as_str())
                .collect();
            if except.is_empty() {
                return Err(ServiceError::Invalid(
                    "an all_but policy names the features to leave out in except".into(),
                ));
            }
            if let Some(unknown) = except.iter().find(|e| !names.contains(&e.as_str())) {
                return Err(ServiceError::NotFound(
                    aiaas_types::Resource::Feature,
                    format!(
                        "{model} has no feature {unknown:?}; its features are {}",
                        names.join(", ")
                    ),
                ));
            }
        }
        self.store().set_logging_policy(model, &policy).await?;
        let mut policies = self.policies();
        policies.masks.retain(|(m, _), _| m != model);
        policies.by_model.insert(model.clone(), policy.clone());
        drop(policies);
        self.announce(aiaas_store::Change::LoggingPolicy {
            model: model.clone(),
        });
        Ok(policy)
    }

    /// What the prediction log keeps of `model`'s inputs (all, without a policy).
    pub fn logging_policy(&self, model: &ModelName) -> LoggingPolicy {
        self.policies()
            .by_model
            .get(model)
            .cloned()
            .unwrap_or(LoggingPolicy::All {})
    }

    /// Erases the logged predictions of `model` that `which` names, then checkpoints the
    /// database so that no copy stays in its write-ahead log; how many rows went.
    pub async fn erase_predictions(
        &self,
        model: &ModelName,
        which: &Erasure,
    ) -> Result<u64, ServiceError> {
        let invalid = |m: &str| Err(ServiceError::Invalid(m.to_string()));
        if which.ids.is_none() && which.from_ms.is_none() && which.to_ms.is_none() {
            return invalid("say which predictions to erase: ids, from_ms, to_ms or several");
        }
        if let Some(ids) = &which.ids
            && (ids.is_empty() || ids.len() > MAX_ERASE_IDS)
        {
            return Err(ServiceError::Invalid(format!(
                "ids must list 1 to {MAX_ERASE_IDS} ids"
            )));
        }
        self.store().model(model).await?;
        let erased = self.store().erase_predictions(model, which).await?;
        if !self.store().checkpoint().await? {
            tracing::warn!(%model, "erased rows may stay in the write-ahead log until the next checkpoint");
        }
        tracing::info!(%model, erased, "logged predictions erased");
        Ok(erased)
    }

    /// `rows` as their models' logging policies let them be written; borrowed as they are
    /// when no model of the batch keeps less than all inputs.
    pub(crate) async fn apply_logging_policies<'a>(
        &self,
        rows: &'a [NewPrediction],
    ) -> Result<Cow<'a, [NewPrediction]>, ServiceError> {
        // The policies of this batch's models that leave something out, read once.
        let policies: HashMap<ModelName, LoggingPolicy> = {
            let all = &self.policies().by_model;
            let mut found = HashMap::new();
            for row in rows {
                if !found.contains_key(&row.model)
                    && let Some(policy) = all.get(&row.model)
                    && *policy != (LoggingPolicy::All {})
                {
                    found.insert(row.model.clone(), policy.clone());
                }
            }
            found
        };
        if policies.is_empty() {
            return Ok(Cow::Borrowed(rows));
        }
        let mut masks: HashMap<(ModelName, Version), Mask> = HashMap::new();
        let mut kept = rows.to_vec();
        for row in &mut kept {
            match policies.get(&row.model) {
                None | Some(LoggingPolicy::All {}) => {}
                Some(LoggingPolicy::None {}) => {
                    row.inputs.clear();
                    row.categories = None;
                }
                Some(LoggingPolicy::AllBut { except }) => {
                    let key = (row.model.clone(), row.version);
                    if !masks.contains_key(&key) {
                        let mask = self.mask(&row.model, row.version, except).await?;
                        masks.insert(key.clone(), mask);
                    }
                    let mask = &masks[&key];
                    for &i in &mask.inputs {
                        if let Some(v) = row.inputs.get_mut(i) {
                            *v = f32::NAN;
                        }
                    }
                    if let Some(categories) = &mut row.categories {
                        for &c in &mask.categories {
                            if let Some(value) = categories.get_mut(c) {
                                value.clear();
                            }
                        }
                    }
                }
            }
        }
        Ok(Cow::Owned(kept))
    }

    /// Where the features in `except` sit in the rows of `model` version `version`.
    async fn mask(
        &self,
        model: &ModelName,
        version: Version,
        except: &[String],
    ) -> Result<Mask, ServiceError> {
        let key = (model.clone(), version);
        if let Some(mask) = self.policies().masks.get(&key) {
            return Ok(mask.clone());
        }
        let manifest = self.manifest(model, version).await?;
        let (mut inputs, mut categories) = (Vec::new(), Vec::new());
        let mut category = 0;
        for (i, feature) in manifest.schema.features.iter().enumerate() {
            let excluded = except.contains(&feature.name);
            if excluded {
                inputs.push(i);
            }
            if matches!(feature.kind, FeatureKind::Categorical { .. }) {
                if excluded {
                    categories.push(category);
                }
                category += 1;
            }
        }
        let mask = Mask { inputs, categories };
        self.policies().masks.insert(key, mask.clone());
        Ok(mask)
    }

    fn policies(&self) -> std::sync::MutexGuard<'_, Policies> {
        self.inner.policies.lock().expect("logging policies lock")
    }
}
