//! Predictions as CSV, the same for a local bundle and a server's answers: `label,p_<class>...`
//! or the target's name, with the server's row ids first when there are some; written to
//! standard output or, whole, to a file.

use aiaas_engine::Predictions;
use aiaas_types::TargetSchema;
use anyhow::Context;
use std::io::Write;
use std::path::Path;

/// Writes `csv` to `out`, or to standard output when there is none.
pub fn write(csv: &str, out: Option<&Path>) -> anyhow::Result<()> {
    match out {
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
pub fn to_csv(target: &TargetSchema, predictions: &Predictions, ids: Option<&[String]>) -> String {
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
