//! Reading new data (for evaluation and prediction) against the schema a model was trained
//! with: columns are matched by name, values scaled exactly as in training.

use crate::input_encoder::InputEncoder;
use crate::labels::LabelLookup;
use crate::source::read_file;
use crate::table::RawTable;
use crate::{DataError, Dataset, Target};
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
    frame_from_table(&table, schema, require_target)
}

/// [`read_csv_bytes_for_schema`] for a table already split into fields.
pub(crate) fn frame_from_table(
    table: &RawTable,
    schema: &Schema,
    require_target: bool,
) -> Result<SchemaFrame, DataError> {
    let rows = table.rows();
    let width = schema.input_width();
    let mut x = vec![0.0f32; rows * width];
    let encoder = InputEncoder::new(schema);
    for (f, feature) in schema.features.iter().enumerate() {
        let col = find_column(table, &feature.name)?;
        for (r, row) in x.chunks_exact_mut(width.max(1)).enumerate().take(rows) {
            match &feature.kind {
                FeatureKind::Numeric { .. } => encoder.number(row, f, table.number(r, col)?),
                FeatureKind::Categorical { .. } => encoder.text(row, f, table.value(r, col)?),
            }
        }
    }

    let y = if require_target {
        Some(read_target(table, &schema.target)?)
    } else {
        None
    };
    Ok(SchemaFrame { rows, x, y })
}

/// A dataset's rows (an archive's images, MNIST) for a model with `schema`: the model's
/// features are found among its numeric columns by name and scaled as in training; the target,
/// when required, must be the model's and its classes known to it.
pub(crate) fn frame_from_dataset(
    ds: &Dataset,
    schema: &Schema,
    require_target: bool,
) -> Result<SchemaFrame, DataError> {
    let (rows, width, ds_width) = (ds.rows, schema.input_width(), ds.width());
    let mut x = vec![0.0f32; rows * width];
    let encoder = InputEncoder::new(schema);
    let mut offsets = Vec::with_capacity(ds.columns.len());
    let mut offset = 0;
    for column in &ds.columns {
        offsets.push(offset);
        offset += column.width();
    }
    for (f, feature) in schema.features.iter().enumerate() {
        let found = ds.columns.iter().position(|c| c.name() == feature.name);
        let (Some(col), FeatureKind::Numeric { .. }) = (found, &feature.kind) else {
            return Err(DataError::MissingColumn {
                file: ds.name.clone(),
                column: feature.name.clone(),
            });
        };
        let at = offsets[col];
        for (r, row) in x.chunks_exact_mut(width.max(1)).enumerate().take(rows) {
            encoder.number(row, f, f64::from(ds.x[r * ds_width + at]));
        }
    }
    let y = if require_target {
        let (
            Target::Classification { name, labels },
            TargetSchema::Classification { labels: want, .. },
        ) = (&ds.target, &schema.target)
        else {
            return Err(DataError::MissingColumn {
                file: ds.name.clone(),
                column: schema.target.name().to_string(),
            });
        };
        let lookup = LabelLookup::new(want);
        let index: Vec<Option<usize>> = labels.iter().map(|l| lookup.find(l)).collect();
        let mut y = Vec::with_capacity(rows);
        for (r, &class) in ds.y.iter().enumerate() {
            let Some(i) = index[class as usize] else {
                return Err(DataError::UnknownLabel {
                    file: ds.name.clone(),
                    line: r + 1,
                    column: name.clone(),
                    found: labels[class as usize].clone(),
                    labels: want.clone(),
                });
            };
            y.push(i as f32);
        }
        Some(y)
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
