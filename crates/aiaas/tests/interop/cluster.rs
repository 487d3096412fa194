//! Several processes over one PostgreSQL database and one S3 bucket (Garage), on loopback: two
//! API replicas and two workers (`aiaas serve --role api|worker`). A job
//! submitted to one replica runs on a worker; killing that worker with SIGKILL mid-job lets the
//! other finish it from its checkpoint, with the weights of an uninterrupted run; an alias moved
//! on one replica is served by the other within a second; predictions logged on both replicas
//! and labels sent to either give one quality report.

use crate::server::ServerProcess;
use libtest_mimic::Failed;
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

const DIGITS: &[u8] = include_bytes!("../../../../datasets/digits.csv");

/// Why the cluster test cannot run here, if it cannot: [`postgres_missing`] or [`s3_missing`].
pub fn missing() -> Result<Option<String>, Failed> {
    Ok(postgres_missing()?.or(s3_missing()?))
}

/// Why a test cannot use S3 here, if it cannot: no bucket named by `AIAAS_TEST_S3` (with the
/// `AWS_*` variables; `eval "$(bash tests/s3/start.sh)"` sets them). Where `AIAAS_REQUIRE_S3`
/// is set (CI), that is a failure instead.
pub fn s3_missing() -> Result<Option<String>, Failed> {
    match (
        std::env::var_os("AIAAS_TEST_S3"),
        std::env::var_os("AIAAS_REQUIRE_S3"),
    ) {
        (Some(_), _) => Ok(None),
        (None, Some(_)) => Err("AIAAS_REQUIRE_S3 is set but AIAAS_TEST_S3 is not".into()),
        (None, None) => Ok(Some(
            "no S3 server (eval \"$(bash tests/s3/start.sh)\" starts Garage)".into(),
        )),
    }
}

/// Why a test cannot use PostgreSQL here, if it cannot: no server named by
/// `AIAAS_TEST_POSTGRES` (a URL whose user may create databases). Where
/// `AIAAS_REQUIRE_POSTGRES` is set (CI), that is a failure instead.
pub fn postgres_missing() -> Result<Option<String>, Failed> {
    let server = std::env::var("AIAAS_TEST_POSTGRES").ok();
    let reachable = server
        .as_deref()
        .is_some_and(|url| psql(url, "SELECT 1").is_ok());
    match (reachable, std::env::var_os("AIAAS_REQUIRE_POSTGRES")) {
        (true, _) => Ok(None),
        (false, Some(_)) => Err(format!(
            "AIAAS_REQUIRE_POSTGRES is set but AIAAS_TEST_POSTGRES ({server:?}) is no \
             PostgreSQL server psql can reach"
        )
        .into()),
        (false, None) => Ok(Some(
            "no PostgreSQL (AIAAS_TEST_POSTGRES=$(bash tests/postgres/start.sh))".into(),
        )),
    }
}

/// Runs `sql` with `psql` against `url`; what it printed, or why it failed.
fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args([url, "-X", "-q", "-t", "-A", "-c", sql])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    match out.status.success() {
        true => Ok(String::from_utf8_lossy(&out.stdout).trim().to_string()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

/// A new, empty database for test `test` on the server `AIAAS_TEST_POSTGRES` names; its URL.
fn new_database(test: &str) -> String {
    let server = std::env::var("AIAAS_TEST_POSTGRES").unwrap();
    let name = format!("aiaas_{test}_{}", std::process::id());
    psql(&server, &format!("DROP DATABASE IF EXISTS {name}")).unwrap();
    psql(&server, &format!("CREATE DATABASE {name}")).unwrap();
    let (base, _) = server
        .rsplit_once('/')
        .expect("a URL that names a database");
    format!("{base}/{name}")
}

pub fn replicas_and_workers_share_jobs_aliases_and_the_prediction_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = new_database("cluster");
    let bucket = format!(
        "{}/cluster-{}",
        std::env::var("AIAAS_TEST_S3").unwrap(),
        std::process::id()
    );
    let shared = [
        "--database-url",
        db.as_str(),
        "--store-url",
        bucket.as_str(),
    ];
    // A short lease, so that a killed worker's job is taken over in seconds.
    let worker_flags = [&shared[..], &["--checkpoint-every", "2", "--lease-s", "3"]].concat();
    // The first replica creates the admin key; the others find it in the database.
    let a = ServerProcess::start(dir.path(), &[&shared[..], &["--role", "api"]].concat());
    let b = ServerProcess::start(dir.path(), &[&shared[..], &["--role", "api"]].concat());
    let mut workers = vec![
        ServerProcess::start_worker(dir.path(), &worker_flags),
        ServerProcess::start_worker(dir.path(), &worker_flags),
    ];
    for worker in &workers {
        let (status, text) = worker.request("GET", "/v2/health/ready", b"");
        assert_eq!(status, 200, "{text}");
        // A worker serves no API.
        assert_eq!(worker.request("GET", "/api/v1/models", b"").0, 404);
    }

    let (status, text) = a.request("POST", "/api/v1/datasets?name=digits", DIGITS);
    assert_eq!(status, 201, "{text}");
    // Big enough that the run lasts a few seconds, so the kill lands in the middle.
    let spec = json!({"kind": "train", "dataset": "digits", "hidden": [256, 256], "epochs": 40,
                      "patience": 0});
    let job = a.json("POST", "/api/v1/jobs", spec.to_string().as_bytes());
    let id = job["id"].as_str().unwrap().to_string();
    let at_kill = b.wait_job(&id, |j| j["checkpoint_epoch"].as_u64().unwrap_or(0) >= 4);
    assert_eq!(
        at_kill["state"], "running",
        "finished before the kill: {at_kill}"
    );
    let owner = at_kill["lease_owner"].as_str().unwrap().to_string();
    let victim = workers
        .iter()
        .position(|w| owner.contains(&format!(":{}/", w.child.id())))
        .unwrap_or_else(|| panic!("job {id} runs on {owner}, no worker of this test"));
    workers.remove(victim).kill();

    let done = a.wait_job(&id, |j| {
        !matches!(j["state"].as_str(), Some("running" | "queued"))
    });
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 2, "{done}");
    // The same job once more, uninterrupted: the same weights.
    let again = b.json("POST", "/api/v1/jobs", spec.to_string().as_bytes());
    let again = again["id"].as_str().unwrap().to_string();
    let again = b.wait_job(&again, |j| j["state"] == "succeeded");
    assert_eq!(again["attempts"], 1, "{again}");
    let weights = |version: u64| {
        let path = format!("/api/v1/models/digits/versions/{version}");
        a.json("GET", &path, b"")["weights_digest"].clone()
    };
    assert_eq!(
        weights(1),
        weights(2),
        "a resumed run ends where an uninterrupted one does"
    );

    // An alias moved on A is served from B within a second.
    let champion = |version: u64| {
        let path = "/api/v1/models/digits/aliases/champion";
        let body = json!({ "version": version }).to_string();
        a.json("PUT", path, body.as_bytes());
    };
    let rows: Vec<Vec<f32>> = std::str::from_utf8(DIGITS)
        .unwrap()
        .lines()
        .skip(1)
        .take(20)
        .map(|line| {
            line.split(',')
                .take(64)
                .map(|v| v.parse().unwrap())
                .collect()
        })
        .collect();
    let infer = |server: &ServerProcess, id: &str, row: &[f32]| -> Value {
        let request = json!({"id": id, "inputs": [{
            "name": "input", "datatype": "FP32", "shape": [1, 64], "data": row
        }]});
        server.json(
            "POST",
            "/v2/models/digits/infer",
            request.to_string().as_bytes(),
        )
    };
    champion(1);
    wait_for(Duration::from_secs(10), || {
        infer(&b, "warm", &rows[0])["model_version"] == "1"
    });
    champion(2);
    let moved = Instant::now();
    wait_for(Duration::from_secs(1), || {
        infer(&b, "probe", &rows[0])["model_version"] == "2"
    });
    println!(
        "an alias moved on one replica reached the other in {:?}",
        moved.elapsed()
    );
    // Each replica loads the new version beside the old one before it swaps: A too.
    wait_for(Duration::from_secs(1), || {
        infer(&a, "probe-a", &rows[0])["model_version"] == "2"
    });

    // Predictions on both replicas, labels through the other one: one report.
    let labels: Vec<String> = std::str::from_utf8(DIGITS)
        .unwrap()
        .lines()
        .skip(1)
        .take(20)
        .map(|line| line.rsplit(',').next().unwrap().to_string())
        .collect();
    for (i, row) in rows.iter().enumerate() {
        let (server, id) = match i % 2 {
            0 => (&a, format!("a-{i}")),
            _ => (&b, format!("b-{i}")),
        };
        assert_eq!(infer(server, &id, row)["model_version"], "2");
    }
    let feedback = |server: &ServerProcess, parity: usize| {
        let body: Vec<Value> = (0..rows.len())
            .filter(|i| i % 2 == parity)
            .map(|i| {
                let id = format!("{}-{i}", if parity == 0 { "a" } else { "b" });
                json!({"id": id, "label": labels[i]})
            })
            .collect();
        let path = "/api/v1/models/digits/feedback";
        server.json("POST", path, json!(body).to_string().as_bytes())
    };
    // The log is written in batches: label across until every row was there to be labelled.
    wait_for(Duration::from_secs(10), || {
        let (from_b, from_a) = (feedback(&b, 0), feedback(&a, 1));
        from_b["matched"] == 10 && from_a["matched"] == 10
    });
    for server in [&a, &b] {
        let report = server.json("GET", "/api/v1/models/digits/quality?version=2", b"");
        // The 20 rows and each replica's probe that saw the alias move.
        assert_eq!(report["logged"], 22, "{report}");
        assert_eq!(report["labelled"], 20, "{report}");
    }
}

/// A sweep submitted to an API replica runs its trials on both workers, and the best trial is
/// registered with the sweep in its lineage.
pub fn a_sweep_spreads_its_trials_over_the_workers() {
    let dir = tempfile::tempdir().unwrap();
    let db = new_database("sweep");
    let bucket = format!(
        "{}/sweep-{}",
        std::env::var("AIAAS_TEST_S3").unwrap(),
        std::process::id()
    );
    let shared = ["--database-url", &db, "--store-url", &bucket];
    let api = ServerProcess::start(dir.path(), &[&shared[..], &["--role", "api"]].concat());
    let workers = [
        ServerProcess::start_worker(dir.path(), &shared),
        ServerProcess::start_worker(dir.path(), &shared),
    ];
    let (status, text) = api.request("POST", "/api/v1/datasets?name=digits", DIGITS);
    assert_eq!(status, 201, "{text}");
    // Trials long enough (a second or so) that both workers claim some.
    let spec = json!({"dataset": "digits", "base": {"epochs": 20, "patience": 0},
                      "grid": {"lr": [0.01, 0.001], "hidden": [[64], [128]]}});
    let sweep = api.json("POST", "/api/v1/sweeps", spec.to_string().as_bytes());
    let id = sweep["id"].as_str().unwrap();
    let mut done = Value::Null;
    wait_for(Duration::from_secs(120), || {
        done = api.json("GET", &format!("/api/v1/sweeps/{id}"), b"");
        done["state"] != "running"
    });
    assert_eq!(done["state"], "succeeded", "{done}");
    let mut ran_on = std::collections::BTreeSet::new();
    for trial in done["trials"].as_array().unwrap() {
        let job = trial["job"].as_str().unwrap();
        let events = api
            .request("GET", &format!("/api/v1/jobs/{job}/events"), b"")
            .1;
        let worker = workers
            .iter()
            .position(|w| events.contains(&format!(":{}/", w.child.id())))
            .unwrap_or_else(|| panic!("trial {job} ran on no worker of this test: {events}"));
        ran_on.insert(worker);
    }
    assert_eq!(ran_on.len(), 2, "every trial ran on one worker: {done}");
    let best = &done["trials"][0];
    assert_eq!(done["result"]["trial"], best["job"], "{done}");
    let manifest = api.json("GET", "/api/v1/models/digits/versions/1/manifest", b"");
    assert_eq!(manifest["lineage"]["sweep"], id);
    assert_eq!(manifest["lineage"]["job"], best["job"]);
}

/// Polls `done` until it holds; fails after `limit`.
fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// S3 credentials the server refuses, or a bucket it does not have, stop `aiaas serve` at start
/// with a message that names the store and what it answered, before anything is served.
pub fn refused_s3_credentials_stop_the_server_at_start() {
    let bucket = std::env::var("AIAAS_TEST_S3").unwrap();
    let refused = |store: &str, secret: Option<&str>| -> String {
        let dir = tempfile::tempdir().unwrap();
        let mut command = crate::server::serve_on_loopback(dir.path());
        command
            .args(["--store-url", store])
            .env("AIAAS_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if let Some(secret) = secret {
            command.env("AWS_SECRET_ACCESS_KEY", secret);
        }
        let mut child = command.spawn().unwrap();
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(30) {
                child.kill().unwrap();
                panic!("aiaas serve still runs with the store {store}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("cannot use the blob store {store}")),
            "{stderr}"
        );
        stderr
    };
    let stderr = refused(&format!("{bucket}/refused"), Some("not-the-secret"));
    assert!(!stderr.contains("not-the-secret"), "{stderr}");
    // S3's own error code, as the server answered it.
    let stderr = refused("s3://no-such-bucket/models", None);
    assert!(stderr.contains("NoSuchBucket"), "{stderr}");
}
