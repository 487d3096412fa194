//! The CLI as a client of a real `aiaas serve`: train remotely, list, alias, export from one
//! server and import into another, with the same weights on both.

use crate::aiaas;
use crate::server::ServerProcess;

fn ok(dir: &std::path::Path, args: &[&str]) -> String {
    let out = aiaas(dir, args);
    assert!(
        out.status.success(),
        "aiaas {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn train_on_a_server_then_move_the_model_to_another() {
    let work = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = ServerProcess::start(a_dir.path(), &[]);
    let b = ServerProcess::start(b_dir.path(), &[]);
    let (url_a, url_b) = (format!("http://{}", a.addr), format!("http://{}", b.addr));
    let w = work.path();

    let job: serde_json::Value = serde_json::from_str(&ok(
        w,
        &[
            "train", "--server", &url_a, "--data", "iris", "--epochs", "30", "--lr", "0.02",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["result"]["version"], 1, "{job}");

    let listed = ok(w, &["models", "list", "--server", &url_a]);
    assert!(listed.contains("iris"), "{listed}");
    ok(
        w,
        &[
            "models", "alias", "iris", "champion", "1", "--server", &url_a,
        ],
    );
    ok(
        w,
        &[
            "models", "export", "iris", "champion", "--out", "iris.tar", "--server", &url_a,
        ],
    );
    ok(w, &["models", "import", "iris.tar", "--server", &url_b]);
    let shown: serde_json::Value = serde_json::from_str(&ok(
        w,
        &["models", "show", "iris", "--server", &url_b, "--json"],
    ))
    .unwrap();
    let versions = shown["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1, "{shown}");

    let version_a = a.json("GET", "/api/v1/models/iris/versions/1", b"");
    let version_b = b.json("GET", "/api/v1/models/iris/versions/1", b"");
    assert_eq!(version_a["weights_digest"], version_b["weights_digest"]);
    assert_eq!(
        version_a["manifest"]["lineage"],
        version_b["manifest"]["lineage"]
    );
}
