//! `aiaas predict`: predictions for every row of a CSV, as CSV.

use crate::cli::PredictArgs;
use crate::report;
use aiaas_artifact::Bundle;
use aiaas_engine::Predictions;
use aiaas_types::TargetSchema;
use anyhow::Context;
use std::io::Write;

pub fn run(args: PredictArgs, threads: usize) -> anyhow::Result<()> {
    let csv = match args.server.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(server) => crate::client::predict::run(server, &args)?,
        None => {
            anyhow::ensure!(
                args.version.is_none(),
                "--version picks a version on a server; pass --server URL (or set AIAAS_URL)"
            );
            let dir = std::path::Path::new(&args.model);
            let bundle = Bundle::read(dir)
                .with_context(|| format!("reading the model bundle {}", dir.display()))?;
            let schema = &bundle.manifest.schema;
            let frame = report::read_for_schema(&args.data, schema, false)?;
            let predictions = aiaas_train::predict(
                &bundle.network,
                &schema.target,
                &frame.x,
                frame.rows,
                threads,
            );
            to_csv(&schema.target, &predictions, None)
        }
    };
    match &args.out {
        None => std::io::stdout().write_all(csv.as_bytes())?,
        Some(path) => {
            // Write beside the target and rename, so a reader never sees half a file.
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, csv).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

/// `label,p_<class>...` for classification, `<target>` for regression.
pub(crate) fn to_csv(
    target: &TargetSchema,
    predictions: &Predictions,
    ids: Option<&[String]>,
) -> String {
    let mut out = String::new();
    match (target, predictions) {
        (
            TargetSchema::Classification { labels, .. },
            Predictions::Classes {
                probabilities,
                classes,
                predicted,
            },
        ) => {
            if ids.is_some() {
                out.push_str("id,");
            }
            out.push_str("label");
            for l in labels {
                out.push_str(&format!(",p_{l}"));
            }
            out.push('\n');
            for (i, (row, &p)) in probabilities
                .chunks_exact(*classes)
                .zip(predicted)
                .enumerate()
            {
                if let Some(ids) = ids {
                    out.push_str(&format!("{},", ids[i]));
                }
                out.push_str(&labels[p]);
                for v in row {
                    out.push_str(&format!(",{v}"));
                }
                out.push('\n');
            }
        }
        (TargetSchema::Regression { name, .. }, Predictions::Values(values)) => {
            if ids.is_some() {
                out.push_str("id,");
            }
            out.push_str(name);
            out.push('\n');
            for (i, v) in values.iter().enumerate() {
                if let Some(ids) = ids {
                    out.push_str(&format!("{},", ids[i]));
                }
                out.push_str(&format!("{v}\n"));
            }
        }
        _ => unreachable!("the output head decodes as the target schema says"),
    }
    out
}
