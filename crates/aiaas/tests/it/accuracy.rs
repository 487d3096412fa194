//! Each figure from one `aiaas train` run with `--seed 42` and the default split: about what
//! scikit-learn reaches on the same data.

use crate::train_json;

fn test_accuracy(args: &[&str]) -> f64 {
    let report = train_json(args);
    let accuracy = report["test"]["accuracy"].as_f64().unwrap();
    eprintln!(
        "aiaas train {}: test accuracy {accuracy:.4}",
        args.join(" ")
    );
    accuracy
}

#[test]
fn iris() {
    assert!(test_accuracy(&["--data", "iris"]) >= 0.93);
}

#[test]
fn wine() {
    assert!(test_accuracy(&["--data", "wine"]) >= 0.95);
}

#[test]
fn breast_cancer() {
    assert!(test_accuracy(&["--data", "breast_cancer", "--model", "logistic"]) >= 0.95);
}

#[test]
fn digits_logistic() {
    let args = [
        "--data",
        "digits",
        "--model",
        "logistic",
        "--weight-decay",
        "0.01",
    ];
    assert!(test_accuracy(&args) >= 0.96);
}

#[test]
fn digits_mlp() {
    assert!(test_accuracy(&["--data", "digits", "--model", "mlp"]) >= 0.96);
}

#[test]
fn mnist_mlp_in_ten_epochs() {
    let args = ["--data", "mnist", "--hidden", "256,128", "--epochs", "10"];
    let report = train_json(&args);
    assert!(report["epochs_run"].as_u64().unwrap() <= 10);
    let accuracy = report["test"]["accuracy"].as_f64().unwrap();
    eprintln!(
        "aiaas train {}: test accuracy {accuracy:.4}",
        args.join(" ")
    );
    assert!(accuracy >= 0.975);
}

#[test]
fn diabetes_linear() {
    let report = train_json(&["--data", "diabetes", "--model", "linear"]);
    assert_eq!(report["task"], "regression");
    let r2 = report["test"]["r2"].as_f64().unwrap();
    eprintln!("aiaas train --data diabetes --model linear: test R2 {r2:.4}");
    assert!(r2 >= 0.40);
    assert!(report["test"]["mae"].as_f64().unwrap() > 0.0);
    assert!(report["test"]["rmse"].as_f64().unwrap() > 0.0);
}
