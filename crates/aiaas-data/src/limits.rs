//! How large a dataset may be and how far type inference goes. The raw table checks the column
//! count as it reads the header; the CSV reader checks the rest as it types the columns.

/// A numeric target with at most this many distinct integers is taken for class labels.
pub const MAX_INFERRED_CLASSES: usize = 20;

/// Most distinct values a text input column may have; more would make the one-hot encoding
/// larger than the data and usually means the column is an identifier.
pub const MAX_CATEGORIES: usize = 1000;

/// Most columns a CSV file may have (MNIST as a table has 785). Beyond this, parsing, profiles
/// and models grow past what a single upload should cost.
pub const MAX_COLUMNS: usize = 10_000;

/// Most data rows a CSV file may have.
pub const MAX_ROWS: usize = 10_000_000;

/// Most fields (rows times columns) a CSV file may have: each costs its text and 4 bytes of
/// position once parsed, so a 256 MiB upload stays well under a gigabyte.
pub const MAX_CELLS: usize = 100_000_000;

/// Most model inputs the columns may encode to (one-hot text columns count each category).
pub const MAX_ENCODED_WIDTH: usize = 100_000;
