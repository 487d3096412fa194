//! The report of an optimize run, local or a server job's: parent, variant (and the student
//! trained from scratch) side by side, the speed-up and the verdict; and its JSON form.

use aiaas_types::{OptimizeReport, PruneScope, QuantScheme, Recipe, VariantFigures};

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
    row("latency batch 1", &|f| duration(f.latency_ms_batch1));
    row("latency batch 64", &|f| duration(f.latency_ms_batch64));
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    if report.parent.accuracy.is_some() {
        row("test accuracy", &|f| opt(f.accuracy));
        row("test macro F1", &|f| opt(f.f1_macro));
    } else {
        row("test RMSE", &|f| opt(f.rmse));
    }
    let (p, v) = (&report.parent, &report.variant);
    println!(
        "size {:.2}x, batch-64 latency {}, batch-1 {}",
        v.size_bytes as f64 / p.size_bytes.max(1) as f64,
        speed(p.latency_ms_batch64, v.latency_ms_batch64),
        speed(p.latency_ms_batch1, v.latency_ms_batch1),
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

/// How the variant's latency compares with its parent's: `2.00x faster` or `2.00x slower`.
fn speed(parent_ms: f64, variant_ms: f64) -> String {
    let ratio = parent_ms / variant_ms.max(1e-9);
    if ratio >= 1.0 {
        format!("{ratio:.2}x faster")
    } else {
        format!("{:.2}x slower", 1.0 / ratio.max(1e-9))
    }
}

/// A latency in the unit that suits it: `312.4 µs` below a millisecond, `1.25 ms` above.
fn duration(ms: f64) -> String {
    if ms < 1.0 {
        format!("{:.1} µs", ms * 1000.0)
    } else {
        format!("{ms:.2} ms")
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
            "{:.0}% of weights ({} threshold), {} fine-tuning epochs",
            p.sparsity * 100.0,
            match p.scope {
                PruneScope::Layer => "per-layer",
                PruneScope::Global => "one global",
            },
            p.epochs
        ),
        Recipe::Quantize(q) => match q.scheme {
            QuantScheme::Int8 => "int8 weights, one scale per output channel".to_string(),
            QuantScheme::F16 => "f16 weights, computed in f32".to_string(),
        },
        Recipe::Distill(d) => {
            let hidden: Vec<String> = d.hidden.iter().map(usize::to_string).collect();
            format!(
                "student with hidden layers {}, T = {}, alpha = {}",
                hidden.join(","),
                d.temperature,
                d.alpha
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_read_in_the_unit_that_suits_them() {
        assert_eq!(duration(0.0003), "0.3 µs");
        assert_eq!(duration(0.3124), "312.4 µs");
        assert_eq!(duration(1.25), "1.25 ms");
    }

    #[test]
    fn recipes_are_described_in_words_not_type_names() {
        let quantize = Recipe::Quantize(Default::default());
        assert_eq!(
            describe(&quantize),
            "int8 weights, one scale per output channel"
        );
    }

    #[test]
    fn a_slower_variant_is_called_slower() {
        assert_eq!(speed(2.0, 1.0), "2.00x faster");
        assert_eq!(speed(1.0, 2.0), "2.00x slower");
        assert_eq!(speed(1.0, 1.0), "1.00x faster");
    }
}
