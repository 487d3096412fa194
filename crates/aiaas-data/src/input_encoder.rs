//! Raw feature values into model inputs, scaled and one-hot encoded exactly as in training.
//! Every path that feeds a trained model (CSV files for eval and predict, tensors sent to the
//! inference server) encodes through here. An encoder owns what it needs, so a server builds
//! one per loaded model rather than one per request.

use crate::scale::standardize;
use aiaas_types::{FeatureKind, Schema};
use std::collections::HashMap;

/// Encodes values feature by feature into rows of `schema.input_width()` model inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct InputEncoder {
    features: Vec<Encoding>,
    width: usize,
}

/// How one feature lands in a row, starting at `offset`.
#[derive(Clone, Debug, PartialEq)]
enum Encoding {
    Numeric {
        offset: usize,
        mean: f64,
        scale: f64,
    },
    Categorical {
        offset: usize,
        width: usize,
        index: HashMap<String, usize>,
    },
}

impl InputEncoder {
    pub fn new(schema: &Schema) -> Self {
        let mut offset = 0;
        let features = schema
            .features
            .iter()
            .map(|feature| {
                let encoding = match &feature.kind {
                    FeatureKind::Numeric { mean, scale } => Encoding::Numeric {
                        offset,
                        mean: *mean,
                        scale: *scale,
                    },
                    FeatureKind::Categorical { vocabulary } => Encoding::Categorical {
                        offset,
                        width: vocabulary.len(),
                        index: vocabulary
                            .iter()
                            .enumerate()
                            .map(|(i, v)| (v.clone(), i))
                            .collect(),
                    },
                };
                offset += feature.width();
                encoding
            })
            .collect();
        InputEncoder {
            features,
            width: offset,
        }
    }

    /// Model inputs per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Write numeric feature `feature` of one `row` (a slice of `width()` inputs). Panics if the
    /// feature is categorical: callers check the schema first.
    pub fn number(&self, row: &mut [f32], feature: usize, value: f64) {
        match &self.features[feature] {
            Encoding::Numeric {
                offset,
                mean,
                scale,
            } => row[*offset] = standardize(value, *mean, *scale),
            Encoding::Categorical { .. } => {
                panic!("feature {feature} is categorical, not numeric")
            }
        }
    }

    /// Write categorical feature `feature` of one `row`: its category's input is 1, the others
    /// 0; a category the model never saw leaves all of them 0. Panics if the feature is numeric.
    pub fn text(&self, row: &mut [f32], feature: usize, value: &str) {
        match &self.features[feature] {
            Encoding::Categorical {
                offset,
                width,
                index,
            } => {
                row[*offset..offset + width].fill(0.0);
                if let Some(&i) = index.get(value) {
                    row[offset + i] = 1.0;
                }
            }
            Encoding::Numeric { .. } => panic!("feature {feature} is numeric, not categorical"),
        }
    }
}
