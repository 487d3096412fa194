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

/// Profiles every input column of `ds` over `rows`, the columns shared out over `threads`
/// threads. Text values are recovered from their one-hot block; a row with no value set (an
/// unseen category) is not counted.
pub fn profile(ds: &Dataset, rows: &[usize], threads: usize) -> Vec<FeatureProfile> {
    // In storage order, so that each pass reads the matrix front to back (a profile does not
    // depend on the order of its rows).
    let mut rows = rows.to_vec();
    rows.sort_unstable();
    // Contiguous groups of columns of about equal encoded width, one per thread.
    let per_group = ds.width().div_ceil(threads.max(1)).max(1);
    let mut groups: Vec<(std::ops::Range<usize>, usize)> = Vec::new();
    let (mut first, mut offset, mut group_offset) = (0, 0, 0);
    for (c, column) in ds.columns.iter().enumerate() {
        offset += column.width();
        if offset - group_offset >= per_group || c + 1 == ds.columns.len() {
            groups.push((first..c + 1, group_offset));
            (first, group_offset) = (c + 1, offset);
        }
    }
    if groups.len() <= 1 {
        return profile_columns(ds, &rows, 0..ds.columns.len(), 0);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|(columns, offset)| {
                let rows = &rows;
                scope.spawn(move || profile_columns(ds, rows, columns, offset))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("profiling does not panic"))
            .collect()
    })
}

/// Profiles `columns` of `ds`, the first at encoded `offset`, over ascending `rows`.
fn profile_columns(
    ds: &Dataset,
    rows: &[usize],
    columns: std::ops::Range<usize>,
    mut offset: usize,
) -> Vec<FeatureProfile> {
    /// Numeric columns gathered per pass over the rows: each row's values for them lie side by
    /// side, so a pass reads a row's cache line once instead of once per column.
    const BLOCK: usize = 32;
    let width = ds.width();
    let mut profiles = Vec::with_capacity(columns.len());
    // One column after another, `rows.len()` values each; reused from block to block, so that
    // gathering does not touch fresh memory.
    let mut gathered: Vec<f64> = Vec::new();
    let n = rows.len();
    let mut c = columns.start;
    while c < columns.end {
        let column = &ds.columns[c];
        if let Column::Categorical { vocabulary, .. } = column {
            let values = rows.iter().filter_map(|&r| {
                let block = &ds.x[r * width + offset..r * width + offset + vocabulary.len()];
                let hot = block.iter().position(|&v| v == 1.0)?;
                Some(vocabulary[hot].as_str())
            });
            profiles.push(FeatureProfile {
                name: column.name().to_string(),
                kind: ProfileKind::Categorical(categorical_profile(values)),
            });
            offset += column.width();
            c += 1;
            continue;
        }
        // A run of numeric columns (one value each), at most BLOCK of them.
        let run = ds.columns[c..columns.end]
            .iter()
            .take(BLOCK)
            .take_while(|col| matches!(col, Column::Numeric { .. }))
            .count();
        gathered.resize(gathered.len().max(run * n), 0.0);
        for (i, &r) in rows.iter().enumerate() {
            let start = r * width + offset;
            for (j, &v) in ds.x[start..start + run].iter().enumerate() {
                gathered[j * n + i] = f64::from(v);
            }
        }
        let values = (0..run).map(|j| &gathered[j * n..(j + 1) * n]);
        for (column, values) in ds.columns[c..c + run].iter().zip(values) {
            profiles.push(FeatureProfile {
                name: column.name().to_string(),
                kind: ProfileKind::Numeric(numeric_profile(values, PROFILE_BINS)),
            });
        }
        offset += run;
        c += run;
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
        let profiles = profile(&ds, &[0, 1], 1);
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
    fn threads_and_blocks_of_columns_give_the_profile_of_one_pass() {
        // 40 numeric columns (more than one gathering block) around a text one, profiled one
        // column at a time by hand, then by `profile` on 1, 2 and 3 threads, in any row order.
        let mut csv = String::new();
        let header: Vec<String> = (0..40).map(|c| format!("n{c}")).collect();
        csv.push_str(&format!(
            "{},t,{},target\n",
            header[..20].join(","),
            header[20..].join(",")
        ));
        for r in 0..50u32 {
            let cells: Vec<String> = (0..40u32)
                .map(|c| ((r * 7 + c * 13) % 17).to_string())
                .collect();
            let t = ["u", "v", "w"][(r % 3) as usize];
            csv.push_str(&format!(
                "{},{t},{},{}\n",
                cells[..20].join(","),
                cells[20..].join(","),
                r % 2
            ));
        }
        let ds = read_csv_bytes("wide.csv", csv.as_bytes(), None, None).unwrap();
        let rows: Vec<usize> = (0..50).rev().filter(|r| r % 4 != 1).collect();
        // By hand in storage order, the order a profile sums in.
        let ascending: Vec<usize> = rows.iter().rev().copied().collect();
        let mut offset = 0;
        let want: Vec<FeatureProfile> = ds
            .columns
            .iter()
            .map(|column| {
                let kind = match column {
                    Column::Numeric { .. } => {
                        let values: Vec<f64> = ascending
                            .iter()
                            .map(|&r| f64::from(ds.x[r * ds.width() + offset]))
                            .collect();
                        ProfileKind::Numeric(numeric_profile(&values, PROFILE_BINS))
                    }
                    Column::Categorical { .. } => {
                        let value = |r: usize| ["u", "v", "w"][r % 3];
                        ProfileKind::Categorical(categorical_profile(
                            rows.iter().map(|&r| value(r)),
                        ))
                    }
                };
                offset += column.width();
                FeatureProfile {
                    name: column.name().to_string(),
                    kind,
                }
            })
            .collect();
        assert_eq!(want.len(), 41);
        for threads in [1, 2, 3] {
            assert_eq!(profile(&ds, &rows, threads), want, "{threads} threads");
        }
        let none = profile(&ds, &[], 2);
        assert_eq!(none.len(), 41);
        assert!(none.iter().all(|p| match &p.kind {
            ProfileKind::Numeric(n) => n.count == 0,
            ProfileKind::Categorical(c) => c.count == 0,
        }));
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
