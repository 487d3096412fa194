//! `prepare` splits a dataset as `train` does and encodes it with a trained model's schema: the
//! model scores the prepared test part exactly as `train` scored it.

use aiaas_data::{Column, Dataset, Target};
use aiaas_train::{Silent, TrainError, Trained, evaluate, prepare, resolve, train};
use aiaas_types::{SplitSpec, TrainOptions};

/// y = 3a - 2b + 10 on a spread-out grid, so that scaling the target matters.
pub fn values() -> Dataset {
    let rows = 240;
    let mut x = Vec::with_capacity(rows * 2);
    let mut y = Vec::with_capacity(rows);
    for i in 0..rows {
        let (a, b) = ((i % 17) as f32 * 4.0, (i * 7 % 13) as f32 - 6.0);
        x.extend([a, b]);
        y.push(3.0 * a - 2.0 * b + 10.0);
    }
    Dataset {
        name: "plane".into(),
        digest: String::new(),
        columns: vec![
            Column::Numeric { name: "a".into() },
            Column::Numeric { name: "b".into() },
        ],
        target: Target::Regression { name: "y".into() },
        rows,
        x,
        y,
        test_rows: None,
    }
}

fn trained(ds: &Dataset) -> Trained {
    let options = TrainOptions {
        hidden: Some(vec![8]),
        epochs: Some(5),
        seed: Some(2),
        ..TrainOptions::default()
    };
    let s = resolve(&options, ds).unwrap();
    match train(ds, &s, &SplitSpec::default(), 1, &mut Silent, None).unwrap() {
        Some(t) => t,
        None => panic!("suspended"),
    }
}

fn same_test_rows_as_train(ds: &Dataset) {
    let t = trained(ds);
    let p = prepare(ds, &t.split, &t.schema).unwrap();
    assert_eq!(p.rows, t.rows);
    assert_eq!(p.test.rows, t.rows.test);
    assert_eq!(p.test_truth.len(), t.rows.test);
    let test = evaluate(&t.mlp, &t.schema, &p.test.x, &p.test_truth, 1);
    assert_eq!(Some(test), t.metrics.test);
}

#[test]
fn prepare_with_a_trained_schema_scores_the_test_part_as_train_did() {
    same_test_rows_as_train(&crate::resume::dataset());
    same_test_rows_as_train(&values());
}

#[test]
fn prepare_refuses_a_dataset_that_does_not_fit_the_schema() {
    let ds = crate::resume::dataset();
    let t = trained(&ds);
    let refusal = |ds: &Dataset| match prepare(ds, &t.split, &t.schema) {
        Err(TrainError::InvalidSpec(m)) => m,
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a mismatched dataset was accepted"),
    };

    let mut wider = ds.clone();
    wider.columns.push(Column::Numeric { name: "c".into() });
    wider.x = ds.x.chunks(2).flat_map(|r| [r[0], r[1], 0.0]).collect();
    let m = refusal(&wider);
    assert!(
        m.contains("does not match the model's schema") && m.contains("3 inputs"),
        "{m}"
    );

    let m = refusal(&values());
    assert!(m.contains("does not match the model's schema"), "{m}");

    let mut relabelled = ds.clone();
    relabelled.target = Target::Classification {
        name: "class".into(),
        labels: vec!["right".into(), "left".into()],
    };
    let m = refusal(&relabelled);
    assert!(m.contains("classes"), "{m}");
}
