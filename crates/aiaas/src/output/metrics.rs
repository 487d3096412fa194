//! Metric tables: one row per part (a split, a monitoring window), then for classification the
//! confusion matrix and per-class figures of the last part. Local `train` and `eval` print them
//! from their own scores, `monitor` from a server's quality report.

use aiaas_stats::{ClassificationMetrics, Metrics};
use aiaas_types::{Schema, TargetSchema};

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
                "{name:<8}{:>10.4}{:>11.4}{:>9.4}{:>9.4}{:>10}",
                c.accuracy,
                c.precision_macro,
                c.recall_macro,
                c.f1_macro,
                figure(c.log_loss)
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

/// A figure with four decimals, or `-` when there is none (or it is not a number).
fn figure(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "-".to_string(), |v| format!("{v:.4}"))
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

#[cfg(test)]
mod tests {
    use super::figure;

    #[test]
    fn a_missing_or_nan_figure_prints_as_a_dash() {
        assert_eq!(figure(Some(0.12345)), "0.1235");
        assert_eq!(figure(Some(f64::NAN)), "-");
        assert_eq!(figure(None), "-");
    }
}
