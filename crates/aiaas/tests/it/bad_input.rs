//! Bad input: a message naming the file, row and column, a non-zero exit, no bundle left behind.

use crate::aiaas;
use std::path::Path;

/// Train on `csv` (written to `data.csv`) with `extra` flags; expect failure with every one of
/// `expect` in the message, and no bundle directory.
fn refused(csv: &[u8], extra: &[&str], expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.csv"), csv).unwrap();
    let mut args = vec!["train", "--data", "data.csv", "--out", "bundle"];
    args.extend_from_slice(extra);
    let out = aiaas(dir.path(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted: {args:?}");
    for e in expect {
        assert!(stderr.contains(e), "{args:?}: {stderr:?} lacks {e:?}");
    }
    assert!(
        !Path::new(&dir.path().join("bundle")).exists(),
        "bundle left behind"
    );
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
}

const GOOD: &[u8] = b"a,b,target\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n9,10,x\n11,12,y\n";

#[test]
fn missing_value() {
    refused(
        b"a,b,target\n1,2,x\n3,,y\n",
        &[],
        &["data.csv", "line 3", "\"b\""],
    );
}

#[test]
fn text_in_a_numeric_column() {
    refused(
        b"a,b,target\n1,2,x\n3,oops,y\n5,6,x\n7,8,y\n",
        &[],
        &["data.csv", "line 3", "\"b\"", "oops"],
    );
}

#[test]
fn unknown_target_column() {
    refused(
        GOOD,
        &["--target", "label"],
        &["data.csv", "label", "target"],
    );
}

#[test]
fn empty_file() {
    refused(b"", &[], &["data.csv", "empty"]);
}

#[test]
fn ragged_row() {
    refused(
        b"a,b,target\n1,2,x\n3,4\n",
        &[],
        &["data.csv", "line 3", "expected 3"],
    );
}

#[test]
fn single_class_target() {
    refused(
        b"a,b,target\n1,2,x\n3,4,x\n",
        &[],
        &["data.csv", "target", "single class"],
    );
}

#[test]
fn not_utf8() {
    refused(
        b"a,b,target\n1,2,x\n3,4,\xff\xfe\n",
        &[],
        &["data.csv", "line 3", "UTF-8"],
    );
}

#[test]
fn learning_rate_not_positive() {
    refused(GOOD, &["--lr", "0"], &["learning rate"]);
    refused(GOOD, &["--lr", "-0.5"], &["learning rate"]);
}

#[test]
fn batch_size_zero() {
    refused(GOOD, &["--batch-size", "0"], &["batch size"]);
}

#[test]
fn unknown_optimizer() {
    refused(GOOD, &["--optimizer", "rmsprop"], &["rmsprop", "adamw"]);
}

#[test]
fn a_directory_that_is_not_a_bundle_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keep")).unwrap();
    std::fs::write(dir.path().join("keep/notes.txt"), "mine").unwrap();
    let out = aiaas(dir.path(), &["train", "--data", "iris", "--out", "keep"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a model bundle"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keep/notes.txt")).unwrap(),
        "mine"
    );
}

/// A model that is not a bundle directory says what the path is and where bundles live.
#[test]
fn a_model_that_is_not_a_bundle_says_where_bundles_are() {
    let dir = tempfile::tempdir().unwrap();
    let said = |model: &str| {
        let out = aiaas(dir.path(), &["predict", "--model", model, "--data", "iris"]);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let bare = said("iris");
    assert!(
        bare.contains("does not exist")
            && bare.contains("models/iris")
            && bare.contains("--server"),
        "{bare}"
    );
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let empty = said("empty");
    assert!(empty.contains("no manifest.json"), "{empty}");
    let deep = said("no/such/dir");
    assert!(
        deep.contains("does not exist") && !deep.contains("models/"),
        "{deep}"
    );
}
