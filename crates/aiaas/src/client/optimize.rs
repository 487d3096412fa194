//! `aiaas optimize ... --server URL`: the recipe submitted as an optimize job; the report comes
//! back as the job's `report` event and is printed like a local run's.

use super::jobs;
use super::show::{at, text};
use super::{Access, Client, block_on};
use crate::cli::OptimizeCommon;
use crate::output::optimize::{print_report, report_json};
use aiaas_types::{JobSpec, ModelName, OptimizeJob, OptimizeReport, Recipe};
use anyhow::Context;

pub fn run(
    server: &str,
    access: &Access,
    common: &OptimizeCommon,
    recipe: Recipe,
) -> anyhow::Result<()> {
    for (flag, given) in [
        ("--data", common.data.is_some()),
        ("--out", common.out.is_some()),
    ] {
        if given {
            anyhow::bail!(
                "{flag} is for local runs; on a server the parent's registered dataset is used and \
                 the variant is registered as the model's next version"
            );
        }
    }
    let (name, version) = match common.model.split_once('@') {
        Some((name, version)) => (name, Some(version.to_string())),
        None => (common.model.as_str(), None),
    };
    let model = ModelName::new(name)
        .with_context(|| format!("--model {}: expected NAME or NAME@VERSION", common.model))?;
    let spec = JobSpec::Optimize(OptimizeJob {
        model,
        version,
        recipe,
        max_drop: common.max_drop,
    });
    let client = Client::new(server, access)?;
    block_on(async {
        let id = jobs::submit(&client, &spec).await?;
        let (job, report) = jobs::follow_with_report(&client, &id).await?;
        let place = jobs::result(&job).map(|(m, v)| format!("registered as {m} version {v}"));
        let report: Option<OptimizeReport> = report.and_then(|r| serde_json::from_value(r).ok());
        match &report {
            Some(r) if common.json => println!("{}", report_json(r, place.as_deref())),
            Some(r) => print_report(r, place.as_deref()),
            None => {}
        }
        if report.is_none() || text(at(&job, "/state")) != "succeeded" {
            jobs::finish(&job, common.json && report.is_none())?;
        }
        Ok(())
    })
}
