//! Raw feature values into model inputs, scaled and one-hot encoded exactly as in training.
//! Every path that feeds a trained model (CSV files for eval and predict, tensors sent to the
//! inference server) encodes through here.

use crate::scale::standardize;
use aiaas_types::{FeatureKind, Schema};
use std::collections::HashMap;

/// Encodes values feature by feature into rows of `schema.input_width()` model inputs.
pub struct InputEncoder<'s> {
    schema: &'s Schema,
    /// Position of each feature's first input in a row.
    offsets: Vec<usize>,
    /// Index of each category, for categorical features.
    categories: Vec<HashMap<&'s str, usize>>,
}

impl<'s> InputEncoder<'s> {
    pub fn new(schema: &'s Schema) -> Self {
        let mut offsets = Vec::with_capacity(schema.features.len());
        let mut offset = 0;
        let mut categories = Vec::with_capacity(schema.features.len());
        for feature in &schema.features {
            offsets.push(offset);
            offset += feature.width();
            categories.push(match &feature.kind {
                FeatureKind::Numeric { .. } => HashMap::new(),
                FeatureKind::Categorical { vocabulary } => vocabulary
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (v.as_str(), i))
                    .collect(),
            });
        }
        InputEncoder {
            schema,
            offsets,
            categories,
        }
    }

    /// Model inputs per row.
    pub fn width(&self) -> usize {
        self.schema.input_width()
    }

    /// Write numeric feature `feature` of one `row` (a slice of `width()` inputs). Panics if the
    /// feature is categorical: callers check the schema first.
    pub fn number(&self, row: &mut [f32], feature: usize, value: f64) {
        match &self.schema.features[feature].kind {
            FeatureKind::Numeric { mean, scale } => {
                row[self.offsets[feature]] = standardize(value, *mean, *scale)
            }
            FeatureKind::Categorical { .. } => {
                panic!("feature {feature} is categorical, not numeric")
            }
        }
    }

    /// Write categorical feature `feature` of one `row`: its category's input is 1, the others
    /// 0; a category the model never saw leaves all of them 0.
    pub fn text(&self, row: &mut [f32], feature: usize, value: &str) {
        let offset = self.offsets[feature];
        let width = self.schema.features[feature].width();
        row[offset..offset + width].fill(0.0);
        if let Some(&i) = self.categories[feature].get(value) {
            row[offset + i] = 1.0;
        }
    }
}
