//! The client commands (`datasets`, `jobs`, `models`, `train --server`) without a real server:
//! argument checks, an unreachable server, and a fake server on `127.0.0.1:0` that answers
//! canned HTTP responses, one per connection, and reports the requests it saw.

use crate::aiaas;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Output;
use std::sync::mpsc;

/// One request as the fake server read it.
#[derive(Debug)]
struct Seen {
    method: String,
    /// Path and query, e.g. `/api/v1/jobs/j1/events?after=3`.
    target: String,
    body: Vec<u8>,
}

/// A complete HTTP response that closes the connection after it.
fn response(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn json_response(status: &str, body: &str) -> Vec<u8> {
    response(status, "application/json", body.as_bytes())
}

/// A server-sent event stream that ends when the connection closes.
fn sse_response(events: &[(u64, &str, &str)]) -> Vec<u8> {
    let mut r =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n".to_vec();
    for (seq, kind, data) in events {
        let data = format!(r#"{{"seq": {seq}, "at_ms": 0, "kind": "{kind}", "data": {data}}}"#);
        r.extend_from_slice(
            format!(": keep-alive\n\nid: {seq}\nevent: {kind}\ndata: {data}\n\n").as_bytes(),
        );
    }
    r
}

/// Serves `responses` in order, one per connection; returns the server URL and a channel of the
/// requests seen. The thread is left waiting if the client stops early; it ends with the test
/// process.
fn fake_server(responses: Vec<Vec<u8>>) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for canned in responses {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut parts = request_line.split_whitespace();
            let seen = Seen {
                method: parts.next().unwrap_or_default().to_string(),
                target: parts.next().unwrap_or_default().to_string(),
                body,
            };
            // Reported before answering, so the request is in the channel by the time the
            // client has its answer.
            if tx.send(seen).is_err() {
                return;
            }
            let mut stream = reader.into_inner();
            stream.write_all(&canned).unwrap();
            stream.flush().unwrap();
        }
    });
    (url, rx)
}

fn run(args: &[&str]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = aiaas(dir.path(), args);
    (out, dir)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `(method, target)` of every request seen.
fn requests(seen: &[Seen]) -> Vec<(String, String)> {
    seen.iter()
        .map(|s| (s.method.clone(), s.target.clone()))
        .collect()
}

fn pair(method: &str, target: &str) -> (String, String) {
    (method.to_string(), target.to_string())
}

#[test]
fn bad_arguments_are_refused_before_any_request() {
    let (o, _dir) = run(&["models", "alias", "iris", "champion", "latest"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("invalid value 'latest' for '<VERSION>'"),
        "{err}"
    );

    let (o, _dir) = run(&["jobs", "show", "../etc"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("invalid job id name"), "{}", stderr(&o));

    let (o, _dir) = run(&["models", "export", "iris", "a/b"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("neither a version number nor an alias"));

    let (o, _dir) = run(&["jobs", "list", "--state", "sleeping"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("possible values: queued, running"));

    // --name only means something on a server.
    let (o, _dir) = run(&["train", "--data", "iris", "--name", "flowers"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--server"), "{}", stderr(&o));
}

#[test]
fn an_unreachable_server_is_named_with_the_way_to_start_one() {
    let (o, _dir) = run(&["datasets", "list", "--server", "http://127.0.0.1:1"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains(
            "cannot reach the aiaas server at http://127.0.0.1:1 (start it with `aiaas serve`"
        ),
        "{err}"
    );

    // AIAAS_URL alone sends training to the server.
    let dir = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_aiaas"))
        .args(["train", "--data", "iris", "--epochs", "1"])
        .current_dir(dir.path())
        .env("AIAAS_URL", "http://127.0.0.1:1")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("cannot reach the aiaas server"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("models").exists());
}

#[test]
fn the_servers_error_message_is_shown_with_its_status() {
    let (url, seen) = fake_server(vec![json_response(
        "404 Not Found",
        r#"{"error": "model \"x\" not found"}"#,
    )]);
    let (o, _dir) = run(&["models", "show", "x", "--server", &url]);
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o).trim(),
        r#"error: server answered 404 Not Found: model "x" not found"#
    );
    let seen: Vec<Seen> = seen.try_iter().collect();
    assert_eq!(requests(&seen), [pair("GET", "/api/v1/models/x")]);
}

#[test]
fn lists_print_a_table_or_the_raw_json() {
    let list = r#"[{"name": "iris", "task": "classification", "target": "target", "rows": 150,
        "size_bytes": 4608, "created_at_ms": 0}, {"name": "odd"}]"#;
    let (url, _seen) = fake_server(vec![
        json_response("200 OK", list),
        json_response("200 OK", list),
    ]);
    let (o, _dir) = run(&["datasets", "list", "--server", &url]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    assert!(lines[0].starts_with("NAME  TASK"), "{lines:?}");
    assert!(lines[1].contains("4.5 KiB") && lines[1].contains("1970-01-01 00:00:00"));
    // Missing fields print as "-".
    assert!(lines[2].starts_with("odd   -"), "{lines:?}");

    let (o, _dir) = run(&["datasets", "--server", &url, "list", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["rows"], 150);
}

const EPOCH: &str = r#"{"epoch": 1, "epochs": 2, "train_loss": 0.5, "val_loss": 0.4, "val_metric": 0.9, "lr": 0.001}"#;

#[test]
fn following_a_job_reconnects_after_the_last_event_seen() {
    let (url, seen) = fake_server(vec![
        // The stream drops after the first epoch...
        sse_response(&[
            (1, "queued", "{}"),
            (2, "started", "{}"),
            (3, "epoch", EPOCH),
        ]),
        json_response("200 OK", r#"{"id": "j1", "state": "running"}"#),
        // ...and the client picks it up after event 3.
        sse_response(&[(4, "epoch", EPOCH), (5, "succeeded", "{}")]),
        json_response(
            "200 OK",
            r#"{"id": "j1", "state": "succeeded", "result": ["iris", 3],
                "progress": {"epoch": 2, "epochs": 2, "train_loss": 0.25, "val_loss": 0.3,
                "val_metric": 0.95, "lr": 0.001}}"#,
        ),
    ]);
    let (o, _dir) = run(&["jobs", "follow", "j1", "--server", &url]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("job j1 succeeded\nmodel iris version 3\n"),
        "{out}"
    );
    assert!(out.contains("val metric 0.9500"), "{out}");
    let seen: Vec<Seen> = seen.try_iter().collect();
    assert_eq!(
        requests(&seen),
        [
            pair("GET", "/api/v1/jobs/j1/events?after=0"),
            pair("GET", "/api/v1/jobs/j1"),
            pair("GET", "/api/v1/jobs/j1/events?after=3"),
            pair("GET", "/api/v1/jobs/j1"),
        ]
    );
}

#[test]
fn a_failed_job_exits_non_zero_with_its_error() {
    let (url, _seen) = fake_server(vec![
        sse_response(&[(1, "failed", r#"{"error": "loss became NaN"}"#)]),
        json_response(
            "200 OK",
            r#"{"id": "j2", "state": "failed", "error": "loss became NaN"}"#,
        ),
    ]);
    let (o, _dir) = run(&["jobs", "follow", "j2", "--server", &url, "--json"]);
    assert!(!o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["state"], "failed");
    assert!(
        stderr(&o).contains("job j2 failed: loss became NaN"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn remote_training_uploads_the_sample_and_submits_the_flags() {
    let (url, seen) = fake_server(vec![
        json_response(
            "404 Not Found",
            r#"{"error": "dataset \"iris\" not found"}"#,
        ),
        json_response("201 Created", r#"{"name": "iris", "rows": 150}"#),
        json_response("201 Created", r#"{"id": "j3", "state": "queued"}"#),
        sse_response(&[
            (1, "queued", "{}"),
            (2, "epoch", EPOCH),
            (3, "succeeded", "{}"),
        ]),
        json_response(
            "200 OK",
            r#"{"id": "j3", "state": "succeeded", "result_model": "flowers", "result_version": 1}"#,
        ),
    ]);
    let (o, dir) = run(&[
        "train",
        "--server",
        &url,
        "--data",
        "iris",
        "--name",
        "flowers",
        "--epochs",
        "3",
        "--optimizer",
        "adamw",
        "--hidden",
        "8,4",
        "--val-split",
        "0.2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("job j3 succeeded\nmodel flowers version 1\n"));
    assert!(
        !dir.path().join("models").exists(),
        "nothing is written locally"
    );

    let seen: Vec<Seen> = seen.try_iter().collect();
    assert_eq!(
        requests(&seen),
        [
            pair("GET", "/api/v1/datasets/iris"),
            pair("POST", "/api/v1/datasets?name=iris"),
            pair("POST", "/api/v1/jobs"),
            pair("GET", "/api/v1/jobs/j3/events?after=0"),
            pair("GET", "/api/v1/jobs/j3"),
        ]
    );
    assert!(
        seen[1].body.starts_with(b"sepal_length_cm,"),
        "the iris CSV is uploaded"
    );
    let job: serde_json::Value = serde_json::from_slice(&seen[2].body).unwrap();
    assert_eq!(job["kind"], "train");
    assert_eq!(job["dataset"], "iris");
    assert_eq!(job["name"], "flowers");
    assert_eq!(job["epochs"], 3);
    assert_eq!(job["optimizer"], "adamw");
    assert_eq!(job["hidden"], serde_json::json!([8, 4]));
    assert_eq!(job["val_split"], 0.2);
    assert_eq!(job["test_split"], 0.2);
    assert_eq!(job["seed"], 42);
}

#[test]
fn export_writes_the_archive_and_import_reads_its_model_name() {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in [
        ("manifest.json", &br#"{"name": "iris"}"#[..]),
        ("weights.safetensors", &b"weights"[..]),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, bytes).unwrap();
    }
    let archive = builder.into_inner().unwrap();

    let (url, seen) = fake_server(vec![
        response("200 OK", "application/x-tar", &archive),
        json_response("201 Created", r#"{"model": "iris", "version": 4}"#),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let o = aiaas(
        dir.path(),
        &["models", "export", "iris", "champion", "--server", &url],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let file = dir.path().join("iris-champion.tar");
    assert_eq!(std::fs::read(&file).unwrap(), archive);
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporary file is left behind");

    let o = aiaas(
        dir.path(),
        &["models", "import", "iris-champion.tar", "--server", &url],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "registered model iris version 4\n");

    let seen: Vec<Seen> = seen.try_iter().collect();
    assert_eq!(
        requests(&seen),
        [
            pair("GET", "/api/v1/models/iris/versions/champion/archive"),
            pair("POST", "/api/v1/models/iris/versions"),
        ]
    );
    // What is sent is the same bundle, repacked as a plain tar.
    let unpack = |bytes: &[u8]| aiaas_artifact::archive::unpack(bytes, usize::MAX).unwrap();
    assert!(
        unpack(&seen[1].body) == unpack(&archive),
        "the archive's files are sent"
    );
}
