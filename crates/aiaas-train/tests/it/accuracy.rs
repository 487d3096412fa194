use aiaas_stats::Metrics;
use aiaas_train::{Silent, Trained, resolve, train};
use aiaas_types::{ModelKind, SplitSpec, TrainOptions};

fn run(name: &str, options: TrainOptions) -> Trained {
    let ds = aiaas_data::load(name, None, None).unwrap();
    let spec = resolve(&options, &ds).unwrap();
    train(&ds, &spec, &SplitSpec::default(), 2, &mut Silent).unwrap()
}

fn test_accuracy(t: &Trained) -> f64 {
    match t.metrics.test.as_ref().unwrap() {
        Metrics::Classification(m) => m.accuracy,
        Metrics::Regression(_) => panic!("expected classification"),
    }
}

#[test]
fn iris_mlp() {
    let t = run("iris", TrainOptions::default());
    eprintln!("iris {} epochs {}", test_accuracy(&t), t.history.len());
    assert!(test_accuracy(&t) >= 0.93);
}

#[test]
fn wine_mlp() {
    let t = run("wine", TrainOptions::default());
    eprintln!("wine {} epochs {}", test_accuracy(&t), t.history.len());
    assert!(test_accuracy(&t) >= 0.95);
}

#[test]
fn breast_cancer_mlp() {
    let t = run("breast_cancer", TrainOptions::default());
    eprintln!("bc {} epochs {}", test_accuracy(&t), t.history.len());
    assert!(test_accuracy(&t) >= 0.95);
}

#[test]
fn digits_logistic_and_mlp() {
    let t = run(
        "digits",
        TrainOptions {
            model: Some(ModelKind::Logistic),
            ..Default::default()
        },
    );
    eprintln!(
        "digits logistic {} epochs {}",
        test_accuracy(&t),
        t.history.len()
    );
    assert!(test_accuracy(&t) >= 0.96);
    let t = run("digits", TrainOptions::default());
    eprintln!(
        "digits mlp {} epochs {}",
        test_accuracy(&t),
        t.history.len()
    );
    assert!(test_accuracy(&t) >= 0.96);
}

#[test]
fn diabetes_linear() {
    let t = run(
        "diabetes",
        TrainOptions {
            model: Some(ModelKind::Linear),
            ..Default::default()
        },
    );
    let Some(Metrics::Regression(m)) = &t.metrics.test else {
        panic!()
    };
    eprintln!("diabetes r2 {} epochs {}", m.r2, t.history.len());
    assert!(m.r2 >= 0.40);
}
