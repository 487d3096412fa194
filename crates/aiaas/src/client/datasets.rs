//! `aiaas datasets upload | list | show | delete`: datasets registered on a server.

use super::show::{self, at, text};
use super::{Access, Client, ClientError, block_on};
use crate::cli::{DatasetsArgs, DatasetsCommand};
use crate::output::table::{pairs, table};
use aiaas_types::{DatasetName, Task};
use anyhow::Context;
use serde_json::Value;
use std::path::Path;

pub fn run(args: DatasetsArgs, access: &Access) -> anyhow::Result<()> {
    let client = Client::new(&args.server.server, access)?;
    let json = args.server.json;
    block_on(async {
        match args.command {
            DatasetsCommand::Upload {
                file,
                name,
                target,
                task,
            } => {
                upload_file(
                    &client,
                    &file,
                    name,
                    target.as_deref(),
                    task.map(Into::into),
                    json,
                )
                .await
            }
            DatasetsCommand::List => list(&client, json).await,
            DatasetsCommand::Show { name } => show_dataset(&client, &name, json).await,
            DatasetsCommand::Delete { name } => delete(&client, &name, json).await,
        }
    })
}

/// `aiaas datasets upload FILE`: registered under `name`, or the file stem.
async fn upload_file(
    client: &Client,
    file: &str,
    name: Option<DatasetName>,
    target: Option<&str>,
    task: Option<Task>,
    json: bool,
) -> anyhow::Result<()> {
    let source = CsvSource::read(file)?;
    let name = match name {
        Some(name) => name,
        None => source.default_name()?,
    };
    let record = upload(client, &name, source.bytes, target, task).await?;
    if json {
        show::print_json(&record);
    } else {
        println!(
            "dataset {name} registered: {} rows, {} on column {}",
            text(at(&record, "/rows")),
            text(at(&record, "/task")),
            text(at(&record, "/target")),
        );
    }
    Ok(())
}

/// `aiaas datasets list`.
async fn list(client: &Client, json: bool) -> anyhow::Result<()> {
    let list = client.get("/datasets").await?;
    show::print(&list, json, print_list);
    Ok(())
}

/// `aiaas datasets show NAME`.
async fn show_dataset(client: &Client, name: &DatasetName, json: bool) -> anyhow::Result<()> {
    let record = client.get(&format!("/datasets/{name}")).await?;
    show::print(&record, json, print_one);
    Ok(())
}

/// `aiaas datasets delete NAME`.
async fn delete(client: &Client, name: &DatasetName, json: bool) -> anyhow::Result<()> {
    client.delete(&format!("/datasets/{name}")).await?;
    if json {
        show::print_json(&serde_json::json!({"deleted": name}));
    } else {
        println!("dataset {name} deleted");
    }
    Ok(())
}

/// CSV bytes read from a file or a bundled sample, with the name they were found under.
pub struct CsvSource {
    /// The file stem or the sample name.
    pub stem: String,
    pub bytes: Vec<u8>,
}

impl CsvSource {
    /// Reads `file` if it is a file, else the bundled sample of that name.
    pub fn read(file: &str) -> anyhow::Result<CsvSource> {
        let path = Path::new(file);
        if path.is_file() {
            let bytes = std::fs::read(path).with_context(|| format!("reading {file}"))?;
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Ok(CsvSource { stem, bytes });
        }
        if let Some(bytes) = aiaas_data::samples::embedded_csv(file) {
            return Ok(CsvSource {
                stem: file.to_string(),
                bytes: bytes.to_vec(),
            });
        }
        if path.is_dir() {
            anyhow::bail!("{file} is a directory; only CSV files can be uploaded to a server");
        }
        anyhow::bail!(
            "{file} is neither a CSV file nor a bundled sample ({})",
            bundled_csv_samples().join(", ")
        )
    }

    /// The dataset name the source is registered under unless told otherwise.
    pub fn default_name(&self) -> anyhow::Result<DatasetName> {
        DatasetName::new(self.stem.as_str())
            .with_context(|| format!("{:?} cannot name a dataset; pass --name", self.stem))
    }
}

/// The bundled samples that are CSV files (MNIST is not).
pub fn bundled_csv_samples() -> Vec<&'static str> {
    aiaas_data::samples::SAMPLES
        .iter()
        .copied()
        .filter(|s| aiaas_data::samples::embedded_csv(s).is_some())
        .collect()
}

/// Registers `csv` as dataset `name` and returns the server's record of it.
pub async fn upload(
    client: &Client,
    name: &DatasetName,
    csv: Vec<u8>,
    target: Option<&str>,
    task: Option<Task>,
) -> Result<Value, ClientError> {
    let task = task.map(|t| t.to_string());
    let mut query = vec![("name", name.as_str())];
    if let Some(target) = target {
        query.push(("target", target));
    }
    if let Some(task) = &task {
        query.push(("task", task.as_str()));
    }
    client
        .post_bytes("/datasets", &query, "text/csv", csv)
        .await
}

fn print_list(list: &Value) {
    let rows: Vec<Vec<String>> = show::items(list)
        .iter()
        .map(|d| {
            vec![
                text(at(d, "/name")),
                text(at(d, "/task")),
                text(at(d, "/target")),
                text(at(d, "/rows")),
                show::size(at(d, "/size_bytes")),
                show::time(at(d, "/created_at_ms")),
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("no datasets; upload one with `aiaas datasets upload FILE`");
        return;
    }
    print!(
        "{}",
        table(
            &["NAME", "TASK", "TARGET", "ROWS", "SIZE", "CREATED (UTC)"],
            &rows
        )
    );
}

fn print_one(d: &Value) {
    let labels = at(d, "/schema/target/labels")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .map(|x| text(Some(x)))
                .collect::<Vec<_>>()
                .join(", ")
        });
    print!(
        "{}",
        pairs(&[
            ("name", text(at(d, "/name"))),
            ("task", text(at(d, "/task"))),
            ("target", text(at(d, "/target"))),
            ("labels", labels.unwrap_or_else(|| show::NONE.to_string())),
            ("rows", text(at(d, "/rows"))),
            ("size", show::size(at(d, "/size_bytes"))),
            ("digest", text(at(d, "/digest"))),
            ("created", show::time(at(d, "/created_at_ms"))),
        ])
    );
    let columns: Vec<Vec<String>> = at(d, "/schema/columns")
        .map(show::items)
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let kind = text(at(c, "/kind"));
            let detail = match at(c, "/vocabulary").and_then(Value::as_array) {
                Some(v) => format!("{} values", v.len()),
                None => String::new(),
            };
            vec![text(at(c, "/name")), kind, detail]
        })
        .collect();
    if !columns.is_empty() {
        println!();
        print!("{}", table(&["COLUMN", "KIND", ""], &columns));
    }
}
