//! Crash safety with real processes and SIGKILL: a training job resumes from its checkpoint and
//! registers exactly one version; an interrupted upload leaves nothing behind.

use crate::server::{ServerProcess, request};
use serde_json::{Value, json};
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

const DIGITS: &[u8] = include_bytes!("../../../../datasets/digits.csv");

#[test]
fn a_job_killed_mid_run_resumes_from_its_checkpoint_and_registers_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--checkpoint-every", "2"]);
    let (status, text) = server.request("POST", "/api/v1/datasets?name=digits", DIGITS);
    assert_eq!(status, 201, "{text}");
    // Big enough that the run lasts a few seconds, so the kill lands in the middle.
    let body = json!({"kind": "train", "dataset": "digits", "hidden": [256, 256], "epochs": 60, "patience": 0});
    let job = server.json("POST", "/api/v1/jobs", body.to_string().as_bytes());
    let id = job["id"].as_str().unwrap().to_string();
    let at_kill = server.wait_job(&id, |j| j["checkpoint_epoch"].as_u64().unwrap_or(0) >= 4);
    assert_eq!(
        at_kill["state"], "running",
        "finished before the kill: {at_kill}"
    );
    server.kill();

    let server = ServerProcess::start(dir.path(), &["--checkpoint-every", "2"]);
    let job = server.wait_job(&id, |j| j["state"] != "running" && j["state"] != "queued");
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 2, "{job}");
    assert_eq!(
        job["history"].as_array().unwrap().len(),
        60,
        "one row per epoch"
    );

    let (_, events) = server.request("GET", &format!("/api/v1/jobs/{id}/events"), b"");
    let resumed: Vec<Value> = events
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str::<Value>(d.trim()).unwrap())
        .filter(|e| e["kind"] == "resumed")
        .collect();
    assert_eq!(resumed.len(), 1, "{events}");
    let from = resumed[0]["data"]["epoch"].as_u64().unwrap();
    assert!(from >= 4, "resumed from epoch {from}");

    let model = server.json("GET", "/api/v1/models/digits", b"");
    let versions = model["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1, "{model}");
    assert_eq!(versions[0]["job_id"], json!(id));
    let version = server.json("GET", "/api/v1/models/digits/versions/1", b"");
    assert_eq!(version["manifest"]["lineage"]["epochs_run"], 60);
}

#[test]
fn a_killed_upload_leaves_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    // Half a body, then the server dies.
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    write!(
        stream,
        "POST /api/v1/datasets?name=half HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\
         Authorization: Bearer {}\r\n\r\n",
        DIGITS.len(),
        server.key
    )
    .unwrap();
    stream.write_all(&DIGITS[..DIGITS.len() / 2]).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    server.kill();

    // A whole body, and the server dies while it handles it.
    let server = ServerProcess::start(dir.path(), &[]);
    let (addr, key) = (server.addr.clone(), server.key.clone());
    let upload = std::thread::spawn(move || {
        std::panic::catch_unwind(|| {
            request(&addr, &key, "POST", "/api/v1/datasets?name=whole", DIGITS)
        })
    });
    std::thread::sleep(Duration::from_millis(5));
    server.kill();
    let _ = upload.join();

    let server = ServerProcess::start(dir.path(), &[]);
    let datasets = server.json("GET", "/api/v1/datasets", b"");
    let names: Vec<&str> = datasets
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"half"), "{datasets}");
    // The racing upload either landed whole or not at all.
    if names.contains(&"whole") {
        let shown = server.json("GET", "/api/v1/datasets/whole", b"");
        assert_eq!(shown["rows"], 1797);
    }
    assert_eq!(server.json("GET", "/api/v1/models", b""), json!([]));
    every_blob_is_whole(dir.path());
}

/// Every file under the blob prefix is named by the SHA-256 of its content.
fn every_blob_is_whole(data_dir: &Path) {
    let blobs = data_dir.join("blobs/sha256");
    let Ok(entries) = std::fs::read_dir(&blobs) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            aiaas_artifact::sha256_hex(&bytes),
            name,
            "half-written blob {name}"
        );
    }
}

#[test]
fn sigterm_checkpoints_the_running_job_and_the_next_start_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    // Checkpoints only on shutdown, so the resume point must come from the SIGTERM.
    let server = ServerProcess::start(dir.path(), &["--checkpoint-every", "0"]);
    let (status, text) = server.request("POST", "/api/v1/datasets?name=digits", DIGITS);
    assert_eq!(status, 201, "{text}");
    let body = json!({"kind": "train", "dataset": "digits", "hidden": [256, 256], "epochs": 60, "patience": 0});
    let job = server.json("POST", "/api/v1/jobs", body.to_string().as_bytes());
    let id = job["id"].as_str().unwrap().to_string();
    server.wait_job(&id, |j| j["progress"]["epoch"].as_u64().unwrap_or(0) >= 2);

    let mut server = server;
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -TERM failed");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status}");

    let server = ServerProcess::start(dir.path(), &["--checkpoint-every", "0"]);
    let job = server.wait_job(&id, |j| j["state"] != "running" && j["state"] != "queued");
    assert_eq!(job["state"], "succeeded", "{job}");
    let (_, events) = server.request("GET", &format!("/api/v1/jobs/{id}/events"), b"");
    let kinds: Vec<&str> = events
        .lines()
        .filter_map(|l| l.strip_prefix("event:"))
        .map(str::trim)
        .collect();
    let at = |kind: &str| {
        kinds
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_else(|| panic!("no {kind}: {kinds:?}"))
    };
    assert!(at("checkpoint") < at("suspended"), "{kinds:?}");
    assert!(at("suspended") < at("resumed"), "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "epoch").count(),
        60,
        "no epoch lost or repeated: {kinds:?}"
    );
    let model = server.json("GET", "/api/v1/models/digits", b"");
    assert_eq!(model["versions"].as_array().unwrap().len(), 1);
}

#[test]
fn a_second_server_on_the_same_data_dir_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let first = ServerProcess::start(dir.path(), &[]);
    let out = crate::server::serve_on_loopback(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another aiaas server is using"), "{stderr}");
    // The first one is untouched.
    assert_eq!(first.request("GET", "/api/v1/health", b"").0, 200);
}
