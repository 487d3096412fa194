//! Parquet files as tables: every column a flat value (a number, boolean, string, date or
//! decimal), read through the parquet crate's record API into the raw table a CSV file gives,
//! so that typing, targets, limits and messages are the CSV reader's. Nested columns (lists,
//! maps, structs) and binary columns are refused with the column's name.

use crate::DataError;
use crate::table::RawTable;
use bytes::Bytes;
use parquet::basic::Compression;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

/// Whether `bytes` look like a Parquet file (its magic at both ends).
pub(crate) fn is_parquet(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1")
}

/// The Parquet file `bytes` as a raw table; `file` names it in messages.
pub(crate) fn parquet_table(file: &str, bytes: &[u8]) -> Result<RawTable, DataError> {
    let bad = |reason: String| DataError::Format {
        file: file.to_string(),
        reason,
    };
    let reader = SerializedFileReader::new(Bytes::copy_from_slice(bytes)).map_err(|e| {
        bad(format!(
            "cannot read it as Parquet: {e}; pages compressed with snappy, gzip or nothing \
             can be read"
        ))
    })?;
    for group in reader.metadata().row_groups() {
        for column in group.columns() {
            let codec = column.compression();
            if !matches!(
                codec,
                Compression::UNCOMPRESSED | Compression::SNAPPY | Compression::GZIP(_)
            ) {
                return Err(bad(format!(
                    "column {:?} is compressed with {codec}; pages compressed with snappy (the \
                     usual default), gzip or nothing can be read: write it with \
                     compression=\"snappy\"",
                    column.column_path().string()
                )));
            }
        }
    }
    let metadata = reader.metadata().file_metadata();
    let root = metadata.schema_descr().root_schema();
    let mut header = Vec::new();
    for field in root.get_fields() {
        let name = field.name();
        let repeated = field.get_basic_info().has_repetition()
            && field.get_basic_info().repetition() == parquet::basic::Repetition::REPEATED;
        if !field.is_primitive() || repeated {
            return Err(bad(format!(
                "column {name:?} is nested (a list, map or struct); only flat columns of \
                 numbers, booleans and text can be read"
            )));
        }
        header.push(name.to_string());
    }
    let rows = usize::try_from(metadata.num_rows()).unwrap_or(usize::MAX);
    let mut iter = reader
        .get_row_iter(None)
        .map_err(|e| bad(format!("cannot read its rows: {e}")))?;
    RawTable::from_rows(file, header, rows, |i, push| {
        let row = iter
            .next()
            .ok_or_else(|| bad(format!("the file declares {rows} rows but ends at row {i}")))?
            .map_err(|e| bad(format!("cannot read row {}: {e}", i + 1)))?;
        for (name, field) in row.get_column_iter() {
            match field {
                Field::Null => push(""),
                Field::Str(s) => push(s),
                // Rust's shortest round-trip form, as a CSV writer would put them.
                Field::Float(v) => push(&v.to_string()),
                Field::Double(v) => push(&v.to_string()),
                Field::Bytes(_) => {
                    return Err(bad(format!(
                        "column {name:?} holds binary values; only numbers, booleans and text \
                         can be read"
                    )));
                }
                Field::Group(_) | Field::ListInternal(_) | Field::MapInternal(_) => {
                    return Err(bad(format!("column {name:?} is nested")));
                }
                other => push(&other.to_string()),
            }
        }
        Ok(())
    })
}
