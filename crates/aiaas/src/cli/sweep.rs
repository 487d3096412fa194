//! `aiaas sweep`: its flags, and the short forms of a grid and of a random space read into the
//! request's types (`lr=0.1,0.01;hidden=32,64,32x32`, `lr=log:1e-4..1e-1;batch_size=int:16..128`).

use super::{ServerOpts, TaskArg};
use aiaas_types::{Distribution, ModelName, ParamValue, SweepId, SweepMetric};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SweepArgs {
    #[command(flatten)]
    pub server: ServerOpts,
    #[command(subcommand)]
    pub command: Option<SweepCommand>,
    #[command(flatten)]
    pub run: SweepRun,
}

/// A new sweep: what `aiaas sweep` without a subcommand submits and follows.
#[derive(Args)]
pub struct SweepRun {
    /// Dataset on the server, or a CSV file or bundled sample to upload first.
    #[arg(long)]
    pub data: Option<String>,
    /// With a file to upload: the column to predict (default: `target`).
    #[arg(long)]
    pub target: Option<String>,
    /// With a file to upload: the task, instead of the inferred one.
    #[arg(long, value_enum)]
    pub task: Option<TaskArg>,
    /// Every combination of these values: `lr=0.1,0.01;hidden=32,64,32x32`.
    #[arg(long, value_parser = parse_grid, conflicts_with_all = ["random", "space"])]
    pub grid: Option<BTreeMap<String, Vec<ParamValue>>>,
    /// This many trials drawn at random from --space.
    #[arg(long, requires = "space")]
    pub random: Option<u32>,
    /// Where --random draws from: `lr=log:1e-4..1e-1;batch_size=int:16..128;
    /// weight_decay=0..0.1;hidden=32,64,32x32` (a range, log or int range, or a choice).
    #[arg(long, value_parser = parse_space, requires = "random")]
    pub space: Option<BTreeMap<String, Distribution>>,
    /// Seed of the random draw (default 0).
    #[arg(long)]
    pub draw_seed: Option<u64>,
    /// Options every trial shares, as grid values: `epochs=50;optimizer=adamw`.
    #[arg(long, value_parser = parse_grid)]
    pub base: Option<BTreeMap<String, Vec<ParamValue>>>,
    /// What picks the best trial, on the validation split: accuracy, f1_macro, log_loss, r2,
    /// rmse or mae (default: accuracy, r2 for a regression).
    #[arg(long)]
    pub metric: Option<SweepMetric>,
    /// Model to register the best trial under (default: the dataset's name).
    #[arg(long)]
    pub name: Option<ModelName>,
    /// Fraction of rows held out for validation, where trials are compared.
    #[arg(long, default_value_t = 0.1)]
    pub val_split: f64,
    /// Fraction of rows held out for the test report.
    #[arg(long, default_value_t = 0.2)]
    pub test_split: f64,
}

#[derive(Subcommand)]
pub enum SweepCommand {
    /// List the sweeps, newest first.
    List,
    /// A sweep's trials as a table, best first.
    Show { id: SweepId },
    /// Cancel a sweep and its trials.
    Cancel { id: SweepId },
    /// Follow a sweep until it ends, then show it.
    Follow { id: SweepId },
}

/// `key=v1,v2;key2=...`; a value of `hidden` is layer widths joined by `x` (`32x32`, or `none`).
pub fn parse_grid(text: &str) -> Result<BTreeMap<String, Vec<ParamValue>>, String> {
    entries(text)?
        .map(|(key, values)| Ok((key.to_string(), param_values(key, values)?)))
        .collect()
}

/// `key=low..high` (uniform), `key=log:low..high`, `key=int:low..high`, or `key=v1,v2` (a
/// choice).
pub fn parse_space(text: &str) -> Result<BTreeMap<String, Distribution>, String> {
    entries(text)?
        .map(|(key, spec)| {
            let range = |bounds: &str| -> Result<[f64; 2], String> {
                let (lo, hi) = bounds
                    .split_once("..")
                    .ok_or_else(|| format!("{key}: a range is LOW..HIGH, got {bounds:?}"))?;
                let number = |n: &str| {
                    n.trim()
                        .parse::<f64>()
                        .map_err(|_| format!("{key}: {n:?} is not a number"))
                };
                Ok([number(lo)?, number(hi)?])
            };
            let dist = if let Some(bounds) = spec.strip_prefix("log:") {
                Distribution::LogUniform(range(bounds)?)
            } else if let Some(bounds) = spec.strip_prefix("int:") {
                let [lo, hi] = range(bounds)?;
                if lo.fract() != 0.0 || hi.fract() != 0.0 {
                    return Err(format!(
                        "{key}: an int range has whole bounds, got {spec:?}"
                    ));
                }
                Distribution::IntUniform([lo as i64, hi as i64])
            } else if spec.contains("..") {
                Distribution::Uniform(range(spec)?)
            } else {
                Distribution::Choice(param_values(key, spec)?)
            };
            Ok((key.to_string(), dist))
        })
        .collect()
}

/// The `key=rest` entries of a `;`-separated list.
fn entries(text: &str) -> Result<impl Iterator<Item = (&str, &str)>, String> {
    let parts: Vec<(&str, &str)> = text
        .split(';')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                .ok_or_else(|| format!("expected OPTION=VALUES, got {part:?}"))
        })
        .collect::<Result<_, _>>()?;
    if parts.is_empty() {
        return Err("names no option".to_string());
    }
    Ok(parts.into_iter())
}

/// `v1,v2,...` as values of option `key`.
fn param_values(key: &str, values: &str) -> Result<Vec<ParamValue>, String> {
    values
        .split(',')
        .map(|v| param_value(key, v.trim()))
        .collect()
}

fn param_value(key: &str, value: &str) -> Result<ParamValue, String> {
    if key == "hidden" {
        if value == "none" {
            return Ok(ParamValue::Layers(Vec::new()));
        }
        return value
            .split('x')
            .map(|w| w.parse::<usize>())
            .collect::<Result<_, _>>()
            .map(ParamValue::Layers)
            .map_err(|_| format!("hidden: {value:?} is not layer widths such as 32x32"));
    }
    Ok(if let Ok(b) = value.parse::<bool>() {
        ParamValue::Bool(b)
    } else if let Ok(i) = value.parse::<i64>() {
        ParamValue::Int(i)
    } else if let Ok(x) = value.parse::<f64>() {
        ParamValue::Float(x)
    } else {
        ParamValue::Text(value.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_reads_as_the_issue_writes_it() {
        let grid = parse_grid("lr=0.1,0.01; hidden=32,64,32x32;optimizer=adamw").unwrap();
        assert_eq!(
            grid["lr"],
            [ParamValue::Float(0.1), ParamValue::Float(0.01)]
        );
        assert_eq!(
            grid["hidden"],
            [
                ParamValue::Layers(vec![32]),
                ParamValue::Layers(vec![64]),
                ParamValue::Layers(vec![32, 32])
            ]
        );
        assert_eq!(grid["optimizer"], [ParamValue::Text("adamw".into())]);
        assert_eq!(
            parse_grid("epochs=5").unwrap()["epochs"],
            [ParamValue::Int(5)]
        );
        for bad in ["", "lr", "lr=", "hidden=32xx", "=1"] {
            assert!(parse_grid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_space_reads_ranges_and_choices() {
        let space =
            parse_space("lr=log:1e-4..1e-1;batch_size=int:16..128;wd=0..0.1;hidden=32,64").unwrap();
        assert_eq!(space["lr"], Distribution::LogUniform([1e-4, 1e-1]));
        assert_eq!(space["batch_size"], Distribution::IntUniform([16, 128]));
        assert_eq!(space["wd"], Distribution::Uniform([0.0, 0.1]));
        assert_eq!(
            space["hidden"],
            Distribution::Choice(vec![
                ParamValue::Layers(vec![32]),
                ParamValue::Layers(vec![64])
            ])
        );
        for bad in ["lr=log:1e-4", "lr=a..b", "n=int:1.5..3"] {
            assert!(parse_space(bad).is_err(), "{bad}");
        }
    }
}
