//! What the binary's benches share: a data directory of many models, running the `aiaas`
//! binary, timing its floor, fetching a binary body. Include it beside `server` (the tests'
//! `ServerProcess`).

use crate::server::{ServerProcess, request};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Fills data directory `dir` with `count` models `{prefix}0`, `{prefix}1`, ...: the first
/// trained on `dataset` (`(name, CSV)`) by a train job with `fields` (its JSON fields beside
/// `kind`, `dataset` and `name`), the others imported copies of it; each aliased `alias` if
/// given.
pub fn register_copies(
    dir: &Path,
    (dataset, csv): (&str, &[u8]),
    fields: &str,
    (prefix, count): (&str, usize),
    alias: Option<&str>,
) {
    let server = ServerProcess::start(dir, &[]);
    let path = format!("/api/v1/datasets?name={dataset}");
    let (status, text) = server.request("POST", &path, csv);
    assert_eq!(status, 201, "{text}");
    let job =
        format!(r#"{{"kind": "train", "dataset": "{dataset}", "name": "{prefix}0", {fields}}}"#);
    let job = server.json("POST", "/api/v1/jobs", job.as_bytes());
    let id = job["id"].as_str().unwrap();
    let job = server.wait_job(id, |j| j["state"] != "queued" && j["state"] != "running");
    assert_eq!(job["state"], "succeeded", "{job}");
    let path = format!("/api/v1/models/{prefix}0/versions/1/archive");
    let archive = raw_get(&server.addr, &server.key, &path);
    for i in 0..count {
        if i > 0 {
            let path = format!("/api/v1/models/{prefix}{i}/versions");
            let (status, text) = server.request("POST", &path, &archive);
            assert_eq!(status, 201, "{text}");
        }
        if let Some(alias) = alias {
            let path = format!("/api/v1/models/{prefix}{i}/aliases/{alias}");
            let (status, text) = server.request("PUT", &path, br#"{"version": 1}"#);
            assert!(status < 300, "{text}");
        }
    }
    server.kill();
}

/// Polls `GET path` (no key) on `addr` until it answers 200; at most 60 s.
pub fn wait_ok(addr: &str, path: &str) {
    let started = Instant::now();
    loop {
        // `request` panics while nothing listens yet.
        let ok = std::panic::catch_unwind(|| request(addr, "", "GET", path, b"").0 == 200);
        if ok.unwrap_or(false) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{path} never answered 200"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Run the `aiaas` binary in `dir`; its standard output (a failure ends the bench with its
/// standard error).
pub fn aiaas(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_aiaas"))
        .args(args)
        .current_dir(dir)
        .env_remove("AIAAS_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aiaas {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Milliseconds `aiaas --version` takes, `runs` times: process start alone, the floor of a
/// start-up.
pub fn version_ms(runs: usize) -> Vec<f64> {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            let status = Command::new(env!("CARGO_BIN_EXE_aiaas"))
                .arg("--version")
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

/// The body of a GET of an archive (binary, sent with its length), with `key` unless it is
/// empty.
pub fn raw_get(addr: &str, key: &str, path: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let auth = if key.is_empty() {
        String::new()
    } else {
        format!("Authorization: Bearer {key}\r\n")
    };
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let start = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&response[..start]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("content-length"),
        "archives are sent with a length"
    );
    response[start..].to_vec()
}
