//! `aiaas train --server URL` (or with `AIAAS_URL` set): the same flags as local training,
//! submitted as a job to a server. The dataset is the registered one `--data` names, or the CSV
//! file or bundled sample it names, uploaded first; the job's events drive the progress bar.

use super::datasets::{self, DataSource};
use super::jobs;
use super::show::at;
use super::{Access, Client, block_on};
use crate::cli::{TaskArg, TrainArgs};
use crate::output::training::print_train;
use aiaas_train::TrainReport;
use aiaas_types::{DatasetName, JobSpec, TrainJob};
use anyhow::Context;
use serde_json::Value;

pub fn run(server: &str, access: &Access, args: &TrainArgs) -> anyhow::Result<()> {
    if args.out.is_some() {
        anyhow::bail!(
            "--out writes a local bundle; a model trained on a server is registered there \
             (download it with `aiaas models export NAME VERSION`)"
        );
    }
    let options = args.options()?;
    let client = Client::new(server, access)?;
    block_on(async {
        let dataset =
            registered_dataset(&client, &args.data, args.target.as_deref(), args.task).await?;
        let spec = JobSpec::Train(TrainJob {
            dataset,
            name: args.name.clone(),
            val_split: args.val_split,
            test_split: Some(args.test_split),
            options,
            unknown: Default::default(),
        });
        let id = jobs::submit(&client, &spec).await?;
        let (job, report) = jobs::follow_with_report(&client, &id).await?;
        // The report a local run prints, where the server sent one and the job succeeded.
        let report = report.and_then(|r| serde_json::from_value::<TrainReport>(r).ok());
        match (report, jobs::result(&job)) {
            (Some(report), Some((model, version))) if !args.json => {
                print_train(&report, None, &format!("model {model} version {version}"));
                Ok(())
            }
            _ => jobs::finish(&job, args.json),
        }
    })
}

/// The registered dataset to train on: the one `--data` names if the server has it; else the
/// CSV file or bundled sample `--data` names, registered under its file stem (uploaded unless
/// the server already holds exactly these bytes under that name). `aiaas sweep` uses it too.
pub async fn registered_dataset(
    client: &Client,
    data: &str,
    target: Option<&str>,
    task: Option<TaskArg>,
) -> anyhow::Result<DatasetName> {
    let asked = DatasetName::new(data).ok();
    if let Some(name) = &asked
        && let Some(record) = client.get_if_exists(&format!("/datasets/{name}")).await?
    {
        check_options(&record, name, target, task)?;
        return Ok(name.clone());
    }
    let source = DataSource::read(data)
        .with_context(|| format!("{data} is not a dataset on the server at {}", client.base()))?;
    let name = source.default_name()?;
    let existing = if asked.as_ref() == Some(&name) {
        None // just asked for
    } else {
        client.get_if_exists(&format!("/datasets/{name}")).await?
    };
    if let Some(record) = existing {
        let digest = aiaas_artifact::sha256_hex(&source.bytes);
        if at(&record, "/digest").and_then(Value::as_str) != Some(digest.as_str()) {
            anyhow::bail!(
                "the server already has a different dataset named {name}; upload {data} under \
                 another name with `aiaas datasets upload {data} --name NEW` and train with --data NEW"
            );
        }
        check_options(&record, &name, target, task)?;
        eprintln!("using dataset {name}, already on the server");
        return Ok(name);
    }
    eprintln!("uploading {data} as dataset {name}");
    datasets::upload(client, &name, source.bytes, target, task.map(Into::into)).await?;
    Ok(name)
}

/// A registered dataset's target and task were fixed at upload: a different `--target` or
/// `--task` cannot apply to it.
fn check_options(
    record: &Value,
    name: &DatasetName,
    target: Option<&str>,
    task: Option<TaskArg>,
) -> anyhow::Result<()> {
    let registered = |field: &str| {
        at(record, field)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let task = task.map(|t| aiaas_types::Task::from(t).to_string());
    for (flag, wanted, field) in [
        ("--target", target.map(str::to_string), "/target"),
        ("--task", task, "/task"),
    ] {
        if let (Some(wanted), Some(has)) = (wanted, registered(field))
            && wanted != has
        {
            anyhow::bail!(
                "dataset {name} on the server was registered with {} {has}; to use {flag} \
                 {wanted}, upload it again under another name with `aiaas datasets upload \
                 FILE --name NEW {flag} {wanted}`",
                &flag[2..]
            );
        }
    }
    Ok(())
}
