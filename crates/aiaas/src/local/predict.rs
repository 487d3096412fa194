//! `aiaas predict`: a bundle's predictions for every row of a CSV, as CSV.

use crate::cli::PredictArgs;
use crate::local::input::read_for_schema;
use crate::output::predictions;

pub fn run(args: &PredictArgs, threads: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.version.is_none(),
        "--version picks a version on a server; pass --server URL (or set AIAAS_URL)"
    );
    let dir = std::path::Path::new(&args.model);
    let bundle = crate::local::read_bundle(dir)?;
    let schema = &bundle.manifest.schema;
    let frame = read_for_schema(&args.data, schema, false)?;
    let predicted = aiaas_train::predict(
        &bundle.network,
        &schema.target,
        &frame.x,
        frame.rows,
        threads,
    );
    let csv = predictions::to_csv(&schema.target, &predicted, None);
    predictions::write(&csv, args.out.as_deref())
}
