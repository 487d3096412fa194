//! `aiaas predict --server URL --model NAME --data FILE.csv`: the rows of a CSV sent to the
//! server's V2 infer endpoint in batches, answered in the same CSV form as local prediction.
//! Columns are matched by name against the version's schema; the server scales and encodes.

use super::{Access, Client, block_on};
use crate::cli::PredictArgs;
use crate::output::predictions;
use aiaas_engine::Predictions;
use aiaas_types::{FeatureKind, Schema, TargetSchema};
use anyhow::{Context, bail};
use serde_json::{Value, json};

/// Rows per infer request.
const ROWS_PER_REQUEST: usize = 256;

/// Writes the predictions as CSV where `--out` says (standard output by default).
pub fn run(server: &str, access: &Access, args: &PredictArgs) -> anyhow::Result<()> {
    let client = Client::new(server, access)?;
    let csv = read_csv(&args.data)?;
    let predicted = block_on(async {
        let model = client.get(&format!("/models/{}", args.model)).await?;
        let version = match &args.version {
            Some(v) => v.clone(),
            None => default_version(&model)
                .with_context(|| format!("model {:?} has no versions", args.model))?,
        };
        let record = client
            .get(&format!("/models/{}/versions/{version}", args.model))
            .await?;
        let number = record["version"]
            .as_u64()
            .context("the version record has no number")?;
        let schema: Schema = serde_json::from_value(record["manifest"]["schema"].clone())
            .context("the version's manifest has no readable schema")?;
        let table = Table::parse(&args.data, &csv, &schema)?;
        let path = format!("/v2/models/{}/versions/{number}/infer", args.model);
        let mut outputs: Vec<Value> = Vec::new();
        let mut ids = Vec::with_capacity(table.rows);
        for start in (0..table.rows).step_by(ROWS_PER_REQUEST) {
            let end = (start + ROWS_PER_REQUEST).min(table.rows);
            let answer = client
                .post_json_at_root(&path, &table.request(&schema, start..end))
                .await?;
            // The ids the server logged the rows under, for `aiaas feedback`.
            let id = answer["id"].as_str().unwrap_or_default();
            if end - start == 1 {
                ids.push(id.to_string());
            } else {
                ids.extend((0..end - start).map(|r| format!("{id}/{r}")));
            }
            outputs.push(answer["outputs"].clone());
        }
        Ok(predictions::to_csv(
            &schema.target,
            &collect(&schema.target, &outputs)?,
            Some(&ids),
        ))
    })?;
    predictions::write(&predicted, args.out.as_deref())
}

/// `champion` if the model has it, else its newest version (what the server serves for the
/// bare name).
fn default_version(model: &Value) -> Option<String> {
    if let Some(v) = model["aliases"]["champion"].as_u64() {
        return Some(v.to_string());
    }
    let versions = model["versions"].as_array()?;
    versions
        .iter()
        .filter_map(|v| v["version"].as_u64())
        .max()
        .map(|v| v.to_string())
}

/// A CSV file, or a bundled sample by name.
fn read_csv(data: &str) -> anyhow::Result<Vec<u8>> {
    match std::fs::read(data) {
        Ok(bytes) => Ok(bytes),
        Err(e) => aiaas_data::samples::embedded_csv(data)
            .map(<[u8]>::to_vec)
            .with_context(|| format!("reading {data}: {e}")),
    }
}

/// The rows of the file, as the model's features (raw: the server scales them).
struct Table {
    rows: usize,
    /// One column per schema feature, in schema order.
    columns: Vec<Vec<String>>,
}

impl Table {
    fn parse(source: &str, bytes: &[u8], schema: &Schema) -> anyhow::Result<Table> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let header = reader
            .headers()
            .with_context(|| format!("reading {source}"))?
            .clone();
        let positions = schema
            .features
            .iter()
            .map(|f| {
                header.iter().position(|h| h == f.name).with_context(|| {
                    format!("{source} has no column {:?}, which the model takes", f.name)
                })
            })
            .collect::<anyhow::Result<Vec<usize>>>()?;
        let mut columns = vec![Vec::new(); positions.len()];
        for (line, record) in reader.records().enumerate() {
            let record = record.with_context(|| format!("{source} line {}", line + 2))?;
            for (column, &p) in columns.iter_mut().zip(&positions) {
                column.push(record.get(p).unwrap_or_default().to_string());
            }
        }
        let rows = columns.first().map_or(0, Vec::len);
        for (feature, column) in schema.features.iter().zip(&columns) {
            if matches!(feature.kind, FeatureKind::Numeric { .. })
                && let Some((i, v)) = column
                    .iter()
                    .enumerate()
                    .find(|(_, v)| v.parse::<f64>().is_err())
            {
                bail!(
                    "{source} line {}, column {:?}: expected a number, found {v:?}",
                    i + 2,
                    feature.name
                );
            }
        }
        Ok(Table { rows, columns })
    }

    /// The V2 request for `rows`, shaped as the model's signature says.
    fn request(&self, schema: &Schema, rows: std::ops::Range<usize>) -> Value {
        let n = rows.len();
        let number = |v: &String| v.parse::<f64>().expect("checked when parsed");
        let dense = schema
            .features
            .iter()
            .all(|f| matches!(f.kind, FeatureKind::Numeric { .. }));
        let inputs = if dense {
            let data: Vec<f64> = rows
                .flat_map(|r| self.columns.iter().map(move |c| number(&c[r])))
                .collect();
            vec![
                json!({"name": "input", "shape": [n, self.columns.len()], "datatype": "FP32", "data": data}),
            ]
        } else {
            schema
                .features
                .iter()
                .zip(&self.columns)
                .map(|(f, c)| match f.kind {
                    FeatureKind::Numeric { .. } => {
                        let data: Vec<f64> = c[rows.clone()].iter().map(number).collect();
                        json!({"name": f.name, "shape": [n, 1], "datatype": "FP32", "data": data})
                    }
                    FeatureKind::Categorical { .. } => {
                        json!({"name": f.name, "shape": [n, 1], "datatype": "BYTES", "data": &c[rows.clone()]})
                    }
                })
                .collect()
        };
        json!({ "inputs": inputs })
    }
}

/// The answers of every request as one set of predictions.
fn collect(target: &TargetSchema, answers: &[Value]) -> anyhow::Result<Predictions> {
    let output = |answer: &Value, name: &str| -> anyhow::Result<Vec<Value>> {
        answer
            .as_array()
            .and_then(|outs| outs.iter().find(|o| o["name"] == name))
            .and_then(|o| o["data"].as_array().cloned())
            .with_context(|| format!("the server's answer has no {name:?} output"))
    };
    let floats =
        |values: Vec<Value>| -> Vec<f64> { values.iter().filter_map(Value::as_f64).collect() };
    match target {
        TargetSchema::Classification { labels, .. } => {
            let (mut probabilities, mut predicted) = (Vec::new(), Vec::new());
            for answer in answers {
                probabilities.extend(
                    floats(output(answer, "probabilities")?)
                        .iter()
                        .map(|&p| p as f32),
                );
                for label in output(answer, "label")? {
                    let label = label.as_str().unwrap_or_default();
                    predicted.push(labels.iter().position(|l| l == label).with_context(|| {
                        format!("the server answered an unknown label {label:?}")
                    })?);
                }
            }
            Ok(Predictions::Classes {
                probabilities,
                classes: labels.len(),
                predicted,
            })
        }
        TargetSchema::Regression { .. } => {
            let mut values = Vec::new();
            for answer in answers {
                values.extend(floats(output(answer, "prediction")?));
            }
            Ok(Predictions::Values(values))
        }
    }
}
