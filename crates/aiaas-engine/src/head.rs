//! The output head: turns a model's logits into what its target schema promises (class
//! probabilities and labels, or values in the target's own units). Training, evaluation and
//! serving all decode through here, so they cannot disagree.

use crate::activation::{argmax_rows, class_probabilities};
use aiaas_types::TargetSchema;

/// Decoded model outputs for a batch of rows.
#[derive(Clone, Debug, PartialEq)]
pub enum Predictions {
    Classes {
        /// `rows x classes`, each row summing to 1.
        probabilities: Vec<f32>,
        classes: usize,
        /// Index of the most probable class of each row.
        predicted: Vec<usize>,
    },
    /// One value per row in the target's units.
    Values(Vec<f64>),
}

impl Predictions {
    pub fn rows(&self) -> usize {
        match self {
            Predictions::Classes { predicted, .. } => predicted.len(),
            Predictions::Values(v) => v.len(),
        }
    }
}

/// Decode `logits` (`rows x cols`) for `target`.
pub fn decode(target: &TargetSchema, logits: &[f32], cols: usize) -> Predictions {
    match target {
        TargetSchema::Classification { .. } => {
            let probabilities = class_probabilities(logits, cols);
            let classes = cols.max(2);
            let predicted = argmax_rows(&probabilities, classes);
            Predictions::Classes {
                probabilities,
                classes,
                predicted,
            }
        }
        TargetSchema::Regression { .. } => Predictions::Values(
            logits
                .chunks_exact(cols)
                .map(|row| target.from_model(row[0] as f64))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_outputs_come_back_in_target_units() {
        let t = TargetSchema::Regression {
            name: "y".into(),
            mean: 100.0,
            scale: 10.0,
        };
        assert_eq!(
            decode(&t, &[0.0, -1.5], 1),
            Predictions::Values(vec![100.0, 85.0])
        );
    }

    #[test]
    fn binary_and_multiclass_heads_give_probabilities_and_argmax() {
        let t = TargetSchema::Classification {
            name: "y".into(),
            labels: vec!["a".into(), "b".into()],
        };
        let Predictions::Classes {
            probabilities,
            classes,
            predicted,
        } = decode(&t, &[-3.0, 3.0], 1)
        else {
            panic!("classification decodes to classes")
        };
        assert_eq!((classes, predicted), (2, vec![0, 1]));
        assert!((probabilities[0] + probabilities[1] - 1.0).abs() < 1e-6);
        let t = TargetSchema::Classification {
            name: "y".into(),
            labels: vec!["a".into(), "b".into(), "c".into()],
        };
        let Predictions::Classes { predicted, .. } = decode(&t, &[0.0, 1.0, 5.0], 3) else {
            panic!("classification decodes to classes")
        };
        assert_eq!(predicted, vec![2]);
    }
}
