//! Task and column-type inference, labels, one-hot encoding and CSV quoting.

use crate::temp_file;
use aiaas_data::{Column, DataError, Target, load, read_csv, read_csv_bytes};
use aiaas_types::Task;

#[test]
fn iris_is_classification_with_numeric_labels() {
    let ds = load("iris", None, None).unwrap();
    assert_eq!(ds.task(), Task::Classification);
    assert_eq!(
        ds.target,
        Target::Classification {
            name: "target".into(),
            labels: vec!["0".into(), "1".into(), "2".into()]
        }
    );
    assert_eq!(ds.num_classes(), 3);
    assert_eq!((ds.class_of(0), ds.class_of(149)), (0, 2));
}

#[test]
fn diabetes_is_regression_with_raw_values() {
    let ds = load("diabetes", None, None).unwrap();
    assert_eq!(ds.task(), Task::Regression);
    assert_eq!(ds.num_classes(), 1);
    // First row of datasets/diabetes.csv: 59.0,2.0,32.1,...,151.0
    assert_eq!(ds.y[0], 151.0);
    assert_eq!(&ds.row(0)[..3], &[59.0, 2.0, 32.1]);
}

#[test]
fn text_target_sorts_labels_lexicographically() {
    let ds = read_csv_bytes(
        "pets.csv",
        b"w,kind\n1,dog\n2,cat\n3,emu\n4,cat\n",
        Some("kind"),
        None,
    )
    .unwrap();
    assert_eq!(
        ds.target,
        Target::Classification {
            name: "kind".into(),
            labels: vec!["cat".into(), "dog".into(), "emu".into()]
        }
    );
    assert_eq!(ds.y, [1.0, 0.0, 2.0, 0.0]);
    assert_eq!(ds.name, "pets");
}

#[test]
fn task_override_both_ways() {
    let ds = load("iris", None, Some(Task::Regression)).unwrap();
    assert_eq!(
        ds.target,
        Target::Regression {
            name: "target".into()
        }
    );
    assert_eq!(ds.y[149], 2.0);

    // 30 distinct integers would be regression; forced, it is classification.
    let mut text = String::from("a,target\n");
    for i in 0..30 {
        text.push_str(&format!("{i},{}\n", i * 10));
    }
    let inferred = read_csv_bytes("n.csv", text.as_bytes(), None, None).unwrap();
    assert_eq!(inferred.task(), Task::Regression);
    let forced =
        read_csv_bytes("n.csv", text.as_bytes(), None, Some(Task::Classification)).unwrap();
    assert_eq!(forced.num_classes(), 30);
    let Target::Classification { labels, .. } = &forced.target else {
        panic!("classification")
    };
    assert_eq!(&labels[..3], ["0", "10", "20"]);
    assert_eq!(labels[29], "290");
    assert_eq!(forced.y[29], 29.0);

    let err = read_csv_bytes(
        "t.csv",
        b"a,target\n1,x\n2,y\n",
        None,
        Some(Task::Regression),
    )
    .unwrap_err();
    assert!(matches!(err, DataError::TextTarget { .. }));
}

#[test]
fn text_inputs_are_one_hot_over_a_sorted_vocabulary() {
    let ds = read_csv_bytes(
        "c.csv",
        b"size,color,target\n1,red,0\n2,green,1\n3,blue,0\n4,red,1\n",
        None,
        None,
    )
    .unwrap();
    assert_eq!(
        ds.columns[1],
        Column::Categorical {
            name: "color".into(),
            vocabulary: vec!["blue".into(), "green".into(), "red".into()]
        }
    );
    assert_eq!(ds.width(), 4);
    assert_eq!(ds.row(0), [1.0, 0.0, 0.0, 1.0]);
    assert_eq!(ds.row(1), [2.0, 0.0, 1.0, 0.0]);
    assert_eq!(ds.row(2), [3.0, 1.0, 0.0, 0.0]);
}

#[test]
fn quoted_fields_keep_commas_and_quotes() {
    let text = b"\"name, full\",\"n\",target\n\"Doe, \"\"J\"\"\",\"1.5\",a\nRoe,2,b\n";
    let (_dir, path) = temp_file("q.csv", text);
    let ds = read_csv(&path, None, None).unwrap();
    assert_eq!(ds.columns[0].name(), "name, full");
    assert_eq!(
        ds.columns[0],
        Column::Categorical {
            name: "name, full".into(),
            vocabulary: vec!["Doe, \"J\"".into(), "Roe".into()]
        }
    );
    assert_eq!(ds.columns[1], Column::Numeric { name: "n".into() });
    assert_eq!(ds.row(0), [1.0, 0.0, 1.5]);
}

#[test]
fn target_may_be_any_column() {
    let ds = read_csv_bytes("m.csv", b"y,a,b\n1,2,3\n0,5,6\n", Some("y"), None).unwrap();
    let names: Vec<&str> = ds.columns.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(ds.x, [2.0, 3.0, 5.0, 6.0]);
    assert_eq!(ds.y, [1.0, 0.0]);
}
