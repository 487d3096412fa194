//! `aiaas eval`: score a bundle on new labelled rows.

use crate::cli::EvalArgs;
use crate::local::input::read_for_schema;
use crate::output::metrics::print_metrics;

pub fn run(args: EvalArgs, threads: usize) -> anyhow::Result<()> {
    let bundle = crate::local::read_bundle(&args.model)?;
    let schema = &bundle.manifest.schema;
    let frame = read_for_schema(&args.data, schema, true)?;
    let truth = frame.y.as_deref().unwrap_or_default();
    let metrics = aiaas_train::evaluate(&bundle.network, schema, &frame.x, truth, threads);
    if args.json {
        let out = serde_json::json!({
            "task": schema.task(),
            "model": args.model,
            "rows": frame.rows,
            "metrics": metrics,
        });
        println!("{out}");
    } else {
        println!(
            "{} rows of {} scored by {}",
            frame.rows,
            args.data,
            args.model.display()
        );
        print_metrics(schema, &[("data", &metrics)]);
    }
    Ok(())
}
