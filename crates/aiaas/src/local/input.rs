//! Reading the rows a local `eval` or `predict` scores: a file or folder in any format training
//! reads (CSV, Parquet, an archive, MNIST's files, image folders), or a bundled sample by name,
//! read against the bundle's schema.

use aiaas_data::SchemaFrame;
use aiaas_types::Schema;
use std::path::Path;

/// New rows for a trained schema from a path, or from a bundled sample by name.
pub fn read_for_schema(
    data: &str,
    schema: &Schema,
    require_target: bool,
) -> anyhow::Result<SchemaFrame> {
    let path = Path::new(data);
    let frame = match aiaas_data::samples::embedded_csv(data) {
        Some(bytes) if !path.exists() => aiaas_data::read_csv_bytes_for_schema(
            &format!("{data}.csv"),
            bytes,
            schema,
            require_target,
        )?,
        _ if !path.exists() && data == aiaas_data::idx::MNIST_NAME => {
            let dir = aiaas_data::samples::mnist_dir()?;
            aiaas_data::read_path_for_schema(&dir, schema, require_target)?
        }
        _ => aiaas_data::read_path_for_schema(path, schema, require_target)?,
    };
    Ok(frame)
}
