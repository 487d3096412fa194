//! Stratified, deterministic splits.

use aiaas_data::{Dataset, load, split};
use aiaas_types::SplitSpec;

fn spec(seed: u64) -> SplitSpec {
    SplitSpec {
        val_fraction: 0.1,
        test_fraction: 0.2,
        seed,
    }
}

fn class_counts(ds: &Dataset, rows: &[usize]) -> Vec<usize> {
    let mut counts = vec![0; ds.num_classes()];
    for &r in rows {
        counts[ds.class_of(r)] += 1;
    }
    counts
}

#[test]
fn iris_split_is_stratified_and_complete() {
    let ds = load("iris", None, None).unwrap();
    let s = split(&ds, &spec(7)).unwrap();
    // 50 rows per class: 10 test, 5 validation, 35 train.
    assert_eq!(class_counts(&ds, &s.test), [10, 10, 10]);
    assert_eq!(class_counts(&ds, &s.val), [5, 5, 5]);
    assert_eq!(class_counts(&ds, &s.train), [35, 35, 35]);
    let mut all: Vec<usize> = [&s.train[..], &s.val, &s.test].concat();
    all.sort_unstable();
    assert_eq!(all, (0..150).collect::<Vec<_>>());
}

#[test]
fn wine_proportions_follow_each_class() {
    let ds = load("wine", None, None).unwrap();
    let s = split(&ds, &spec(1)).unwrap();
    // 59/71/48 rows: round(n * 0.2) and round(n * 0.1) per class.
    assert_eq!(class_counts(&ds, &s.test), [12, 14, 10]);
    assert_eq!(class_counts(&ds, &s.val), [6, 7, 5]);
    assert_eq!(class_counts(&ds, &s.train), [41, 50, 33]);
}

#[test]
fn same_seed_same_split_other_seed_other_split() {
    let ds = load("breast_cancer", None, None).unwrap();
    let a = split(&ds, &spec(42)).unwrap();
    let b = split(&ds, &spec(42)).unwrap();
    let c = split(&ds, &spec(43)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.test, c.test);
    assert_ne!(a.train, c.train);
}

#[test]
fn every_class_stays_in_train() {
    let mut text = String::from("a,target\n");
    // Class 2 has a single row; val + test would otherwise take it.
    for (i, c) in [0, 0, 0, 0, 1, 1, 1, 1, 2].iter().enumerate() {
        text.push_str(&format!("{i},{c}\n"));
    }
    let ds = aiaas_data::read_csv_bytes("s.csv", text.as_bytes(), None, None).unwrap();
    for seed in 0..20 {
        let s = split(
            &ds,
            &SplitSpec {
                val_fraction: 0.3,
                test_fraction: 0.6,
                seed,
            },
        )
        .unwrap();
        assert!(class_counts(&ds, &s.train).iter().all(|&n| n >= 1));
    }
}

#[test]
fn regression_split_uses_the_same_fractions() {
    let ds = load("diabetes", None, None).unwrap();
    let s = split(&ds, &spec(5)).unwrap();
    // 442 rows: round(88.4) test, round(44.2) validation.
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (310, 44, 88));
}

#[test]
fn invalid_fractions_are_rejected_with_a_message() {
    let ds = load("iris", None, None).unwrap();
    let err = split(
        &ds,
        &SplitSpec {
            val_fraction: 0.5,
            test_fraction: 0.5,
            seed: 0,
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("sum to less than 1"), "{err}");
}
