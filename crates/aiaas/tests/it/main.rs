//! The `aiaas` binary as a user runs it: accuracy on the bundled samples, bad input, the
//! eval and predict commands on a trained bundle, and the client commands.

mod accuracy;
mod admin_key;
mod architecture;
mod bad_input;
mod certificates;
mod client;
mod commands;
mod crash;
mod logs;
mod optimize;
mod readme;
mod remote;
mod server;
mod tls;

use std::path::Path;
use std::process::{Command, Output};

/// Run `aiaas` in `dir` with `args`.
pub fn aiaas(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aiaas"))
        .args(args)
        .current_dir(dir)
        .env("AIAAS_THREADS", "2")
        // A server URL in the caller's environment would send `train` to that server.
        .env_remove("AIAAS_URL")
        .env_remove("AIAAS_API_KEY")
        .output()
        .expect("the aiaas binary runs")
}

/// Run `aiaas train ... --json` in a fresh directory and return its one JSON object.
pub fn train_json(args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec!["train"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = aiaas(dir.path(), &all);
    assert!(
        out.status.success(),
        "aiaas {all:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON object")
}
