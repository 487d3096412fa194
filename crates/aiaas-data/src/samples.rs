//! The bundled sample datasets `--data NAME` resolves to, and resolving a `--data` argument to
//! a dataset. The CSV samples are compiled into the binary so they work from any directory;
//! MNIST is too large for that and is looked up on disk.

use crate::{DataError, Dataset, Target, idx, read_csv_bytes, read_path};
use aiaas_types::Task;
use std::path::{Path, PathBuf};

/// Names of the bundled samples.
pub const SAMPLES: &[&str] = &[
    "iris",
    "wine",
    "breast_cancer",
    "digits",
    "diabetes",
    "mnist",
];

/// Environment variable naming a folder that holds `mnist/`.
pub const DATASETS_ENV: &str = "AIAAS_DATASETS";

macro_rules! embed {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../datasets/",
                $name,
                ".csv"
            ))
            .as_slice(),
        )
    };
}

const EMBEDDED: [(&str, &[u8]); 5] = [
    embed!("iris"),
    embed!("wine"),
    embed!("breast_cancer"),
    embed!("digits"),
    embed!("diabetes"),
];

/// The bytes of a bundled CSV sample, exactly as in `datasets/NAME.csv`.
pub fn embedded_csv(name: &str) -> Option<&'static [u8]> {
    EMBEDDED.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Folders searched for MNIST, in order: `$AIAAS_DATASETS/mnist`, `./datasets/mnist`, and the
/// source tree's `datasets/mnist`.
pub fn mnist_candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(root) = std::env::var_os(DATASETS_ENV) {
        dirs.push(PathBuf::from(root).join("mnist"));
    }
    dirs.push(PathBuf::from("datasets").join("mnist"));
    dirs.push(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../datasets/mnist"
    )));
    dirs
}

/// The first folder of [`mnist_candidates`] that exists.
pub fn mnist_dir() -> Result<PathBuf, DataError> {
    let searched = mnist_candidates();
    searched
        .iter()
        .find(|d| d.is_dir())
        .cloned()
        .ok_or(DataError::MnistNotFound { searched })
}

/// Resolves a `--data` argument: an existing file in any format [`read_path`] reads (CSV,
/// Parquet, an archive), a directory holding the four MNIST files or image folders, a sample
/// name as that sample; anything else is an error listing the samples. `target` and `task`
/// apply as in [`read_csv`](crate::read_csv).
pub fn load(
    path_or_name: &str,
    target: Option<&str>,
    task: Option<Task>,
) -> Result<Dataset, DataError> {
    let path = Path::new(path_or_name);
    if path.is_file() {
        return read_path(path, target, task);
    }
    if path.is_dir() && idx::MNIST_FILES.iter().any(|f| path.join(f).is_file()) {
        // read_mnist names the files missing, if any.
        return with_mnist_options(idx::read_mnist(path)?, target, task);
    }
    if path.is_dir() {
        // The four MNIST files under other names or gzipped differently, or image folders.
        return read_path(path, target, task);
    }
    if let Some(bytes) = embedded_csv(path_or_name) {
        return read_csv_bytes(&format!("{path_or_name}.csv"), bytes, target, task);
    }
    if path_or_name == idx::MNIST_NAME {
        return with_mnist_options(idx::read_mnist(&mnist_dir()?)?, target, task);
    }
    Err(DataError::UnknownDataset {
        name: path_or_name.to_string(),
        samples: SAMPLES.iter().map(|s| s.to_string()).collect(),
    })
}

/// MNIST has one possible target, `label`; asking for regression treats the digit as a number,
/// as `--task regression` does for any integer CSV target.
pub(crate) fn with_mnist_options(
    mut ds: Dataset,
    target: Option<&str>,
    task: Option<Task>,
) -> Result<Dataset, DataError> {
    let name = ds.target.name().to_string();
    if let Some(t) = target.filter(|t| *t != name) {
        return Err(DataError::UnknownTarget {
            file: ds.name,
            target: t.to_string(),
            available: vec![name],
        });
    }
    if task == Some(Task::Regression) {
        // y already holds the digit values: class i is the label "i".
        ds.target = Target::Regression { name };
    }
    Ok(ds)
}
