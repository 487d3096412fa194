//! The crate's single error type. Every message is written for the person who supplied the
//! data: it names the file, and where a place in the file exists, the line (1-based, the header
//! is line 1) and the column, and says what was expected.

use std::path::PathBuf;

/// Everything that can go wrong while reading, splitting or resolving a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file that is not what its first bytes say (a Parquet file, an archive, an image), or
    /// holds what this format cannot carry into a dataset (a nested column, one class).
    #[error("{file}: {reason}")]
    Format { file: String, reason: String },

    /// Nothing at all in the file, not even a header row.
    #[error("{file}: the file is empty; expected a header row followed by data rows")]
    Empty { file: String },

    /// A header row but no data rows.
    #[error("{file}: the file has a header row but no data rows")]
    NoRows { file: String },

    /// One line of text: a header at best. `curl -d @file` sends a file this way (it removes the
    /// line breaks), which would otherwise be read as one long header.
    #[error(
        "{file}: the text is one line, with no line breaks, so it has no data rows; \
         `curl -d @file` removes line breaks: send a file with `--data-binary @file`"
    )]
    OneLine { file: String },

    /// Bytes that are not UTF-8 text.
    #[error("{file} line {line}: the text is not valid UTF-8; save the file as UTF-8")]
    NotUtf8 { file: String, line: usize },

    /// The CSV parser itself gave up (rare: the reader is lenient about field counts).
    #[error("{file} line {line}: cannot parse the CSV: {message}")]
    Csv {
        file: String,
        line: usize,
        message: String,
    },

    /// A header cell is blank.
    #[error("{file} line 1: column {position} has no name; every column needs a header")]
    EmptyColumnName { file: String, position: usize },

    /// Two header cells carry the same name.
    #[error(
        "{file} line 1, column \"{column}\": the name appears twice (columns {first} and {second}); \
         column names must be unique"
    )]
    DuplicateColumn {
        file: String,
        column: String,
        first: usize,
        second: usize,
    },

    /// A data row with more or fewer fields than the header.
    #[error(
        "{file} line {line}: expected {expected} fields (one per header column), found {found}{}",
        ragged_hint(missing.as_deref())
    )]
    RaggedRow {
        file: String,
        line: usize,
        expected: usize,
        found: usize,
        /// The first header column left without a value, when the row is short.
        missing: Option<String>,
    },

    /// No target column was named and none is called `target`.
    #[error(
        "{file}: no column is named \"target\"; say which column to predict (`--target` in the \
         CLI, `?target=` over HTTP), one of: {}",
        available.join(", ")
    )]
    TargetNeeded {
        file: String,
        available: Vec<String>,
    },

    /// `--target` names a column the file does not have.
    #[error(
        "{file}: there is no column \"{target}\" to use as the target; the columns are: {}",
        available.join(", ")
    )]
    UnknownTarget {
        file: String,
        target: String,
        available: Vec<String>,
    },

    /// An empty field.
    #[error("{file} line {line}, column \"{column}\": expected a value, found an empty field")]
    MissingValue {
        file: String,
        line: usize,
        column: String,
    },

    /// Text (or NaN / infinity) in a column that holds numbers.
    #[error("{file} line {line}, column \"{column}\": expected a number, found \"{found}\"")]
    NotANumber {
        file: String,
        line: usize,
        column: String,
        found: String,
    },

    /// A number too large for the 32-bit floats models compute with.
    #[error(
        "{file} line {line}, column \"{column}\": expected a number within +-3.4e38 \
         (32-bit float range), found \"{found}\""
    )]
    NumberOutOfRange {
        file: String,
        line: usize,
        column: String,
        found: String,
    },

    /// A text column with so many distinct values that one-hot encoding would explode.
    #[error(
        "{file}, column \"{column}\": a text column with {count} distinct values \
         (at most {max} are supported); drop it if it is an identifier"
    )]
    TooManyCategories {
        file: String,
        column: String,
        count: usize,
        max: usize,
    },

    /// More data rows, or more fields, than a dataset may have.
    #[error("{file}: more than {max} {what}; split the data or sample it")]
    TooManyRows {
        file: String,
        what: &'static str,
        max: usize,
    },

    /// A header with more columns than a dataset may have.
    #[error("{file}: the header has {count} columns; at most {max} are supported")]
    TooManyColumns {
        file: String,
        count: usize,
        max: usize,
    },

    /// Columns whose one-hot encoding gives more model inputs than supported.
    #[error(
        "{file}: the columns encode to {width} model inputs (text columns count one per \
         category); at most {max} are supported: drop identifier-like text columns"
    )]
    TooWide {
        file: String,
        width: usize,
        max: usize,
    },

    /// A classification target where every row has the same class.
    #[error(
        "{file}, column \"{column}\": the target has a single class (\"{label}\"); \
         classification needs at least two"
    )]
    SingleClass {
        file: String,
        column: String,
        label: String,
    },

    /// `--task classification` for a target with fractional numbers.
    #[error(
        "{file} line {line}, column \"{column}\": classification needs whole-number or text \
         class labels, found \"{found}\"; use --task regression"
    )]
    TargetNotInteger {
        file: String,
        line: usize,
        column: String,
        found: String,
    },

    /// `--task regression` for a text target.
    #[error(
        "{file} line {line}, column \"{column}\": regression needs a numeric target, \
         found \"{found}\"; use --task classification"
    )]
    TextTarget {
        file: String,
        line: usize,
        column: String,
        found: String,
    },

    /// A column the trained model needs is absent from new data.
    #[error(
        "task \"other\" is for imported models whose outputs are not read; a dataset's task is \
         classification or regression"
    )]
    TaskOther,
    #[error("{file}: column \"{column}\" is missing; the model was trained with it")]
    MissingColumn { file: String, column: String },

    /// A class in new data that the model never saw.
    #[error(
        "{file} line {line}, column \"{column}\": unknown class \"{found}\"; \
         the model knows: {}",
        labels.join(", ")
    )]
    UnknownLabel {
        file: String,
        line: usize,
        column: String,
        found: String,
        labels: Vec<String>,
    },

    /// Split fractions that cannot describe a split.
    #[error(
        "invalid split: val_fraction {val} and test_fraction {test} must each be in [0, 1) \
         and sum to less than 1"
    )]
    InvalidSplit { val: f64, test: f64 },

    /// A malformed IDX (MNIST) file.
    #[error("{}: not a valid IDX file: {reason}", path.display())]
    Idx { path: PathBuf, reason: String },

    /// A directory given as data that lacks some of the four MNIST files.
    #[error(
        "{}: a directory is read as MNIST, but it lacks {}",
        dir.display(),
        missing.join(", ")
    )]
    MnistFilesMissing { dir: PathBuf, missing: Vec<String> },

    /// The MNIST sample was asked for but no copy was found.
    #[error(
        "the MNIST files were not found (looked in {}); set AIAAS_DATASETS to the folder \
         that holds mnist/",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    MnistNotFound { searched: Vec<PathBuf> },

    /// Neither a file nor a bundled sample.
    #[error(
        "\"{name}\" is neither a file nor a bundled sample; the samples are: {}",
        samples.join(", ")
    )]
    UnknownDataset { name: String, samples: Vec<String> },
}

fn ragged_hint(missing: Option<&str>) -> String {
    match missing {
        Some(column) => format!(" (no value for column \"{column}\")"),
        None => String::new(),
    }
}
