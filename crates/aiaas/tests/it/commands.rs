//! `eval` and `predict` on a trained bundle, and reproducibility from the seed.

use crate::aiaas;

#[test]
fn the_same_seed_gives_the_same_model_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &str| {
        let o = aiaas(
            dir.path(),
            &["train", "--data", "wine", "--out", out, "--json"],
        );
        assert!(o.status.success());
        let mut report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        report.as_object_mut().unwrap().remove("seconds");
        report.as_object_mut().unwrap().remove("bundle");
        report
    };
    assert_eq!(run("a"), run("b"));
    let weights = |d: &str| std::fs::read(dir.path().join(d).join("weights.safetensors")).unwrap();
    assert_eq!(weights("a"), weights("b"));
}

#[test]
fn eval_and_predict_use_the_bundle_on_new_files() {
    let dir = tempfile::tempdir().unwrap();
    let o = aiaas(
        dir.path(),
        &["train", "--data", "iris", "--out", "iris-model"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Columns reordered and the target moved: matched by name.
    std::fs::write(
        dir.path().join("new.csv"),
        "target,petal_width_cm,petal_length_cm,sepal_width_cm,sepal_length_cm\n\
         0,0.2,1.4,3.5,5.1\n2,2.3,6.0,3.0,7.2\n1,1.3,4.5,2.8,6.0\n",
    )
    .unwrap();

    let o = aiaas(
        dir.path(),
        &[
            "eval",
            "--model",
            "iris-model",
            "--data",
            "new.csv",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["rows"], 3);
    assert_eq!(report["metrics"]["accuracy"], 1.0);

    let o = aiaas(
        dir.path(),
        &[
            "predict",
            "--model",
            "iris-model",
            "--data",
            "new.csv",
            "--out",
            "p.csv",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(dir.path().join("p.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "label,p_0,p_1,p_2");
    let labels: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(labels, ["0", "2", "1"]);
    for line in &lines[1..] {
        let sum: f64 = line
            .split(',')
            .skip(1)
            .map(|p| p.parse::<f64>().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-5);
    }

    // A missing feature column is named.
    std::fs::write(
        dir.path().join("short.csv"),
        "sepal_length_cm,target\n5.1,0\n",
    )
    .unwrap();
    let o = aiaas(
        dir.path(),
        &["eval", "--model", "iris-model", "--data", "short.csv"],
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("sepal_width_cm"));
}

#[test]
fn regression_predictions_are_in_target_units() {
    let dir = tempfile::tempdir().unwrap();
    let o = aiaas(
        dir.path(),
        &[
            "train", "--data", "diabetes", "--model", "linear", "--out", "m",
        ],
    );
    assert!(o.status.success());
    let o = aiaas(
        dir.path(),
        &["predict", "--model", "m", "--data", "diabetes"],
    );
    assert!(o.status.success());
    let csv = String::from_utf8(o.stdout).unwrap();
    let values: Vec<f64> = csv.lines().skip(1).map(|l| l.parse().unwrap()).collect();
    assert_eq!(values.len(), 442);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    assert!((100.0..200.0).contains(&mean), "mean prediction {mean}");
}
