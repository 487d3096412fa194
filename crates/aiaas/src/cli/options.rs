//! From flags to the request types of the library crates: `aiaas train`'s flags as
//! `TrainOptions`, `aiaas optimize`'s as a `Recipe`. A local run and a job on a server are asked
//! for with the same values.

use super::{OptimizeCommon, OptimizeMethod, ScheduleArg, TrainArgs};
use aiaas_types::{DistillRecipe, PruneRecipe, QuantizeRecipe, Recipe, Schedule, TrainOptions};

impl TrainArgs {
    /// The user's flags as training options; the rest is filled in by `aiaas_train::resolve`.
    pub fn options(&self) -> anyhow::Result<TrainOptions> {
        let epochs = self.epochs;
        let schedule = self.schedule.map(|s| match s {
            ScheduleArg::Constant => Schedule::Constant,
            ScheduleArg::Step => Schedule::Step {
                step_size: self.step_size.unwrap_or(30),
                gamma: self.gamma.unwrap_or(0.1),
            },
            ScheduleArg::Cosine => Schedule::Cosine {
                t_max: epochs.unwrap_or(aiaas_train::DEFAULT_EPOCHS),
                eta_min: 0.0,
            },
        });
        if let Some(Schedule::Step { step_size: 0, .. }) = schedule {
            anyhow::bail!("--step-size must be at least 1");
        }
        let options = TrainOptions {
            model: self.model.map(Into::into),
            hidden: self.hidden.clone(),
            activation: self.activation.map(Into::into),
            loss: self.loss.map(Into::into),
            optimizer: self.optimizer.map(Into::into),
            lr: self.lr,
            momentum: self.momentum,
            nesterov: self.nesterov.then_some(true),
            weight_decay: self.weight_decay,
            c: self.c,
            tolerance: self.tolerance,
            schedule,
            batch_size: self.batch_size,
            epochs,
            patience: self.patience,
            restore_best: self.no_restore_best.then_some(false),
            seed: Some(self.seed),
        };
        Ok(options)
    }
}

impl OptimizeMethod {
    /// The recipe the command line asks for, and the options every method shares.
    pub fn into_recipe(self) -> (OptimizeCommon, Recipe) {
        match self {
            OptimizeMethod::Prune {
                common,
                sparsity,
                structured,
                scope,
                epochs,
            } => (
                common,
                Recipe::Prune(PruneRecipe {
                    sparsity,
                    structured,
                    scope: scope.into(),
                    epochs,
                }),
            ),
            OptimizeMethod::Quantize { common, scheme } => (
                common,
                Recipe::Quantize(QuantizeRecipe {
                    scheme: scheme.into(),
                }),
            ),
            OptimizeMethod::Distill {
                common,
                hidden,
                temperature,
                alpha,
                epochs,
                seed,
            } => (
                common,
                Recipe::Distill(DistillRecipe {
                    hidden,
                    temperature,
                    alpha,
                    epochs,
                    seed,
                }),
            ),
        }
    }
}
