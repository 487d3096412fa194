//! `adopt` scores a network made elsewhere as `train` scores its own: on the dataset's columns as
//! they are, its outputs put in the dataset's class order, with the default spec of its layers.

use crate::prepare::values;
use aiaas_data::{Column, Dataset, Target};
use aiaas_engine::Mlp;
use aiaas_stats::Metrics;
use aiaas_types::{Activation, LayerSpec, ModelKind, SplitSpec};

fn layer(inputs: usize, outputs: usize, activation: Activation) -> LayerSpec {
    LayerSpec {
        inputs,
        outputs,
        activation,
    }
}

#[test]
fn a_linear_network_takes_the_columns_as_they_are_and_answers_in_target_units() {
    let ds = values();
    // y = 3a - 2b + 10 exactly.
    let exact = Mlp::from_params(
        vec![layer(2, 1, Activation::Identity)],
        vec![3.0, -2.0, 10.0],
    );
    let t = aiaas_train::adopt(&ds, exact.unwrap(), None, &SplitSpec::default(), 1).unwrap();
    assert_eq!(t.spec.model.kind, ModelKind::Linear);
    assert_eq!(t.history.len(), 0);
    let Some(Metrics::Regression(test)) = t.metrics.test else {
        panic!("a regression is scored as one")
    };
    assert!(test.rmse < 1e-4, "{test:?}");
}

/// Class `argmax(x W^T)` of the rows `a`, `b`, `c` of `W`, for points spread over a square.
fn three_classes() -> Dataset {
    let w = [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]];
    let rows = 300;
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..rows {
        let p = [
            (i % 20) as f32 / 10.0 - 1.0,
            (i * 7 % 30) as f32 / 15.0 - 1.0,
        ];
        let scores: Vec<f32> = w.iter().map(|r| r[0] * p[0] + r[1] * p[1]).collect();
        let class = (0..3)
            .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
            .unwrap();
        x.extend(p);
        y.push(class as f32);
    }
    Dataset {
        name: "three".into(),
        digest: String::new(),
        columns: vec![
            Column::Numeric { name: "p".into() },
            Column::Numeric { name: "q".into() },
        ],
        target: Target::Classification {
            name: "class".into(),
            labels: vec!["a".into(), "b".into(), "c".into()],
        },
        rows,
        x,
        y,
        test_rows: None,
    }
}

#[test]
fn a_classifier_s_outputs_are_put_in_the_dataset_s_class_order() {
    let ds = three_classes();
    // The same rows as the dataset's rule, in the order c, a, b.
    let network = || {
        let params = vec![-1.0, -1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        Mlp::from_params(vec![layer(2, 3, Activation::Identity)], params).unwrap()
    };
    let named = ["c", "a", "b"].map(String::from);
    let t = aiaas_train::adopt(&ds, network(), Some(&named), &SplitSpec::default(), 1).unwrap();
    assert_eq!(t.spec.model.kind, ModelKind::Logistic);
    for m in [
        Some(&t.metrics.train),
        t.metrics.val.as_ref(),
        t.metrics.test.as_ref(),
    ] {
        assert_eq!(m.unwrap().headline(), 1.0);
    }
    // Told the wrong order, the same network is scored as what it then is: mostly wrong.
    let misnamed = ["a", "b", "c"].map(String::from);
    let wrong = aiaas_train::adopt(&ds, network(), Some(&misnamed), &SplitSpec::default(), 1);
    assert!(wrong.unwrap().metrics.test.unwrap().headline() < 0.5);
}

#[test]
fn a_network_that_does_not_fit_is_refused_with_what_differs() {
    let ds = three_classes();
    let abc = ["a", "b", "c"].map(String::from);
    let refused = |layers: Vec<LayerSpec>, classes: Option<&[String]>| {
        let params = vec![0.5; aiaas_engine::param_count(&layers)];
        let network = Mlp::from_params(layers, params).unwrap();
        match aiaas_train::adopt(&ds, network, classes, &SplitSpec::default(), 1) {
            Ok(_) => panic!("adopted"),
            Err(e) => e.to_string(),
        }
    };
    let cases = [
        (
            vec![layer(3, 3, Activation::Identity)],
            Some(&abc[..]),
            "takes 3 inputs",
        ),
        (
            vec![layer(2, 3, Activation::Relu)],
            Some(&abc[..]),
            "last layer applies",
        ),
        (
            vec![
                layer(2, 4, Activation::Relu),
                layer(4, 4, Activation::Tanh),
                layer(4, 3, Activation::Identity),
            ],
            Some(&abc[..]),
            "different activations",
        ),
        (
            vec![layer(2, 3, Activation::Identity)],
            None,
            "give its labels",
        ),
        (
            vec![layer(2, 3, Activation::Identity)],
            Some(&abc[..2]),
            "classes are a, b, c",
        ),
    ];
    for (layers, classes, words) in cases {
        let message = refused(layers, classes);
        assert!(message.contains(words), "{words:?} in {message}");
    }
}
