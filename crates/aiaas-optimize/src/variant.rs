//! From a parent bundle and a [`Recipe`] to a variant bundle with its report: build the variant
//! (prune and fine-tune, quantize, or distill), store it, load it back exactly as serving will,
//! measure parent and variant on the parent's test split, and apply the guard.

use crate::OptimizeError;
use crate::measure::{figures, guard};
use crate::prune::{magnitude_mask, prune_neurons};
use aiaas_artifact::{Bundle, Layout, WeightDtype, WeightsInfo, decode_weights, encode_weights};
use aiaas_data::Dataset;
use aiaas_engine::{Mlp, Network, QuantizedMlp, stack};
use aiaas_train::{
    FitResult, Guide, Observer, Prepared, Silent, StopReason, Teacher, evaluate, fit, fit_guided,
    prepare,
};
use aiaas_types::{
    DEFAULT_MAX_ACCURACY_DROP, DEFAULT_MAX_RMSE_RISE, DistillRecipe, LossKind, OptimizeReport,
    PruneRecipe, QuantScheme, Recipe, Task, TrainSpec,
};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// An optimized model and its report. Register the bundle only if `report.accepted`.
#[derive(Clone, Debug)]
pub struct Variant {
    pub bundle: Bundle,
    pub report: OptimizeReport,
}

/// Derives a variant of `parent` (named `parent_ref` in the lineage, e.g. `mnist@3`) by `recipe`.
///
/// `ds` must be the dataset the parent was trained on (its digest is checked): the variant is
/// fine-tuned or distilled on the parent's training rows and compared on the parent's test
/// rows. `max_drop` defaults to 0.01 accuracy (classification) or a 5% RMSE rise (regression).
/// Training steps report to `observer` (which may cancel). Nothing is stored here.
pub fn optimize(
    parent: &Bundle,
    parent_ref: &str,
    ds: &Dataset,
    recipe: &Recipe,
    max_drop: Option<f64>,
    threads: usize,
    observer: &mut dyn Observer,
) -> Result<Variant, OptimizeError> {
    let manifest = &parent.manifest;
    let max_drop = max_drop.unwrap_or(match manifest.task {
        Task::Classification => DEFAULT_MAX_ACCURACY_DROP,
        Task::Regression => DEFAULT_MAX_RMSE_RISE,
    });
    if !(max_drop.is_finite() && max_drop >= 0.0) {
        return Err(OptimizeError::Invalid(format!(
            "max_drop must be a number >= 0, got {max_drop}"
        )));
    }
    check_recipe(parent, recipe)?;
    if ds.digest != manifest.lineage.dataset.digest {
        return Err(OptimizeError::Invalid(format!(
            "the dataset given ({}, SHA-256 {}) is not the one {parent_ref} was trained on ({}, \
             SHA-256 {})",
            ds.name, ds.digest, manifest.lineage.dataset.name, manifest.lineage.dataset.digest
        )));
    }
    let data = prepare(ds, &manifest.lineage.split, &manifest.schema)?;
    if data.test.rows == 0 {
        return Err(OptimizeError::Invalid(format!(
            "{parent_ref} was trained without a test split, so there is nothing to compare on"
        )));
    }

    let mut spec = manifest.lineage.spec.clone();
    let mut layout = Layout::Dense;
    let mut dtype = WeightDtype::F32;
    let mut scratch = None;
    let mut trained: Option<FitResult> = None;
    let network: Network = match recipe {
        Recipe::Prune(p) => {
            let (mlp, fitted) = prune(parent, p, &mut spec, &data, threads, observer)?;
            // Sparse storage costs 8 bytes per kept weight against 4 dense: worth it only when
            // fewer than half the weights remain.
            let weights: usize = mlp.layers().iter().map(|l| l.inputs * l.outputs).sum();
            let kept = (0..mlp.layers().len())
                .flat_map(|l| mlp.weight(l))
                .filter(|&&w| w != 0.0)
                .count();
            if !p.structured && kept * 2 < weights {
                layout = Layout::Sparse;
            }
            trained = fitted;
            mlp.into()
        }
        Recipe::Quantize(q) => match q.scheme {
            QuantScheme::Int8 => QuantizedMlp::from_mlp(&parent.network.to_f32()).into(),
            QuantScheme::F16 => {
                dtype = WeightDtype::F16;
                parent.network.clone()
            }
        },
        Recipe::Distill(d) => {
            let (student, from_scratch) = distill(parent, d, &mut spec, &data, threads, observer)?;
            let mlp = student.mlp.clone();
            trained = Some(student);
            scratch = Some(from_scratch);
            mlp.into()
        }
    };
    if let Some(t) = &trained {
        stopped(t)?;
    }

    let mut bundle = Bundle::new(manifest.clone(), network);
    bundle.manifest.weights.dtype = if bundle.network.is_quantized() {
        WeightDtype::Int8
    } else {
        dtype
    };
    bundle.manifest.weights.layout = layout;
    // Measure the variant exactly as it loads back from its stored bytes (f16 rounding included).
    let weights = encode_weights(&bundle.network, &bundle.manifest.weights)?;
    let stored = decode_weights(&bundle.manifest.layers, &bundle.manifest.weights, &weights)?;
    let parent_size = encode_weights(&parent.network, &manifest.weights)?.len() as u64;

    let schema = &manifest.schema;
    let (test_x, truth) = (&data.test.x, &data.test_truth);
    let measure = |network: &Network, size: u64| {
        let metrics = evaluate(network, schema, test_x, truth, threads);
        (figures(network, size, &metrics, test_x), metrics)
    };
    let (parent_figures, _) = measure(&parent.network, parent_size);
    let (variant_figures, variant_metrics) = measure(&stored, weights.len() as u64);
    let scratch_figures = match scratch {
        Some(mlp) => {
            let network = Network::from(mlp);
            let size = encode_weights(&network, &WeightsInfo::default())?.len() as u64;
            Some(measure(&network, size).0)
        }
        None => None,
    };
    let (accepted, verdict) = guard(manifest.task, &parent_figures, &variant_figures, max_drop);
    let report = OptimizeReport {
        recipe: recipe.clone(),
        parent_ref: parent_ref.to_string(),
        parent: parent_figures,
        variant: variant_figures,
        scratch: scratch_figures,
        max_drop,
        accepted,
        verdict,
    };

    let lineage = &mut bundle.manifest.lineage;
    lineage.parent = Some(parent_ref.to_string());
    lineage.spec = spec;
    if let Some(t) = &trained {
        lineage.epochs_run = t.history.len();
        lineage.best_epoch = t.best_epoch;
    }
    // The variant is scored where the report compares it: on the parent's test split.
    lineage.metrics = BTreeMap::from([("test".to_string(), variant_metrics)]);
    lineage.optimization = Some(report.clone());
    lineage.created_at_ms = now_ms();
    bundle.network = stored;
    Ok(Variant { bundle, report })
}

/// Refuses a recipe that cannot work on `parent` (bad settings, an int8 parent to prune or
/// quantize again, a teacher that is not a classifier), before any work is done.
pub fn check_recipe(parent: &Bundle, recipe: &Recipe) -> Result<(), OptimizeError> {
    let quantized = parent.network.is_quantized();
    let stored = &parent.manifest.weights;
    match recipe {
        Recipe::Prune(p) => {
            if !(p.sparsity > 0.0 && p.sparsity < 1.0) {
                return Err(if p.structured {
                    OptimizeError::InvalidFraction(p.sparsity)
                } else {
                    OptimizeError::InvalidSparsity(p.sparsity)
                });
            }
            if quantized {
                return Err(OptimizeError::Invalid(
                    "this version is int8-quantized; prune its f32 parent, then quantize".into(),
                ));
            }
            if p.structured && parent.network.layers().len() < 2 {
                return Err(OptimizeError::Invalid(
                    "structured pruning removes hidden neurons, and this model has no hidden layer"
                        .into(),
                ));
            }
        }
        Recipe::Quantize(q) => {
            if quantized {
                return Err(OptimizeError::Invalid(
                    "this version is already int8-quantized".into(),
                ));
            }
            if q.scheme == QuantScheme::F16 && stored.dtype == WeightDtype::F16 {
                return Err(OptimizeError::Invalid(
                    "this version is already stored as f16".into(),
                ));
            }
        }
        Recipe::Distill(d) => {
            if parent.manifest.task != Task::Classification {
                return Err(OptimizeError::Invalid(
                    "distillation needs a classification teacher (soft targets are class \
                     probabilities); this model is a regression"
                        .into(),
                ));
            }
            if parent.manifest.lineage.spec.loss != LossKind::CrossEntropy {
                return Err(OptimizeError::Invalid(format!(
                    "distillation needs a teacher trained with cross_entropy (one logit per \
                     class); this one uses {:?}",
                    parent.manifest.lineage.spec.loss
                )));
            }
            if d.hidden.contains(&0) {
                return Err(OptimizeError::Invalid(
                    "every hidden layer of the student needs at least one unit".into(),
                ));
            }
            if !(d.temperature.is_finite() && d.temperature > 0.0) {
                return Err(OptimizeError::Invalid(format!(
                    "temperature must be a number > 0, got {}",
                    d.temperature
                )));
            }
            if !(0.0..=1.0).contains(&d.alpha) {
                return Err(OptimizeError::Invalid(format!(
                    "alpha must be between 0 and 1, got {}",
                    d.alpha
                )));
            }
            if d.epochs == Some(0) {
                return Err(OptimizeError::Invalid(
                    "a student needs at least one epoch".into(),
                ));
            }
        }
    }
    Ok(())
}

/// Prunes the parent's f32 weights and fine-tunes for `p.epochs` epochs (masked, so pruned
/// weights stay zero; a structured model simply trains in its smaller shape).
fn prune(
    parent: &Bundle,
    p: &PruneRecipe,
    spec: &mut TrainSpec,
    data: &Prepared,
    threads: usize,
    observer: &mut dyn Observer,
) -> Result<(Mlp, Option<FitResult>), OptimizeError> {
    let mlp = parent.network.to_f32();
    let (mut pruned, mask) = if p.structured {
        let (smaller, _) = prune_neurons(&mlp, p.sparsity)?;
        spec.model.hidden = smaller.layers()[..smaller.layers().len() - 1]
            .iter()
            .map(|l| l.outputs)
            .collect();
        (smaller, None)
    } else {
        let mask = magnitude_mask(&mlp, p.sparsity, p.scope)?;
        let mut masked = mlp;
        mask.apply(masked.params_mut());
        (masked, Some(mask))
    };
    if p.epochs == 0 {
        return Ok((pruned, None));
    }
    spec.epochs = p.epochs;
    let guide = Guide {
        mask: mask.as_ref().map(|m| m.keep()),
        teacher: None,
    };
    let result = fit_guided(
        pruned,
        spec,
        &data.train,
        &data.val,
        threads,
        observer,
        &guide,
    )?;
    pruned = result.mlp.clone();
    Ok((pruned, Some(result)))
}

/// Trains the student on the teacher's soft targets, and the same student from scratch (same
/// epochs and seed) for the report.
fn distill(
    parent: &Bundle,
    d: &DistillRecipe,
    spec: &mut TrainSpec,
    data: &Prepared,
    threads: usize,
    observer: &mut dyn Observer,
) -> Result<(FitResult, Mlp), OptimizeError> {
    let teacher = &parent.network;
    spec.model.hidden = d.hidden.clone();
    spec.epochs = d.epochs.unwrap_or(spec.epochs);
    spec.seed = d.seed.unwrap_or(spec.seed);
    aiaas_train::validate(spec)?;
    let layers = stack(
        teacher.inputs(),
        &d.hidden,
        teacher.outputs(),
        spec.model.activation,
    );
    let student = Mlp::new(layers, spec.seed)?;
    let logits = teacher.predict(&data.train.x, data.train.rows, threads);
    let guide = Guide {
        mask: None,
        teacher: Some(Teacher {
            logits: &logits,
            temperature: d.temperature,
            alpha: d.alpha,
        }),
    };
    let distilled = fit_guided(
        student.clone(),
        spec,
        &data.train,
        &data.val,
        threads,
        observer,
        &guide,
    )?;
    stopped(&distilled)?;
    let scratch = fit(
        student,
        spec,
        &data.train,
        &data.val,
        threads,
        &mut Silent,
        None,
    )?;
    Ok((distilled, scratch.mlp))
}

/// A run the observer cancelled or suspended yields no variant.
fn stopped(result: &FitResult) -> Result<(), OptimizeError> {
    match result.stop {
        StopReason::Cancelled => Err(OptimizeError::Cancelled),
        StopReason::Suspended => Err(OptimizeError::Suspended),
        StopReason::Completed | StopReason::EarlyStopped => Ok(()),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
