//! Reading a training CSV into a [`Dataset`]: choosing the target, inferring column types and
//! the task, and encoding text columns one-hot.

use crate::labels::{distinct_numbers, format_number, number_index};
use crate::limits::{MAX_CATEGORIES, MAX_ENCODED_WIDTH, MAX_INFERRED_CLASSES};
use crate::source::{read_file, sha256_hex};
use crate::table::{RawTable, parse_number};
use crate::{Column, DataError, Dataset, Target};
use aiaas_types::Task;
use std::collections::BTreeSet;
use std::path::Path;

/// Name of the column used as the target when none is given.
pub const DEFAULT_TARGET: &str = "target";

/// Reads a CSV file with a header row. `target` names the predicted column (default: the column
/// called `target`); `task` overrides the inferred task. Messages name the file as `path` is
/// written.
pub fn read_csv(
    path: &Path,
    target: Option<&str>,
    task: Option<Task>,
) -> Result<Dataset, DataError> {
    let bytes = read_file(path)?;
    read_csv_bytes(&path.display().to_string(), &bytes, target, task)
}

/// Reads CSV text already in memory. `source` is the file name used in messages and, through
/// its stem, the dataset's name; the digest is the SHA-256 of `bytes`.
pub fn read_csv_bytes(
    source: &str,
    bytes: &[u8],
    target: Option<&str>,
    task: Option<Task>,
) -> Result<Dataset, DataError> {
    let table = RawTable::parse(source, bytes)?;
    let mut ds = dataset_from_table(&table, target, task)?;
    ds.digest = sha256_hex(bytes);
    Ok(ds)
}

/// A dataset from a table (a CSV file's or a Parquet file's): its target chosen, its columns
/// typed and encoded. Its digest is left empty for the caller, who has the bytes.
pub(crate) fn dataset_from_table(
    table: &RawTable,
    target: Option<&str>,
    task: Option<Task>,
) -> Result<Dataset, DataError> {
    let target_col = find_target(table, target)?;
    let (columns, x) = read_features(table, target_col)?;
    let (target, y) = read_target(table, target_col, task)?;
    Ok(Dataset {
        name: stem(&table.file),
        digest: String::new(),
        columns,
        target,
        rows: table.rows(),
        x,
        y,
        test_rows: None,
    })
}

pub(crate) fn stem(source: &str) -> String {
    Path::new(source)
        .file_stem()
        .map_or_else(|| source.to_string(), |s| s.to_string_lossy().into_owned())
}

fn find_target(table: &RawTable, target: Option<&str>) -> Result<usize, DataError> {
    match target {
        Some(name) => table.column(name).ok_or_else(|| DataError::UnknownTarget {
            file: table.file.clone(),
            target: name.to_string(),
            available: table.header.clone(),
        }),
        None => table
            .column(DEFAULT_TARGET)
            .ok_or_else(|| DataError::TargetNeeded {
                file: table.file.clone(),
                available: table.header.clone(),
            }),
    }
}

/// One input column decoded before the matrix is assembled.
enum Values {
    Numbers(Vec<f32>),
    /// Index into the column's vocabulary for each row.
    Categories(Vec<usize>),
}

fn read_features(
    table: &RawTable,
    target_col: usize,
) -> Result<(Vec<Column>, Vec<f32>), DataError> {
    let rows = table.rows();
    let mut columns = Vec::new();
    let mut decoded = Vec::new();
    for col in (0..table.header.len()).filter(|&c| c != target_col) {
        let name = table.header[col].clone();
        if table.is_numeric(col) {
            let values = (0..rows)
                .map(|r| table.number(r, col).map(|v| v as f32))
                .collect::<Result<Vec<_>, _>>()?;
            columns.push(Column::Numeric { name });
            decoded.push(Values::Numbers(values));
        } else {
            let fields = (0..rows)
                .map(|r| table.value(r, col))
                .collect::<Result<Vec<_>, _>>()?;
            let vocabulary = sorted_distinct(&fields);
            if vocabulary.len() > MAX_CATEGORIES {
                return Err(DataError::TooManyCategories {
                    file: table.file.clone(),
                    column: name,
                    count: vocabulary.len(),
                    max: MAX_CATEGORIES,
                });
            }
            let indices = fields
                .iter()
                .map(|f| vocabulary.partition_point(|v| v.as_str() < *f))
                .collect();
            columns.push(Column::Categorical { name, vocabulary });
            decoded.push(Values::Categories(indices));
        }
    }

    let width: usize = columns.iter().map(Column::width).sum();
    if width > MAX_ENCODED_WIDTH {
        return Err(DataError::TooWide {
            file: table.file.clone(),
            width,
            max: MAX_ENCODED_WIDTH,
        });
    }
    let mut x = vec![0.0f32; rows * width];
    let mut offset = 0;
    for (column, values) in columns.iter().zip(&decoded) {
        match values {
            Values::Numbers(v) => {
                for (r, &value) in v.iter().enumerate() {
                    x[r * width + offset] = value;
                }
            }
            Values::Categories(v) => {
                for (r, &index) in v.iter().enumerate() {
                    x[r * width + offset + index] = 1.0;
                }
            }
        }
        offset += column.width();
    }
    Ok((columns, x))
}

fn read_target(
    table: &RawTable,
    col: usize,
    task: Option<Task>,
) -> Result<(Target, Vec<f32>), DataError> {
    if task == Some(Task::Other) {
        return Err(DataError::TaskOther);
    }
    let name = table.header[col].clone();
    let rows = table.rows();
    if table.is_numeric(col) {
        let values = (0..rows)
            .map(|r| table.number(r, col))
            .collect::<Result<Vec<_>, _>>()?;
        let first_fraction = values.iter().position(|v| v.fract() != 0.0);
        let classify = match task {
            Some(Task::Classification) => {
                if let Some(r) = first_fraction {
                    return Err(DataError::TargetNotInteger {
                        file: table.file.clone(),
                        line: table.line(r),
                        column: name,
                        found: table.field(r, col).to_string(),
                    });
                }
                true
            }
            // (`Other` was refused above.)
            Some(Task::Regression | Task::Other) => false,
            None => {
                first_fraction.is_none() && distinct_numbers(&values).len() <= MAX_INFERRED_CLASSES
            }
        };
        if !classify {
            let y = values.iter().map(|&v| v as f32).collect();
            return Ok((Target::Regression { name }, y));
        }
        let distinct = distinct_numbers(&values);
        let labels: Vec<String> = distinct.iter().map(|&v| format_number(v)).collect();
        check_classes(table, &name, &labels)?;
        let y = values
            .iter()
            .map(|&v| number_index(&distinct, v) as f32)
            .collect();
        Ok((Target::Classification { name, labels }, y))
    } else {
        let fields = (0..rows)
            .map(|r| table.value(r, col))
            .collect::<Result<Vec<_>, _>>()?;
        if task == Some(Task::Regression) {
            // A text column has at least one field that is not a number.
            let r = fields
                .iter()
                .position(|f| parse_number(f).is_none())
                .unwrap_or(0);
            return Err(DataError::TextTarget {
                file: table.file.clone(),
                line: table.line(r),
                column: name,
                found: fields[r].to_string(),
            });
        }
        let labels = sorted_distinct(&fields);
        check_classes(table, &name, &labels)?;
        let y = fields
            .iter()
            .map(|f| labels.partition_point(|l| l.as_str() < *f) as f32)
            .collect();
        Ok((Target::Classification { name, labels }, y))
    }
}

fn check_classes(table: &RawTable, column: &str, labels: &[String]) -> Result<(), DataError> {
    match labels {
        [only] => Err(DataError::SingleClass {
            file: table.file.clone(),
            column: column.to_string(),
            label: only.clone(),
        }),
        _ => Ok(()),
    }
}

/// The distinct values of `fields`, sorted: a text column's vocabulary or a text target's labels.
fn sorted_distinct(fields: &[&str]) -> Vec<String> {
    let distinct: BTreeSet<&str> = fields.iter().copied().collect();
    distinct.into_iter().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Dataset, DataError> {
        read_csv_bytes("t.csv", text.as_bytes(), None, None)
    }

    #[test]
    fn numeric_and_text_columns_encode_raw_and_one_hot() {
        let ds = read("a,color,target\n1.5,red,0\n2,blue,1\n3,red,1\n").unwrap();
        assert_eq!(ds.name, "t");
        assert_eq!(ds.rows, 3);
        assert_eq!(
            ds.columns,
            vec![
                Column::Numeric { name: "a".into() },
                Column::Categorical {
                    name: "color".into(),
                    vocabulary: vec!["blue".into(), "red".into()]
                },
            ]
        );
        assert_eq!(ds.width(), 3);
        assert_eq!(ds.x, [1.5, 0.0, 1.0, 2.0, 1.0, 0.0, 3.0, 0.0, 1.0]);
        assert_eq!(ds.y, [0.0, 1.0, 1.0]);
        assert_eq!(ds.task(), Task::Classification);
        assert_eq!(
            ds.digest,
            sha256_hex(b"a,color,target\n1.5,red,0\n2,blue,1\n3,red,1\n")
        );
    }

    #[test]
    fn numeric_labels_sort_as_numbers() {
        let ds = read("a,target\n1,10\n2,2\n3,10.0\n4,0\n").unwrap();
        assert_eq!(
            ds.target,
            Target::Classification {
                name: "target".into(),
                labels: vec!["0".into(), "2".into(), "10".into()]
            }
        );
        assert_eq!(ds.y, [2.0, 1.0, 2.0, 0.0]);
        assert_eq!(ds.class_of(0), 2);
    }

    #[test]
    fn many_distinct_integers_or_fractions_mean_regression() {
        let mut text = String::from("a,target\n");
        for i in 0..21 {
            text.push_str(&format!("{i},{i}\n"));
        }
        assert_eq!(read(&text).unwrap().task(), Task::Regression);
        assert_eq!(
            read("a,target\n1,0.5\n2,1\n").unwrap().task(),
            Task::Regression
        );
    }

    #[test]
    fn mostly_numeric_column_reports_the_text() {
        let err = read("a,target\n1,0\nabc,1\n3,1\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv line 3, column \"a\": expected a number, found \"abc\""
        );
    }

    #[test]
    fn huge_numbers_do_not_become_infinite_floats() {
        let err = read("a,target\n1e300,0\n1,1\n").unwrap_err();
        assert!(
            matches!(err, DataError::NumberOutOfRange { line: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn byte_order_mark_and_blank_lines_are_ignored() {
        let ds = read("\u{feff}a,target\n1,0\n\n   \n2,1\n").unwrap();
        assert_eq!(ds.columns[0].name(), "a");
        assert_eq!(ds.rows, 2);
    }

    #[test]
    fn too_many_categories_is_an_error() {
        let mut text = String::from("id,target\n");
        for i in 0..=MAX_CATEGORIES {
            text.push_str(&format!("id{i},{}\n", i % 2));
        }
        let err = read(&text).unwrap_err();
        assert!(matches!(err, DataError::TooManyCategories { .. }), "{err}");
    }
}
