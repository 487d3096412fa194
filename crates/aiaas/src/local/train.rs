//! `aiaas train`: dataset -> trained model -> bundle on disk, with progress and a report.

use crate::cli::TrainArgs;
use crate::output::progress::Progress;
use crate::output::training;
use aiaas_artifact::DatasetRef;
use aiaas_types::SplitSpec;
use anyhow::Context;
use std::path::PathBuf;
use std::time::Instant;

pub fn run(args: &TrainArgs, threads: usize) -> anyhow::Result<()> {
    if args.name.is_some() {
        anyhow::bail!(
            "--name names the model on a server; pass --server URL (or set AIAAS_URL) to train there, \
             or --out DIR to choose where the local bundle goes"
        );
    }
    let options = args.options()?;
    let split = SplitSpec {
        val_fraction: args
            .val_split
            .unwrap_or_else(|| options.default_val_fraction()),
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
    trained
        .to_bundle(&ds.name, dataset, None)
        .write(&out)
        .with_context(|| format!("writing the bundle to {}", out.display()))?;
    let report = trained.report(&ds.name, ds.rows);
    if args.json {
        println!("{}", training::train_json(&report, &out, seconds));
    } else {
        training::print_train(
            &report,
            Some(seconds),
            &format!("bundle: {}", out.display()),
        );
    }
    Ok(())
}
