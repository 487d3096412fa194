//! `aiaas optimize prune | quantize | distill`: a variant of a model bundle, measured against it
//! and written only if it passes the `--max-drop` guard (with `--server`, `client::optimize`
//! runs the same recipe as a job).

use crate::cli::OptimizeCommon;
use crate::output::optimize::{print_report, report_json};
use crate::output::progress::Progress;
use aiaas_types::Recipe;
use anyhow::Context;
use std::path::PathBuf;

pub fn run(common: &OptimizeCommon, recipe: &Recipe, threads: usize) -> anyhow::Result<()> {
    let dir = PathBuf::from(&common.model);
    let parent = crate::local::read_bundle(&dir)?;
    aiaas_optimize::check_recipe(&parent, recipe)?;
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

    let epochs = match recipe {
        Recipe::Prune(p) => p.epochs,
        Recipe::Quantize(_) => 0,
        Recipe::Distill(d) => d.epochs.unwrap_or(lineage.spec.epochs),
    };
    let mut progress = Progress::new(epochs);
    let variant = aiaas_optimize::optimize(
        &parent,
        &dir.display().to_string(),
        &ds,
        recipe,
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
