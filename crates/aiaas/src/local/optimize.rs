//! `aiaas optimize prune | quantize | distill`: a variant of a model bundle, measured against it
//! and written only if it passes the `--max-drop` guard; with `--server`, the same as a job.

use crate::cli::{OptimizeCommon, OptimizeMethod};
use crate::local::train::Progress;
use aiaas_artifact::Bundle;
use aiaas_types::{
    DistillRecipe, OptimizeReport, PruneRecipe, QuantizeRecipe, Recipe, VariantFigures,
};
use anyhow::Context;
use std::path::PathBuf;

pub fn run(method: OptimizeMethod, threads: usize) -> anyhow::Result<()> {
    let (common, recipe) = recipe(method);
    // An empty AIAAS_URL counts as unset.
    if common
        .server
        .as_deref()
        .is_some_and(|s| !s.trim().is_empty())
    {
        return crate::client::optimize::run(common, recipe);
    }
    let dir = PathBuf::from(&common.model);
    let parent = Bundle::read(&dir)
        .with_context(|| format!("reading the parent bundle {}", dir.display()))?;
    aiaas_optimize::check_recipe(&parent, &recipe)?;
    let lineage = &parent.manifest.lineage;
    let data = common
        .data
        .clone()
        .unwrap_or_else(|| lineage.dataset.name.clone());
    let schema = &parent.manifest.schema;
    let ds = aiaas_data::load(&data, Some(schema.target.name()), Some(schema.task()))
        .with_context(|| {
            format!(
                "loading {data}, the data {} was trained on (pass --data if it lives elsewhere)",
                dir.display()
            )
        })?;
    let out = common.out.clone().unwrap_or_else(|| {
        let name = dir
            .file_name()
            .map_or("model".into(), |n| n.to_string_lossy().into_owned());
        dir.with_file_name(format!("{name}-{}", recipe.method()))
    });

    let epochs = match &recipe {
        Recipe::Prune(p) => p.epochs,
        Recipe::Quantize(_) => 0,
        Recipe::Distill(d) => d.epochs.unwrap_or(lineage.spec.epochs),
    };
    let mut progress = Progress::new(epochs);
    let variant = aiaas_optimize::optimize(
        &parent,
        &dir.display().to_string(),
        &ds,
        &recipe,
        common.max_drop,
        threads,
        &mut progress,
    )?;
    progress.finish();
    let report = &variant.report;
    if report.accepted {
        variant
            .bundle
            .write(&out)
            .with_context(|| format!("writing the variant to {}", out.display()))?;
    }
    let place = report
        .accepted
        .then(|| format!("written to {}", out.display()));
    if common.json {
        println!("{}", report_json(report, place.as_deref()));
    } else {
        print_report(report, place.as_deref());
    }
    if !report.accepted {
        anyhow::bail!("variant refused, nothing written: {}", report.verdict);
    }
    Ok(())
}

/// The recipe the command line asks for, and the options every method shares.
fn recipe(method: OptimizeMethod) -> (OptimizeCommon, Recipe) {
    match method {
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

/// The report as one JSON object (`parent`, `variant`, ...), with where the variant went.
pub fn report_json(report: &OptimizeReport, place: Option<&str>) -> serde_json::Value {
    let mut json = serde_json::to_value(report).expect("a report serializes");
    json["result"] = place.map_or(serde_json::Value::Null, Into::into);
    json
}

/// The report as a table: parent, variant (and the student from scratch), and the verdict.
pub fn print_report(report: &OptimizeReport, place: Option<&str>) {
    println!(
        "{} of {}: {}",
        report.recipe.method(),
        report.parent_ref,
        describe(&report.recipe)
    );
    let mut columns: Vec<(&str, &VariantFigures)> =
        vec![("parent", &report.parent), ("variant", &report.variant)];
    if let Some(s) = &report.scratch {
        columns.push(("from scratch", s));
    }
    let header: String = columns.iter().map(|(n, _)| format!("{n:>14}")).collect();
    println!("{:<22}{header}", "");
    let row = |name: &str, cell: &dyn Fn(&VariantFigures) -> String| {
        let cells: String = columns
            .iter()
            .map(|(_, f)| format!("{:>14}", cell(f)))
            .collect();
        println!("{name:<22}{cells}");
    };
    row("weights file (bytes)", &|f| f.size_bytes.to_string());
    row("parameters", &|f| f.params.to_string());
    row("nonzero", &|f| f.nonzero.to_string());
    row("latency batch 1 (ms)", &|f| {
        format!("{:.4}", f.latency_ms_batch1)
    });
    row("latency batch 64 (ms)", &|f| {
        format!("{:.4}", f.latency_ms_batch64)
    });
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    if report.parent.accuracy.is_some() {
        row("test accuracy", &|f| opt(f.accuracy));
        row("test macro F1", &|f| opt(f.f1_macro));
    } else {
        row("test RMSE", &|f| opt(f.rmse));
    }
    let (p, v) = (&report.parent, &report.variant);
    println!(
        "size {:.2}x, batch-64 latency {:.2}x faster, batch-1 {:.2}x faster",
        v.size_bytes as f64 / p.size_bytes.max(1) as f64,
        p.latency_ms_batch64 / v.latency_ms_batch64.max(1e-9),
        p.latency_ms_batch1 / v.latency_ms_batch1.max(1e-9),
    );
    let decision = if report.accepted {
        "accepted"
    } else {
        "refused"
    };
    println!("{decision}: {}", report.verdict);
    if let Some(place) = place {
        println!("{place}");
    }
}

/// The recipe's settings in a few words.
fn describe(recipe: &Recipe) -> String {
    match recipe {
        Recipe::Prune(p) if p.structured => format!(
            "structured, {:.0}% of hidden neurons, {} fine-tuning epochs",
            p.sparsity * 100.0,
            p.epochs
        ),
        Recipe::Prune(p) => format!(
            "{:.0}% of weights ({:?} threshold), {} fine-tuning epochs",
            p.sparsity * 100.0,
            p.scope,
            p.epochs
        ),
        Recipe::Quantize(q) => format!("{:?} weights", q.scheme),
        Recipe::Distill(d) => format!(
            "student hidden {:?}, T = {}, alpha = {}",
            d.hidden, d.temperature, d.alpha
        ),
    }
}
