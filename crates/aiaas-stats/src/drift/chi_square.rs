//! Pearson's chi-square goodness-of-fit test: of a window of categorical values against the
//! frequencies of a [`CategoricalProfile`], and of any counts against expected fractions (the
//! predicted-class distribution).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::profile::CategoricalProfile;

/// Cochran's rule of thumb: the chi-square approximation wants expected counts of at least this.
pub const MIN_EXPECTED: f64 = 5.0;

/// Pseudo-count of the "unseen" category in a reference: as if the reference had held half an
/// observation of every value it never saw, pooled together.
pub const UNSEEN_PSEUDO_COUNT: f64 = 0.5;

/// Stand-in for an expected fraction of exactly 0 in [`chi_square_counts`] when that cell was
/// observed (the same floor as PSI's smoothing).
pub const ZERO_FRACTION_FLOOR: f64 = 1e-4;

/// Result of a chi-square goodness-of-fit test. `n == 0` means no decision (empty window or
/// reference, mismatched or invalid input): statistic 0, `dof` 0, p-value 1. `dof == 0` with
/// `n > 0` means every cell was pooled into one and nothing could differ: p-value 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChiSquare {
    /// `Σ (observed - expected)² / expected` over the cells left after pooling.
    pub statistic: f64,
    /// Cells after pooling, minus one.
    pub dof: usize,
    /// `P(χ²_dof >= statistic)`.
    pub p_value: f64,
    /// Number of observations.
    pub n: usize,
}

impl ChiSquare {
    fn no_decision() -> Self {
        ChiSquare {
            statistic: 0.0,
            dof: 0,
            p_value: 1.0,
            n: 0,
        }
    }
}

/// Chi-square test of the categorical `window` against the `reference` frequencies.
///
/// - **Cells**: one per reference value, plus, when the window holds values the reference never
///   saw, one "unseen" cell pooling them all, with a pseudo-count of [`UNSEEN_PSEUDO_COUNT`] =
///   0.5: expected fractions are `count_i / (R + 0.5)` and `0.5 / (R + 0.5)` for `R` reference
///   values, which sum to 1. Without unseen values the cell is left out: an always-present empty
///   cell would add its expected count `0.5 n / (R + 0.5)` to the statistic, a false alarm on
///   windows larger than a small reference.
/// - **Small cells** are pooled by [`chi_square_counts`] (Cochran's rule).
/// - Reference total `R` is the sum of its frequencies; 0 gives no decision, as does an empty
///   window.
pub fn chi_square(reference: &CategoricalProfile, window: &[&str]) -> ChiSquare {
    match category_cells(reference, window) {
        Some((mut observed, fractions)) => {
            let total = fractions.iter().sum::<f64>();
            let unseen = if observed.last() == Some(&0) {
                observed.pop();
                0.0
            } else {
                UNSEEN_PSEUDO_COUNT
            };
            let mut expected: Vec<f64> = fractions.iter().map(|f| f / (total + unseen)).collect();
            if unseen > 0.0 {
                expected.push(unseen / (total + unseen));
            }
            chi_square_counts(&observed, &expected)
        }
        None => ChiSquare::no_decision(),
    }
}

/// Window counts per reference value, the unseen count last, and the reference counts (without
/// an unseen entry) as f64. `None` when the reference or the window is empty.
pub(crate) fn category_cells(
    reference: &CategoricalProfile,
    window: &[&str],
) -> Option<(Vec<u64>, Vec<f64>)> {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(reference.frequencies.len());
    let mut ref_counts: Vec<f64> = Vec::with_capacity(reference.frequencies.len());
    for (value, count) in &reference.frequencies {
        // A value listed twice (not produced by `categorical_profile`) is added up.
        match index.get(value.as_str()) {
            Some(&i) => ref_counts[i] += *count as f64,
            None => {
                index.insert(value.as_str(), ref_counts.len());
                ref_counts.push(*count as f64);
            }
        }
    }
    if window.is_empty() || ref_counts.iter().sum::<f64>() <= 0.0 {
        return None;
    }
    let unseen = ref_counts.len();
    let mut observed = vec![0u64; unseen + 1];
    for v in window {
        observed[index.get(v).copied().unwrap_or(unseen)] += 1;
    }
    Some((observed, ref_counts))
}

/// Chi-square goodness-of-fit test of `observed` counts against `expected_fractions` (any
/// non-negative weights, normalised here), e.g. the predicted-class distribution of a window
/// against that of the validation set.
///
/// - Cells expecting 0 and observing 0 are dropped; cells expecting 0 but observed get
///   [`ZERO_FRACTION_FLOOR`] (1e-4) before normalising, so they weigh heavily without making
///   the statistic infinite.
/// - **Pooling** (Cochran): while more than two cells remain and the smallest expected count is
///   below [`MIN_EXPECTED`] = 5, the two cells with the smallest expected counts are merged
///   (observed and expected added). Two cells are always kept so there is a test at all; then an
///   expected count below 5 may remain and the p-value is only approximate.
/// - p-value: the chi-square survival function with `cells - 1` degrees of freedom, as the
///   regularized upper incomplete gamma function `Q(dof/2, statistic/2)` from `statrs`.
/// - Mismatched lengths, no cells, a negative or non-finite fraction, all-zero fractions or no
///   observations: no decision (`n == 0`).
pub fn chi_square_counts(observed: &[u64], expected_fractions: &[f64]) -> ChiSquare {
    if observed.len() != expected_fractions.len()
        || observed.is_empty()
        || expected_fractions
            .iter()
            .any(|f| !f.is_finite() || *f < 0.0)
        || !expected_fractions.iter().any(|&f| f > 0.0)
    {
        return ChiSquare::no_decision();
    }
    let n: u64 = observed.iter().sum();
    if n == 0 {
        return ChiSquare::no_decision();
    }

    let weights: Vec<(u64, f64)> = observed
        .iter()
        .zip(expected_fractions)
        .filter(|&(&o, &f)| !(o == 0 && f == 0.0))
        .map(|(&o, &f)| (o, if f == 0.0 { ZERO_FRACTION_FLOOR } else { f }))
        .collect();
    let total: f64 = weights.iter().map(|&(_, f)| f).sum();
    let nf = n as f64;
    // (observed, expected count), ascending by expected; the sort is stable, so ties keep the
    // caller's order and the result is deterministic.
    let mut cells: Vec<(f64, f64)> = weights
        .into_iter()
        .map(|(o, f)| (o as f64, nf * f / total))
        .collect();
    cells.sort_by(|a, b| a.1.total_cmp(&b.1));
    while cells.len() > 2 && cells[0].1 < MIN_EXPECTED {
        let a = cells.remove(0);
        let b = cells.remove(0);
        let merged = (a.0 + b.0, a.1 + b.1);
        let at = cells.partition_point(|c| c.1 <= merged.1);
        cells.insert(at, merged);
    }

    let statistic: f64 = cells.iter().map(|&(o, e)| (o - e) * (o - e) / e).sum();
    let dof = cells.len() - 1;
    ChiSquare {
        statistic,
        dof,
        p_value: chi_square_sf(statistic, dof),
        n: n as usize,
    }
}

/// `P(χ²_dof >= x)`; 1 for `dof == 0` or `x <= 0`.
pub(crate) fn chi_square_sf(x: f64, dof: usize) -> f64 {
    if dof == 0 || x.is_nan() || x <= 0.0 {
        return 1.0;
    }
    statrs::function::gamma::checked_gamma_ur(dof as f64 / 2.0, x / 2.0)
        .map(|p| p.clamp(0.0, 1.0))
        // Only for arguments out of its domain, excluded above; a huge x is a certain rejection.
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::categorical_profile;

    fn close(actual: f64, expected: f64, tol: f64) {
        assert!(
            (actual - expected).abs() <= tol,
            "expected {expected}, got {actual}"
        );
    }

    #[test]
    fn survival_function_table_values() {
        // The 5% critical value of χ²₁: scipy.stats.chi2.sf(3.841, 1) = 0.050013683763956804
        close(chi_square_sf(3.841, 1), 0.050013683763956804, 1e-12);
        // dof 2: sf(x) = exp(-x/2) exactly.
        close(
            chi_square_sf(0.5333333333333333, 2),
            (-0.26666666666666666f64).exp(),
            1e-14,
        );
        assert_eq!(chi_square_sf(0.0, 3), 1.0);
        assert_eq!(chi_square_sf(5.0, 0), 1.0);
        assert!(chi_square_sf(1e6, 3) < 1e-300);
    }

    #[test]
    fn matches_scipy_chisquare_examples() {
        // The examples of scipy.stats.chisquare's documentation (values from scipy 1.17.1):
        //   chisquare([16, 18, 16, 14, 12, 12]) -> statistic 2.0, p 0.8491450360846096
        let c = chi_square_counts(&[16, 18, 16, 14, 12, 12], &[1.0 / 6.0; 6]);
        close(c.statistic, 2.0, 1e-12);
        close(c.p_value, 0.8491450360846096, 1e-12);
        assert_eq!((c.dof, c.n), (5, 88));
        //   chisquare([16, 18, 16, 14, 12, 12], f_exp=[16, 16, 16, 16, 16, 8])
        //   -> statistic 3.5, p 0.6233876277495822 (fractions need not be normalised)
        let c = chi_square_counts(
            &[16, 18, 16, 14, 12, 12],
            &[16.0, 16.0, 16.0, 16.0, 16.0, 8.0],
        );
        close(c.statistic, 3.5, 1e-12);
        close(c.p_value, 0.6233876277495822, 1e-12);
    }

    #[test]
    fn small_cells_are_pooled_hand_worked() {
        // n = 40, fractions 0.5, 0.3, 0.15, 0.05 -> expected 20, 12, 6, 2; observed 22, 10, 5, 3.
        // Ascending: 2 (obs 3), 6 (obs 5), 12 (obs 10), 20 (obs 22); 2 < 5 -> merge the two
        // smallest: 8 (obs 8). Now 8, 12, 20: all >= 5, stop with 3 cells, dof 2.
        // statistic = 0²/8 + (10-12)²/12 + (22-20)²/20 = 1/3 + 1/5 = 0.5333...
        // p = exp(-0.5333/2) = 0.7659283383646487 (scipy: chi2.sf(0.5333333333333333, 2))
        let c = chi_square_counts(&[22, 10, 5, 3], &[0.5, 0.3, 0.15, 0.05]);
        close(c.statistic, 8.0 / 15.0, 1e-12);
        assert_eq!(c.dof, 2);
        close(c.p_value, 0.7659283383646487, 1e-12);
    }

    #[test]
    fn categorical_with_unseen_values_hand_worked() {
        // Reference a:60, b:30, c:10 (R = 100); window a ×20, b ×14, c ×4, z ×2 (n = 40).
        // Fractions over R + 0.5 = 100.5: a 60, b 30, c 10, unseen 0.5 -> expected
        // a 23.8806, b 11.9403, c 3.9801, unseen 0.1990.
        // Pooling: unseen (0.199, obs 2) + c (3.980, obs 4) = 4.179 (obs 6) < 5 and three cells
        // left -> + b (11.940, obs 14) = 16.119 (obs 20). Cells: 16.119 (obs 20), 23.881 (obs 20).
        // statistic = (20-16.119)²/16.119 + (20-23.881)²/23.881 = 1.5648148148148149, dof 1
        // scipy: chisquare([20, 20], f_exp=[16.1194.., 23.8806..]) -> p 0.21096162903585636
        let reference = categorical_profile(
            std::iter::repeat_n("a", 60)
                .chain(std::iter::repeat_n("b", 30))
                .chain(std::iter::repeat_n("c", 10)),
        );
        let mut window = vec!["a"; 20];
        window.extend(["b"; 14]);
        window.extend(["c"; 4]);
        window.extend(["z"; 2]);
        let c = chi_square(&reference, &window);
        close(c.statistic, 1.5648148148148149, 1e-9);
        close(c.p_value, 0.21096162903585636, 1e-9);
        assert_eq!((c.dof, c.n), (1, 40));
    }

    #[test]
    fn unseen_values_from_a_constant_reference_are_caught() {
        // Two cells are always kept, so a new value is visible even against one category.
        let reference = categorical_profile(["a"; 100]);
        let c = chi_square(&reference, &["b"; 30]);
        assert!(c.p_value < 1e-10, "{c:?}");
        // Nothing unseen: a single cell, nothing can differ.
        let c = chi_square(&reference, &["a"; 30]);
        assert_eq!((c.dof, c.p_value, c.n), (0, 1.0, 30));
    }

    #[test]
    fn no_unseen_cell_without_unseen_values() {
        // Reference a:6, b:4 (R = 10); window a ×60, b ×40 matches it exactly. An unseen cell
        // would expect 100 × 0.5/10.5 = 4.76 and add that much to the statistic.
        let reference = categorical_profile(["a", "a", "a", "a", "a", "a", "b", "b", "b", "b"]);
        let mut window = vec!["a"; 60];
        window.extend(["b"; 40]);
        let c = chi_square(&reference, &window);
        assert_eq!((c.statistic, c.dof, c.p_value), (0.0, 1, 1.0));
    }

    #[test]
    fn zero_expected_fraction() {
        // A class never expected but observed: floored at 1e-4, not infinite.
        let c = chi_square_counts(&[50, 50, 1], &[0.5, 0.5, 0.0]);
        assert!(c.statistic.is_finite() && c.n == 101, "{c:?}");
        // Never expected and never observed: dropped.
        let c = chi_square_counts(&[50, 50, 0], &[0.5, 0.5, 0.0]);
        assert_eq!((c.statistic, c.dof), (0.0, 1));
    }

    #[test]
    fn no_decision() {
        let none = ChiSquare::no_decision();
        assert_eq!(chi_square_counts(&[1, 2], &[0.5]), none);
        assert_eq!(chi_square_counts(&[], &[]), none);
        assert_eq!(chi_square_counts(&[0, 0], &[0.5, 0.5]), none);
        assert_eq!(chi_square_counts(&[1, 2], &[0.0, 0.0]), none);
        assert_eq!(chi_square_counts(&[1, 2], &[f64::NAN, 0.5]), none);
        assert_eq!(chi_square_counts(&[1, 2], &[-0.5, 0.5]), none);
        let reference = categorical_profile(["a", "b"]);
        assert_eq!(chi_square(&reference, &[]), none);
        let empty = categorical_profile(std::iter::empty());
        assert_eq!(chi_square(&empty, &["a"]), none);
        // A single cell: nothing can differ.
        let c = chi_square_counts(&[7], &[1.0]);
        assert_eq!((c.dof, c.p_value, c.n), (0, 1.0, 7));
    }
}
