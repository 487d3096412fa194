//! The bundled samples: shapes, digests against datasets/README.md, and MNIST.

use crate::temp_file;
use aiaas_data::samples::embedded_csv;
use aiaas_data::{
    Column, DataError, Dataset, SAMPLES, Target, fit_schema, load, read_idx_labels, split,
};
use aiaas_types::{FeatureKind, SplitSpec, Task};
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn datasets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

fn readme() -> String {
    std::fs::read_to_string(datasets_dir().join("README.md")).unwrap()
}

/// MNIST takes a moment to decompress; every test shares one copy.
fn mnist() -> &'static Dataset {
    static MNIST: OnceLock<Dataset> = OnceLock::new();
    MNIST.get_or_init(|| load("mnist", None, None).unwrap())
}

#[test]
fn csv_samples_have_the_documented_shapes() {
    for (name, rows, width, task, classes) in [
        ("iris", 150, 4, Task::Classification, 3),
        ("wine", 178, 13, Task::Classification, 3),
        ("breast_cancer", 569, 30, Task::Classification, 2),
        ("digits", 1797, 64, Task::Classification, 10),
        ("diabetes", 442, 10, Task::Regression, 1),
    ] {
        let ds = load(name, None, None).unwrap();
        assert_eq!(ds.name, name);
        assert_eq!(
            (ds.rows, ds.width(), ds.task()),
            (rows, width, task),
            "{name}"
        );
        assert_eq!(ds.num_classes(), classes, "{name}");
        assert_eq!(ds.x.len(), rows * width);
        assert_eq!(ds.y.len(), rows);
        assert!(
            ds.columns
                .iter()
                .all(|c| matches!(c, Column::Numeric { .. }))
        );
        assert_eq!(ds.test_rows, None);
    }
}

#[test]
fn class_counts_match_the_readme() {
    let count = |name: &str| {
        let ds = load(name, None, None).unwrap();
        let mut counts = vec![0; ds.num_classes()];
        (0..ds.rows).for_each(|r| counts[ds.class_of(r)] += 1);
        counts
    };
    assert_eq!(count("iris"), [50, 50, 50]);
    assert_eq!(count("wine"), [59, 71, 48]);
    assert_eq!(count("breast_cancer"), [212, 357]);
}

#[test]
fn embedded_digests_equal_the_readme() {
    let readme = readme();
    for name in SAMPLES.iter().filter(|&&s| s != "mnist") {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}.csv`")))
            .unwrap_or_else(|| panic!("no README row for {name}"));
        let expected = row.rsplit('`').nth(1).unwrap();
        assert_eq!(expected.len(), 64, "{row}");
        let ds = load(name, None, None).unwrap();
        assert_eq!(ds.digest, expected, "{name}");
        let on_disk = std::fs::read(datasets_dir().join(format!("{name}.csv"))).unwrap();
        assert_eq!(embedded_csv(name), Some(on_disk.as_slice()));
    }
}

#[test]
fn unknown_names_list_the_samples() {
    let err = load("no_such_dataset", None, None).unwrap_err();
    assert!(matches!(err, DataError::UnknownDataset { .. }));
    assert!(
        err.to_string()
            .ends_with("the samples are: iris, wine, breast_cancer, digits, diabetes, mnist"),
        "{err}"
    );
}

#[test]
fn a_file_path_is_read_as_csv() {
    let (_dir, path) = temp_file("mine.csv", b"a,target\n1,0\n2,1\n");
    let ds = load(path.to_str().unwrap(), None, None).unwrap();
    assert_eq!((ds.name.as_str(), ds.rows), ("mine", 2));
}

#[test]
fn mnist_has_official_train_and_test_sets() {
    let ds = mnist();
    assert_eq!(
        (ds.name.as_str(), ds.rows, ds.width()),
        ("mnist", 70000, 784)
    );
    assert_eq!(ds.test_rows, Some(60000..70000));
    assert_eq!(ds.x.len(), 70000 * 784);
    assert_eq!(ds.columns[0].name(), "pixel_0_0");
    assert_eq!(ds.columns[28].name(), "pixel_1_0");
    assert_eq!(ds.columns[783].name(), "pixel_27_27");
    let labels: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    assert_eq!(
        ds.target,
        Target::Classification {
            name: "label".into(),
            labels
        }
    );
    assert!(ds.x.iter().all(|&p| (0.0..=255.0).contains(&p)));
    assert!(ds.x.contains(&255.0));

    // Per-digit counts from the README: "(train 5923/.../5949, test 980/.../1009)".
    let readme = readme().replace('\n', " ");
    let numbers = |after: &str, until: char| -> Vec<usize> {
        let start = readme.find(after).unwrap() + after.len();
        let end = start + readme[start..].find(until).unwrap();
        readme[start..end]
            .split('/')
            .map(|n| n.trim().parse().unwrap())
            .collect()
    };
    let (train, test) = (numbers("(train ", ','), numbers(", test ", ')'));
    let mut counts = [vec![0usize; 10], vec![0usize; 10]];
    for r in 0..ds.rows {
        counts[usize::from(r >= 60000)][ds.class_of(r)] += 1;
    }
    assert_eq!(counts[0], train);
    assert_eq!(counts[1], test);
}

#[test]
fn mnist_digest_covers_the_four_files_in_order() {
    let dir = datasets_dir().join("mnist");
    let mut hasher = Sha256::new();
    for f in aiaas_data::idx::MNIST_FILES {
        hasher.update(std::fs::read(dir.join(f)).unwrap());
    }
    assert_eq!(mnist().digest, hex::encode(hasher.finalize()));
}

#[test]
fn mnist_scales_pixels_by_255_and_splits_off_the_official_test_set() {
    let ds = mnist();
    let s = split(ds, &SplitSpec::default()).unwrap();
    assert_eq!(s.test, (60000..70000).collect::<Vec<_>>());
    assert!((5990..=6010).contains(&s.val.len()), "{}", s.val.len());
    assert_eq!(s.train.len() + s.val.len(), 60000);
    assert!(s.train.iter().chain(&s.val).all(|&r| r < 60000));
    let schema = fit_schema(ds, &s.train);
    assert!(schema.features.iter().all(|f| f.kind
        == FeatureKind::Numeric {
            mean: 0.0,
            scale: 255.0
        }));
}

#[test]
fn idx_label_reader_reads_the_real_file() {
    let labels = read_idx_labels(&datasets_dir().join("mnist/t10k-labels-idx1-ubyte.gz")).unwrap();
    assert_eq!(labels.len(), 10000);
    assert_eq!(labels[..3], [7, 2, 1]);
}

fn gz_file(path: &Path, bytes: &[u8]) {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

fn be(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

#[test]
fn a_directory_of_idx_files_reads_as_mnist() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f);
    gz_file(
        &p("train-images-idx3-ubyte.gz"),
        &[be(&[2051, 2, 1, 2]), vec![0, 1, 2, 3]].concat(),
    );
    gz_file(
        &p("train-labels-idx1-ubyte.gz"),
        &[be(&[2049, 2]), vec![3, 9]].concat(),
    );
    gz_file(
        &p("t10k-images-idx3-ubyte.gz"),
        &[be(&[2051, 1, 1, 2]), vec![255, 0]].concat(),
    );

    let err = load(dir.path().to_str().unwrap(), None, None).unwrap_err();
    assert!(matches!(err, DataError::MnistFilesMissing { .. }));
    assert!(
        err.to_string().ends_with("lacks t10k-labels-idx1-ubyte.gz"),
        "{err}"
    );

    gz_file(
        &p("t10k-labels-idx1-ubyte.gz"),
        &[be(&[2049, 1]), vec![4]].concat(),
    );
    let ds = load(dir.path().to_str().unwrap(), None, None).unwrap();
    assert_eq!((ds.rows, ds.width()), (3, 2));
    assert_eq!(ds.x, [0.0, 1.0, 2.0, 3.0, 255.0, 0.0]);
    assert_eq!(ds.y, [3.0, 9.0, 4.0]);
    assert_eq!(ds.test_rows, Some(2..3));
    let names: Vec<&str> = ds.columns.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["pixel_0_0", "pixel_0_1"]);

    let regression = load(dir.path().to_str().unwrap(), None, Some(Task::Regression)).unwrap();
    assert_eq!(regression.task(), Task::Regression);
    let err = load(dir.path().to_str().unwrap(), Some("digit"), None).unwrap_err();
    assert!(matches!(err, DataError::UnknownTarget { .. }));

    // Labels that disagree with the image count are reported.
    gz_file(
        &p("t10k-labels-idx1-ubyte.gz"),
        &[be(&[2049, 2]), vec![4, 5]].concat(),
    );
    let err = load(dir.path().to_str().unwrap(), None, None).unwrap_err();
    assert!(err.to_string().contains("2 labels, but"), "{err}");
}
