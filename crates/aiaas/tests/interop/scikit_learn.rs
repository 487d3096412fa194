//! Linear and logistic models trained with default options reach scikit-learn's optimum: on the
//! same training rows, encoded as the model sees them, scikit-learn's `LogisticRegression()`
//! (L2 with C = 1) solved to its optimum and `LinearRegression()` score the same test rows within
//! 0.005 of what `aiaas train --model logistic|linear` scores. scikit-learn's default
//! tolerance (a gradient of 1e-4) stops short of the optimum on digits (0.958 against 0.964
//! there), so that figure is printed beside, not compared. CI installs scikit-learn and sets
//! `AIAAS_REQUIRE_SCIKIT_LEARN=1`.

use aiaas_train::{Silent, prepare, resolve, train};
use aiaas_types::{ModelKind, TrainJob, TrainOptions};
use libtest_mimic::Failed;
use std::io::Write;
use std::path::Path;

pub fn missing() -> Result<Option<String>, Failed> {
    crate::python_missing(
        "sklearn",
        "scikit-learn==1.6.1",
        "AIAAS_REQUIRE_SCIKIT_LEARN",
    )
}

pub fn convex_models_reach_scikit_learns_optimum() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sklearn/convex.py");
    let cases = [
        ("iris", ModelKind::Logistic),
        ("wine", ModelKind::Logistic),
        ("breast_cancer", ModelKind::Logistic),
        ("digits", ModelKind::Logistic),
        ("diabetes", ModelKind::Linear),
    ];
    let mut report = Vec::new();
    for (sample, model) in cases {
        let ds = aiaas_data::load(sample, None, None).unwrap();
        let options = TrainOptions {
            model: Some(model),
            ..TrainOptions::default()
        };
        // The split a job with these options gets (the CLI's is the same).
        let job: TrainJob =
            serde_json::from_value(serde_json::json!({"dataset": sample, "model": model})).unwrap();
        let split = job.split();
        let spec = resolve(&options, &ds).unwrap();
        let trained = train(&ds, &spec, &split, 1, &mut Silent, None)
            .unwrap()
            .expect("not suspended");
        // Accuracy, or R² for the regression.
        let ours = trained
            .metrics
            .test
            .as_ref()
            .expect("a test part")
            .headline();

        let rows = prepare(&ds, &split, &trained.schema).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let width = ds.width();
        write_csv(&dir.path().join("train_x.csv"), &rows.train.x, width);
        write_csv(&dir.path().join("train_y.csv"), &rows.train.y, 1);
        write_csv(&dir.path().join("test_x.csv"), &rows.test.x, width);
        write_csv(&dir.path().join("test_y.csv"), &rows.test.y, 1);
        let kind = if model == ModelKind::Linear {
            "linear"
        } else {
            "logistic"
        };
        let out = crate::run_python(&script, &[kind.as_ref(), dir.path().as_os_str()]);
        let scores: Vec<f64> = out.split_whitespace().map(|s| s.parse().unwrap()).collect();
        let (theirs, default) = (scores[0], scores[1]);
        report.push(format!(
            "{sample}: aiaas {ours:.4}, scikit-learn at its optimum {theirs:.4} \
             (with its default tolerance {default:.4})"
        ));
        assert!(
            (ours - theirs).abs() <= 0.005,
            "{sample}: aiaas scores {ours:.4} on the test rows, scikit-learn {theirs:.4}\n{}",
            report.join("\n")
        );
    }
    println!("{}", report.join("\n"));
}

fn write_csv(path: &Path, values: &[f32], width: usize) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for row in values.chunks(width) {
        let line: Vec<String> = row.iter().map(f32::to_string).collect();
        writeln!(out, "{}", line.join(",")).unwrap();
    }
}
