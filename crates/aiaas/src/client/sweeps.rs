//! `aiaas sweep`: submit a sweep and follow it until it ends, then print its trials as a table
//! sorted by the metric; `aiaas sweep list | show | cancel | follow`.

use super::show::{self, at, float, items, text, time};
use super::train::registered_dataset;
use super::{Access, Client, block_on};
use crate::cli::{SweepArgs, SweepCommand, SweepRun};
use crate::output::table::table;
use aiaas_types::{ParamValue, SweepId};
use anyhow::Context;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// How often a followed sweep is looked at.
const POLL: Duration = Duration::from_millis(500);

pub fn run(args: SweepArgs, access: &Access) -> anyhow::Result<()> {
    let client = Client::new(&args.server.server, access)?;
    let json = args.server.json;
    block_on(async {
        let (sweep, followed) = match args.command {
            None => {
                let id = submit(&client, &args.run).await?;
                (follow(&client, &id).await?, true)
            }
            Some(SweepCommand::Follow { id }) => (follow(&client, &id).await?, true),
            Some(SweepCommand::Show { id }) => (client.get(&format!("/sweeps/{id}")).await?, false),
            Some(SweepCommand::Cancel { id }) => {
                (client.post(&format!("/sweeps/{id}/cancel")).await?, false)
            }
            Some(SweepCommand::List) => {
                let list = client.get("/sweeps").await?;
                show::print(&list, json, print_list);
                return Ok(());
            }
        };
        show::print(&sweep, json, print_sweep);
        // A followed sweep that registered nothing is a failed command, as a failed job is.
        let state = text(at(&sweep, "/state"));
        if followed && state != "succeeded" {
            anyhow::bail!("sweep {} {state}", text(at(&sweep, "/id")));
        }
        Ok(())
    })
}

/// Submits the sweep the flags describe (uploading the dataset first if `--data` is a file or a
/// bundled sample the server lacks); returns its id.
async fn submit(client: &Client, run: &SweepRun) -> anyhow::Result<SweepId> {
    let data = run
        .data
        .as_deref()
        .context("aiaas sweep needs --data (or one of list, show, cancel, follow)")?;
    if run.grid.is_none() && run.random.is_none() {
        anyhow::bail!("aiaas sweep needs --grid, or --random N with --space");
    }
    let mut base = Map::new();
    for (key, values) in run.base.iter().flatten() {
        let [value] = values.as_slice() else {
            anyhow::bail!(
                "--base gives each option one value; {key} has {}",
                values.len()
            );
        };
        base.insert(key.clone(), json!(value));
    }
    let dataset = registered_dataset(client, data, run.target.as_deref(), run.task).await?;
    let mut spec = json!({
        "dataset": dataset, "base": base, "val_split": run.val_split,
        "test_split": run.test_split, "name": run.name, "metric": run.metric,
    });
    match (&run.grid, run.random, &run.space) {
        (Some(grid), _, _) => spec["grid"] = json!(grid),
        (None, Some(trials), Some(space)) => {
            spec["random"] = json!({"trials": trials, "seed": run.draw_seed, "space": space});
        }
        _ => anyhow::bail!("--random needs --space"),
    }
    let sweep = client.post_json("/sweeps", &spec).await?;
    let id = at(&sweep, "/id")
        .and_then(Value::as_str)
        .context("the server's sweep record has no id")?;
    let id = SweepId::new(id)?;
    eprintln!(
        "sweep {id} submitted to {} with {} trials; Ctrl-C stops watching, not the sweep \
         (`aiaas sweep cancel {id}`)",
        client.base(),
        items(at(&sweep, "/trials").unwrap_or(&Value::Null)).len()
    );
    Ok(id)
}

/// Polls sweep `id` until it ends, saying on standard error as each trial ends.
async fn follow(client: &Client, id: &SweepId) -> anyhow::Result<Value> {
    let mut reported = BTreeSet::new();
    loop {
        let sweep = client.get(&format!("/sweeps/{id}")).await?;
        let trials = items(at(&sweep, "/trials").unwrap_or(&Value::Null));
        for trial in trials {
            let state = text(at(trial, "/state"));
            if ["succeeded", "failed", "cancelled"].contains(&state.as_str())
                && reported.insert(text(at(trial, "/job")))
            {
                eprintln!(
                    "trial {}/{} {state}: {} {}",
                    reported.len(),
                    trials.len(),
                    params(trial),
                    float(at(trial, "/score"))
                );
            }
        }
        if text(at(&sweep, "/state")) != "running" {
            return Ok(sweep);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A trial's swept values as `--grid` writes them: `lr=0.01 hidden=32x32`.
fn params(trial: &Value) -> String {
    let Some(Value::Object(params)) = at(trial, "/params") else {
        return String::new();
    };
    let pairs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", param(Some(v))))
        .collect();
    pairs.join(" ")
}

/// One swept value as `--grid` writes it (layer widths as `32x32`).
fn param(v: Option<&Value>) -> String {
    v.and_then(|v| serde_json::from_value::<ParamValue>(v.clone()).ok())
        .map_or_else(|| text(v), |p| p.to_string())
}

fn print_sweep(sweep: &Value) {
    let metric = text(at(sweep, "/metric"));
    println!(
        "sweep {} {} on {}: trials by validation {metric}, best first",
        text(at(sweep, "/id")),
        text(at(sweep, "/state")),
        text(at(sweep, "/dataset")),
    );
    let trials = items(at(sweep, "/trials").unwrap_or(&Value::Null));
    let keys: Vec<String> = match trials.first().and_then(|t| at(t, "/params")) {
        Some(Value::Object(params)) => params.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let mut headers = vec!["#", "trial", "state"];
    headers.extend(keys.iter().map(String::as_str));
    headers.extend([metric.as_str(), "epochs", "seconds"]);
    let rows: Vec<Vec<String>> = trials
        .iter()
        .enumerate()
        .map(|(i, trial)| {
            let mut row = vec![
                (i + 1).to_string(),
                text(at(trial, "/job")),
                text(at(trial, "/state")),
            ];
            row.extend(
                keys.iter()
                    .map(|k| param(trial.pointer(&format!("/params/{k}")))),
            );
            let seconds = at(trial, "/duration_ms")
                .and_then(Value::as_f64)
                .map_or_else(|| "-".to_string(), |ms| format!("{:.1}", ms / 1000.0));
            row.extend([
                float(at(trial, "/score")),
                text(at(trial, "/epochs")),
                seconds,
            ]);
            row
        })
        .collect();
    print!("{}", table(&headers, &rows));
    match (at(sweep, "/result/version"), at(sweep, "/error")) {
        (Some(version), _) => println!(
            "registered {} version {} from trial {}",
            text(at(sweep, "/model")),
            text(Some(version)),
            text(at(sweep, "/result/trial"))
        ),
        (None, Some(error)) => println!("nothing registered: {}", text(Some(error))),
        (None, None) => {}
    }
}

fn print_list(list: &Value) {
    let rows: Vec<Vec<String>> = items(list)
        .iter()
        .map(|s| {
            vec![
                text(at(s, "/id")),
                text(at(s, "/state")),
                text(at(s, "/dataset")),
                text(at(s, "/model")),
                text(at(s, "/metric")),
                text(at(s, "/result/version")),
                time(at(s, "/created_at_ms")),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "id", "state", "dataset", "model", "metric", "version", "created"
            ],
            &rows
        )
    );
}
