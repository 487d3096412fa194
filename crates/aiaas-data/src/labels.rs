//! Class labels: how the distinct values of a target become the ordered label list a model's
//! outputs refer to, and how a field of new data finds its class again.

use crate::table::parse_number;
use std::collections::HashMap;

/// The sorted distinct values of an integer-valued target.
pub(crate) fn distinct_numbers(values: &[f64]) -> Vec<f64> {
    // Adding 0.0 turns -0.0 into 0.0 so that both print and compare as one class.
    let mut distinct: Vec<f64> = values.iter().map(|v| v + 0.0).collect();
    distinct.sort_unstable_by(f64::total_cmp);
    distinct.dedup();
    distinct
}

/// Position of `value` in the output of [`distinct_numbers`] that contains it.
pub(crate) fn number_index(distinct: &[f64], value: f64) -> usize {
    distinct.partition_point(|&d| d < value + 0.0)
}

/// A numeric class label as text: integers without a fractional part (`2`, not `2.0`).
pub(crate) fn format_number(value: f64) -> String {
    // Rust prints integer-valued floats without ".0" and never in exponent form.
    format!("{}", value + 0.0)
}

/// Finds the class of a field: by exact text first, then by numeric value so that `1.0` in
/// new data still means class `1`.
pub(crate) struct LabelLookup {
    exact: HashMap<String, usize>,
    numeric: Vec<(f64, usize)>,
}

impl LabelLookup {
    pub fn new(labels: &[String]) -> LabelLookup {
        LabelLookup {
            exact: labels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.clone(), i))
                .collect(),
            numeric: labels
                .iter()
                .enumerate()
                .filter_map(|(i, l)| parse_number(l).map(|v| (v, i)))
                .collect(),
        }
    }

    pub fn find(&self, field: &str) -> Option<usize> {
        if let Some(&i) = self.exact.get(field) {
            return Some(i);
        }
        let v = parse_number(field)?;
        self.numeric.iter().find(|(n, _)| *n == v).map(|&(_, i)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_sort_numerically_and_print_without_fraction() {
        let distinct = distinct_numbers(&[10.0, 2.0, -0.0, 2.0, 0.0]);
        let labels: Vec<String> = distinct.iter().map(|&v| format_number(v)).collect();
        assert_eq!(labels, ["0", "2", "10"]);
        assert_eq!(number_index(&distinct, 10.0), 2);
        assert_eq!(number_index(&distinct, -0.0), 0);
    }

    #[test]
    fn lookup_matches_text_then_number() {
        let labels = vec!["0".to_string(), "1".to_string(), "x".to_string()];
        let lookup = LabelLookup::new(&labels);
        assert_eq!(lookup.find("x"), Some(2));
        assert_eq!(lookup.find("1.0"), Some(1));
        assert_eq!(lookup.find("3"), None);
        assert_eq!(lookup.find("y"), None);
    }
}
