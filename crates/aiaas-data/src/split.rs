//! Train / validation / test splits: stratified by class for classification, deterministic
//! from the split seed, honouring a dataset's predefined test set.

use crate::{DataError, Dataset};
use aiaas_types::{SplitSpec, Task};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Row indices of each part. Each list is in a shuffled (but seed-determined) order, so that a
/// consumer walking them in order does not meet the rows sorted by class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

/// Splits `ds` as `spec` says. For classification each class is split on its own, rounding
/// `n_class * fraction`, and always keeps at least one row of every class in train. When the
/// dataset has a predefined test set, that set is the test part (`test_fraction` is unused)
/// and the validation part is drawn from the other rows.
pub fn split(ds: &Dataset, spec: &SplitSpec) -> Result<Split, DataError> {
    let (val_fraction, test_fraction) = (spec.val_fraction, spec.test_fraction);
    let valid = |f: f64| (0.0..1.0).contains(&f);
    if !valid(val_fraction) || !valid(test_fraction) || val_fraction + test_fraction >= 1.0 {
        return Err(DataError::InvalidSplit {
            val: val_fraction,
            test: test_fraction,
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);

    let (pool, mut test, test_fraction): (Vec<usize>, Vec<usize>, f64) = match &ds.test_rows {
        Some(fixed) => {
            let fixed = fixed.start.min(ds.rows)..fixed.end.min(ds.rows);
            let pool = (0..ds.rows).filter(|r| !fixed.contains(r)).collect();
            (pool, fixed.collect(), 0.0)
        }
        None => ((0..ds.rows).collect(), Vec::new(), test_fraction),
    };

    let groups: Vec<Vec<usize>> = match ds.task() {
        Task::Classification => {
            let mut groups = vec![Vec::new(); ds.num_classes()];
            for r in pool {
                if let Some(group) = groups.get_mut(ds.class_of(r)) {
                    group.push(r);
                }
            }
            groups
        }
        Task::Regression | Task::Other => vec![pool],
    };

    let (mut train, mut val) = (Vec::new(), Vec::new());
    for mut group in groups {
        group.shuffle(&mut rng);
        let n = group.len();
        let mut n_test = (n as f64 * test_fraction).round() as usize;
        let mut n_val = (n as f64 * val_fraction).round() as usize;
        // Keep one row for train: take it from validation first, the smaller loss.
        while n > 0 && n_test + n_val >= n {
            if n_val > 0 {
                n_val -= 1;
            } else {
                n_test -= 1;
            }
        }
        test.extend_from_slice(&group[..n_test]);
        val.extend_from_slice(&group[n_test..n_test + n_val]);
        train.extend_from_slice(&group[n_test + n_val..]);
    }
    // Groups were appended class by class; mix them so no part is ordered by class.
    train.shuffle(&mut rng);
    val.shuffle(&mut rng);
    if ds.test_rows.is_none() {
        test.shuffle(&mut rng);
    }
    Ok(Split { train, val, test })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_csv_bytes;

    fn dataset(classes: &[usize]) -> Dataset {
        let mut text = String::from("a,target\n");
        for (i, c) in classes.iter().enumerate() {
            text.push_str(&format!("{i},{c}\n"));
        }
        read_csv_bytes("d.csv", text.as_bytes(), None, None).unwrap()
    }

    #[test]
    fn rejects_bad_fractions() {
        let ds = dataset(&[0, 1, 0, 1]);
        for (val, test) in [(-0.1, 0.2), (0.5, 0.5), (1.0, 0.0), (0.1, f64::NAN)] {
            let spec = SplitSpec {
                val_fraction: val,
                test_fraction: test,
                seed: 1,
            };
            assert!(matches!(
                split(&ds, &spec),
                Err(DataError::InvalidSplit { .. })
            ));
        }
    }

    #[test]
    fn tiny_classes_keep_a_train_row() {
        let ds = dataset(&[0, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        let spec = SplitSpec {
            val_fraction: 0.4,
            test_fraction: 0.5,
            seed: 3,
        };
        let s = split(&ds, &spec).unwrap();
        assert!(s.train.contains(&0));
        let mut all: Vec<usize> = [s.train, s.val, s.test].concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn predefined_test_rows_are_the_test_part() {
        let mut ds = dataset(&[0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
        ds.test_rows = Some(8..10);
        let s = split(&ds, &SplitSpec::default()).unwrap();
        assert_eq!(s.test, [8, 9]);
        assert_eq!(s.train.len() + s.val.len(), 8);
        assert!(s.train.iter().chain(&s.val).all(|&r| r < 8));
    }
}
