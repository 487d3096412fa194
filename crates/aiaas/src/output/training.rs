//! The training report of a local `train`: the data and model in a few lines, metrics per
//! split, the baseline and the diagnosis; and the JSON form of the same (`--json`).

use super::metrics::print_metrics_with_labels;
use aiaas_train::{LbfgsEnd, TrainReport};
use aiaas_types::OptimizerKind;
use serde_json::json;
use std::path::Path;

/// The report as one JSON object, with the model's spec under `model`, where the bundle went
/// and how long training took.
pub fn train_json(report: &TrainReport, bundle: &Path, seconds: f64) -> serde_json::Value {
    let mut json = serde_json::to_value(report).expect("a report serializes");
    json["model"] = json!(report.spec.model);
    json["seconds"] = json!(seconds);
    json["bundle"] = json!(bundle);
    json
}

/// The report as text on standard output, local or a server job's; `seconds` is how long
/// training took (when known here), `place` where the model went.
pub fn print_train(r: &TrainReport, seconds: Option<f64>, place: &str) {
    let widths: Vec<String> = r.widths.iter().map(usize::to_string).collect();
    let o = &r.spec.optimizer;
    println!(
        "{}: {} rows ({} train, {} val, {} test), {} -> {}",
        r.dataset, r.dataset_rows, r.rows.train, r.rows.val, r.rows.test, r.task, r.target
    );
    println!(
        "model {} {} ({}), {} loss, {} lr {} {}, seed {}",
        name(&r.spec.model.kind),
        widths.join("-"),
        name(&r.spec.model.activation),
        name(&r.spec.loss),
        name(&o.kind),
        o.lr,
        match o.kind {
            OptimizerKind::Gd | OptimizerKind::Lbfgs => "full batch".to_string(),
            _ => format!("batch {}", r.spec.batch_size),
        },
        r.spec.seed
    );
    let took = seconds.map_or(String::new(), |s| format!(" in {s:.2} s"));
    let stop = name(&r.stop).replace('_', " ");
    match &r.convergence {
        Some(c) => println!(
            "{} iterations{took} ({stop}{}), {} evaluations, final gradient max {:.1e} norm {:.1e}",
            c.iterations,
            c.end
                .map_or(String::new(), |e| format!(": {}", end_text(e))),
            c.evaluations,
            c.grad_max,
            c.grad_norm
        ),
        None => println!(
            "{} epochs{took} ({stop}), weights of epoch {}",
            r.epochs_run, r.best_epoch
        ),
    }
    println!();
    let mut rows = vec![("train", &r.metrics.train)];
    if let Some(m) = &r.metrics.val {
        rows.push(("val", m));
    }
    if let Some(m) = &r.metrics.test {
        rows.push(("test", m));
    }
    print_metrics_with_labels(&r.labels, &rows);
    match &r.baseline {
        aiaas_train::Baseline::Majority { accuracy } => {
            println!("baseline (majority class) accuracy {accuracy:.4}")
        }
        aiaas_train::Baseline::Mean(m) => println!(
            "baseline (mean) mae {:.4} rmse {:.4} r2 {:.4}",
            m.mae, m.rmse, m.r2
        ),
    }
    println!("diagnosis: {}", r.diagnosis.summary);
    println!("{place}");
}

/// Why L-BFGS stopped, in words.
fn end_text(end: LbfgsEnd) -> &'static str {
    match end {
        LbfgsEnd::Gradient => "gradient within tolerance",
        LbfgsEnd::LossChange => "loss no longer changes",
        LbfgsEnd::StepChange => "weights no longer change",
        LbfgsEnd::NoDescent => "no descent direction left",
        LbfgsEnd::EvaluationLimit => "evaluation budget spent",
    }
}

/// The name a value has in JSON and on the command line (`cross_entropy`, `early_stopped`).
fn name(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
