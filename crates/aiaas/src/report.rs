//! What the commands print: the training report, metric tables, confusion matrices, and the
//! JSON form of the same.

use aiaas_data::{Dataset, SchemaFrame};
use aiaas_stats::{ClassificationMetrics, Metrics};
use aiaas_train::Trained;
use aiaas_types::{Schema, TargetSchema};
use serde_json::json;
use std::path::Path;

/// New rows for a trained schema from a CSV path, or from a bundled sample's CSV by name.
pub fn read_for_schema(
    data: &str,
    schema: &Schema,
    require_target: bool,
) -> anyhow::Result<SchemaFrame> {
    let path = Path::new(data);
    let frame = match aiaas_data::samples::embedded_csv(data) {
        Some(bytes) if !path.exists() => aiaas_data::read_csv_bytes_for_schema(
            &format!("{data}.csv"),
            bytes,
            schema,
            require_target,
        )?,
        _ => aiaas_data::read_csv_for_schema(path, schema, require_target)?,
    };
    Ok(frame)
}

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

/// A table of metrics per named part, then (classification) the confusion matrix and per-class
/// figures of the last part.
pub fn print_metrics(schema: &Schema, parts: &[(&str, &Metrics)]) {
    let labels = match &schema.target {
        TargetSchema::Classification { labels, .. } => labels.as_slice(),
        TargetSchema::Regression { .. } => &[],
    };
    print_metrics_with_labels(labels, parts);
}

/// [`print_metrics`] for classes named `labels`.
pub fn print_metrics_with_labels(labels: &[String], parts: &[(&str, &Metrics)]) {
    match parts.first().map(|p| p.1) {
        Some(Metrics::Classification(_)) => {
            println!(
                "{:<8}{:>10}{:>11}{:>9}{:>9}{:>10}",
                "", "accuracy", "precision", "recall", "f1", "log_loss"
            );
        }
        Some(Metrics::Regression(_)) => {
            println!(
                "{:<8}{:>12}{:>12}{:>12}{:>9}",
                "", "mae", "rmse", "mse", "r2"
            )
        }
        None => return,
    }
    for (name, m) in parts {
        match m {
            Metrics::Classification(c) => println!(
                "{name:<8}{:>10.4}{:>11.4}{:>9.4}{:>9.4}{:>10.4}",
                c.accuracy,
                c.precision_macro,
                c.recall_macro,
                c.f1_macro,
                c.log_loss.unwrap_or(f64::NAN)
            ),
            Metrics::Regression(r) => println!(
                "{name:<8}{:>12.4}{:>12.4}{:>12.4}{:>9.4}",
                r.mae, r.rmse, r.mse, r.r2
            ),
        }
    }
    println!("(precision, recall and f1 are macro averages)");
    if let Some((name, Metrics::Classification(c))) = parts.last()
        && !labels.is_empty()
    {
        println!();
        print_classes(name, c, labels);
    }
}

fn print_classes(part: &str, m: &ClassificationMetrics, labels: &[String]) {
    let w = labels.iter().map(String::len).max().unwrap_or(1).max(5) + 2;
    println!("confusion matrix ({part}; rows = true class, columns = predicted):");
    print!("{:w$}", "");
    for l in labels {
        print!("{l:>w$}");
    }
    println!();
    for (l, row) in labels.iter().zip(m.confusion_matrix.rows()) {
        print!("{l:>w$}");
        for n in row {
            print!("{n:>w$}");
        }
        println!();
    }
    println!();
    println!(
        "{:>w$}{:>11}{:>9}{:>9}{:>9}",
        "class", "precision", "recall", "f1", "support"
    );
    for (l, c) in labels.iter().zip(&m.per_class) {
        println!(
            "{l:>w$}{:>11.4}{:>9.4}{:>9.4}{:>9}",
            c.precision, c.recall, c.f1, c.support
        );
    }
    println!();
}
