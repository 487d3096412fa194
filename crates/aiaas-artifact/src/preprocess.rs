//! `preprocess.json`: how an imported image model's encoded images (PNG, JPEG) become its input
//! tensor, in the order torchvision's transforms apply them: decode to the channels asked for,
//! resize, center crop, scale the 0-255 values, subtract the mean and divide by the standard
//! deviation per channel, lay out as NCHW or NHWC. Whether a file fits its graph's input is
//! checked at import ([`Preprocess::fit`]); the decoding itself is the serving runtime's.

use aiaas_types::{DataType, TensorSpec};
use serde::{Deserialize, Serialize};

/// The file that describes an image model's preprocessing, beside `model.onnx` at import.
pub const PREPROCESS_FILE: &str = "preprocess.json";

/// Largest side of a decoded image or of a resize or crop, in pixels.
pub const MAX_SIDE: u32 = 8_192;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocess {
    /// The graph input the images fill (default: the graph's only input).
    #[serde(default)]
    pub input: Option<String>,
    /// `[height, width]`, or one number: the shorter side, the aspect ratio kept.
    #[serde(default)]
    pub resize: Option<Size>,
    /// `[height, width]` (or one number for a square) cut from the center after the resize.
    #[serde(default)]
    pub center_crop: Option<Size>,
    /// 1 (grayscale) or 3 (RGB).
    #[serde(default = "three")]
    pub channels: usize,
    #[serde(default)]
    pub layout: ImageLayout,
    /// Each 0-255 value is multiplied by this first (default 1/255: values in 0..1).
    #[serde(default = "one_255th")]
    pub scale: f32,
    /// Per channel (or one for all), subtracted after the scale (default 0).
    #[serde(default)]
    pub mean: Vec<f32>,
    /// Per channel (or one for all), divided by last (default 1).
    #[serde(default)]
    pub std: Vec<f32>,
}

fn three() -> usize {
    3
}

fn one_255th() -> f32 {
    1.0 / 255.0
}

/// A size in pixels: one number (a resize's shorter side, a square crop) or `[height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Size {
    Side(u32),
    HeightWidth([u32; 2]),
}

/// Where the channel axis goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageLayout {
    #[default]
    #[serde(rename = "NCHW")]
    Nchw,
    #[serde(rename = "NHWC")]
    Nhwc,
}

impl Preprocess {
    /// The steps a `preprocess.json` describes, before they are fitted to a graph.
    pub fn parse(bytes: &[u8]) -> Result<Preprocess, String> {
        serde_json::from_slice(bytes)
            .map_err(|e| format!("{PREPROCESS_FILE} is not a preprocessing description: {e}"))
    }

    /// Checks the steps and that the input they fill takes what they make: FP32 `[N, C, H, W]`
    /// (NCHW) or `[N, H, W, C]` (NHWC) whose fixed axes match, or FP32 `[N, F]` with `F = C x H
    /// x W` (the image flattened in its layout's order), which needs a fixed output size. Names
    /// the input it fills.
    pub fn fit(mut self, inputs: &[TensorSpec]) -> Result<Preprocess, String> {
        if ![1, 3].contains(&self.channels) {
            return Err(format!(
                "channels is {}: 1 (grayscale) or 3 (RGB)",
                self.channels
            ));
        }
        for (what, size) in [("resize", self.resize), ("center_crop", self.center_crop)] {
            let sides = match size {
                None => continue,
                Some(Size::Side(s)) => vec![s],
                Some(Size::HeightWidth(hw)) => hw.to_vec(),
            };
            if sides.iter().any(|&s| s == 0 || s > MAX_SIDE) {
                return Err(format!(
                    "{what} is {sides:?}: sides of 1 to {MAX_SIDE} pixels"
                ));
            }
        }
        for (what, values) in [("mean", &self.mean), ("std", &self.std)] {
            if ![0, 1, self.channels].contains(&values.len()) {
                return Err(format!(
                    "{what} has {} values: one per channel ({}), or one for all",
                    values.len(),
                    self.channels
                ));
            }
        }
        if !self.scale.is_finite() || self.std.iter().any(|s| *s == 0.0 || !s.is_finite()) {
            return Err("scale and std must be finite, and std not zero".into());
        }
        let spec = match &self.input {
            Some(name) => inputs.iter().find(|i| &i.name == name).ok_or_else(|| {
                format!(
                    "the graph has no input {name:?}; its inputs: {}",
                    names(inputs)
                )
            })?,
            None if inputs.len() == 1 => &inputs[0],
            None => {
                return Err(format!(
                    "the graph has several inputs ({}): name the one the images fill in \"input\"",
                    names(inputs)
                ));
            }
        };
        self.input = Some(spec.name.clone());
        let made = self.shape();
        let fits = spec.datatype == DataType::Fp32
            && match spec.shape.as_slice() {
                [_, rest @ ..] if rest.len() == 3 => {
                    (rest.iter().zip(&made)).all(|(&d, m)| d == -1 || m.is_some_and(|m| m == d))
                }
                [_, width] => made.iter().try_fold(1i64, |n, m| Some(n * (*m)?)) == Some(*width),
                _ => false,
            };
        if !fits {
            let made: Vec<String> = (made.iter())
                .map(|m| m.map_or("any".into(), |m| m.to_string()))
                .collect();
            return Err(format!(
                "it makes images of [{}] ({:?}), which input {:?} FP32 {:?} does not take \
                 (it takes FP32 [N, C, H, W], [N, H, W, C], or [N, C x H x W] for a fixed size)",
                made.join(", "),
                self.layout,
                spec.name,
                spec.shape
            ));
        }
        Ok(self)
    }

    /// One image's shape in its layout (C, H, W or H, W, C), `None` for a side that follows the
    /// image's own size.
    pub fn shape(&self) -> [Option<i64>; 3] {
        // The crop fixes the size; else a resize to [height, width] does; a resize of the
        // shorter side leaves it to the image.
        let fixed = match self.resize {
            Some(Size::HeightWidth(_)) => self.center_crop.or(self.resize),
            _ => self.center_crop,
        };
        let (h, w) = match fixed {
            Some(Size::Side(s)) => (Some(s as i64), Some(s as i64)),
            Some(Size::HeightWidth([h, w])) => (Some(h as i64), Some(w as i64)),
            None => (None, None),
        };
        let c = Some(self.channels as i64);
        match self.layout {
            ImageLayout::Nchw => [c, h, w],
            ImageLayout::Nhwc => [h, w, c],
        }
    }
}

fn names(inputs: &[TensorSpec]) -> String {
    (inputs.iter())
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
