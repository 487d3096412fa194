//! `aiaas jobs list | show | cancel | follow`: training jobs on a server, and following one
//! job's event stream with a progress bar (also used by `aiaas train --server`).

use super::show::{self, at, float, text};
use super::sse::SseParser;
use super::{Access, Client, ClientError, block_on};
use crate::cli::{JobsArgs, JobsCommand};
use crate::output::progress::epoch_bar;
use crate::output::table::{pairs, table};
use aiaas_types::{JobId, JobSpec, JobState};
use anyhow::Context;
use indicatif::ProgressBar;
use serde_json::Value;
use std::time::Duration;

/// Event kinds after which a job's stream ends.
const FINAL_EVENTS: [&str; 3] = ["succeeded", "failed", "cancelled"];
/// A stream silent this long is taken for dead (the server sends a keep-alive every 15 s).
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Reconnection attempts in a row without a new event before giving up (about a minute and a
/// half of waiting, enough for a server restart).
const MAX_RECONNECTS: u32 = 20;

pub fn run(args: JobsArgs, access: &Access) -> anyhow::Result<()> {
    let client = Client::new(&args.server.server, access)?;
    let json = args.server.json;
    block_on(async {
        match args.command {
            JobsCommand::List { state } => list(&client, state.map(Into::into), json).await,
            JobsCommand::Show { id } => show_job(&client, &id, json).await,
            JobsCommand::Cancel { id } => cancel(&client, &id, json).await,
            JobsCommand::Follow { id } => {
                let job = follow(&client, &id).await?;
                finish(&job, json)
            }
        }
    })
}

/// `aiaas jobs list [--state STATE]`.
async fn list(client: &Client, state: Option<JobState>, json: bool) -> anyhow::Result<()> {
    let path = match state {
        Some(s) => format!("/jobs?state={}", s.as_str()),
        None => "/jobs".to_string(),
    };
    let list = client.get(&path).await?;
    show::print(&list, json, print_list);
    Ok(())
}

/// `aiaas jobs show ID`.
async fn show_job(client: &Client, id: &JobId, json: bool) -> anyhow::Result<()> {
    let job = client.get(&format!("/jobs/{id}")).await?;
    show::print(&job, json, print_one);
    Ok(())
}

/// `aiaas jobs cancel ID`.
async fn cancel(client: &Client, id: &JobId, json: bool) -> anyhow::Result<()> {
    let job = client.post(&format!("/jobs/{id}/cancel")).await?;
    if json {
        show::print_json(&job);
    } else {
        println!(
            "cancel requested for job {id} (state: {})",
            text(at(&job, "/state"))
        );
    }
    Ok(())
}

/// Submits `spec` as a job and says so on standard error; returns its id.
pub async fn submit(client: &Client, spec: &JobSpec) -> anyhow::Result<JobId> {
    let job = client.post_json("/jobs", spec).await?;
    let id = at(&job, "/id")
        .and_then(Value::as_str)
        .context("the server's job record has no id")?;
    let id = JobId::new(id)?;
    eprintln!(
        "job {id} submitted to {}; Ctrl-C stops watching, not the job (`aiaas jobs cancel {id}`)",
        client.base()
    );
    Ok(id)
}

/// Follows job `id` with a progress bar on standard error until it ends, reconnecting after
/// the last event seen when the connection drops; returns the final job record.
pub async fn follow(client: &Client, id: &JobId) -> anyhow::Result<Value> {
    Ok(follow_with_report(client, id).await?.0)
}

/// [`follow`], also returning the data of the job's last `report` event (an optimize job's
/// report), if it sent one.
pub async fn follow_with_report(
    client: &Client,
    id: &JobId,
) -> anyhow::Result<(Value, Option<Value>)> {
    let bar = epoch_bar(0);
    let mut report = None;
    let watched = watch(client, id, &bar, &mut report).await;
    bar.finish_and_clear();
    watched?;
    Ok((client.get(&format!("/jobs/{id}")).await?, report))
}

/// Reads the job's events until a final one, across reconnections, keeping the last report.
async fn watch(
    client: &Client,
    id: &JobId,
    bar: &ProgressBar,
    report: &mut Option<Value>,
) -> anyhow::Result<()> {
    let mut after = 0i64;
    let mut failures = 0u32;
    loop {
        let seen = after;
        let last_error = match stream(client, id, &mut after, bar, report).await {
            Ok(true) => return Ok(()),
            Ok(false) => None,
            Err(e @ ClientError::Status { .. }) => return Err(e.into()),
            Err(e) => Some(e),
        };
        // The stream ended early: a dropped connection or a restarting server. The job may
        // still have finished in between.
        let last_error = match client.get(&format!("/jobs/{id}")).await {
            Ok(job) if is_final(&job) => return Ok(()),
            Ok(_) => last_error,
            Err(e @ ClientError::Status { .. }) => return Err(e.into()),
            Err(e) => Some(e),
        };
        failures = if after > seen { 1 } else { failures + 1 };
        if failures > MAX_RECONNECTS {
            let why = last_error.map_or("the stream kept ending early".to_string(), |e| {
                e.to_string()
            });
            anyhow::bail!("lost the event stream of job {id}: {why}");
        }
        bar.set_message("reconnecting...");
        tokio::time::sleep(Duration::from_millis(500 * u64::from(failures.min(10)))).await;
    }
}

/// One connection to the event stream, from just after event `after`. `Ok(true)` once a final
/// event arrived, `Ok(false)` if the stream ended before one.
async fn stream(
    client: &Client,
    id: &JobId,
    after: &mut i64,
    bar: &ProgressBar,
    report: &mut Option<Value>,
) -> Result<bool, ClientError> {
    let from = after.to_string();
    let mut response = client
        .get_stream(&format!("/jobs/{id}/events"), &[("after", &from)])
        .await?;
    let mut parser = SseParser::default();
    loop {
        let chunk = tokio::time::timeout(STALL_TIMEOUT, client.chunk(&mut response))
            .await
            .map_err(|_| ClientError::Transport {
                url: client.base().to_string(),
                cause: format!(
                    "the event stream was silent for {}s",
                    STALL_TIMEOUT.as_secs()
                ),
            })??;
        let Some(chunk) = chunk else {
            return Ok(false);
        };
        for event in parser.push(&chunk) {
            let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
            if event.event == "error" {
                return Err(ClientError::Transport {
                    url: client.base().to_string(),
                    cause: format!("the event stream failed: {}", text(at(&data, "/error"))),
                });
            }
            let seq = event
                .id
                .as_deref()
                .and_then(|s| s.parse().ok())
                .or_else(|| at(&data, "/seq").and_then(Value::as_i64));
            if let Some(seq) = seq {
                *after = (*after).max(seq);
            }
            show_event(bar, &event.event, &data);
            if event.event == "report" {
                *report = at(&data, "/data").cloned();
            }
            if FINAL_EVENTS.contains(&event.event.as_str()) {
                return Ok(true);
            }
        }
    }
}

/// Moves the progress bar for one event.
fn show_event(bar: &ProgressBar, kind: &str, event: &Value) {
    let data = at(event, "/data").unwrap_or(&Value::Null);
    match kind {
        "epoch" => {
            if let Some(epochs) = at(data, "/epochs").and_then(Value::as_u64) {
                bar.set_length(epochs);
            }
            if let Some(epoch) = at(data, "/epoch").and_then(Value::as_u64) {
                bar.set_position(epoch);
            }
            let val = match (at(data, "/val_loss"), at(data, "/val_metric")) {
                (Some(l), Some(m)) => {
                    format!(
                        "  val loss {}  val metric {}",
                        float(Some(l)),
                        float(Some(m))
                    )
                }
                _ => String::new(),
            };
            bar.set_message(format!(
                "train loss {}{val}",
                float(at(data, "/train_loss"))
            ));
        }
        "queued" | "requeued" => bar.set_message("queued"),
        "started" | "resumed" => bar.set_message("running"),
        "suspended" => bar.set_message("suspended; it resumes from its checkpoint"),
        "cancel_requested" => bar.set_message("cancelling"),
        _ => {}
    }
}

/// Prints a finished job (the record as JSON with `json`) and fails unless it succeeded.
pub fn finish(job: &Value, json: bool) -> anyhow::Result<()> {
    let id = text(at(job, "/id"));
    let state = text(at(job, "/state"));
    if json {
        show::print_json(job);
    } else {
        println!("job {id} {state}");
        if let Some((model, version)) = result(job) {
            println!("model {model} version {version}");
        }
        if let Some(p) = at(job, "/progress") {
            println!("{}", epoch_line(p));
        }
    }
    match state.as_str() {
        "failed" => anyhow::bail!("job {id} failed: {}", text(at(job, "/error"))),
        "cancelled" => anyhow::bail!("job {id} was cancelled"),
        _ => Ok(()),
    }
}

/// `epoch 12/200  train loss 0.1234  val loss 0.2345  val metric 0.9667`.
fn epoch_line(p: &Value) -> String {
    format!(
        "epoch {}/{}  train loss {}  val loss {}  val metric {}",
        text(at(p, "/epoch")),
        text(at(p, "/epochs")),
        float(at(p, "/train_loss")),
        float(at(p, "/val_loss")),
        float(at(p, "/val_metric")),
    )
}

fn is_final(job: &Value) -> bool {
    at(job, "/state")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<JobState>().ok())
        .is_some_and(JobState::is_final)
}

/// The model and version a job published: `result_model` and `result_version`, or `result` as
/// `[model, version]` or `{"model", "version"}`.
pub fn result(job: &Value) -> Option<(String, String)> {
    if let (Some(m), Some(v)) = (at(job, "/result_model"), at(job, "/result_version")) {
        return Some((text(Some(m)), text(Some(v))));
    }
    match at(job, "/result")? {
        Value::Array(pair) if pair.len() == 2 => Some((text(Some(&pair[0])), text(Some(&pair[1])))),
        Value::Object(o) => Some((text(o.get("model")), text(o.get("version")))),
        _ => None,
    }
}

fn print_list(list: &Value) {
    let rows: Vec<Vec<String>> = show::items(list)
        .iter()
        .map(|j| {
            vec![
                text(at(j, "/id")),
                text(at(j, "/state")),
                text(at(j, "/dataset")),
                text(at(j, "/model")),
                progress(j),
                result(j).map_or_else(|| show::NONE.to_string(), |(m, v)| format!("{m} v{v}")),
                show::time(at(j, "/created_at_ms")),
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("no jobs");
        return;
    }
    print!(
        "{}",
        table(
            &[
                "ID",
                "STATE",
                "DATASET",
                "MODEL",
                "EPOCH",
                "RESULT",
                "CREATED (UTC)"
            ],
            &rows
        )
    );
}

/// `12/200`, or `-` before the first epoch.
fn progress(job: &Value) -> String {
    match at(job, "/progress") {
        Some(p) => format!("{}/{}", text(at(p, "/epoch")), text(at(p, "/epochs"))),
        None => show::NONE.to_string(),
    }
}

fn print_one(job: &Value) {
    let result = result(job).map_or_else(
        || show::NONE.to_string(),
        |(m, v)| format!("model {m} version {v}"),
    );
    print!(
        "{}",
        pairs(&[
            ("id", text(at(job, "/id"))),
            ("kind", text(at(job, "/kind"))),
            ("state", text(at(job, "/state"))),
            ("dataset", text(at(job, "/dataset"))),
            ("model", text(at(job, "/model"))),
            (
                "progress",
                at(job, "/progress").map_or_else(|| show::NONE.to_string(), epoch_line)
            ),
            ("result", result),
            ("error", text(at(job, "/error"))),
            ("attempts", text(at(job, "/attempts"))),
            ("created", show::time(at(job, "/created_at_ms"))),
            ("started", show::time(at(job, "/started_at_ms"))),
            ("finished", show::time(at(job, "/finished_at_ms"))),
        ])
    );
    let history: Vec<Vec<String>> = at(job, "/history")
        .map(show::items)
        .unwrap_or_default()
        .iter()
        .map(|e| {
            vec![
                text(at(e, "/epoch")),
                float(at(e, "/train_loss")),
                float(at(e, "/val_loss")),
                float(at(e, "/val_metric")),
                float(at(e, "/lr")),
            ]
        })
        .collect();
    if !history.is_empty() {
        println!();
        print!(
            "{}",
            table(
                &["EPOCH", "TRAIN LOSS", "VAL LOSS", "VAL METRIC", "LR"],
                &history
            )
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_result_is_read_in_any_of_its_shapes() {
        let pair = ("iris".to_string(), "3".to_string());
        assert_eq!(result(&json!({"result": ["iris", 3]})), Some(pair.clone()));
        assert_eq!(
            result(&json!({"result": {"model": "iris", "version": 3}})),
            Some(pair.clone())
        );
        assert_eq!(
            result(&json!({"result_model": "iris", "result_version": 3})),
            Some(pair)
        );
        assert_eq!(result(&json!({"result": null})), None);
        assert_eq!(result(&json!({})), None);
    }

    #[test]
    fn only_finished_states_are_final() {
        assert!(is_final(&json!({"state": "failed"})));
        assert!(!is_final(&json!({"state": "running"})));
        assert!(!is_final(&json!({})));
    }
}
