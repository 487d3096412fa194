//! From a dataset to a trained, evaluated model: split, fit the schema on the training rows,
//! train, score every split, compare with the baseline, diagnose and profile. A suspended run
//! skips everything after training, so that a shutdown is quick. [`prepare`] gives the same
//! split encoded with a given (parent model's) schema, for models derived from a trained one.

use crate::TrainError;
use crate::checkpoint::Checkpoint;
use crate::diagnosis::{Diagnosis, diagnose};
use crate::evaluate::{Baseline, evaluate};
use crate::fit::fit;
use crate::fit_common::{Convergence, FitResult, Part};
use crate::observer::{Observer, StopReason};
use crate::run_state::EpochProgress;
use crate::spec::{check_against, resolve};
use aiaas_data::{
    Dataset, FeatureProfile, Split, Target, encode_on, fit_schema, profile, scale_target, split,
};
use aiaas_engine::{Mlp, stack};
use aiaas_stats::Metrics;
use aiaas_types::{
    Activation, FeatureKind, LossKind, ModelKind, Schema, SplitSpec, TargetSchema, Task,
    TrainOptions, TrainSpec,
};
use serde::{Deserialize, Serialize};

/// Rows in each part of the split.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitRows {
    pub train: usize,
    pub val: usize,
    pub test: usize,
}

/// Metrics on each part; a part with no rows has none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitMetrics {
    pub train: Metrics,
    pub val: Option<Metrics>,
    pub test: Option<Metrics>,
}

/// A trained model with everything a report and a bundle need.
#[derive(Clone, Debug)]
pub struct Trained {
    pub mlp: Mlp,
    pub schema: Schema,
    pub spec: TrainSpec,
    pub split: SplitSpec,
    pub rows: SplitRows,
    pub history: Vec<EpochProgress>,
    pub best_epoch: usize,
    /// Why training stopped: completed, early-stopped or cancelled (a suspended run is not
    /// scored, so it has no `Trained`).
    pub stop: StopReason,
    /// How an L-BFGS fit converged; `None` for the mini-batch optimizers.
    pub convergence: Option<Convergence>,
    pub metrics: SplitMetrics,
    /// The ignore-the-inputs baseline on the test part (else the validation part, else the
    /// training part).
    pub baseline: Baseline,
    pub diagnosis: Diagnosis,
    /// Raw-value profile of every input column over the training rows.
    pub profile: Vec<FeatureProfile>,
}

/// A dataset split as [`train`] splits it and encoded with a given schema.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub train: Part,
    pub val: Part,
    pub test: Part,
    /// Test targets in the dataset's units (class index or raw value), as metrics take them.
    pub test_truth: Vec<f32>,
    pub rows: SplitRows,
}

/// Split `ds` exactly as [`train`] does and encode every part with `schema` (a trained model's,
/// not one refitted here), so that a model derived from it sees the same rows, scaled the same.
pub fn prepare(
    ds: &Dataset,
    split_spec: &SplitSpec,
    schema: &Schema,
) -> Result<Prepared, TrainError> {
    check_fits(ds, schema)?;
    let parts = split(ds, split_spec)?;
    Ok(encode_parts(ds, &parts, schema, 1))
}

/// Refuses a dataset whose rows would not mean to the model what its training rows meant.
fn check_fits(ds: &Dataset, schema: &Schema) -> Result<(), TrainError> {
    let bad = |why: String| {
        Err(TrainError::InvalidSpec(format!(
            "the dataset does not match the model's schema: {why}"
        )))
    };
    if ds.width() != schema.input_width() {
        return bad(format!(
            "its rows encode to {} inputs, the model takes {}",
            ds.width(),
            schema.input_width()
        ));
    }
    match (&ds.target, &schema.target) {
        (
            Target::Classification { labels, .. },
            TargetSchema::Classification { labels: want, .. },
        ) if labels != want => bad(format!(
            "its classes are {labels:?}, the model's are {want:?}"
        )),
        (Target::Classification { .. }, TargetSchema::Classification { .. })
        | (Target::Regression { .. }, TargetSchema::Regression { .. }) => Ok(()),
        _ => bad(format!(
            "its target is for {}, the model's for {}",
            ds.task(),
            schema.task()
        )),
    }
}

/// Every part of `parts` encoded with `schema` on `threads` threads; a regression's training
/// targets are scaled.
fn encode_parts(ds: &Dataset, parts: &Split, schema: &Schema, threads: usize) -> Prepared {
    let width = ds.width();
    let part = |rows: &[usize]| -> Part {
        Part {
            x: encode_on(schema, &ds.x, rows, width, threads),
            y: scale_target(schema, &truth(ds, rows)),
            rows: rows.len(),
        }
    };
    Prepared {
        train: part(&parts.train),
        val: part(&parts.val),
        test: part(&parts.test),
        test_truth: truth(ds, &parts.test),
        rows: SplitRows {
            train: parts.train.len(),
            val: parts.val.len(),
            test: parts.test.len(),
        },
    }
}

/// Targets of `rows` in the dataset's units (class index or raw value).
fn truth(ds: &Dataset, rows: &[usize]) -> Vec<f32> {
    rows.iter().map(|&r| ds.y[r]).collect()
}

/// Train a model on `ds` as `spec` says, on `threads` threads, from scratch or from `resume`, a
/// checkpoint of an earlier run of the same dataset, split and spec.
///
/// Returns the scored model, whose [`Trained::stop`] says why training stopped; or `None` when
/// the observer suspended the run ([`StopReason::Suspended`]): then nothing is scored, so that a
/// shutdown is quick, and the observer's last checkpoint resumes the run.
pub fn train(
    ds: &Dataset,
    spec: &TrainSpec,
    split_spec: &SplitSpec,
    threads: usize,
    observer: &mut dyn Observer,
    resume: Option<&Checkpoint>,
) -> Result<Option<Trained>, TrainError> {
    check_against(spec, ds)?;
    let parts = split(ds, split_spec)?;
    let schema = fit_schema(ds, &parts.train);
    let width = ds.width();
    let prepared = encode_parts(ds, &parts, &schema, threads);

    let outputs = match spec.loss {
        LossKind::CrossEntropy => schema.num_classes(),
        _ => 1,
    };
    let layers = stack(width, &spec.model.hidden, outputs, spec.model.activation);
    let mlp = Mlp::new(layers, spec.seed).map_err(|e| TrainError::InvalidSpec(e.to_string()))?;
    let FitResult {
        mlp,
        history,
        best_epoch,
        stop,
        convergence,
    } = fit(
        mlp,
        spec,
        &prepared.train,
        &prepared.val,
        threads,
        observer,
        resume,
    )?;
    if stop == StopReason::Suspended {
        return Ok(None);
    }

    let run = Run {
        spec: spec.clone(),
        split: split_spec.clone(),
        history,
        best_epoch,
        stop,
        convergence,
    };
    Ok(Some(scored(
        ds, &parts, schema, prepared, mlp, run, threads,
    )))
}

/// `network`, made elsewhere (an imported ONNX graph), scored on `ds` as [`train`] scores what it
/// trains (same split, metrics, baseline, diagnosis and profile), so that it is registered,
/// monitored, optimized and retrained like a model trained here.
///
/// The network takes the dataset's encoded rows as they are (its scaling is its own), ends in a
/// linear layer and has one activation for its hidden layers. For a classification it answers
/// one logit per class, output `i` being class `classes[i]`: every class of the dataset once, in
/// any order (the outputs are put in the dataset's order); for a regression, the target in its
/// own units. Its training spec, for fine-tuning, is the default one for its layers.
pub fn adopt(
    ds: &Dataset,
    network: Mlp,
    classes: Option<&[String]>,
    split_spec: &SplitSpec,
    threads: usize,
) -> Result<Trained, TrainError> {
    let bad =
        |why: String| TrainError::InvalidSpec(format!("the model does not fit the dataset: {why}"));
    if network.inputs() != ds.width() {
        return Err(bad(format!(
            "it takes {} inputs, the dataset's rows encode to {}",
            network.inputs(),
            ds.width()
        )));
    }
    let spec = spec_of(&network, ds)?;
    let network = match (&ds.target, classes) {
        (Target::Classification { labels, .. }, Some(classes)) => {
            in_class_order(network, classes, labels).map_err(bad)?
        }
        (Target::Classification { labels, .. }, None) => {
            return Err(bad(format!(
                "the dataset's target is a class ({}), and which class each of the model's {} \
                 outputs is was not said: give its labels",
                labels.join(", "),
                network.outputs()
            )));
        }
        (Target::Regression { .. }, Some(_)) => {
            return Err(bad(
                "the model answers classes, the dataset's target is a number".into(),
            ));
        }
        (Target::Regression { .. }, None) if network.outputs() != 1 => {
            return Err(bad(format!(
                "the dataset's target is one number, the model answers {} values",
                network.outputs()
            )));
        }
        (Target::Regression { .. }, None) => network,
    };
    let parts = split(ds, split_spec)?;
    let schema = unscaled(fit_schema(ds, &parts.train));
    let prepared = encode_parts(ds, &parts, &schema, threads);
    let run = Run {
        spec,
        split: split_spec.clone(),
        history: Vec::new(),
        best_epoch: 0,
        stop: StopReason::Completed,
        convergence: None,
    };
    Ok(scored(ds, &parts, schema, prepared, network, run, threads))
}

/// `network` with its outputs, of `classes`, reordered to `labels`' order.
fn in_class_order(network: Mlp, classes: &[String], labels: &[String]) -> Result<Mlp, String> {
    let mut sorted_classes = classes.to_vec();
    sorted_classes.sort();
    let mut sorted_labels = labels.to_vec();
    sorted_labels.sort();
    if classes.len() != network.outputs() || sorted_classes != sorted_labels {
        return Err(format!(
            "the model's {} outputs are the classes {}; the dataset's classes are {}",
            network.outputs(),
            classes.join(", "),
            labels.join(", ")
        ));
    }
    let order: Vec<usize> = (labels.iter())
        .map(|l| {
            classes
                .iter()
                .position(|c| c == l)
                .expect("the same classes")
        })
        .collect();
    let last = network.layers().len() - 1;
    let (weight, bias) = (network.weight(last), network.bias(last));
    let inputs = network.layers()[last].inputs;
    let mut params = network.params().to_vec();
    let start = network.weight_range(last).start;
    for (to, &from) in order.iter().enumerate() {
        params[start + to * inputs..start + (to + 1) * inputs]
            .copy_from_slice(&weight[from * inputs..(from + 1) * inputs]);
        params[start + labels.len() * inputs + to] = bias[from];
    }
    Ok(Mlp::from_params(network.layers().to_vec(), params).expect("the same layers"))
}

/// The training spec `network`'s layers would have had: the defaults for them.
fn spec_of(network: &Mlp, ds: &Dataset) -> Result<TrainSpec, TrainError> {
    let layers = network.layers();
    let (last, hidden) = layers.split_last().expect("a network has layers");
    let bad = |why: String| TrainError::InvalidSpec(format!("the model cannot be adopted: {why}"));
    if last.activation != Activation::Identity {
        return Err(bad(format!(
            "its last layer applies {:?}; a model here ends in a linear layer",
            last.activation
        )));
    }
    let activation = hidden.first().map_or(Activation::Relu, |l| l.activation);
    if hidden.iter().any(|l| l.activation != activation) {
        return Err(bad(
            "its hidden layers use different activations; a model here uses one".into(),
        ));
    }
    let kind = match (hidden.is_empty(), ds.task()) {
        (false, _) => ModelKind::Mlp,
        (true, Task::Classification) => ModelKind::Logistic,
        (true, _) => ModelKind::Linear,
    };
    let options = TrainOptions {
        model: Some(kind),
        hidden: Some(hidden.iter().map(|l| l.outputs).collect()),
        activation: Some(activation),
        loss: Some(match ds.task() {
            Task::Classification => LossKind::CrossEntropy,
            _ => LossKind::Mse,
        }),
        ..TrainOptions::default()
    };
    resolve(&options, ds)
}

/// `schema` taking every number as it is and answering the target in its own units.
fn unscaled(mut schema: Schema) -> Schema {
    for feature in &mut schema.features {
        if let FeatureKind::Numeric { mean, scale } = &mut feature.kind {
            (*mean, *scale) = (0.0, 1.0);
        }
    }
    if let TargetSchema::Regression { mean, scale, .. } = &mut schema.target {
        (*mean, *scale) = (0.0, 1.0);
    }
    schema
}

/// How a model came to be: what [`scored`] records beside the scores.
struct Run {
    spec: TrainSpec,
    split: SplitSpec,
    history: Vec<EpochProgress>,
    best_epoch: usize,
    stop: StopReason,
    convergence: Option<Convergence>,
}

/// `mlp` scored on every part of `parts` (encoded with `schema` in `prepared`), with the
/// baseline, diagnosis and training profile: what [`train`] and [`adopt`] both report.
fn scored(
    ds: &Dataset,
    parts: &Split,
    schema: Schema,
    prepared: Prepared,
    mlp: Mlp,
    run: Run,
    threads: usize,
) -> Trained {
    let score = |x: &[f32], rows: &[usize]| -> Option<Metrics> {
        (!rows.is_empty()).then(|| evaluate(&mlp, &schema, x, &truth(ds, rows), threads))
    };
    let metrics = SplitMetrics {
        train: score(&prepared.train.x, &parts.train).expect("the split keeps training rows"),
        val: score(&prepared.val.x, &parts.val),
        test: score(&prepared.test.x, &parts.test),
    };
    // The baseline on the rows the headline figure comes from: test, else validation, else
    // (nothing held out) the training rows.
    let reference = [&parts.test, &parts.val]
        .into_iter()
        .find(|rows| !rows.is_empty())
        .unwrap_or(&parts.train);
    let baseline = Baseline::of(&schema, &truth(ds, reference));
    let held_out = metrics
        .val
        .as_ref()
        .or(metrics.test.as_ref())
        .unwrap_or(&metrics.train);
    let test = metrics.test.as_ref().unwrap_or(held_out);
    let labels = match &schema.target {
        TargetSchema::Classification { labels, .. } => labels.clone(),
        TargetSchema::Regression { .. } => Vec::new(),
    };
    let diagnosis = diagnose(&metrics.train, held_out, test, &baseline, &labels);
    Trained {
        profile: profile(ds, &parts.train, threads),
        rows: prepared.rows,
        mlp,
        schema,
        spec: run.spec,
        split: run.split,
        history: run.history,
        best_epoch: run.best_epoch,
        stop: run.stop,
        convergence: run.convergence,
        metrics,
        baseline,
        diagnosis,
    }
}
