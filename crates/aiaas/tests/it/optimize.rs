//! `aiaas optimize` on a local bundle: a variant written with its report, refused variants and
//! bad input leaving nothing behind.

use crate::aiaas;
use std::path::Path;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A digits model trained in `dir/model`.
fn parent(dir: &Path) {
    let o = aiaas(
        dir,
        &[
            "train", "--data", "digits", "--hidden", "64", "--epochs", "15", "--out", "model",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn each_method_writes_a_measured_variant() {
    let dir = tempfile::tempdir().unwrap();
    parent(dir.path());

    let o = aiaas(
        dir.path(),
        &["optimize", "quantize", "--model", "model", "--json"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for side in ["parent", "variant"] {
        for key in [
            "size_bytes",
            "params",
            "nonzero",
            "latency_ms_batch1",
            "latency_ms_batch64",
            "accuracy",
            "f1_macro",
        ] {
            assert!(report[side][key].is_number(), "{side}.{key} in {report}");
        }
    }
    assert_eq!(report["accepted"], true);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("model-quantize/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["weights"]["dtype"], "int8");
    assert_eq!(manifest["lineage"]["parent"], "model");

    // The int8 variant predicts like any bundle.
    let o = aiaas(
        dir.path(),
        &[
            "eval",
            "--model",
            "model-quantize",
            "--data",
            "digits",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // The text report of a structured pruning.
    let o = aiaas(
        dir.path(),
        &[
            "optimize",
            "prune",
            "--model",
            "model",
            "--sparsity",
            "0.25",
            "--structured",
            "--epochs",
            "2",
            "--max-drop",
            "0.05",
            "--out",
            "small",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("latency batch 64") && text.contains("accepted"),
        "{text}"
    );
    assert!(dir.path().join("small/manifest.json").is_file());
}

#[test]
fn refused_variants_and_bad_input_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    parent(dir.path());
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "prune",
                "--sparsity",
                "0.99",
                "--max-drop",
                "0",
                "--out",
                "x",
            ],
            "refused",
        ),
        (
            &["prune", "--sparsity", "1.5", "--out", "x"],
            "strictly between 0 and 1",
        ),
        (
            &["distill", "--hidden", "0", "--out", "x"],
            "at least one unit",
        ),
        (&["quantize", "--max-drop", "-1", "--out", "x"], "max_drop"),
        (&["quantize", "--data", "wine", "--out", "x"], "not the one"),
    ];
    for (args, message) in cases {
        let mut all = vec!["optimize", args[0], "--model", "model"];
        all.extend_from_slice(&args[1..]);
        let o = aiaas(dir.path(), &all);
        assert!(!o.status.success(), "{all:?} succeeded");
        assert!(stderr(&o).contains(message), "{all:?}: {}", stderr(&o));
        assert!(!dir.path().join("x").exists(), "{all:?} wrote a bundle");
    }

    // An int8 version cannot be quantized again.
    let o = aiaas(
        dir.path(),
        &["optimize", "quantize", "--model", "model", "--out", "q"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = aiaas(
        dir.path(),
        &["optimize", "quantize", "--model", "q", "--out", "x"],
    );
    assert!(stderr(&o).contains("already int8"), "{}", stderr(&o));
    assert!(!dir.path().join("x").exists());
}
