//! The training report of a local `train`: the data and model in a few lines, metrics per
//! split, the baseline and the diagnosis; and the JSON form of the same (`--json`).

use super::metrics::print_metrics;
use aiaas_data::Dataset;
use aiaas_train::Trained;
use serde_json::json;
use std::path::Path;

/// The report as one JSON object, with where the bundle went and how long training took.
pub fn train_json(t: &Trained, bundle: &Path, seconds: f64) -> serde_json::Value {
    json!({
        "task": t.schema.task(),
        "model": t.spec.model,
        "train": t.metrics.train,
        "val": t.metrics.val,
        "test": t.metrics.test,
        "baseline": t.baseline,
        "diagnosis": t.diagnosis,
        "epochs_run": t.history.len(),
        "best_epoch": t.best_epoch,
        "stop": t.stop,
        "rows": t.rows,
        "seconds": seconds,
        "spec": t.spec,
        "bundle": bundle,
    })
}

/// The report as text on standard output.
pub fn print_train(ds: &Dataset, t: &Trained, bundle: &Path, seconds: f64) {
    let arch: Vec<String> = std::iter::once(t.mlp.inputs())
        .chain(t.mlp.layers().iter().map(|l| l.outputs))
        .map(|n| n.to_string())
        .collect();
    let o = &t.spec.optimizer;
    println!(
        "{}: {} rows ({} train, {} val, {} test), {} -> {}",
        ds.name,
        ds.rows,
        t.rows.train,
        t.rows.val,
        t.rows.test,
        t.schema.task(),
        t.schema.target.name()
    );
    println!(
        "model {} {} ({}), {} loss, {} lr {} batch {}, seed {}",
        name(&t.spec.model.kind),
        arch.join("-"),
        name(&t.spec.model.activation),
        name(&t.spec.loss),
        name(&o.kind),
        o.lr,
        t.spec.batch_size,
        t.spec.seed
    );
    println!(
        "{} epochs in {seconds:.2} s ({}), weights of epoch {}",
        t.history.len(),
        name(&t.stop).replace('_', " "),
        t.best_epoch
    );
    println!();
    let mut rows = vec![("train", &t.metrics.train)];
    if let Some(m) = &t.metrics.val {
        rows.push(("val", m));
    }
    if let Some(m) = &t.metrics.test {
        rows.push(("test", m));
    }
    print_metrics(&t.schema, &rows);
    match &t.baseline {
        aiaas_train::Baseline::Majority { accuracy } => {
            println!("baseline (majority class) accuracy {accuracy:.4}")
        }
        aiaas_train::Baseline::Mean(m) => println!(
            "baseline (mean) mae {:.4} rmse {:.4} r2 {:.4}",
            m.mae, m.rmse, m.r2
        ),
    }
    println!("diagnosis: {}", t.diagnosis.summary);
    println!("bundle: {}", bundle.display());
}

/// The name a value has in JSON and on the command line (`cross_entropy`, `early_stopped`).
fn name(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
