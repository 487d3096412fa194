//! Datasets beyond CSV: Parquet as pyarrow writes it (`tests/parquet/fixtures.py`), the four
//! MNIST IDX files in tar and zip archives, image folders of PNGs in tar, tar.gz and zip
//! archives and on disk; and each format's bad input refused with a message that says what is
//! wrong.

use aiaas_data::{Column, Dataset, Target, read_bytes, read_bytes_for_schema, read_path};
use aiaas_types::Task;
use std::io::{Cursor, Write};

fn parquet(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}.parquet", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).unwrap()
}

/// Everything but the name and the digest, which name and hash the bytes read.
fn same_data(a: &Dataset, b: &Dataset) {
    assert_eq!(a.columns, b.columns);
    assert_eq!(a.target, b.target);
    assert_eq!(a.rows, b.rows);
    assert!(a.x == b.x, "the inputs differ");
    assert!(a.y == b.y, "the targets differ");
    assert_eq!(a.test_rows, b.test_rows);
}

#[test]
fn parquet_reads_as_the_same_csv_does() {
    let csv = aiaas_data::load("iris", None, None).unwrap();
    let ds = read_bytes("iris.parquet", &parquet("iris"), None, None).unwrap();
    same_data(&ds, &csv);
    assert_eq!(ds.name, "iris");
    assert_eq!(ds.digest, sha256(&parquet("iris")));

    // Text and booleans become categories, integers numbers, over two gzip row groups.
    let ds = read_bytes("mixed.parquet", &parquet("mixed"), None, None).unwrap();
    assert_eq!(ds.rows, 6);
    let names: Vec<&str> = ds.columns.iter().map(Column::name).collect();
    assert_eq!(names, ["size", "colour", "round", "count"]);
    assert!(
        matches!(&ds.columns[1], Column::Categorical { vocabulary, .. } if vocabulary == &["blue", "green", "red"])
    );
    assert!(
        matches!(&ds.columns[2], Column::Categorical { vocabulary, .. } if vocabulary == &["false", "true"])
    );
    assert!(matches!(ds.columns[3], Column::Numeric { .. }));
    assert_eq!(ds.task(), Task::Classification);
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn parquet_that_cannot_be_a_table_is_refused_by_name() {
    let err = |name: &str| {
        read_bytes(&format!("{name}.parquet"), &parquet(name), None, None)
            .unwrap_err()
            .to_string()
    };
    let nested = err("nested");
    assert!(nested.contains("column \"tags\" is nested"), "{nested}");
    let zstd = err("zstd");
    assert!(zstd.contains("ZSTD") && zstd.contains("snappy"), "{zstd}");
    let mut cut = parquet("iris");
    cut.drain(100..200);
    let cut = read_bytes("cut.parquet", &cut, None, None)
        .unwrap_err()
        .to_string();
    assert!(cut.contains("cut.parquet"), "{cut}");
}

/// `files` as a tar archive.
fn tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    aiaas_data::pack_files(files).unwrap()
}

fn zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (path, bytes) in files {
        writer.start_file(path.as_str(), options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn mnist_files() -> Vec<(String, Vec<u8>)> {
    let dir = aiaas_data::samples::mnist_dir().unwrap();
    aiaas_data::idx::MNIST_FILES
        .iter()
        .map(|f| (format!("mnist/{f}"), std::fs::read(dir.join(f)).unwrap()))
        .collect()
}

#[test]
fn mnist_reads_from_its_four_files_in_an_archive() {
    let local = aiaas_data::load("mnist", None, None).unwrap();
    let ds = read_bytes("mnist.tar", &tar(&mnist_files()), None, None).unwrap();
    same_data(&ds, &local);
    assert_eq!(ds.test_rows, Some(60_000..70_000));

    // Unzipped files in a zip archive read the same.
    let plain: Vec<(String, Vec<u8>)> = mnist_files()
        .into_iter()
        .map(|(path, bytes)| {
            let mut out = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(bytes.as_slice()),
                &mut out,
            )
            .unwrap();
            (path.trim_end_matches(".gz").to_string(), out)
        })
        .collect();
    let ds = read_bytes("mnist.zip", &zip(&plain), None, None).unwrap();
    same_data(&ds, &local);
}

#[test]
fn a_corrupt_or_incomplete_mnist_archive_is_refused() {
    let mut files = mnist_files();
    files[1].1 = gzip(&[0, 0, 8, 3, 0, 0, 0, 1, 7]);
    let err = read_bytes("m.tar", &tar(&files), None, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("expected magic number 2049 (labels), found 2051"),
        "{err}"
    );
    let three = &mnist_files()[..3];
    let err = read_bytes("m.tar", &tar(three), None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not t10k-labels-idx1-ubyte.gz"), "{err}");
    let one = &mnist_files()[0].1;
    let err = read_bytes("images.gz", one, None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("one IDX file"), "{err}");
}

/// PNGs of the first `rows` rows of the digits sample (8x8, values 0..16 made 0..255), as
/// `digits/<class>/<row>.png`.
fn digit_pngs(rows: usize) -> Vec<(String, Vec<u8>)> {
    let digits = aiaas_data::load("digits", None, None).unwrap();
    let Target::Classification { labels, .. } = &digits.target else {
        unreachable!()
    };
    (0..rows)
        .map(|r| {
            let pixels: Vec<u8> = digits.x[r * 64..(r + 1) * 64]
                .iter()
                .map(|&v| (v * 16.0).min(255.0) as u8)
                .collect();
            let image = image::GrayImage::from_raw(8, 8, pixels).unwrap();
            let mut png = Vec::new();
            image
                .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
                .unwrap();
            let class = &labels[digits.y[r] as usize];
            (format!("digits/{class}/{r:04}.png"), png)
        })
        .collect()
}

#[test]
fn image_folders_read_from_tar_tar_gz_zip_and_disk_alike() {
    let files = digit_pngs(200);
    let ds = read_bytes("digits.tar", &tar(&files), None, None).unwrap();
    assert_eq!((ds.rows, ds.width()), (200, 64));
    assert_eq!(ds.columns[9].name(), "pixel_1_1");
    let Target::Classification { name, labels } = &ds.target else {
        panic!("{:?}", ds.target)
    };
    assert_eq!(name, "label");
    assert_eq!(labels.len(), 10);
    // Sorted by path: the first row is digits/0/0000.png, the sample's first row.
    let digits = aiaas_data::load("digits", None, None).unwrap();
    let first: Vec<f32> = digits.x[..64]
        .iter()
        .map(|v| (v * 16.0).min(255.0).floor())
        .collect();
    assert!(ds.x[..64] == first[..], "{:?}", &ds.x[..64]);

    let gz = read_bytes("digits.tar.gz", &gzip(&tar(&files)), None, None).unwrap();
    same_data(&gz, &ds);
    let mut with_extras = files.clone();
    with_extras.push(("digits/README.txt".into(), b"ten classes".to_vec()));
    with_extras.push(("__MACOSX/digits/0/._0000.png".into(), b"junk".to_vec()));
    let zipped = read_bytes("digits.zip", &zip(&with_extras), None, None).unwrap();
    same_data(&zipped, &ds);

    let dir = tempfile::tempdir().unwrap();
    for (path, bytes) in &files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let on_disk = read_path(&dir.path().join("digits"), None, None).unwrap();
    same_data(&on_disk, &ds);
    // A folder packed for upload reads as the folder does.
    let packed = aiaas_data::pack_folder(&dir.path().join("digits")).unwrap();
    same_data(&read_bytes("digits.tar", &packed, None, None).unwrap(), &ds);
    assert_eq!(
        packed,
        aiaas_data::pack_folder(&dir.path().join("digits")).unwrap()
    );
}

#[test]
fn image_archives_that_cannot_be_a_dataset_are_refused() {
    let err = |files: &[(String, Vec<u8>)]| {
        read_bytes("images.tar", &tar(files), None, None)
            .unwrap_err()
            .to_string()
    };
    let one_class: Vec<_> = digit_pngs(40)
        .into_iter()
        .filter(|(p, _)| p.starts_with("digits/0/"))
        .collect();
    let e = err(&one_class);
    assert!(e.contains("one class (0)"), "{e}");
    let mut broken = digit_pngs(20);
    broken[3].1.truncate(30);
    let e = err(&broken);
    assert!(
        e.contains(&broken[3].0) && e.contains("cannot decode"),
        "{e}"
    );
    let mut loose = digit_pngs(20);
    loose.push(("digits/stray.png".into(), loose[0].1.clone()));
    let e = err(&loose);
    assert!(
        e.contains("digits/stray.png is not inside a class folder"),
        "{e}"
    );
    let e = err(&[("notes/a.txt".into(), b"x".to_vec())]);
    assert!(e.contains("no PNG or JPEG images"), "{e}");

    // A path that climbs out of the archive (which tar's own writer refuses to write).
    let png = &digit_pngs(1)[0].1;
    let mut header = tar::Header::new_ustar();
    header.as_ustar_mut().unwrap().name[..13].copy_from_slice(b"../0/evil.png");
    header.set_size(png.len() as u64);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, png.as_slice()).unwrap();
    let climbing = builder.into_inner().unwrap();
    let e = read_bytes("evil.tar", &climbing, None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("lies outside the archive"), "{e}");
}

#[test]
fn eval_and_predict_read_archives_and_parquet_against_a_schema() {
    let files = tar(&digit_pngs(100));
    let ds = read_bytes("digits.tar", &files, None, None).unwrap();
    let all: Vec<usize> = (0..ds.rows).collect();
    let schema = aiaas_data::fit_schema(&ds, &all);
    let frame = read_bytes_for_schema("digits.tar", &files, &schema, true).unwrap();
    close(
        &frame.x,
        &aiaas_data::encode(&schema, &ds.x, &all, ds.width()),
    );
    assert!(frame.y.unwrap() == ds.y);

    let iris = aiaas_data::load("iris", None, None).unwrap();
    let rows: Vec<usize> = (0..iris.rows).collect();
    let schema = aiaas_data::fit_schema(&iris, &rows);
    let frame = read_bytes_for_schema("iris.parquet", &parquet("iris"), &schema, true).unwrap();
    close(
        &frame.x,
        &aiaas_data::encode(&schema, &iris.x, &rows, iris.width()),
    );
}

/// Equal but for float rounding (the schema reader and `encode` scale in different orders).
fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    let worst = a
        .iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "differ by up to {worst}");
}
