//! From a parent bundle and a [`Recipe`] to a variant bundle with its report: build the variant
//! (prune and fine-tune, quantize, or distill), store it, load it back exactly as serving will,
//! measure parent and variant on the parent's test split, and apply the guard.

use crate::OptimizeError;
use crate::measure::{figures, guard};
use crate::prune::{magnitude_mask, prune_neurons};
use aiaas_artifact::{Bundle, Layout, WeightDtype, WeightsInfo, decode_weights, encode_weights};
use aiaas_data::Dataset;
use aiaas_engine::{Mlp, Network, QuantizedMlp, stack};
use aiaas_stats::Metrics;
use aiaas_train::{
    FitResult, Guide, Observer, Prepared, Silent, StopReason, Teacher, evaluate, fit, fit_guided,
    prepare,
};
use aiaas_types::{
    DEFAULT_MAX_ACCURACY_DROP, DEFAULT_MAX_RMSE_RISE, DistillRecipe, LossKind, OptimizeReport,
    PruneRecipe, QuantScheme, Recipe, Task, TrainSpec, VariantFigures,
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
    let max_drop = max_drop_or_default(manifest.task, max_drop)?;
    check_recipe(parent, recipe)?;
    let data = parent_split(parent, parent_ref, ds)?;

    let mut spec = manifest.lineage.spec.clone();
    let Built {
        network,
        dtype,
        layout,
        trained,
        scratch,
    } = build(parent, recipe, &mut spec, &data, threads, observer)?;
    let mut bundle = Bundle::new(manifest.clone(), network);
    bundle.manifest.weights.dtype = if bundle.network.is_quantized() {
        WeightDtype::Int8
    } else {
        dtype
    };
    bundle.manifest.weights.layout = layout;

    let measured = store_and_measure(parent, &bundle, scratch, &data, threads)?;
    let (accepted, verdict) = guard(manifest.task, &measured.parent, &measured.variant, max_drop);
    let report = OptimizeReport {
        recipe: recipe.clone(),
        parent_ref: parent_ref.to_string(),
        parent: measured.parent,
        variant: measured.variant,
        scratch: measured.scratch,
        max_drop,
        accepted,
        verdict,
    };
    record_lineage(
        &mut bundle,
        parent_ref,
        spec,
        trained.as_ref(),
        measured.metrics,
        &report,
    );
    bundle.network = measured.stored;
    Ok(Variant { bundle, report })
}

/// `max_drop`, or the task's default when not given; refused unless it is a number >= 0.
fn max_drop_or_default(task: Task, max_drop: Option<f64>) -> Result<f64, OptimizeError> {
    let max_drop = max_drop.unwrap_or(match task {
        Task::Classification => DEFAULT_MAX_ACCURACY_DROP,
        Task::Regression | Task::Other => DEFAULT_MAX_RMSE_RISE,
    });
    if !(max_drop.is_finite() && max_drop >= 0.0) {
        return Err(OptimizeError::Invalid(format!(
            "max_drop must be a number >= 0, got {max_drop}"
        )));
    }
    Ok(max_drop)
}

/// `ds` split as the parent's training split it and encoded with the parent's schema. Refused
/// unless `ds` is the parent's dataset and the split has test rows to compare on.
fn parent_split(
    parent: &Bundle,
    parent_ref: &str,
    ds: &Dataset,
) -> Result<Prepared, OptimizeError> {
    let manifest = &parent.manifest;
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
    Ok(data)
}

/// What a recipe made of the parent, before it is stored and measured.
struct Built {
    network: Network,
    /// How to store the weights (an int8 network is stored as int8 whatever this says).
    dtype: WeightDtype,
    layout: Layout,
    /// The fine-tuning or distillation run, when the recipe trains.
    trained: Option<FitResult>,
    /// For distillation: the same student trained from scratch, for the report.
    scratch: Option<Mlp>,
}

/// Applies `recipe` to the parent: prune (and fine-tune), quantize, or distill. A run the
/// observer cancelled or suspended yields no variant.
fn build(
    parent: &Bundle,
    recipe: &Recipe,
    spec: &mut TrainSpec,
    data: &Prepared,
    threads: usize,
    observer: &mut dyn Observer,
) -> Result<Built, OptimizeError> {
    let untrained = |network: Network, dtype: WeightDtype| Built {
        network,
        dtype,
        layout: Layout::Dense,
        trained: None,
        scratch: None,
    };
    let built = match recipe {
        Recipe::Prune(p) => {
            let (mlp, trained) = prune(parent, p, spec, data, threads, observer)?;
            let layout = if !p.structured && sparse_pays(&mlp) {
                Layout::Sparse
            } else {
                Layout::Dense
            };
            Built {
                network: mlp.into(),
                dtype: WeightDtype::F32,
                layout,
                trained,
                scratch: None,
            }
        }
        Recipe::Quantize(q) => match q.scheme {
            QuantScheme::Int8 => untrained(
                QuantizedMlp::from_mlp(&parent.network.to_f32()).into(),
                WeightDtype::F32,
            ),
            QuantScheme::F16 => untrained(parent.network.clone(), WeightDtype::F16),
        },
        Recipe::Distill(d) => {
            let (student, from_scratch) = distill(parent, d, spec, data, threads, observer)?;
            Built {
                network: student.mlp.clone().into(),
                dtype: WeightDtype::F32,
                layout: Layout::Dense,
                trained: Some(student),
                scratch: Some(from_scratch),
            }
        }
    };
    if let Some(t) = &built.trained {
        stopped(t)?;
    }
    Ok(built)
}

/// Whether sparse storage is smaller for `mlp`: it costs 8 bytes per kept weight against 4
/// dense, so only when fewer than half the weights remain.
fn sparse_pays(mlp: &Mlp) -> bool {
    let weights: usize = mlp.layers().iter().map(|l| l.inputs * l.outputs).sum();
    let kept = (0..mlp.layers().len())
        .flat_map(|l| mlp.weight(l))
        .filter(|&&w| w != 0.0)
        .count();
    kept * 2 < weights
}

/// The figures of a report, and the variant as it was measured.
struct Measured {
    /// The variant as it loads back from its stored bytes, as serving will run it.
    stored: Network,
    parent: VariantFigures,
    variant: VariantFigures,
    scratch: Option<VariantFigures>,
    /// The variant's metrics on the parent's test split.
    metrics: Metrics,
}

/// Stores `variant`, loads it back exactly as serving will (f16 rounding included), and
/// measures it, the parent and the from-scratch student (if any) on the parent's test split.
fn store_and_measure(
    parent: &Bundle,
    variant: &Bundle,
    scratch: Option<Mlp>,
    data: &Prepared,
    threads: usize,
) -> Result<Measured, OptimizeError> {
    let weights = encode_weights(&variant.network, &variant.manifest.weights)?;
    let stored = decode_weights(
        &variant.manifest.layers,
        &variant.manifest.weights,
        &weights,
    )?;
    let parent_size = encode_weights(&parent.network, &parent.manifest.weights)?.len() as u64;

    let schema = &parent.manifest.schema;
    let (test_x, truth) = (&data.test.x, &data.test_truth);
    let measure = |network: &Network, size: u64| {
        let metrics = evaluate(network, schema, test_x, truth, threads);
        (figures(network, size, &metrics, test_x), metrics)
    };
    let (parent_figures, _) = measure(&parent.network, parent_size);
    let (variant_figures, metrics) = measure(&stored, weights.len() as u64);
    let scratch = match scratch {
        Some(mlp) => {
            let network = Network::from(mlp);
            let size = encode_weights(&network, &WeightsInfo::default())?.len() as u64;
            Some(measure(&network, size).0)
        }
        None => None,
    };
    Ok(Measured {
        stored,
        parent: parent_figures,
        variant: variant_figures,
        scratch,
        metrics,
    })
}

/// Writes the variant's history into its manifest: the parent, the spec it trained with, how
/// its training went, its metrics where the report compares it, and the report.
fn record_lineage(
    bundle: &mut Bundle,
    parent_ref: &str,
    spec: TrainSpec,
    trained: Option<&FitResult>,
    metrics: Metrics,
    report: &OptimizeReport,
) {
    let lineage = &mut bundle.manifest.lineage;
    lineage.parent = Some(parent_ref.to_string());
    lineage.spec = spec;
    if let Some(t) = trained {
        lineage.epochs_run = t.history.len();
        lineage.best_epoch = t.best_epoch;
    }
    // The variant is scored where the report compares it: on the parent's test split.
    lineage.metrics = BTreeMap::from([("test".to_string(), metrics)]);
    lineage.optimization = Some(report.clone());
    lineage.created_at_ms = now_ms();
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
        StopReason::Completed | StopReason::Converged | StopReason::EarlyStopped => Ok(()),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
