//! `aiaas models list | show | alias | rollback | delete | export | import`: the model registry on a
//! server. Export and import move one version as a tar archive (`manifest.json`,
//! `weights.safetensors`); import also takes a bundle directory or a gzip-compressed archive.

use super::show::{self, at, text};
use super::{Access, Client, block_on};
use crate::cli::{ModelsArgs, ModelsCommand};
use crate::output::table::{pairs, table};
use aiaas_artifact::{
    Artifact, LABELS_FILE, MANIFEST_FILE, ONNX_FILE, PREPROCESS_FILE, TOKENIZER_FILE, archive,
};
use aiaas_types::{AliasName, DatasetName, ModelName, Version};
use anyhow::Context;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Largest archive, uncompressed, read here before it is sent (the server has its own limit).
const MAX_ARCHIVE_BYTES: usize = 4 << 30;

pub fn run(args: ModelsArgs, access: &Access) -> anyhow::Result<()> {
    let client = Client::new(&args.server.server, access)?;
    let json = args.server.json;
    block_on(async {
        match args.command {
            ModelsCommand::List => list(&client, json).await,
            ModelsCommand::Show {
                name,
                version: None,
            } => show_model(&client, &name, json).await,
            ModelsCommand::Show {
                name,
                version: Some(version),
            } => show_version(&client, &name, &version, json).await,
            ModelsCommand::Alias {
                name,
                alias,
                version,
            } => set_alias(&client, &name, &alias, version, json).await,
            ModelsCommand::Rollback { name } => rollback(&client, &name, json).await,
            ModelsCommand::Delete { name, version } => delete(&client, &name, version, json).await,
            ModelsCommand::Export {
                name,
                version,
                out,
                format,
            } => export(&client, &name, &version, out, &format, json).await,
            ModelsCommand::Import {
                path,
                name,
                labels,
                preprocess,
                tokenizer,
                dataset,
            } => {
                let beside = [
                    (LABELS_FILE, labels),
                    (PREPROCESS_FILE, preprocess),
                    (TOKENIZER_FILE, tokenizer),
                ];
                import(&client, &path, name, &beside, dataset, json).await
            }
        }
    })
}

/// `aiaas models list`.
async fn list(client: &Client, json: bool) -> anyhow::Result<()> {
    let list = client.get("/models").await?;
    show::print(&list, json, print_list);
    Ok(())
}

/// `aiaas models show NAME`: the model with its versions.
async fn show_model(client: &Client, name: &ModelName, json: bool) -> anyhow::Result<()> {
    let model = client.get(&format!("/models/{name}")).await?;
    show::print(&model, json, print_model);
    Ok(())
}

/// `aiaas models show NAME --version V`: one version in detail.
async fn show_version(
    client: &Client,
    name: &ModelName,
    version: &str,
    json: bool,
) -> anyhow::Result<()> {
    let record = client
        .get(&format!("/models/{name}/versions/{version}"))
        .await?;
    show::print(&record, json, print_version);
    Ok(())
}

/// `aiaas models alias NAME ALIAS VERSION`.
async fn set_alias(
    client: &Client,
    name: &ModelName,
    alias: &AliasName,
    version: Version,
    json: bool,
) -> anyhow::Result<()> {
    let answer = client
        .put_json(
            &format!("/models/{name}/aliases/{alias}"),
            &json!({ "version": version }),
        )
        .await?;
    if json {
        show::print_json(&answer);
    } else {
        println!("model {name}: alias {alias} -> version {version}");
    }
    Ok(())
}

/// `aiaas models rollback NAME`.
async fn rollback(client: &Client, name: &ModelName, json: bool) -> anyhow::Result<()> {
    let answer = client.post(&format!("/models/{name}/rollback")).await?;
    if json {
        show::print_json(&answer);
    } else {
        println!(
            "model {name}: champion is version {} again (was {}; now aliased previous)",
            text(at(&answer, "/to")),
            text(at(&answer, "/from"))
        );
    }
    Ok(())
}

/// `aiaas models delete NAME VERSION`.
async fn delete(
    client: &Client,
    name: &ModelName,
    version: Version,
    json: bool,
) -> anyhow::Result<()> {
    client
        .delete(&format!("/models/{name}/versions/{version}"))
        .await?;
    if json {
        show::print_json(&json!({"model": name, "deleted_version": version}));
    } else {
        println!("model {name} version {version} deleted");
    }
    Ok(())
}

/// `aiaas models export NAME VERSION [--out FILE]`.
async fn export(
    client: &Client,
    name: &ModelName,
    version: &str,
    out: Option<PathBuf>,
    format: &str,
    json: bool,
) -> anyhow::Result<()> {
    let out = out.unwrap_or_else(|| PathBuf::from(format!("{name}-{version}.{format}")));
    let bytes = match format {
        "onnx" => export_onnx(client, name, version, &out).await?,
        _ => download(client, name, version, &out).await?,
    };
    if json {
        show::print_json(&json!({"file": out, "size_bytes": bytes}));
    } else {
        println!(
            "wrote {} ({})",
            out.display(),
            show::size(Some(&json!(bytes)))
        );
    }
    Ok(())
}

/// Writes version `version` of `name` to `out` as ONNX: the archive is downloaded beside it,
/// read, and converted here (an imported ONNX version is written as it came); its size.
async fn export_onnx(
    client: &Client,
    name: &ModelName,
    version: &str,
    out: &Path,
) -> anyhow::Result<u64> {
    let archive = tempfile::NamedTempFile::new().context("creating a temporary file")?;
    download(client, name, version, archive.path()).await?;
    let bytes = std::fs::read(archive.path()).context("reading the downloaded archive")?;
    let onnx = match aiaas_service::read_upload(&bytes, MAX_ARCHIVE_BYTES)? {
        Artifact::Native(bundle) => {
            aiaas_service::bundle_to_onnx(&bundle, &format!("{name}@{version}"))?
        }
        Artifact::Onnx(imported) => imported.model,
    };
    crate::files::write_atomically(out, &onnx)?;
    Ok(onnx.len() as u64)
}

/// `aiaas models import PATH [--name NAME] [--labels FILE] [--preprocess FILE] [--tokenizer
/// FILE] [--dataset NAME]`: a bundle directory or an archive of one (tar, gzip or not),
/// registered under `name`, or the manifest's name. What is sent is always a plain tar of its
/// files, so that a damaged archive is explained here, in words, before any upload. The files
/// `beside` (labels, preprocessing, tokenizer) go beside an ONNX file under their bundle names;
/// with a `dataset`, the server adopts a dense ONNX graph as a model trained here.
async fn import(
    client: &Client,
    path: &Path,
    name: Option<ModelName>,
    beside: &[(&str, Option<PathBuf>)],
    dataset: Option<DatasetName>,
    json: bool,
) -> anyhow::Result<()> {
    let mut upload = model_files(path)?;
    for (file, given) in beside {
        let Some(given) = given else { continue };
        let bytes = std::fs::read(given).with_context(|| format!("reading {}", given.display()))?;
        let mut files = match upload {
            Upload::Onnx(model) => BTreeMap::from([(ONNX_FILE.to_string(), model)]),
            Upload::Files(files) if !files.contains_key(MANIFEST_FILE) => files,
            Upload::Files(_) => anyhow::bail!(
                "{} is a registered model's bundle, which holds its labels, preprocessing and \
                 tokenizer already; --labels, --preprocess and --tokenizer go with an ONNX file",
                path.display()
            ),
        };
        files.insert(file.to_string(), bytes);
        upload = Upload::Files(files);
    }
    let name = match (name, &upload) {
        (Some(name), _) => name,
        (None, Upload::Files(files)) if files.contains_key(MANIFEST_FILE) => {
            manifest_name(&files[MANIFEST_FILE])
                .with_context(|| format!("finding the model name in {}", path.display()))?
        }
        (None, _) => anyhow::bail!(
            "{} holds no manifest to take the model's name from; give --name",
            path.display()
        ),
    };
    let (upload, content_type) = match upload {
        Upload::Onnx(bytes) => (bytes, "application/octet-stream"),
        Upload::Files(files) => (
            archive::pack(&files).context("packing the bundle")?,
            "application/x-tar",
        ),
    };
    let query: Vec<(&str, &str)> = dataset.iter().map(|d| ("dataset", d.as_str())).collect();
    let record = client
        .post_bytes(
            &format!("/models/{name}/versions"),
            &query,
            content_type,
            upload,
        )
        .await?;
    if json {
        show::print_json(&record);
    } else {
        println!(
            "registered model {} version {}",
            text(at(&record, "/model")),
            text(at(&record, "/version"))
        );
    }
    Ok(())
}

/// What `aiaas models import` sends.
enum Upload {
    /// A bundle's files (from a folder or an archive), sent as a tar.
    Files(BTreeMap<String, Vec<u8>>),
    /// An ONNX file, sent as it is.
    Onnx(Vec<u8>),
}

/// The model at `path`: a bundle folder such as `models/iris`, an archive, or an ONNX file.
fn model_files(path: &Path) -> anyhow::Result<Upload> {
    let files = if path.is_dir() {
        let mut files = BTreeMap::new();
        for file in archive::BUNDLE_FILES {
            match std::fs::read(path.join(file)) {
                Ok(bytes) => {
                    files.insert(file.to_string(), bytes);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("reading {}", path.join(file).display()));
                }
            }
        }
        files
    } else {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if !archive::is_archive(&bytes) {
            // The server reads the graph and says what it lacks, if anything.
            return Ok(Upload::Onnx(bytes));
        }
        archive::unpack(&bytes, MAX_ARCHIVE_BYTES).with_context(|| format!("{}", path.display()))?
    };
    anyhow::ensure!(
        files.contains_key(MANIFEST_FILE) || files.contains_key(ONNX_FILE),
        "{} is not a model bundle (no {MANIFEST_FILE}, no {ONNX_FILE}); import a folder written by `aiaas train`, an archive from `aiaas models export`, or an .onnx file",
        path.display()
    );
    Ok(Upload::Files(files))
}

/// Streams the archive of `name` `version` into `out`, through a temporary file in the same
/// folder renamed into place at the end, so `out` is never left half written. Returns its size.
async fn download(
    client: &Client,
    name: &ModelName,
    version: &str,
    out: &Path,
) -> anyhow::Result<u64> {
    let mut response = client
        .get_stream(&format!("/models/{name}/versions/{version}/archive"), &[])
        .await?;
    let mut tmp = crate::files::staged(out)?;
    let mut written = 0u64;
    while let Some(chunk) = client.chunk(&mut response).await? {
        tmp.write_all(&chunk)
            .with_context(|| format!("writing {}", tmp.path().display()))?;
        written += chunk.len() as u64;
    }
    crate::files::persist(tmp, out)?;
    Ok(written)
}

/// The `name` field of the archive's `manifest.json`.
fn manifest_name(manifest: &[u8]) -> anyhow::Result<ModelName> {
    let manifest: Value = serde_json::from_slice(manifest).context("manifest.json is not JSON")?;
    let name = at(&manifest, "/name")
        .and_then(Value::as_str)
        .context("manifest.json has no name; pass --name")?;
    ModelName::new(name).with_context(|| "pass --name to choose a valid one")
}

fn print_list(list: &Value) {
    let rows: Vec<Vec<String>> = show::items(list)
        .iter()
        .map(|m| {
            let versions = match at(m, "/versions") {
                Some(Value::Array(v)) => v.len().to_string(),
                Some(n) => text(Some(n)),
                None => text(at(m, "/version_count")),
            };
            vec![
                text(at(m, "/name")),
                text(at(m, "/task")),
                text(at(m, "/latest_version")),
                versions,
                show::aliases(at(m, "/aliases")),
                show::time(at(m, "/created_at_ms")),
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("no models; train one with `aiaas train --server URL --data FILE`");
        return;
    }
    print!(
        "{}",
        table(
            &[
                "NAME",
                "TASK",
                "LATEST",
                "VERSIONS",
                "ALIASES",
                "CREATED (UTC)"
            ],
            &rows
        )
    );
}

fn print_model(m: &Value) {
    print!(
        "{}",
        pairs(&[
            ("name", text(at(m, "/name"))),
            ("task", text(at(m, "/task"))),
            ("aliases", show::aliases(at(m, "/aliases"))),
            ("created", show::time(at(m, "/created_at_ms"))),
        ])
    );
    let aliases = at(m, "/aliases").and_then(Value::as_object);
    let rows: Vec<Vec<String>> = at(m, "/versions")
        .map(show::items)
        .unwrap_or_default()
        .iter()
        .map(|v| {
            let number = at(v, "/version");
            let pointing: Vec<&str> = aliases
                .into_iter()
                .flatten()
                .filter(|(_, target)| Some(*target) == number)
                .map(|(alias, _)| alias.as_str())
                .collect();
            vec![
                text(number),
                if pointing.is_empty() {
                    show::NONE.to_string()
                } else {
                    pointing.join(", ")
                },
                show::time(at(v, "/created_at_ms")),
                text(at(v, "/dataset")),
                text(at(v, "/job_id")),
                show::size(at(v, "/size_bytes")),
                show::metrics(at(v, "/metrics")),
            ]
        })
        .collect();
    if !rows.is_empty() {
        println!();
        print!(
            "{}",
            table(
                &[
                    "VERSION",
                    "ALIASES",
                    "CREATED (UTC)",
                    "DATASET",
                    "JOB",
                    "SIZE",
                    "METRICS"
                ],
                &rows
            )
        );
    }
}

fn print_version(v: &Value) {
    let mut items = vec![
        ("model", text(at(v, "/model"))),
        ("version", text(at(v, "/version"))),
        ("task", text(at(v, "/manifest/task"))),
        ("created", show::time(at(v, "/created_at_ms"))),
        ("dataset", text(at(v, "/dataset"))),
        ("job", text(at(v, "/job_id"))),
        ("parent", text(at(v, "/parent"))),
        ("size", show::size(at(v, "/size_bytes"))),
        ("weights", weights(v)),
    ];
    // An imported graph's lineage is its source; an adopted one's names it.
    let onnx = at(v, "/manifest/lineage/format").is_some();
    let source = at(v, "/manifest/lineage/imported").or(onnx.then(|| &v["manifest"]["lineage"]));
    if let Some(l) = source {
        items.push((
            "source",
            format!(
                "{} (opset {}, IR {}), made by {} {}",
                text(at(l, "/format")),
                text(at(l, "/opset")),
                text(at(l, "/ir_version")),
                text(at(l, "/producer_name")),
                text(at(l, "/producer_version"))
            ),
        ));
        items.push(("sha256", text(at(l, "/sha256"))));
    }
    if onnx {
        let engine = match at(v, "/manifest/engine").and_then(Value::as_str) {
            Some("native") => "the native engine (a plain dense network)",
            _ => "tract",
        };
        items.push(("runs on", engine.to_string()));
        if let Some(c) = at(v, "/manifest/classes") {
            let labels: Vec<String> = (at(c, "/labels").and_then(Value::as_array))
                .into_iter()
                .flatten()
                .map(|l| text(Some(l)))
                .collect();
            items.push((
                "classes",
                format!(
                    "{} (scores in {})",
                    labels.join(", "),
                    text(at(c, "/output"))
                ),
            ));
        }
        if let Some(p) = at(v, "/manifest/preprocess") {
            items.push(("images", format!("into {}: {p}", text(at(p, "/input")))));
        }
        if let Some(inputs) = at(v, "/manifest/token_inputs").and_then(Value::as_array) {
            let names: Vec<String> = inputs.iter().map(|i| text(Some(i))).collect();
            items.push(("text", format!("tokenized into {}", names.join(", "))));
        }
    }
    for (label, pointer) in [
        ("input", "/manifest/inputs"),
        ("output", "/manifest/outputs"),
    ] {
        for tensor in at(v, pointer)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            items.push((label, tensor_line(tensor)));
        }
    }
    if let Some(r) = at(v, "/manifest/lineage/optimization") {
        items.push(("optimized", text(at(r, "/recipe/method"))));
        items.push(("report", text(at(r, "/verdict"))));
    }
    for split in ["train", "val", "test"] {
        if let Some(m) = at(v, &format!("/metrics/{split}")) {
            items.push((split, show::headline(m).unwrap_or_else(|| text(Some(m)))));
        }
    }
    print!("{}", pairs(&items));
}

/// One tensor of an imported model: `input_ids INT64 [-1, 32]`.
fn tensor_line(t: &Value) -> String {
    format!(
        "{} {} {}",
        text(at(t, "/name")),
        text(at(t, "/datatype")),
        text(at(t, "/shape"))
    )
}

/// How a version stores its weights: `f32`, `f16`, `int8 (int8-per-channel)`, `f32 sparse`;
/// `onnx` for an imported graph.
fn weights(v: &Value) -> String {
    if let Some(architecture) = at(v, "/manifest/architecture") {
        return text(Some(architecture));
    }
    let mut out = text(at(v, "/manifest/weights/dtype"));
    if let Some(q) = at(v, "/manifest/weights/quantization").and_then(Value::as_str) {
        out.push_str(&format!(" ({q})"));
    }
    if at(v, "/manifest/weights/layout").and_then(Value::as_str) == Some("sparse") {
        out.push_str(" sparse");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiaas_artifact::WEIGHTS_FILE;

    #[test]
    fn the_model_name_comes_from_the_manifest() {
        let name = manifest_name(br#"{"name": "iris", "format_version": 1}"#).unwrap();
        assert_eq!(name.as_str(), "iris");
        for manifest in [&br#"{"name": "../x"}"#[..], b"{}"] {
            let err = format!("{:#}", manifest_name(manifest).unwrap_err());
            assert!(err.contains("--name"), "{err}");
        }
    }

    #[test]
    fn a_model_is_read_from_its_folder_an_archive_or_an_onnx_file() {
        let files_of = |path: &Path| match model_files(path) {
            Ok(Upload::Files(files)) => Ok(files),
            Ok(Upload::Onnx(_)) => panic!("{} read as an ONNX file", path.display()),
            Err(e) => Err(format!("{e:#}")),
        };
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("iris");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join(WEIGHTS_FILE), b"...").unwrap();
        let err = files_of(&folder).unwrap_err();
        assert!(
            err.contains("not a model bundle (no manifest.json, no model.onnx)"),
            "{err}"
        );

        std::fs::write(folder.join(MANIFEST_FILE), b"{}").unwrap();
        let files = files_of(&folder).unwrap();
        assert_eq!(files.len(), 2);
        let tar = dir.path().join("iris.tar");
        std::fs::write(&tar, archive::pack(&files).unwrap()).unwrap();
        assert_eq!(files_of(&tar).unwrap(), files);

        // Anything else is sent as an ONNX file, for the server to judge.
        let onnx = dir.path().join("model.onnx");
        std::fs::write(&onnx, b"\x08\x07not checked here").unwrap();
        assert!(matches!(model_files(&onnx), Ok(Upload::Onnx(b)) if b.starts_with(b"\x08")));
    }
}
