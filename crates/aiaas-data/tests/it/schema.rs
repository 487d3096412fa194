//! Fitting the schema on train rows and reading new data against it.

use crate::temp_file;
use aiaas_data::{
    DataError, encode, fit_schema, read_csv_bytes, read_csv_for_schema, scale_target,
    unscale_target,
};
use aiaas_types::{FeatureKind, Schema, TargetSchema};

const TRAIN: &[u8] = b"h,color,target\n2,red,a\n4,blue,b\n6,red,a\n1000,blue,b\n";

fn schema() -> Schema {
    let ds = read_csv_bytes("train.csv", TRAIN, None, None).unwrap();
    fit_schema(&ds, &[0, 1, 2])
}

#[test]
fn schema_statistics_come_from_train_rows_only() {
    let s = schema();
    // h over rows 0..3 = {2, 4, 6}: mean 4, population std sqrt(8/3).
    let FeatureKind::Numeric { mean, scale } = s.features[0].kind else {
        panic!("numeric")
    };
    assert_eq!(mean, 4.0);
    assert!((scale - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
    assert_eq!(
        s.target,
        TargetSchema::Classification {
            name: "target".into(),
            labels: vec!["a".into(), "b".into()]
        }
    );
    let ds = read_csv_bytes("train.csv", TRAIN, None, None).unwrap();
    let x = encode(&s, &ds.x, &[1], ds.width());
    assert_eq!(x.len(), 3);
    assert!((x[0] - (0.0 / scale) as f32).abs() < 1e-6);
    assert_eq!(&x[1..], [1.0, 0.0]);
}

#[test]
fn regression_target_round_trips_through_scaling() {
    let ds = read_csv_bytes("r.csv", b"a,target\n1,10.5\n2,20\n3,30\n", None, None).unwrap();
    let s = fit_schema(&ds, &[0, 1, 2]);
    let TargetSchema::Regression { mean, scale, .. } = s.target else {
        panic!("regression")
    };
    assert!((mean - 60.5 / 3.0).abs() < 1e-9);
    let scaled = scale_target(&s, &ds.y);
    assert!(scaled.iter().sum::<f32>().abs() < 1e-5);
    let back = unscale_target(&s, &scaled);
    for (b, y) in back.iter().zip(&ds.y) {
        assert!((b - y).abs() < 1e-4, "{b} vs {y}");
    }
    assert!(scale > 0.0);
}

#[test]
fn new_data_matches_columns_by_name() {
    let s = schema();
    // Reordered, with an extra column and an unseen color.
    let new = b"extra,target,color,h\nzz,b,green,4\nzz,a,red,7\n";
    let (_dir, path) = temp_file("new.csv", new);
    let frame = read_csv_for_schema(&path, &s, true).unwrap();
    let FeatureKind::Numeric { scale, .. } = s.features[0].kind else {
        panic!("numeric")
    };
    assert_eq!(frame.rows, 2);
    assert_eq!(frame.x.len(), 6);
    assert_eq!(frame.x[0], 0.0);
    assert_eq!(
        &frame.x[1..3],
        [0.0, 0.0],
        "unseen category encodes as zeros"
    );
    assert!((frame.x[3] - (3.0 / scale) as f32).abs() < 1e-6);
    assert_eq!(&frame.x[4..6], [0.0, 1.0]);
    assert_eq!(frame.y, Some(vec![1.0, 0.0]));

    let without = read_csv_for_schema(&path, &s, false).unwrap();
    assert_eq!(without.y, None);
    assert_eq!(without.x, frame.x);
}

#[test]
fn prediction_data_needs_no_target() {
    let s = schema();
    let (_dir, path) = temp_file("p.csv", b"color,h\nred,4\n");
    let frame = read_csv_for_schema(&path, &s, false).unwrap();
    assert_eq!(frame.x, [0.0, 0.0, 1.0]);
    let err = read_csv_for_schema(&path, &s, true).unwrap_err();
    assert!(matches!(err, DataError::MissingColumn { .. }));
    assert!(
        err.to_string().contains("column \"target\" is missing"),
        "{err}"
    );
}

#[test]
fn missing_feature_column_is_named() {
    let s = schema();
    let (_dir, path) = temp_file("m.csv", b"h,target\n1,a\n");
    let err = read_csv_for_schema(&path, &s, true).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("m.csv: column \"color\" is missing; the model was trained with it"),
        "{err}"
    );
}

#[test]
fn unknown_class_lists_known_labels() {
    let s = schema();
    let (_dir, path) = temp_file("u.csv", b"h,color,target\n1,red,a\n2,red,zebra\n");
    let err = read_csv_for_schema(&path, &s, true).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.ends_with(
            "u.csv line 3, column \"target\": unknown class \"zebra\"; the model knows: a, b"
        ),
        "{msg}"
    );
}

#[test]
fn numeric_errors_in_new_data_name_the_place() {
    let s = schema();
    let (_dir, path) = temp_file("n.csv", b"h,color\n1,red\nabc,red\n");
    let err = read_csv_for_schema(&path, &s, false).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("n.csv line 3, column \"h\": expected a number, found \"abc\""),
        "{err}"
    );
}

#[test]
fn numeric_labels_match_by_value() {
    let ds = read_csv_bytes("i.csv", b"a,target\n1,0\n2,1\n3,2\n", None, None).unwrap();
    let s = fit_schema(&ds, &[0, 1, 2]);
    let (_dir, path) = temp_file("i2.csv", b"a,target\n1,2.0\n2,0\n");
    let frame = read_csv_for_schema(&path, &s, true).unwrap();
    assert_eq!(frame.y, Some(vec![2.0, 0.0]));
}
