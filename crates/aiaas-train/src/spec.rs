//! Checks that a training spec makes sense, alone and for a given dataset, before any work is
//! done; every message says what to change.

use crate::TrainError;
use aiaas_data::Dataset;
use aiaas_engine::{param_count, stack};
use aiaas_types::{
    Activation, LossKind, ModelKind, ModelSpec, OptimizerKind, OptimizerSpec, Schedule, Task,
    TrainOptions, TrainSpec,
};

/// Most epochs a run may ask for.
pub const MAX_EPOCHS: usize = 1_000_000;
pub use aiaas_types::{MAX_HIDDEN_WIDTH, MAX_PARAMETERS};

/// Validate the parts of `spec` that do not depend on the data.
pub fn validate(spec: &TrainSpec) -> Result<(), TrainError> {
    let o = &spec.optimizer;
    let bad = |m: String| Err(TrainError::InvalidSpec(m));
    if spec.epochs > MAX_EPOCHS {
        return bad(format!("epochs is {}; at most {MAX_EPOCHS}", spec.epochs));
    }
    if let Some(&width) = spec.model.hidden.iter().find(|&&w| w > MAX_HIDDEN_WIDTH) {
        return bad(format!(
            "a hidden layer of {width} units; at most {MAX_HIDDEN_WIDTH}"
        ));
    }
    match spec.schedule {
        Schedule::Constant => {}
        Schedule::Step { step_size, gamma } => {
            if step_size == 0 {
                return bad("the step schedule's step_size must be at least 1".into());
            }
            if !(gamma.is_finite() && gamma > 0.0 && gamma <= 1.0) {
                return bad(format!(
                    "the step schedule's gamma must be in (0, 1], got {gamma}"
                ));
            }
        }
        Schedule::Cosine { t_max, eta_min } => {
            if t_max == 0 {
                return bad("the cosine schedule's t_max must be at least 1".into());
            }
            if !(eta_min.is_finite() && eta_min >= 0.0 && eta_min <= o.lr) {
                return bad(format!(
                    "the cosine schedule's eta_min must be in [0, lr], got {eta_min}"
                ));
            }
        }
    }
    if !(o.lr.is_finite() && o.lr > 0.0) {
        return bad(format!(
            "learning rate must be a positive number, got {}",
            o.lr
        ));
    }
    if spec.batch_size == 0 {
        return bad("batch size must be at least 1".into());
    }
    if spec.epochs == 0 {
        return bad("epochs must be at least 1".into());
    }
    if !(0.0..1.0).contains(&o.momentum) {
        return bad(format!("momentum must be in [0, 1), got {}", o.momentum));
    }
    if o.nesterov && (o.momentum == 0.0 || o.dampening != 0.0) {
        return bad("nesterov needs a momentum above 0 and no dampening".into());
    }
    if o.momentum != 0.0 && !matches!(o.kind, OptimizerKind::Sgd | OptimizerKind::Gd) {
        return bad("momentum applies to sgd and gd only; adam and adamw use their betas".into());
    }
    if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
        return bad(format!(
            "weight decay must be 0 or more, got {}",
            o.weight_decay
        ));
    }
    if !(0.0..1.0).contains(&o.beta1) || !(0.0..1.0).contains(&o.beta2) {
        return bad(format!(
            "betas must be in [0, 1), got ({}, {})",
            o.beta1, o.beta2
        ));
    }
    if !(o.eps.is_finite() && o.eps > 0.0) {
        return bad(format!("eps must be positive, got {}", o.eps));
    }
    validate_lbfgs(spec)?;
    let m = &spec.model;
    match m.kind {
        ModelKind::Mlp if m.hidden.is_empty() => {
            return bad("an mlp needs hidden layer sizes, e.g. --hidden 64,32".into());
        }
        ModelKind::Linear | ModelKind::Logistic if !m.hidden.is_empty() => {
            return bad(
                format!("a {:?} model has no hidden layers; use --model mlp", m.kind)
                    .to_lowercase(),
            );
        }
        _ => {}
    }
    if m.hidden.contains(&0) {
        return bad("hidden layer sizes must be at least 1".into());
    }
    Ok(())
}

/// The L-BFGS settings: sensible, and asked for only with L-BFGS.
fn validate_lbfgs(spec: &TrainSpec) -> Result<(), TrainError> {
    let o = &spec.optimizer;
    let bad = |m: String| Err(TrainError::InvalidSpec(m));
    if o.kind != OptimizerKind::Lbfgs {
        if o.c.is_some() {
            return bad(format!(
                "C sets the L2 penalty of lbfgs; for {} use weight_decay",
                kind_name(o.kind)
            ));
        }
        return Ok(());
    }
    if let Some(c) = o.c {
        if !(c.is_finite() && c > 0.0) {
            return bad(format!("C must be a positive number, got {c}"));
        }
        if o.weight_decay != 0.0 {
            return bad("give the L2 penalty as weight_decay or as C, not both".into());
        }
    }
    if o.history_size == 0 {
        return bad("lbfgs needs a history of at least 1 pair".into());
    }
    if !(o.tolerance_grad.is_finite() && o.tolerance_grad >= 0.0) {
        return bad(format!(
            "the tolerance must be 0 or more, got {}",
            o.tolerance_grad
        ));
    }
    if !(o.tolerance_change.is_finite() && o.tolerance_change >= 0.0) {
        return bad(format!(
            "tolerance_change must be 0 or more, got {}",
            o.tolerance_change
        ));
    }
    if spec.schedule != Schedule::Constant {
        return bad(
            "lbfgs chooses each step by its line search; it takes no learning-rate schedule".into(),
        );
    }
    Ok(())
}

/// An optimizer's name as users write it.
fn kind_name(kind: OptimizerKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Most floats L-BFGS may keep in its curvature pairs (1 GiB).
const MAX_LBFGS_HISTORY_FLOATS: usize = 1 << 28;

/// Validate `spec` for `ds`: model, loss and task must agree.
pub fn check_against(spec: &TrainSpec, ds: &Dataset) -> Result<(), TrainError> {
    validate(spec)?;
    let task = ds.task();
    let bad = |m: String| Err(TrainError::InvalidSpec(m));
    let layers = stack(
        ds.width(),
        &spec.model.hidden,
        ds.num_classes(),
        spec.model.activation,
    );
    let params = param_count(&layers);
    if params > MAX_PARAMETERS {
        return bad(format!(
            "this model would have {params} parameters for {} inputs; at most {MAX_PARAMETERS}: \
             use smaller hidden layers",
            ds.width()
        ));
    }
    let o = &spec.optimizer;
    if o.kind == OptimizerKind::Lbfgs
        && params.saturating_mul(2 * o.history_size) > MAX_LBFGS_HISTORY_FLOATS
    {
        return bad(format!(
            "lbfgs would keep {} pairs of {params} parameters ({} MiB); lower the history \
             (at most {} pairs for this model) or use adam",
            o.history_size,
            params.saturating_mul(8 * o.history_size) >> 20,
            MAX_LBFGS_HISTORY_FLOATS / (2 * params.max(1))
        ));
    }
    match (spec.model.kind, task) {
        (ModelKind::Linear, Task::Classification) => {
            return bad(
                "a linear model is for regression; use --model logistic or mlp for classification"
                    .into(),
            );
        }
        (ModelKind::Logistic, Task::Regression) => {
            return bad(
                "a logistic model is for classification; use --model linear or mlp for regression"
                    .into(),
            );
        }
        _ => {}
    }
    match (spec.loss, task) {
        (LossKind::Mse, Task::Regression) | (LossKind::CrossEntropy, Task::Classification) => {
            Ok(())
        }
        (LossKind::Bce, Task::Classification) if ds.num_classes() == 2 => Ok(()),
        (LossKind::Bce, Task::Classification) => bad(format!(
            "bce is for two classes, the target has {}; use cross_entropy",
            ds.num_classes()
        )),
        (loss, task) => bad(format!("loss {loss:?} does not fit a {task} target").to_lowercase()),
    }
}

/// The loss that fits `ds`: mse for regression, bce for two classes, else cross-entropy.
pub fn default_loss(ds: &Dataset) -> LossKind {
    match ds.task() {
        // (A dataset's task is never `Other`.)
        Task::Regression | Task::Other => LossKind::Mse,
        Task::Classification if ds.num_classes() == 2 => LossKind::Bce,
        Task::Classification => LossKind::CrossEntropy,
    }
}

/// Defaults for what a user leaves out.
pub const DEFAULT_HIDDEN: &[usize] = &[64];
pub const DEFAULT_BATCH_SIZE: usize = 32;
pub const DEFAULT_EPOCHS: usize = 200;
/// Most L-BFGS iterations by default: enough to reach torch's tolerances on the bundled samples.
pub const DEFAULT_LBFGS_ITERATIONS: usize = 1000;
pub const DEFAULT_PATIENCE: usize = 10;
pub const DEFAULT_SEED: u64 = 42;

/// Fill in everything `options` leaves out, for `ds`, and validate the result.
///
/// The model defaults to an MLP with one hidden layer of 64 ReLU units; the optimizer to
/// L-BFGS for linear and logistic models (run to the optimum: no early stopping, and a logistic
/// model's L2 penalty is scikit-learn's default `C = 1`) and to Adam otherwise, each with
/// PyTorch's defaults; the loss to the one that fits the target.
pub fn resolve(options: &TrainOptions, ds: &Dataset) -> Result<TrainSpec, TrainError> {
    let kind = options.model.unwrap_or(ModelKind::Mlp);
    let hidden = match (kind, &options.hidden) {
        (_, Some(h)) => h.clone(),
        (ModelKind::Mlp, None) => DEFAULT_HIDDEN.to_vec(),
        _ => Vec::new(),
    };
    let optimizer_kind = options.optimizer_kind();
    let lbfgs = optimizer_kind == OptimizerKind::Lbfgs;
    let mut optimizer = OptimizerSpec::defaults(optimizer_kind);
    if let Some(lr) = options.lr {
        optimizer.lr = lr;
    }
    if let Some(m) = options.momentum {
        optimizer.momentum = m;
    }
    if let Some(n) = options.nesterov {
        optimizer.nesterov = n;
    }
    if let Some(wd) = options.weight_decay {
        optimizer.weight_decay = wd;
    }
    optimizer.c = match (options.c, options.weight_decay) {
        (Some(c), _) => Some(c),
        (None, None) if lbfgs && kind == ModelKind::Logistic => Some(1.0),
        (None, _) => None,
    };
    if let Some(tolerance) = options.tolerance {
        if !lbfgs {
            return Err(TrainError::InvalidSpec(
                "a tolerance applies to lbfgs, which runs to the optimum; other optimizers stop \
                 after their epochs or by early stopping"
                    .into(),
            ));
        }
        optimizer.tolerance_grad = tolerance;
    }
    let (default_epochs, default_patience) = match lbfgs {
        true => (DEFAULT_LBFGS_ITERATIONS, 0),
        false => (DEFAULT_EPOCHS, DEFAULT_PATIENCE),
    };
    let epochs = options.epochs.unwrap_or(default_epochs);
    let spec = TrainSpec {
        model: ModelSpec {
            kind,
            hidden,
            activation: options.activation.unwrap_or(Activation::Relu),
        },
        loss: options.loss.unwrap_or_else(|| default_loss(ds)),
        optimizer,
        schedule: options.schedule.clone().unwrap_or(Schedule::Constant),
        batch_size: options.batch_size.unwrap_or(DEFAULT_BATCH_SIZE),
        epochs,
        patience: match options.patience.unwrap_or(default_patience) {
            0 => None,
            p => Some(p),
        },
        restore_best: options.restore_best.unwrap_or(!lbfgs),
        seed: options.seed.unwrap_or(DEFAULT_SEED),
    };
    check_against(&spec, ds)?;
    Ok(spec)
}
