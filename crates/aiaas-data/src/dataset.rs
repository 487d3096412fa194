//! The in-memory dataset every reader produces: columns, target and the encoded (one-hot, not
//! yet scaled) matrices. Scaling is deliberately left out so that it can be fitted on training
//! rows only.

use aiaas_types::Task;
use std::ops::Range;

/// A dataset read from a CSV file or from IDX images, encoded but not scaled.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// File stem, e.g. `iris`.
    pub name: String,
    /// SHA-256 hex of the source bytes (for IDX: of the four `.gz` files concatenated in the
    /// order train images, train labels, test images, test labels).
    pub digest: String,
    /// Input columns in file order; the target is not among them.
    pub columns: Vec<Column>,
    pub target: Target,
    pub rows: usize,
    /// `rows x width()` values, row-major: numeric columns raw, text columns one-hot over their
    /// sorted vocabulary.
    pub x: Vec<f32>,
    /// Class index (classification) or raw value (regression), one per row.
    pub y: Vec<f32>,
    /// Rows forming a predefined test set (MNIST's official test set); `None` for CSV data.
    pub test_rows: Option<Range<usize>>,
}

/// One input column of a dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    Numeric {
        name: String,
    },
    /// A text column, one-hot encoded over `vocabulary` (sorted).
    Categorical {
        name: String,
        vocabulary: Vec<String>,
    },
}

impl Column {
    /// Number of encoded values this column occupies in a row.
    pub fn width(&self) -> usize {
        match self {
            Column::Numeric { .. } => 1,
            Column::Categorical { vocabulary, .. } => vocabulary.len(),
        }
    }

    /// The column's header name.
    pub fn name(&self) -> &str {
        match self {
            Column::Numeric { name } | Column::Categorical { name, .. } => name,
        }
    }
}

/// The predicted column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Class index `i` in `y` stands for `labels[i]`.
    Classification {
        name: String,
        labels: Vec<String>,
    },
    Regression {
        name: String,
    },
}

impl Target {
    /// The target column's header name.
    pub fn name(&self) -> &str {
        match self {
            Target::Classification { name, .. } | Target::Regression { name } => name,
        }
    }
}

impl Dataset {
    /// Width of an encoded row (sum of the column widths).
    pub fn width(&self) -> usize {
        self.columns.iter().map(Column::width).sum()
    }

    pub fn task(&self) -> Task {
        match self.target {
            Target::Classification { .. } => Task::Classification,
            Target::Regression { .. } => Task::Regression,
        }
    }

    /// A row as a served request gives it (`numbers` in column order, NaN at a categorical
    /// column; `categories` the categorical values in column order) in this dataset's
    /// encoding: numbers as they are, a category one-hot over its column's vocabulary (a value
    /// the column never saw: all zeros, as the schema encodes it).
    pub fn encode_raw(&self, numbers: &[f32], categories: &[String]) -> Vec<f32> {
        let mut row = Vec::with_capacity(self.width());
        let mut category = categories.iter();
        for (c, column) in self.columns.iter().enumerate() {
            match column {
                Column::Numeric { .. } => row.push(numbers.get(c).copied().unwrap_or(f32::NAN)),
                Column::Categorical { vocabulary, .. } => {
                    let value = category.next();
                    row.extend(
                        vocabulary
                            .iter()
                            .map(|v| f32::from(u8::from(Some(v) == value))),
                    );
                }
            }
        }
        row
    }

    /// The dataset of `rows` of this one followed by `extra_x` (rows in this encoding) with
    /// targets `extra_y`; it has no predefined test rows.
    pub fn with_rows(&self, rows: &[usize], extra_x: &[f32], extra_y: &[f32]) -> Dataset {
        let width = self.width();
        assert_eq!(
            extra_x.len(),
            extra_y.len() * width,
            "with_rows: extra shape"
        );
        let mut x = Vec::with_capacity((rows.len() + extra_y.len()) * width);
        let mut y = Vec::with_capacity(rows.len() + extra_y.len());
        for &r in rows {
            x.extend_from_slice(&self.x[r * width..(r + 1) * width]);
            y.push(self.y[r]);
        }
        x.extend_from_slice(extra_x);
        y.extend_from_slice(extra_y);
        Dataset {
            name: self.name.clone(),
            digest: self.digest.clone(),
            columns: self.columns.clone(),
            target: self.target.clone(),
            rows: y.len(),
            x,
            y,
            test_rows: None,
        }
    }

    /// Number of classes (classification) or 1 (regression).
    pub fn num_classes(&self) -> usize {
        match &self.target {
            Target::Classification { labels, .. } => labels.len(),
            Target::Regression { .. } => 1,
        }
    }

    /// Class index of `row`. Only meaningful for classification (for regression it is the
    /// value truncated towards zero). Panics if `row >= rows`.
    pub fn class_of(&self, row: usize) -> usize {
        // y holds small non-negative integers for classification, exact in f32.
        self.y[row] as usize
    }

    /// The encoded values of one row. Panics if `row >= rows`.
    pub fn row(&self, row: usize) -> &[f32] {
        let width = self.width();
        &self.x[row * width..(row + 1) * width]
    }
}
