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
    let source = DataSource::read(file)?;
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

/// A dataset's bytes as they are uploaded, from a file, a folder or a bundled sample, with the
/// name they were found under.
pub struct DataSource {
    /// The file or folder name without its extensions, or the sample name.
    pub stem: String,
    pub bytes: Vec<u8>,
}

impl DataSource {
    /// Reads `file` if it is a file (any format the server reads: CSV, Parquet, an archive), packs
    /// it into a tar archive if it is a folder (the four MNIST files, or image folders), else
    /// takes the bundled sample of that name (MNIST packed from its four files).
    pub fn read(file: &str) -> anyhow::Result<DataSource> {
        let path = Path::new(file);
        let stem = || {
            let name = path.file_name().map(|s| s.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            name.split('.').next().unwrap_or_default().to_string()
        };
        if path.is_file() {
            let bytes = std::fs::read(path).with_context(|| format!("reading {file}"))?;
            return Ok(DataSource {
                stem: stem(),
                bytes,
            });
        }
        if path.is_dir() {
            let bytes = aiaas_data::pack_folder(path)?;
            return Ok(DataSource {
                stem: stem(),
                bytes,
            });
        }
        if let Some(bytes) = aiaas_data::samples::embedded_csv(file) {
            return Ok(DataSource {
                stem: file.to_string(),
                bytes: bytes.to_vec(),
            });
        }
        if file == aiaas_data::idx::MNIST_NAME {
            let bytes = aiaas_data::pack_folder(&aiaas_data::samples::mnist_dir()?)?;
            return Ok(DataSource {
                stem: file.to_string(),
                bytes,
            });
        }
        anyhow::bail!(
            "{file} is neither a file, a folder nor a bundled sample ({})",
            aiaas_data::samples::SAMPLES.join(", ")
        )
    }

    /// The dataset name the source is registered under unless told otherwise.
    pub fn default_name(&self) -> anyhow::Result<DatasetName> {
        DatasetName::new(self.stem.as_str())
            .with_context(|| format!("{:?} cannot name a dataset; pass --name", self.stem))
    }
}

/// Registers `bytes` (a file in any format the server reads) as dataset `name` and returns the
/// server's record of it.
pub async fn upload(
    client: &Client,
    name: &DatasetName,
    bytes: Vec<u8>,
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
        .post_bytes("/datasets", &query, "application/octet-stream", bytes)
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
