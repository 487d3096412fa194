//! Datasets for aiaas: reading CSV and Parquet files, MNIST IDX files and image folders (as
//! files, folders or tar and zip archives) into an encoded [`Dataset`],
//! inferring column types and the task, the bundled samples, train/validation/test splits,
//! fitting and applying feature scaling, reading new data against a trained [`Schema`], and
//! feature profiles.
//!
//! Nothing here panics on user input: every problem with a file becomes a [`DataError`] whose
//! message names the file, line and column.
//!
//! [`Schema`]: aiaas_types::Schema

mod archive;
mod csv_reader;
mod dataset;
mod error;
pub mod idx;
mod image_folder;
mod input_encoder;
mod labels;
mod limits;
mod parquet_reader;
mod profile;
mod reader;
pub mod samples;
mod scale;
mod schema_reader;
mod source;
mod split;
mod table;

pub use archive::{pack_files, pack_folder};
pub use csv_reader::{DEFAULT_TARGET, read_csv, read_csv_bytes};
pub use dataset::{Column, Dataset, Target};
pub use error::DataError;
pub use idx::{read_idx_images, read_idx_labels, read_mnist};
pub use image_folder::IMAGE_TARGET;
pub use input_encoder::InputEncoder;
pub use limits::{MAX_CATEGORIES, MAX_COLUMNS, MAX_ENCODED_WIDTH, MAX_INFERRED_CLASSES};
pub use profile::{FeatureProfile, PROFILE_BINS, ProfileKind, profile};
pub use reader::{read_bytes, read_bytes_for_schema, read_path, read_path_for_schema};
pub use samples::{SAMPLES, load};
pub use scale::{encode, encode_on, fit_schema, scale_target, unscale_target};
pub use schema_reader::{SchemaFrame, read_csv_bytes_for_schema, read_csv_for_schema};
pub use split::{Split, split};
