//! Every bad-input error names the file, the line and the column, and says what was expected.

use crate::temp_file;
use aiaas_data::{DataError, read_csv};
use aiaas_types::Task;

/// Reads `text` as `bad.csv` and returns the error message.
fn error(text: &[u8], target: Option<&str>, task: Option<Task>) -> (DataError, String) {
    let (_dir, path) = temp_file("bad.csv", text);
    let err = read_csv(&path, target, task).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "message does not name the file: {message}"
    );
    (err, message)
}

#[test]
fn missing_value() {
    let (err, msg) = error(b"a,b,target\n1,2,0\n3,,1\n", None, None);
    assert!(matches!(err, DataError::MissingValue { line: 3, .. }));
    assert!(
        msg.ends_with("bad.csv line 3, column \"b\": expected a value, found an empty field"),
        "{msg}"
    );
}

#[test]
fn text_in_numeric_column() {
    let (err, msg) = error(b"x,target\n1,0\n2,1\nabc,0\n4,1\n", None, None);
    assert!(matches!(err, DataError::NotANumber { line: 4, .. }));
    assert!(
        msg.ends_with("bad.csv line 4, column \"x\": expected a number, found \"abc\""),
        "{msg}"
    );
}

#[test]
fn unknown_target_lists_the_columns() {
    let (err, msg) = error(b"a,b,target\n1,2,0\n3,4,1\n", Some("label"), None);
    assert!(matches!(err, DataError::UnknownTarget { .. }));
    assert!(msg.contains("\"label\""), "{msg}");
    assert!(msg.ends_with("the columns are: a, b, target"), "{msg}");
}

#[test]
fn no_target_column_asks_for_target_flag() {
    let (err, msg) = error(b"a,b,y\n1,2,0\n3,4,1\n", None, None);
    assert!(matches!(err, DataError::TargetNeeded { .. }));
    assert!(
        msg.contains("--target") && msg.contains("?target="),
        "{msg}"
    );
    assert!(msg.ends_with("a, b, y"), "{msg}");
}

#[test]
fn empty_file_and_header_only() {
    let (err, msg) = error(b"", None, None);
    assert!(matches!(err, DataError::Empty { .. }), "{msg}");
    assert!(msg.contains("empty"), "{msg}");
    let (err, msg) = error(b"a,target\n", None, None);
    assert!(matches!(err, DataError::NoRows { .. }), "{msg}");
    assert!(msg.contains("no data rows"), "{msg}");
}

#[test]
fn text_without_line_breaks_says_how_curl_lost_them() {
    // What `curl -d @iris.csv` sends: the lines run together into one "header".
    let (err, msg) = error(b"a,b,target1,2,x3,4,y", None, None);
    assert!(matches!(err, DataError::OneLine { .. }), "{msg}");
    assert!(msg.contains("--data-binary @file"), "{msg}");
}

#[test]
fn ragged_rows_say_expected_and_found() {
    let (err, msg) = error(b"a,b,target\n1,2,0\n1,2\n", None, None);
    assert!(matches!(
        err,
        DataError::RaggedRow {
            line: 3,
            expected: 3,
            found: 2,
            ..
        }
    ));
    assert!(
        msg.contains("bad.csv line 3: expected 3 fields (one per header column), found 2"),
        "{msg}"
    );
    assert!(msg.contains("column \"target\""), "{msg}");
    let (_, msg) = error(b"a,target\n1,0\n1,0,9\n", None, None);
    assert!(msg.contains("line 3: expected 2 fields"), "{msg}");
    assert!(msg.contains("found 3"), "{msg}");
}

#[test]
fn single_class_target() {
    let (err, msg) = error(b"a,target\n1,x\n2,x\n", None, None);
    assert!(matches!(err, DataError::SingleClass { .. }));
    assert!(msg.contains("column \"target\""), "{msg}");
    assert!(msg.contains("single class (\"x\")"), "{msg}");
}

#[test]
fn not_utf8_reports_the_line() {
    let (err, msg) = error(b"a,target\n1,0\n\xff\xfe,1\n", None, None);
    assert!(matches!(err, DataError::NotUtf8 { line: 3, .. }));
    assert!(msg.contains("bad.csv line 3"), "{msg}");
    assert!(msg.contains("UTF-8"), "{msg}");
}

#[test]
fn duplicate_column_names() {
    let (err, msg) = error(b"a,b,a,target\n1,2,3,0\n", None, None);
    assert!(matches!(
        err,
        DataError::DuplicateColumn {
            first: 1,
            second: 3,
            ..
        }
    ));
    assert!(msg.contains("bad.csv line 1, column \"a\""), "{msg}");
}

#[test]
fn io_error_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.csv");
    let err = read_csv(&path, None, None).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }));
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn forced_classification_of_fractions() {
    let (err, msg) = error(b"a,target\n1,1\n2,2.5\n", None, Some(Task::Classification));
    assert!(matches!(err, DataError::TargetNotInteger { line: 3, .. }));
    assert!(msg.contains("bad.csv line 3, column \"target\""), "{msg}");
    assert!(msg.contains("\"2.5\""), "{msg}");
}

#[test]
fn forced_regression_of_text() {
    let (err, msg) = error(b"a,target\n1,cat\n2,dog\n", None, Some(Task::Regression));
    assert!(matches!(err, DataError::TextTarget { line: 2, .. }));
    assert!(msg.contains("bad.csv line 2, column \"target\""), "{msg}");
    assert!(msg.contains("numeric target"), "{msg}");
}

#[test]
fn lines_count_physical_lines_across_quoted_newlines() {
    let (err, msg) = error(b"note,x,target\n\"two\nlines\",1,0\nok,,1\n", None, None);
    assert!(
        matches!(err, DataError::MissingValue { line: 4, .. }),
        "{msg}"
    );
}

#[test]
fn too_many_columns_or_encoded_inputs_are_refused_up_front() {
    use aiaas_data::{MAX_COLUMNS, MAX_ENCODED_WIDTH};
    let header: Vec<String> = (0..=MAX_COLUMNS).map(|i| format!("c{i}")).collect();
    let text = format!("{},target\n", header.join(","));
    let (err, msg) = error(text.as_bytes(), None, None);
    assert!(matches!(err, DataError::TooManyColumns { .. }), "{msg}");
    assert!(msg.contains(&format!("at most {MAX_COLUMNS}")), "{msg}");

    // 200 text columns of 600 categories each: 120,000 one-hot inputs.
    let cols = MAX_ENCODED_WIDTH / 500;
    let mut text = (0..cols)
        .map(|c| format!("t{c}"))
        .collect::<Vec<_>>()
        .join(",");
    text.push_str(",target\n");
    for r in 0..600 {
        let row: Vec<String> = (0..cols).map(|c| format!("v{}", (r + c) % 600)).collect();
        text.push_str(&format!("{},{}\n", row.join(","), r % 2));
    }
    let (err, msg) = error(text.as_bytes(), None, None);
    assert!(matches!(err, DataError::TooWide { .. }), "{msg}");
}
