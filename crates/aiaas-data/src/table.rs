//! Raw CSV tables: UTF-8 checking, the header row and field counts, with each row's line
//! number kept for messages. No typing happens here; `csv_reader` and `schema_reader` decide
//! what the fields mean.
//!
//! The fields are kept by column, each column one string and the end of each field in it, so a
//! table costs its text and 4 bytes a field; rows and fields are counted against
//! [`MAX_ROWS`] and [`MAX_CELLS`] as they are read.

use crate::DataError;
use crate::limits::{MAX_CELLS, MAX_COLUMNS, MAX_ROWS};
use csv::StringRecord;
use std::collections::HashMap;

/// A CSV file split into trimmed string fields.
pub(crate) struct RawTable {
    /// The name used in messages.
    pub file: String,
    pub header: Vec<String>,
    columns: Vec<TextColumn>,
    /// 1-based line in the file where each record starts (header = line 1).
    lines: Vec<usize>,
}

/// One column's fields: their text one after the other, and where each ends.
#[derive(Default)]
struct TextColumn {
    text: String,
    ends: Vec<u32>,
}

impl TextColumn {
    fn push(&mut self, field: &str) -> Option<()> {
        self.text.push_str(field);
        self.ends.push(u32::try_from(self.text.len()).ok()?);
        Some(())
    }

    fn get(&self, row: usize) -> &str {
        let start = if row == 0 {
            0
        } else {
            self.ends[row - 1] as usize
        };
        &self.text[start..self.ends[row] as usize]
    }
}

impl RawTable {
    /// Splits `bytes` into a header and rows of the same width as the header.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<RawTable, DataError> {
        RawTable::parse_within(file, bytes, MAX_ROWS, MAX_CELLS)
    }

    /// [`RawTable::parse`] with at most `max_rows` data rows and `max_cells` fields.
    fn parse_within(
        file: &str,
        bytes: &[u8],
        max_rows: usize,
        max_cells: usize,
    ) -> Result<RawTable, DataError> {
        let text = std::str::from_utf8(bytes).map_err(|e| DataError::NotUtf8 {
            file: file.to_string(),
            line: 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
        })?;
        // Spreadsheet exports often start with a byte-order mark; it is not part of the name.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if !text.trim().is_empty() && !text.contains(['\n', '\r']) {
            return Err(DataError::OneLine {
                file: file.to_string(),
            });
        }

        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            // Field counts are checked below so that the message can name the line and counts.
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());

        let mut header: Option<Vec<String>> = None;
        let mut columns: Vec<TextColumn> = Vec::new();
        let mut lines = Vec::new();
        let too_many = |what, max| DataError::TooManyRows {
            file: file.to_string(),
            what,
            max,
        };
        for result in reader.records() {
            let record = result.map_err(|e| DataError::Csv {
                file: file.to_string(),
                line: e.position().map_or(0, |p| p.line() as usize),
                message: e.to_string(),
            })?;
            let line = record.position().map_or(0, |p| p.line() as usize);
            // A line of blanks reads as one empty field; treat it like the empty lines the
            // parser already skips.
            if record.len() == 1 && record[0].is_empty() {
                continue;
            }
            match &header {
                None => {
                    let names = check_header(file, &record)?;
                    columns = names.iter().map(|_| TextColumn::default()).collect();
                    header = Some(names);
                }
                Some(names) => {
                    if record.len() != names.len() {
                        return Err(DataError::RaggedRow {
                            file: file.to_string(),
                            line,
                            expected: names.len(),
                            found: record.len(),
                            missing: names.get(record.len()).cloned(),
                        });
                    }
                    if lines.len() == max_rows {
                        return Err(too_many("data rows", max_rows));
                    }
                    if (lines.len() + 1).saturating_mul(names.len()) > max_cells {
                        return Err(too_many("fields", max_cells));
                    }
                    for (column, field) in columns.iter_mut().zip(record.iter()) {
                        column
                            .push(field)
                            .ok_or_else(|| too_many("bytes in one column", u32::MAX as usize))?;
                    }
                    lines.push(line);
                }
            }
        }
        let header = header.ok_or_else(|| DataError::Empty {
            file: file.to_string(),
        })?;
        if lines.is_empty() {
            return Err(DataError::NoRows {
                file: file.to_string(),
            });
        }
        Ok(RawTable {
            file: file.to_string(),
            header,
            columns,
            lines,
        })
    }

    /// A table from fields already split (a Parquet file's), row by row: `row(i)` gives the
    /// `i`-th row's fields, one per header name. Row `i` is reported as line `i + 2`, as if the
    /// header were line 1. Checked like [`RawTable::parse`]: names, rows and fields.
    pub fn from_rows(
        file: &str,
        header: Vec<String>,
        rows: usize,
        mut row: impl FnMut(usize, &mut dyn FnMut(&str)) -> Result<(), DataError>,
    ) -> Result<RawTable, DataError> {
        let header = check_header(file, &StringRecord::from(header))?;
        let too_many = |what, max| DataError::TooManyRows {
            file: file.to_string(),
            what,
            max,
        };
        if rows > MAX_ROWS {
            return Err(too_many("data rows", MAX_ROWS));
        }
        if rows.saturating_mul(header.len()) > MAX_CELLS {
            return Err(too_many("fields", MAX_CELLS));
        }
        if rows == 0 {
            return Err(DataError::NoRows {
                file: file.to_string(),
            });
        }
        let mut columns: Vec<TextColumn> = header.iter().map(|_| TextColumn::default()).collect();
        let mut overflow = false;
        for i in 0..rows {
            let mut next = columns.iter_mut();
            row(i, &mut |field| {
                if let Some(column) = next.next() {
                    overflow |= column.push(field.trim()).is_none();
                }
            })?;
        }
        if overflow {
            return Err(too_many("bytes in one column", u32::MAX as usize));
        }
        Ok(RawTable {
            file: file.to_string(),
            header,
            columns,
            lines: (2..rows + 2).collect(),
        })
    }

    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    pub fn line(&self, row: usize) -> usize {
        self.lines[row]
    }

    /// The trimmed field, possibly empty.
    pub fn field(&self, row: usize, col: usize) -> &str {
        self.columns[col].get(row)
    }

    /// The field, or a missing-value error when it is empty.
    pub fn value(&self, row: usize, col: usize) -> Result<&str, DataError> {
        let field = self.field(row, col);
        if field.is_empty() {
            return Err(DataError::MissingValue {
                file: self.file.clone(),
                line: self.line(row),
                column: self.header[col].clone(),
            });
        }
        Ok(field)
    }

    /// The field as a number that fits an f32, or an error naming the place.
    pub fn number(&self, row: usize, col: usize) -> Result<f64, DataError> {
        let field = self.value(row, col)?;
        let Some(v) = parse_number(field) else {
            return Err(DataError::NotANumber {
                file: self.file.clone(),
                line: self.line(row),
                column: self.header[col].clone(),
                found: field.to_string(),
            });
        };
        if !(v as f32).is_finite() {
            return Err(DataError::NumberOutOfRange {
                file: self.file.clone(),
                line: self.line(row),
                column: self.header[col].clone(),
                found: field.to_string(),
            });
        }
        Ok(v)
    }

    /// Whether most non-empty fields of `col` are numbers, i.e. the column is numeric and the
    /// rest are data errors rather than categories.
    pub fn is_numeric(&self, col: usize) -> bool {
        let (mut numbers, mut filled) = (0usize, 0usize);
        for row in 0..self.rows() {
            let field = self.field(row, col);
            if !field.is_empty() {
                filled += 1;
                numbers += usize::from(parse_number(field).is_some());
            }
        }
        numbers * 2 > filled
    }

    /// Index of the column called `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

/// A finite number, ignoring surrounding blanks.
pub(crate) fn parse_number(field: &str) -> Option<f64> {
    field.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

fn check_header(file: &str, record: &StringRecord) -> Result<Vec<String>, DataError> {
    if record.len() > MAX_COLUMNS {
        return Err(DataError::TooManyColumns {
            file: file.to_string(),
            count: record.len(),
            max: MAX_COLUMNS,
        });
    }
    let names: Vec<String> = record.iter().map(str::to_string).collect();
    let mut seen = HashMap::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(DataError::EmptyColumnName {
                file: file.to_string(),
                position: i + 1,
            });
        }
        if let Some(first) = seen.insert(name.as_str(), i) {
            return Err(DataError::DuplicateColumn {
                file: file.to_string(),
                column: name.clone(),
                first: first + 1,
                second: i + 1,
            });
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_kept_by_column_and_rows_and_fields_are_capped() {
        let csv = b"a,b\n1, x \n,yy\n3,\n";
        let table = RawTable::parse("t.csv", csv).unwrap();
        assert_eq!(table.rows(), 3);
        assert_eq!(
            (0..3).map(|r| table.field(r, 1)).collect::<Vec<_>>(),
            ["x", "yy", ""]
        );
        assert_eq!(table.field(1, 0), "");
        assert_eq!(table.line(2), 4);

        let rows = RawTable::parse_within("t.csv", csv, 2, 100).err().unwrap();
        assert!(rows.to_string().contains("more than 2 data rows"), "{rows}");
        let cells = RawTable::parse_within("t.csv", csv, 100, 5).err().unwrap();
        assert!(cells.to_string().contains("more than 5 fields"), "{cells}");
        assert!(RawTable::parse_within("t.csv", csv, 3, 6).is_ok());
    }
}
