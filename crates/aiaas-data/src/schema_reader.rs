//! Reading new data (for evaluation and prediction) against the schema a model was trained
//! with: columns are matched by name, values scaled exactly as in training.

use crate::DataError;
use crate::labels::LabelLookup;
use crate::scale::standardize;
use crate::table::RawTable;
use aiaas_types::{FeatureKind, Schema, TargetSchema};
use std::collections::HashMap;
use std::path::Path;

/// Rows of new data, ready for a trained model.
#[derive(Clone, Debug, PartialEq)]
pub struct SchemaFrame {
    pub rows: usize,
    /// `rows x schema.input_width()` model inputs, already scaled.
    pub x: Vec<f32>,
    /// Class index (classification) or raw value (regression); `None` when the target was not
    /// required.
    pub y: Option<Vec<f32>>,
}

/// Reads a CSV file for a model with `schema`. Columns may come in any order and extra columns
/// are ignored; a text value the model never saw encodes as all zeros. With `require_target`
/// the target column must be present and every class known to the model; without it the
/// target column, if any, is ignored.
pub fn read_csv_for_schema(
    path: &Path,
    schema: &Schema,
    require_target: bool,
) -> Result<SchemaFrame, DataError> {
    let bytes = crate::error::read_file(path)?;
    read_csv_bytes_for_schema(&path.display().to_string(), &bytes, schema, require_target)
}

/// [`read_csv_for_schema`] for CSV text already in memory; `source` names it in messages.
pub fn read_csv_bytes_for_schema(
    source: &str,
    bytes: &[u8],
    schema: &Schema,
    require_target: bool,
) -> Result<SchemaFrame, DataError> {
    let table = RawTable::parse(source, bytes)?;
    let rows = table.rows();
    let width = schema.input_width();
    let mut x = vec![0.0f32; rows * width];
    let mut offset = 0;
    for feature in &schema.features {
        let col = find_column(&table, &feature.name)?;
        match &feature.kind {
            FeatureKind::Numeric { mean, scale } => {
                for r in 0..rows {
                    x[r * width + offset] = standardize(table.number(r, col)?, *mean, *scale);
                }
            }
            FeatureKind::Categorical { vocabulary } => {
                let index: HashMap<&str, usize> = vocabulary
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (v.as_str(), i))
                    .collect();
                for r in 0..rows {
                    if let Some(&i) = index.get(table.value(r, col)?) {
                        x[r * width + offset + i] = 1.0;
                    }
                }
            }
        }
        offset += feature.width();
    }

    let y = if require_target {
        Some(read_target(&table, &schema.target)?)
    } else {
        None
    };
    Ok(SchemaFrame { rows, x, y })
}

fn find_column(table: &RawTable, name: &str) -> Result<usize, DataError> {
    table.column(name).ok_or_else(|| DataError::MissingColumn {
        file: table.file.clone(),
        column: name.to_string(),
    })
}

fn read_target(table: &RawTable, target: &TargetSchema) -> Result<Vec<f32>, DataError> {
    let col = find_column(table, target.name())?;
    match target {
        TargetSchema::Regression { .. } => (0..table.rows())
            .map(|r| table.number(r, col).map(|v| v as f32))
            .collect(),
        TargetSchema::Classification { labels, .. } => {
            let lookup = LabelLookup::new(labels);
            (0..table.rows())
                .map(|r| {
                    let field = table.value(r, col)?;
                    lookup
                        .find(field)
                        .map(|i| i as f32)
                        .ok_or_else(|| DataError::UnknownLabel {
                            file: table.file.clone(),
                            line: table.line(r),
                            column: target.name().to_string(),
                            found: field.to_string(),
                            labels: labels.clone(),
                        })
                })
                .collect()
        }
    }
}
