//! MNIST in its original IDX format (gzip-compressed, as distributed): reading image and label
//! files with their headers checked, and assembling the official train and test sets into one
//! [`Dataset`].

use crate::source::{read_file, sha256_hex};
use crate::{Column, DataError, Dataset, Target};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Magic number of an IDX file of unsigned-byte images (3 dimensions).
pub const IMAGES_MAGIC: u32 = 2051;
/// Magic number of an IDX file of unsigned-byte labels (1 dimension).
pub const LABELS_MAGIC: u32 = 2049;

/// The four MNIST files, in the order their bytes enter the dataset digest.
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

/// Name of the dataset [`read_mnist`] returns.
pub const MNIST_NAME: &str = "mnist";

/// Reads an IDX image file: `(count, rows, cols, pixels)` with `count * rows * cols` pixels,
/// image by image, row-major.
pub fn read_idx_images(path: &Path) -> Result<(usize, usize, usize, Vec<u8>), DataError> {
    parse_images(path, &read_file(path)?)
}

/// Reads an IDX label file: one byte per item.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    parse_labels(path, &read_file(path)?)
}

/// Reads MNIST from `dir` (the four files of [`MNIST_FILES`]): 60000 training rows followed by
/// the 10000 official test rows (`test_rows`), 784 numeric features `pixel_R_C` holding raw
/// pixel values 0..255, and classes "0".."9".
pub fn read_mnist(dir: &Path) -> Result<Dataset, DataError> {
    let missing: Vec<String> = MNIST_FILES
        .iter()
        .filter(|f| !dir.join(f).is_file())
        .map(|f| f.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(DataError::MnistFilesMissing {
            dir: dir.to_path_buf(),
            missing,
        });
    }
    let paths: Vec<PathBuf> = MNIST_FILES.iter().map(|f| dir.join(f)).collect();
    let raw = paths
        .iter()
        .map(|p| read_file(p))
        .collect::<Result<Vec<_>, _>>()?;
    mnist_from(&paths, &raw)
}

/// Which of the four MNIST files `name` (a file name, gzipped or not) is, as an index into
/// [`MNIST_FILES`].
pub(crate) fn mnist_file_index(name: &str) -> Option<usize> {
    let name = name.strip_suffix(".gz").unwrap_or(name);
    MNIST_FILES
        .iter()
        .position(|f| f.strip_suffix(".gz") == Some(name))
}

/// MNIST from the contents `raw` of its four files, in [`MNIST_FILES`] order; `paths` name them
/// in messages. The digest is that of the four contents concatenated.
pub(crate) fn mnist_from(paths: &[PathBuf], raw: &[Vec<u8>]) -> Result<Dataset, DataError> {
    let digest = sha256_hex(&raw.concat());

    let (train_count, img_rows, img_cols, train_pixels) = parse_images(&paths[0], &raw[0])?;
    let train_labels = parse_labels(&paths[1], &raw[1])?;
    let (test_count, test_rows, test_cols, test_pixels) = parse_images(&paths[2], &raw[2])?;
    let test_labels = parse_labels(&paths[3], &raw[3])?;
    let count_check = |labels: &[u8], path: &Path, images: &Path, count: usize| {
        if labels.len() == count {
            return Ok(());
        }
        Err(idx_error(
            path,
            format!(
                "{} labels, but {} holds {count} images",
                labels.len(),
                images.display()
            ),
        ))
    };
    count_check(&train_labels, &paths[1], &paths[0], train_count)?;
    count_check(&test_labels, &paths[3], &paths[2], test_count)?;
    if (test_rows, test_cols) != (img_rows, img_cols) {
        return Err(idx_error(
            &paths[2],
            format!(
                "images are {test_rows}x{test_cols}, but the training images are {img_rows}x{img_cols}"
            ),
        ));
    }
    let labels: Vec<u8> = train_labels.into_iter().chain(test_labels).collect();
    if let Some(pos) = labels.iter().position(|&l| l > 9) {
        let (path, item) = if pos < train_count {
            (&paths[1], pos)
        } else {
            (&paths[3], pos - train_count)
        };
        return Err(idx_error(
            path,
            format!("label {} of item {item} is not a digit 0..9", labels[pos]),
        ));
    }

    let columns = (0..img_rows)
        .flat_map(|r| {
            (0..img_cols).map(move |c| Column::Numeric {
                name: format!("pixel_{r}_{c}"),
            })
        })
        .collect();
    let rows = train_count + test_count;
    Ok(Dataset {
        name: MNIST_NAME.to_string(),
        digest,
        columns,
        target: Target::Classification {
            name: "label".to_string(),
            labels: (0..10).map(|d| d.to_string()).collect(),
        },
        rows,
        x: train_pixels
            .iter()
            .chain(&test_pixels)
            .map(|&p| f32::from(p))
            .collect(),
        y: labels.iter().map(|&l| f32::from(l)).collect(),
        test_rows: Some(train_count..rows),
    })
}

/// Whether `ds` came from [`read_mnist`]: only IDX data carries a predefined test set, and
/// its pixels are scaled by convention rather than by statistics.
pub(crate) fn is_mnist(ds: &Dataset) -> bool {
    ds.name == MNIST_NAME && ds.test_rows.is_some()
}

fn idx_error(path: &Path, reason: String) -> DataError {
    DataError::Idx {
        path: path.to_path_buf(),
        reason,
    }
}

/// Decompressed content of a gzip file; files that are not gzip are taken as already
/// decompressed IDX.
struct Content<'a> {
    path: &'a Path,
    reader: Box<dyn Read + 'a>,
}

impl<'a> Content<'a> {
    fn new(path: &'a Path, bytes: &'a [u8]) -> Content<'a> {
        let reader: Box<dyn Read + 'a> = if bytes.starts_with(&[0x1f, 0x8b]) {
            Box::new(GzDecoder::new(bytes))
        } else {
            Box::new(bytes)
        };
        Content { path, reader }
    }

    /// Exactly `n` bytes. Reading through `take` keeps a lying header from making the buffer
    /// grow past what the file holds.
    fn bytes(&mut self, n: usize, what: &str) -> Result<Vec<u8>, DataError> {
        // Room for what the header declares, up to MNIST's size: growing by doubling would copy
        // the pixels several times. A lying header reserves no more than that.
        let mut out = Vec::with_capacity(n.min(64 << 20));
        (&mut self.reader)
            .take(n as u64)
            .read_to_end(&mut out)
            .map_err(|e| idx_error(self.path, format!("cannot decompress: {e}")))?;
        if out.len() < n {
            return Err(idx_error(
                self.path,
                format!(
                    "the file ends early: {what} needs {n} bytes, found {}",
                    out.len()
                ),
            ));
        }
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32, DataError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn expect_magic(&mut self, magic: u32, kind: &str) -> Result<(), DataError> {
        let found = self.u32("the header")?;
        if found != magic {
            return Err(idx_error(
                self.path,
                format!("expected magic number {magic} ({kind}), found {found}"),
            ));
        }
        Ok(())
    }

    fn expect_end(&mut self) -> Result<(), DataError> {
        let mut extra = [0u8; 1];
        match self.reader.read(&mut extra) {
            Ok(0) => Ok(()),
            Ok(_) => Err(idx_error(
                self.path,
                "the file holds more data than its header declares".to_string(),
            )),
            Err(e) => Err(idx_error(self.path, format!("cannot decompress: {e}"))),
        }
    }
}

fn parse_images(path: &Path, bytes: &[u8]) -> Result<(usize, usize, usize, Vec<u8>), DataError> {
    let mut content = Content::new(path, bytes);
    content.expect_magic(IMAGES_MAGIC, "images")?;
    let count = content.u32("the header")? as usize;
    let rows = content.u32("the header")? as usize;
    let cols = content.u32("the header")? as usize;
    let size = count
        .checked_mul(rows)
        .and_then(|n| n.checked_mul(cols))
        .ok_or_else(|| idx_error(path, format!("{count}x{rows}x{cols} images is too large")))?;
    let pixels = content.bytes(size, &format!("{count} images of {rows}x{cols}"))?;
    content.expect_end()?;
    Ok((count, rows, cols, pixels))
}

fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let mut content = Content::new(path, bytes);
    content.expect_magic(LABELS_MAGIC, "labels")?;
    let count = content.u32("the header")? as usize;
    let labels = content.bytes(count, &format!("{count} labels"))?;
    content.expect_end()?;
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn header(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    #[test]
    fn parses_images_and_labels() {
        let mut images = header(&[2051, 2, 2, 3]);
        images.extend(0..12u8);
        let (n, r, c, px) = parse_images(Path::new("i.gz"), &gz(&images)).unwrap();
        assert_eq!((n, r, c), (2, 2, 3));
        assert_eq!(px, (0..12).collect::<Vec<u8>>());
        let mut labels = header(&[2049, 3]);
        labels.extend([7, 1, 0]);
        assert_eq!(parse_labels(Path::new("l"), &labels).unwrap(), [7, 1, 0]);
    }

    #[test]
    fn wrong_magic_is_reported() {
        let mut labels = header(&[2051, 1]);
        labels.push(0);
        let err = parse_labels(Path::new("l.gz"), &gz(&labels)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "l.gz: not a valid IDX file: expected magic number 2049 (labels), found 2051"
        );
    }

    #[test]
    fn truncated_and_overlong_files_are_reported() {
        let mut images = header(&[2051, 1000, 28, 28]);
        images.extend([0u8; 10]);
        let err = parse_images(Path::new("i.gz"), &gz(&images)).unwrap_err();
        assert!(err.to_string().contains("ends early"), "{err}");
        let mut labels = header(&[2049, 1]);
        labels.extend([1, 2]);
        let err = parse_labels(Path::new("l.gz"), &gz(&labels)).unwrap_err();
        assert!(err.to_string().contains("more data"), "{err}");
        let err = parse_labels(Path::new("l.gz"), &[0x1f, 0x8b, 0, 0]).unwrap_err();
        assert!(err.to_string().contains("decompress"), "{err}");
    }

    #[test]
    fn huge_declared_sizes_fail_cleanly() {
        let images = header(&[2051, u32::MAX, u32::MAX, u32::MAX]);
        assert!(parse_images(Path::new("i"), &images).is_err());
    }
}
