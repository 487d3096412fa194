//! `aiaas feedback` and `aiaas monitor`: labels for logged predictions, and what a model's
//! production looks like (quality, confusion matrix, drift table).

use super::show::{self, at, float, text};
use super::{Access, Client, ClientError, block_on};
use crate::cli::{FeedbackArgs, MonitorArgs};
use crate::output::metrics::print_metrics_with_labels;
use crate::output::table::table;
use aiaas_service::QualityReport;
use anyhow::Context;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Labels sent per request.
const CHUNK: usize = 10_000;

pub fn feedback(args: FeedbackArgs, access: &Access) -> anyhow::Result<()> {
    let path = &args.file;
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).with_context(|| {
            format!(
                "{} has no column {name:?}; it needs the columns id,label",
                path.display()
            )
        })
    };
    let (id, label) = (column("id")?, column("label")?);
    let mut items = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{} line {}", path.display(), line + 2))?;
        // As text: the server reads it as a class label, or as a number for regression.
        let label = record.get(label).unwrap_or_default();
        items.push(json!({"id": record.get(id).unwrap_or_default(), "label": label}));
    }
    if items.is_empty() {
        anyhow::bail!("{} has no labels", path.display());
    }
    let client = Client::new(&args.server.server, access)?;
    let (mut matched, mut unknown, mut listed) = (0u64, 0u64, Vec::new());
    block_on(async {
        for chunk in items.chunks(CHUNK) {
            let answer = client
                .post_json(&format!("/models/{}/feedback", args.name), &chunk)
                .await?;
            matched += at(&answer, "/matched").and_then(Value::as_u64).unwrap_or(0);
            unknown += at(&answer, "/unknown").and_then(Value::as_u64).unwrap_or(0);
            if let Some(ids) = at(&answer, "/unknown_ids").and_then(Value::as_array) {
                listed.extend(ids.iter().map(|v| text(Some(v))));
            }
        }
        Ok(())
    })?;
    if args.server.json {
        show::print_json(&json!({"matched": matched, "unknown": unknown, "unknown_ids": listed}));
    } else {
        println!("{matched} labels stored for model {}", args.name);
        if unknown > 0 {
            let shown: Vec<&str> = listed.iter().take(5).map(String::as_str).collect();
            println!(
                "{unknown} ids have no logged prediction (not logged, not sampled, or pruned), \
                 e.g. {}",
                shown.join(", ")
            );
        }
    }
    Ok(())
}

pub fn run(args: MonitorArgs, access: &Access) -> anyhow::Result<()> {
    let client = Client::new(&args.server.server, access)?;
    let mut query = Vec::new();
    if let Some(v) = args.version {
        query.push(format!("version={v}"));
    }
    if let Some(s) = args.since {
        query.push(format!("since={s}"));
    }
    if let Some(n) = args.last {
        query.push(format!("last={n}"));
    }
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    let name = &args.name;
    let (quality, drift) = block_on(async {
        let quality = optional(client.get(&format!("/models/{name}/quality{query}")).await)?;
        let drift = optional(client.get(&format!("/models/{name}/drift{query}")).await)?;
        Ok((quality, drift))
    })?;
    if args.server.json {
        // A report the server could not make is `{"error": why}`.
        let plain = |r: &Result<Value, String>| match r {
            Ok(v) => v.clone(),
            Err(why) => json!({ "error": why }),
        };
        show::print_json(&json!({"quality": plain(&quality), "drift": plain(&drift)}));
        return Ok(());
    }
    match quality {
        Ok(q) => print_quality(&q)?,
        Err(why) => println!("quality: {why}"),
    }
    println!();
    match drift {
        Ok(d) => print_drift(&d),
        Err(why) => println!("drift: {why}"),
    }
    Ok(())
}

/// A report, or the server's reason for having none (a 422: nothing to report yet).
fn optional(answer: Result<Value, ClientError>) -> anyhow::Result<Result<Value, String>> {
    match answer {
        Ok(v) => Ok(Ok(v)),
        Err(ClientError::Status { status, message })
            if status == StatusCode::UNPROCESSABLE_ENTITY =>
        {
            Ok(Err(message))
        }
        Err(e) => Err(e.into()),
    }
}

fn print_quality(q: &Value) -> anyhow::Result<()> {
    let report: QualityReport =
        serde_json::from_value(q.clone()).context("the server's quality report")?;
    println!(
        "model {} version {}: {} predictions logged, {} labelled ({:.1}%)",
        report.model,
        report.version,
        report.logged,
        report.labelled,
        report.label_coverage * 100.0
    );
    print_metrics_with_labels(&report.labels, &[("window", &report.metrics)]);
    println!("diagnosis: {}", report.diagnosis.summary);
    Ok(())
}

fn print_drift(d: &Value) {
    println!(
        "drift over {} predictions: {} of {} features drifted{}",
        text(at(d, "/rows")),
        text(at(d, "/drifted_features")),
        text(at(d, "/decided_features")),
        if at(d, "/drifted") == Some(&Value::Bool(true)) {
            " (the window drifted)"
        } else {
            ""
        }
    );
    let row = |name: String, f: &Value| -> Vec<String> {
        let (stat, p) = match (at(f, "/ks"), at(f, "/chi_square")) {
            (Some(k), _) if !k.is_null() => (
                format!("KS {}", float(at(k, "/statistic"))),
                float(at(k, "/p_value")),
            ),
            (_, Some(c)) if !c.is_null() => (
                format!("chi2 {}", float(at(c, "/statistic"))),
                float(at(c, "/p_value")),
            ),
            _ => (show::NONE.to_string(), show::NONE.to_string()),
        };
        let verdict = if at(f, "/no_decision").is_some_and(|v| !v.is_null()) {
            "no decision".to_string()
        } else if at(f, "/drifted") == Some(&Value::Bool(true)) {
            "DRIFTED".to_string()
        } else {
            "ok".to_string()
        };
        vec![
            name,
            text(at(f, "/test")),
            stat,
            p,
            float(at(f, "/psi")),
            verdict,
        ]
    };
    let mut rows: Vec<Vec<String>> = show::items(at(d, "/features").unwrap_or(&Value::Null))
        .iter()
        .map(|f| row(text(at(f, "/name")), f))
        .collect();
    if let Some(p) = at(d, "/predictions").filter(|p| !p.is_null()) {
        rows.push(row("(predicted class)".into(), p));
    }
    print!(
        "{}",
        table(
            &["feature", "test", "statistic", "p-value", "PSI", "drift"],
            &rows
        )
    );
}
