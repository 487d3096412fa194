//! Encoded images (PNG, JPEG) into an image model's input tensor, as the version's
//! [`Preprocess`] says: decode (within size limits: an image is untrusted input), convert to its
//! channels, resize (bilinear), center crop, scale, normalize per channel, lay out.

use crate::ServeError;
use aiaas_artifact::{ImageLayout, MAX_SIDE, Preprocess, Size};
use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// Bytes one decoded image may take at most (a 4096 x 4096 RGBA image).
const MAX_DECODED_BYTES: u64 = 64 << 20;

/// The images' values, one after the other, and the shape of each (C, H, W or H, W, C as the
/// layout says). Every image of a request must come out at one size, and all together hold at
/// most `max_values`; `input` names the request tensor in messages.
pub fn tensor(
    p: &Preprocess,
    images: &[&[u8]],
    input: &str,
    max_values: usize,
) -> Result<(Vec<f32>, [usize; 3]), ServeError> {
    let mut values = Vec::new();
    let mut shape = None;
    for (row, bytes) in images.iter().enumerate() {
        let bad = |why: String| ServeError::BadRequest(format!("input {input:?} row {row}: {why}"));
        let image = transformed(p, bytes).map_err(bad)?;
        let (w, h) = (image.width() as usize, image.height() as usize);
        let this = match p.layout {
            ImageLayout::Nchw => [p.channels, h, w],
            ImageLayout::Nhwc => [h, w, p.channels],
        };
        if *shape.get_or_insert(this) != this {
            return Err(bad(format!(
                "the image comes out {this:?} but row 0 came out {:?}: the images of one \
                 request must come out at one size (resize them to one, or send them apart)",
                shape.unwrap()
            )));
        }
        if values.len() + this.iter().product::<usize>() > max_values {
            return Err(bad(format!(
                "the images of this request come to more than {max_values} values: send fewer \
                 or smaller images per request"
            )));
        }
        push_values(p, &image, &mut values);
    }
    Ok((values, shape.unwrap_or([p.channels, 0, 0])))
}

/// One image decoded, in the preprocessing's channels, resized and cropped.
fn transformed(p: &Preprocess, bytes: &[u8]) -> Result<DynamicImage, String> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    if !matches!(reader.format(), Some(ImageFormat::Png | ImageFormat::Jpeg)) {
        return Err("not a PNG or JPEG image".into());
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let decoded = reader
        .decode()
        .map_err(|e| format!("the image cannot be decoded: {e}"))?;
    let mut image = match p.channels {
        1 => DynamicImage::ImageLuma8(decoded.to_luma8()),
        _ => DynamicImage::ImageRgb8(decoded.to_rgb8()),
    };
    let (w, h) = (image.width(), image.height());
    let resized = match p.resize {
        None => None,
        Some(Size::HeightWidth([rh, rw])) => Some((rw, rh)),
        // The shorter side to `s`, the other in proportion (as torchvision's Resize(s)).
        Some(Size::Side(s)) if w <= h => Some((s, scaled(h, s, w))),
        Some(Size::Side(s)) => Some((scaled(w, s, h), s)),
    };
    if let Some((rw, rh)) = resized.filter(|&size| size != (w, h)) {
        image = image.resize_exact(rw, rh, FilterType::Triangle);
    }
    if let Some(crop) = p.center_crop {
        let (cw, ch) = match crop {
            Size::Side(s) => (s, s),
            Size::HeightWidth([ch, cw]) => (cw, ch),
        };
        let (w, h) = (image.width(), image.height());
        if cw > w || ch > h {
            return Err(format!(
                "the image is {w}x{h} after the resize, smaller than the {cw}x{ch} crop"
            ));
        }
        image = image.crop_imm((w - cw) / 2, (h - ch) / 2, cw, ch);
    }
    Ok(image)
}

/// `side * target / other`, rounded, at least 1.
fn scaled(side: u32, target: u32, other: u32) -> u32 {
    ((side as f64 * target as f64 / other as f64).round() as u32).max(1)
}

/// The image's values, scaled and normalized, appended in the preprocessing's layout.
fn push_values(p: &Preprocess, image: &DynamicImage, out: &mut Vec<f32>) {
    let pixels = image.as_bytes(); // row-major, channels interleaved (8 bits each)
    let c = p.channels;
    let per_channel = |values: &[f32], default: f32, ch: usize| match values.len() {
        0 => default,
        1 => values[0],
        _ => values[ch],
    };
    let mean: Vec<f32> = (0..c).map(|ch| per_channel(&p.mean, 0.0, ch)).collect();
    let std: Vec<f32> = (0..c).map(|ch| per_channel(&p.std, 1.0, ch)).collect();
    let value = |i: usize| (pixels[i] as f32 * p.scale - mean[i % c]) / std[i % c];
    match p.layout {
        ImageLayout::Nhwc => out.extend((0..pixels.len()).map(value)),
        ImageLayout::Nchw => {
            for ch in 0..c {
                out.extend((ch..pixels.len()).step_by(c).map(value));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb};

    fn png(w: u32, h: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
        let image = ImageBuffer::from_fn(w, h, |x, y| Rgb(pixel(x, y)));
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn preprocess(json: &str) -> Preprocess {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn values_are_scaled_normalized_and_laid_out() {
        // A 2x1 image: red then blue.
        let image = png(2, 1, |x, _| if x == 0 { [255, 0, 0] } else { [0, 0, 255] });
        let p = preprocess(r#"{"mean": [0.5], "std": [0.5]}"#);
        let (values, shape) = tensor(&p, &[&image], "x", 1 << 20).unwrap();
        assert_eq!(shape, [3, 1, 2]);
        assert_eq!(values, [1.0, -1.0, -1.0, -1.0, -1.0, 1.0]);
        let p = preprocess(r#"{"layout": "NHWC", "scale": 1.0, "channels": 1}"#);
        let (values, shape) = tensor(&p, &[&image], "x", 1 << 20).unwrap();
        assert_eq!(shape, [1, 2, 1]);
        // Luma of pure red and pure blue, as the image crate weighs them (BT.709).
        assert_eq!(values, [54.0, 18.0]);
    }

    #[test]
    fn resize_keeps_the_aspect_and_the_crop_takes_the_center() {
        let image = png(8, 4, |x, _| [x as u8 * 10, 0, 0]);
        let p = preprocess(r#"{"resize": 2, "channels": 1, "scale": 1.0}"#);
        assert_eq!(tensor(&p, &[&image], "x", 1 << 20).unwrap().1, [1, 2, 4]);
        let p = preprocess(r#"{"center_crop": [2, 4], "channels": 3, "scale": 1.0}"#);
        let (values, shape) = tensor(&p, &[&image], "x", 1 << 20).unwrap();
        assert_eq!(shape, [3, 2, 4]);
        assert_eq!(&values[..4], &[20.0, 30.0, 40.0, 50.0]);
    }

    #[test]
    fn bad_images_say_why_and_which_row() {
        let p = preprocess(r#"{"center_crop": 3}"#);
        let good = png(4, 4, |_, _| [0; 3]);
        let small = png(2, 2, |_, _| [0; 3]);
        let truncated = &good[..good.len() / 2];
        let cases: [(&[u8], &str); 4] = [
            (b"GIF89a....", "row 1: not a PNG or JPEG image"),
            (truncated, "row 1: the image cannot be decoded"),
            (
                &small,
                "row 1: the image is 2x2 after the resize, smaller than the 3x3 crop",
            ),
            (b"", "row 1: not a PNG or JPEG image"),
        ];
        for (bad, needle) in cases {
            let e = tensor(&p, &[&good, bad], "img", 1 << 20)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(needle) && e.contains("\"img\""),
                "{e:?} lacks {needle:?}"
            );
        }
        let wide = png(6, 4, |_, _| [0; 3]);
        let p = preprocess(r#"{"resize": 4}"#);
        let e = tensor(&p, &[&good, &wide], "img", 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(e.contains("must come out at one size"), "{e}");
    }
}
