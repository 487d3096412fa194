//! Image datasets laid out as torchvision's `ImageFolder` reads them: one folder per class,
//! named by the class, holding PNG or JPEG images (under any common parent folder). Classes are
//! the folder names, sorted. Every image is decoded within size limits, brought to the size of
//! the first image (by path; bilinear) and flattened row by row into numeric columns
//! `pixel_R_C` (grayscale, when every image is) or `pixel_R_C_r|g|b` holding values 0..255;
//! the target is `label`. Files of other kinds (a README, a CSV) are skipped.

use crate::limits::MAX_ENCODED_WIDTH;
use crate::source::Entry;
use crate::{Column, DataError, Dataset, Target};
use aiaas_types::Task;
use image::imageops::FilterType;
use image::{ImageReader, Limits, RgbImage};
use std::collections::BTreeSet;
use std::io::Cursor;

/// Largest side of an image, and most bytes one decoded image may take.
const MAX_SIDE: u32 = 8_192;
const MAX_DECODED_BYTES: u64 = 64 << 20;

/// Name of the target column of an image dataset.
pub const IMAGE_TARGET: &str = "label";

/// The image dataset in `entries`; `file` names the archive or folder in messages.
pub(crate) fn image_folder(
    file: &str,
    entries: Vec<Entry>,
    target: Option<&str>,
    task: Option<Task>,
) -> Result<Dataset, DataError> {
    let bad = |reason: String| DataError::Format {
        file: file.to_string(),
        reason,
    };
    if let Some(t) = target.filter(|t| *t != IMAGE_TARGET) {
        return Err(DataError::UnknownTarget {
            file: file.to_string(),
            target: t.to_string(),
            available: vec![IMAGE_TARGET.to_string()],
        });
    }
    if task == Some(Task::Regression) {
        return Err(bad(
            "an image folder's classes are labels, not numbers; it is for classification".into(),
        ));
    }
    // By path, as torchvision orders them: the same rows whatever order the archive holds.
    let mut images: Vec<&Entry> = entries.iter().filter(|e| is_image(&e.path)).collect();
    images.sort_by(|a, b| a.path.cmp(&b.path));
    if images.is_empty() {
        return Err(bad(
            "it holds no PNG or JPEG images; expected one folder of images per class (or the \
             four MNIST IDX files)"
                .into(),
        ));
    }
    let classes = class_of_each(&images).map_err(bad)?;
    let labels: Vec<String> = classes
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if labels.len() < 2 {
        return Err(bad(format!(
            "all {} images are in one class ({}); an image dataset needs a folder per class, \
             at least two",
            images.len(),
            labels[0]
        )));
    }

    let mut size = None;
    let mut gray = true;
    let mut decoded = Vec::with_capacity(images.len());
    for entry in &images {
        let image = decode(&entry.bytes).map_err(|e| bad(format!("{}: {e}", entry.path)))?;
        let (w, h) = *size.get_or_insert((image.width(), image.height()));
        let inputs = w as usize * h as usize;
        if inputs > MAX_ENCODED_WIDTH {
            return Err(bad(format!(
                "its images are {w}x{h} pixels, more than the {MAX_ENCODED_WIDTH} inputs a \
                 model may take; resize them first"
            )));
        }
        gray &= image.color().channel_count() <= 2;
        let rgb = image.to_rgb8();
        decoded.push(if (rgb.width(), rgb.height()) == (w, h) {
            rgb
        } else {
            image::imageops::resize(&rgb, w, h, FilterType::Triangle)
        });
    }
    let (w, h) = size.expect("at least one image");
    let channels = if gray { 1 } else { 3 };
    if (w * h) as usize * channels > MAX_ENCODED_WIDTH {
        return Err(bad(format!(
            "its colour images are {w}x{h} pixels, 3 values each: more than the \
             {MAX_ENCODED_WIDTH} inputs a model may take; resize them first"
        )));
    }
    Ok(Dataset {
        name: crate::csv_reader::stem(file),
        digest: String::new(),
        columns: columns(w, h, gray),
        target: Target::Classification {
            name: IMAGE_TARGET.to_string(),
            labels: labels.clone(),
        },
        rows: decoded.len(),
        x: pixels(&decoded, gray),
        y: classes
            .iter()
            .map(|c| labels.binary_search(c).expect("a class of the list") as f32)
            .collect(),
        test_rows: None,
    })
}

fn is_image(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [".png", ".jpg", ".jpeg"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// The class of each image: the folder right below the folder all of them share.
fn class_of_each(images: &[&Entry]) -> Result<Vec<String>, String> {
    let folders: Vec<Vec<&str>> = images
        .iter()
        .map(|e| {
            let mut parts: Vec<&str> = e.path.split('/').collect();
            parts.pop();
            parts
        })
        .collect();
    let mut shared = folders[0].len();
    for f in &folders[1..] {
        shared = shared.min(
            f.iter()
                .zip(&folders[0])
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    if folders.iter().all(|f| f.len() == shared) {
        // Every image sits in the same folder: one class at most.
        return Ok(vec![
            folders[0].last().unwrap_or(&"").to_string();
            images.len()
        ]);
    }
    images
        .iter()
        .zip(&folders)
        .map(|(e, f)| {
            f.get(shared).map(|c| c.to_string()).ok_or_else(|| {
                format!(
                    "{} is not inside a class folder; put each image in the folder of its class",
                    e.path
                )
            })
        })
        .collect()
}

/// One image, decoded within the size limits.
fn decode(bytes: &[u8]) -> Result<image::DynamicImage, String> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read the image: {e}"))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    reader
        .decode()
        .map_err(|e| format!("cannot decode the image: {e}"))
}

fn columns(w: u32, h: u32, gray: bool) -> Vec<Column> {
    let mut columns = Vec::new();
    for r in 0..h {
        for c in 0..w {
            if gray {
                columns.push(Column::Numeric {
                    name: format!("pixel_{r}_{c}"),
                });
            } else {
                for ch in ["r", "g", "b"] {
                    columns.push(Column::Numeric {
                        name: format!("pixel_{r}_{c}_{ch}"),
                    });
                }
            }
        }
    }
    columns
}

/// The images' values row-major, one image after another: the red channel for grayscale
/// images (whose three channels are equal), else all three.
fn pixels(images: &[RgbImage], gray: bool) -> Vec<f32> {
    let mut x = Vec::new();
    for image in images {
        if gray {
            x.extend(image.pixels().map(|p| f32::from(p.0[0])));
        } else {
            x.extend(image.as_raw().iter().map(|&v| f32::from(v)));
        }
    }
    x
}
