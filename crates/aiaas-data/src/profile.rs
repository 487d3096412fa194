//! Per-feature profiles of dataset rows over raw (unscaled) values, for training reports and
//! as the reference that later drift checks compare against.

use crate::{Column, Dataset};
use aiaas_stats::{CategoricalProfile, NumericProfile, categorical_profile, numeric_profile};
use serde::{Deserialize, Serialize};

/// Histogram bins of a numeric profile.
pub const PROFILE_BINS: usize = 10;

/// The profile of one input column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureProfile {
    pub name: String,
    #[serde(flatten)]
    pub kind: ProfileKind,
}

/// Numeric or categorical statistics, tagged `"type": "numeric" | "categorical"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ProfileKind {
    Numeric(NumericProfile),
    Categorical(CategoricalProfile),
}

/// Profiles every input column of `ds` over `rows`. Text values are recovered from their
/// one-hot block; a row with no value set (an unseen category) is not counted.
pub fn profile(ds: &Dataset, rows: &[usize]) -> Vec<FeatureProfile> {
    let width = ds.width();
    let mut offset = 0;
    let mut profiles = Vec::with_capacity(ds.columns.len());
    for column in &ds.columns {
        let kind = match column {
            Column::Numeric { .. } => {
                let values: Vec<f64> = rows
                    .iter()
                    .map(|&r| f64::from(ds.x[r * width + offset]))
                    .collect();
                ProfileKind::Numeric(numeric_profile(&values, PROFILE_BINS))
            }
            Column::Categorical { vocabulary, .. } => {
                let values = rows.iter().filter_map(|&r| {
                    let block = &ds.x[r * width + offset..r * width + offset + vocabulary.len()];
                    let hot = block.iter().position(|&v| v == 1.0)?;
                    Some(vocabulary[hot].as_str())
                });
                ProfileKind::Categorical(categorical_profile(values))
            }
        };
        profiles.push(FeatureProfile {
            name: column.name().to_string(),
            kind,
        });
        offset += column.width();
    }
    profiles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_csv_bytes;

    #[test]
    fn profiles_raw_values_of_the_given_rows() {
        let ds =
            read_csv_bytes("p.csv", b"a,c,target\n1,x,0\n3,y,1\n100,x,1\n", None, None).unwrap();
        let profiles = profile(&ds, &[0, 1]);
        let ProfileKind::Numeric(a) = &profiles[0].kind else {
            panic!("a is numeric")
        };
        assert_eq!((a.count, a.mean, a.min, a.max), (2, 2.0, 1.0, 3.0));
        assert_eq!(a.histogram.counts.len(), PROFILE_BINS);
        let ProfileKind::Categorical(c) = &profiles[1].kind else {
            panic!("c is categorical")
        };
        assert_eq!(c.frequencies, [("x".to_string(), 1), ("y".to_string(), 1)]);
    }

    #[test]
    fn serializes_flat_with_a_type_tag() {
        let p = FeatureProfile {
            name: "c".into(),
            kind: ProfileKind::Categorical(categorical_profile(["u", "u", "v"])),
        };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["name"], "c");
        assert_eq!(json["type"], "categorical");
        assert_eq!(json["count"], 3);
        let back: FeatureProfile = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
    }
}
