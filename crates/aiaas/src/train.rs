//! `aiaas train`: dataset -> trained model -> bundle on disk, with progress and a report.

use crate::cli::{ScheduleArg, TrainArgs};
use crate::report;
use aiaas_artifact::{Bundle, DatasetRef};
use aiaas_train::{EpochProgress, Observer};
use aiaas_types::{Schedule, SplitSpec, TrainOptions};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Instant;

pub fn run(args: TrainArgs, threads: usize) -> anyhow::Result<()> {
    // An empty AIAAS_URL counts as unset.
    if args.server.as_deref().is_some_and(|s| !s.trim().is_empty()) {
        return crate::client::train::run(args);
    }
    if args.name.is_some() {
        anyhow::bail!(
            "--name names the model on a server; pass --server URL (or set AIAAS_URL) to train there, \
             or --out DIR to choose where the local bundle goes"
        );
    }
    let options = options(&args)?;
    let split = SplitSpec {
        val_fraction: args.val_split,
        test_fraction: args.test_split,
        seed: args.seed,
    };
    let ds = aiaas_data::load(
        &args.data,
        args.target.as_deref(),
        args.task.map(Into::into),
    )?;
    let spec = aiaas_train::resolve(&options, &ds)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("models").join(&ds.name));

    let started = Instant::now();
    let mut progress = Progress::new(spec.epochs);
    let Some(trained) = aiaas_train::train(&ds, &spec, &split, threads, &mut progress, None)?
    else {
        unreachable!("the CLI's observer never suspends");
    };
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();

    let dataset = DatasetRef {
        name: ds.name.clone(),
        digest: ds.digest.clone(),
        rows: ds.rows,
    };
    Bundle::from_trained(&trained, &ds.name, dataset, None)
        .write(&out)
        .with_context(|| format!("writing the bundle to {}", out.display()))?;
    if args.json {
        println!("{}", report::train_json(&trained, &out, seconds));
    } else {
        report::print_train(&ds, &trained, &out, seconds);
    }
    Ok(())
}

/// The user's flags as training options; the rest is filled in by `aiaas_train::resolve`.
pub(crate) fn options(args: &TrainArgs) -> anyhow::Result<TrainOptions> {
    let epochs = args.epochs;
    let schedule = args.schedule.map(|s| match s {
        ScheduleArg::Constant => Schedule::Constant,
        ScheduleArg::Step => Schedule::Step {
            step_size: args.step_size.unwrap_or(30),
            gamma: args.gamma.unwrap_or(0.1),
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
        model: args.model.map(Into::into),
        hidden: args.hidden.clone(),
        activation: args.activation.map(Into::into),
        loss: args.loss.map(Into::into),
        optimizer: args.optimizer.map(Into::into),
        lr: args.lr,
        momentum: args.momentum,
        nesterov: args.nesterov.then_some(true),
        weight_decay: args.weight_decay,
        schedule,
        batch_size: args.batch_size,
        epochs,
        patience: args.patience,
        restore_best: args.no_restore_best.then_some(false),
        seed: Some(args.seed),
    };
    Ok(options)
}

/// Progress bar on standard error (drawn only on a terminal).
pub(crate) struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub(crate) fn new(epochs: usize) -> Self {
        let bar = ProgressBar::new(epochs as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {msg}")
                .expect("static template"),
        );
        Progress { bar }
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Observer for Progress {
    fn on_epoch(&mut self, p: &EpochProgress) {
        self.bar.set_position(p.epoch as u64);
        let val = match (p.val_loss, p.val_metric) {
            (Some(l), Some(m)) => format!("  val loss {l:.4}  val metric {m:.4}"),
            _ => String::new(),
        };
        self.bar
            .set_message(format!("train loss {:.4}{val}", p.train_loss));
    }
}
