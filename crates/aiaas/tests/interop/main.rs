//! Tests against parts from outside the project (`tritonclient`, the Prometheus client's parser,
//! ONNX Runtime, scikit-learn, a headless Chromium, a PostgreSQL server and an S3 server). Where a part is missing, its
//! tests are reported as ignored, with the reason, in the summary `cargo test` prints, instead of
//! passing without running: this target has its own harness (`libtest-mimic`) because the
//! standard one cannot decide that at run time. CI requires every part, so nothing is ignored
//! there.

#[path = "../it/certificates.rs"]
mod certificates;
mod cluster;
mod dashboard;
mod onnxruntime;
mod prometheus;
mod scikit_learn;
#[allow(dead_code)] // Shared with the `it` tests, which use all of it.
#[path = "../it/server.rs"]
mod server;
mod tritonclient;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use std::process::ExitCode;
use std::sync::RwLock;

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let tritonclient: [(&str, fn()); 2] = [
        (
            "tritonclient::over_http_and_grpc",
            tritonclient::over_http_and_grpc,
        ),
        ("tritonclient::over_https", tritonclient::over_https),
    ];
    let mut trials: Vec<Trial> = tritonclient
        .into_iter()
        .map(|(name, test)| needing(name, tritonclient::missing, test))
        .collect();
    trials.push(needing(
        "prometheus::the_scrape_parses_with_every_family",
        prometheus::missing,
        prometheus::the_scrape_parses_with_every_family,
    ));
    trials.push(needing(
        "onnxruntime::models_answer_as_onnxruntime_does",
        onnxruntime::missing,
        onnxruntime::models_answer_as_onnxruntime_does,
    ));
    trials.push(needing(
        "onnxruntime::served_models_answer_as_onnxruntime_does",
        onnxruntime::missing_with_client,
        onnxruntime::served_models_answer_as_onnxruntime_does,
    ));
    trials.push(needing(
        "onnxruntime::exported_models_answer_as_aiaas_predict_does",
        onnxruntime::missing,
        onnxruntime::exported_models_answer_as_aiaas_predict_does,
    ));
    trials.push(needing(
        "onnxruntime::scikit_learn_models_adopted_on_iris_are_optimized",
        onnxruntime::missing,
        onnxruntime::scikit_learn_models_adopted_on_iris_are_optimized,
    ));
    trials.push(needing(
        "onnxruntime::node_tests_of_the_operators_served_pass",
        onnxruntime::missing,
        onnxruntime::node_tests_of_the_operators_served_pass,
    ));
    trials.push(needing(
        "scikit_learn::convex_models_reach_scikit_learns_optimum",
        scikit_learn::missing,
        scikit_learn::convex_models_reach_scikit_learns_optimum,
    ));
    trials.push(needing(
        "dashboard::in_chromium",
        dashboard::missing,
        dashboard::in_chromium,
    ));
    trials.push(needing_alone(
        "dashboard::renders_100_models_and_1000_versions_in_time",
        dashboard::missing_with_onnx,
        dashboard::renders_100_models_and_1000_versions_in_time,
    ));
    trials.push(needing(
        "cluster::refused_s3_credentials_stop_the_server_at_start",
        cluster::s3_missing,
        cluster::refused_s3_credentials_stop_the_server_at_start,
    ));
    trials.push(needing(
        "cluster::replicas_and_workers_share_jobs_aliases_and_the_prediction_log",
        cluster::missing,
        cluster::replicas_and_workers_share_jobs_aliases_and_the_prediction_log,
    ));
    trials.push(needing(
        "cluster::a_sweep_spreads_its_trials_over_the_workers",
        cluster::missing,
        cluster::a_sweep_spreads_its_trials_over_the_workers,
    ));
    trials.push(Trial::test(
        "a_missing_part_is_reported_not_passed",
        a_missing_part_is_reported_not_passed,
    ));
    libtest_mimic::run(&args, trials).exit_code()
}

/// Held shared by every test, and alone by one that times something, so that it runs while no
/// other test loads the machine.
static QUIET: RwLock<()> = RwLock::new(());

/// A test that runs `test` when `missing` finds nothing missing, and is ignored with its reason
/// otherwise.
fn needing(name: &str, missing: fn() -> Result<Option<String>, Failed>, test: fn()) -> Trial {
    trial(name, missing, test, false)
}

/// [`needing`], run while no other test runs: for a test that times something.
fn needing_alone(name: &str, missing: fn() -> Result<Option<String>, Failed>, test: fn()) -> Trial {
    trial(name, missing, test, true)
}

fn trial(
    name: &str,
    missing: fn() -> Result<Option<String>, Failed>,
    test: fn(),
    alone: bool,
) -> Trial {
    Trial::ignorable_test(name, move || match missing()? {
        Some(reason) => Ok(Completion::ignored_with(reason)),
        None => {
            if alone {
                let _alone = QUIET.write().unwrap_or_else(|e| e.into_inner());
                test();
            } else {
                let _shared = QUIET.read().unwrap_or_else(|e| e.into_inner());
                test();
            }
            Ok(Completion::Completed)
        }
    })
}

/// Runs the Python script at `path` with `args`, and returns what it printed; its failure, with
/// what it printed, fails the test.
pub fn run_python(path: &std::path::Path, args: &[&std::ffi::OsStr]) -> String {
    let out = std::process::Command::new("python3")
        .arg(path)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} failed:\n{}\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Why tests that need a Python package cannot run here, if they cannot: `python3` cannot
/// `import` it (`install` says how to get it). A failure instead where the environment variable
/// `require` is set (CI), so that they never skip there.
pub fn python_missing(
    import: &str,
    install: &str,
    require: &str,
) -> Result<Option<String>, Failed> {
    let found = std::process::Command::new("python3")
        .args(["-c", &format!("import {import}")])
        .output()
        .is_ok_and(|o| o.status.success());
    match (found, std::env::var_os(require)) {
        (true, _) => Ok(None),
        (false, Some(_)) => {
            Err(format!("{require} is set but python3 cannot import {import}").into())
        }
        (false, None) => {
            let package = install.split("==").next().unwrap_or(install);
            Ok(Some(format!(
                "{package} is not installed (pip install '{install}')"
            )))
        }
    }
}

/// This binary run again where `python3` cannot be found: the tritonclient test is counted as
/// ignored, with the reason, on standard output; where CI requires it, the run fails.
fn a_missing_part_is_reported_not_passed() -> Result<(), Failed> {
    let nothing = tempfile::tempdir()?;
    let run = |require: bool| {
        let mut command = std::process::Command::new(std::env::current_exe()?);
        command
            .args(["--exact", "tritonclient::over_http_and_grpc"])
            .env("PATH", nothing.path())
            .env_remove("AIAAS_REQUIRE_TRITONCLIENT");
        if require {
            command.env("AIAAS_REQUIRE_TRITONCLIENT", "1");
        }
        command.output()
    };
    let out = run(false)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success()
        || !stdout.contains("ignored (tritonclient[http,grpc] is not installed")
        || !stdout.contains("0 passed; 0 failed; 1 ignored")
    {
        return Err(format!("not reported as ignored:\n{stdout}").into());
    }
    let required = run(true)?;
    let stdout = String::from_utf8_lossy(&required.stdout);
    if required.status.success() || !stdout.contains("AIAAS_REQUIRE_TRITONCLIENT is set") {
        return Err(format!("a required part that is missing did not fail:\n{stdout}").into());
    }
    Ok(())
}
