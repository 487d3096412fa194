//! Reading new data (for evaluation and prediction) against the schema a model was trained
//! with: columns are matched by name, values scaled exactly as in training.

use crate::DataError;
use crate::input_encoder::InputEncoder;
use crate::labels::LabelLookup;
use crate::source::read_file;
use crate::table::RawTable;
use aiaas_types::{FeatureKind, Schema, TargetSchema};
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
    let bytes = read_file(path)?;
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
    let encoder = InputEncoder::new(schema);
    for (f, feature) in schema.features.iter().enumerate() {
        let col = find_column(&table, &feature.name)?;
        for (r, row) in x.chunks_exact_mut(width.max(1)).enumerate().take(rows) {
            match &feature.kind {
                FeatureKind::Numeric { .. } => encoder.number(row, f, table.number(r, col)?),
                FeatureKind::Categorical { .. } => encoder.text(row, f, table.value(r, col)?),
            }
        }
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
