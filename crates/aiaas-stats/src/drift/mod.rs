//! Drift of served inputs against the training profile kept in a model bundle: PSI and the
//! Kolmogorov–Smirnov test for numeric features, the chi-square test (and PSI over categories)
//! for categorical ones, and the size-aware rule that turns them into a decision per feature and
//! per window. Pure functions: the server collects the window and keeps the results.
//!
//! Every function takes any input without panicking: empty windows, empty or malformed profiles
//! and non-finite values give an explicit "no decision" instead of a number.

mod chi_square;
mod ks;
mod psi;

use serde::{Deserialize, Serialize};

pub use chi_square::{
    ChiSquare, MIN_EXPECTED, UNSEEN_PSEUDO_COUNT, ZERO_FRACTION_FLOOR, chi_square,
    chi_square_counts,
};
pub use ks::{Ks, kolmogorov_limit_sf, kolmogorov_sf, ks};
pub use psi::{PSI_EPS, Psi, PsiBin, psi};

use crate::profile::{CategoricalProfile, NumericProfile};

/// Significance level of the p-value tests used on windows below [`LARGE_WINDOW`].
pub const ALPHA: f64 = 0.01;

/// From this many usable values on, a window is judged by distance (PSI) instead of p-values.
pub const LARGE_WINDOW: usize = 2000;

/// PSI above this is a significant shift: the usual reading of PSI (below 0.1 stable, 0.1 to 0.2
/// moderate, above 0.2 significant).
pub const PSI_THRESHOLD: f64 = 0.2;

/// How a feature's decision was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftTest {
    /// p-value of KS (numeric) or chi-square (categorical) below [`ALPHA`].
    PValue,
    /// PSI (over deciles, or over categories) above [`PSI_THRESHOLD`].
    Distance,
}

/// Why a feature has no decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoDecision {
    /// The window held no usable value (none at all, or only NaN and infinities).
    EmptyWindow,
    /// The profile holds no distribution to compare with (count 0, or malformed).
    EmptyReference,
}

/// Drift of one feature over one window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    /// PSI over the reference deciles (numeric) or over the reference categories plus one
    /// "unseen" category (categorical); `None` without a decision.
    pub psi: Option<f64>,
    /// Numeric features only (and only when the profile's histogram is usable).
    pub ks: Option<Ks>,
    /// Categorical features only.
    pub chi_square: Option<ChiSquare>,
    /// The test that decides at this window size (also set without a decision).
    pub test: DriftTest,
    /// False without a decision.
    pub drifted: bool,
    /// Usable window values: finite numbers, or all categorical values.
    pub n: usize,
    /// Set when there is no decision, saying why; such features do not count in
    /// [`window_drifted`].
    pub no_decision: Option<NoDecision>,
}

impl FeatureDrift {
    /// Whether the feature had a decision (drifted or not).
    pub fn decided(&self) -> bool {
        self.no_decision.is_none()
    }

    fn undecided(test: DriftTest, n: usize, why: NoDecision) -> Self {
        FeatureDrift {
            psi: None,
            ks: None,
            chi_square: None,
            test,
            drifted: false,
            n,
            no_decision: Some(why),
        }
    }
}

/// The test that decides for a window of `n` usable values.
///
/// A p-value measures how sure we are that the distributions differ, not by how much: with a
/// few thousand rows KS and chi-square call negligible, harmless shifts significant, and a
/// monitor that fires on every window gets ignored. Below [`LARGE_WINDOW`] (2000) rows the
/// p-value tests are the right tool (PSI is noisy on small samples: its expected value for an
/// unchanged distribution is about `(bins - 1)/n`, 0.09 at n = 100); from 2000 rows on, PSI's
/// noise is below 0.005 and it measures the size of the shift, so it decides instead.
pub fn drift_test_for(n: usize) -> DriftTest {
    if n < LARGE_WINDOW {
        DriftTest::PValue
    } else {
        DriftTest::Distance
    }
}

/// Drift of a numeric feature: PSI and KS are always both computed and reported; the one that
/// decides follows [`drift_test_for`]: KS p-value < [`ALPHA`] (0.01) below 2000 usable values,
/// PSI > [`PSI_THRESHOLD`] (0.2) from 2000 on. Non-finite values are not usable.
pub fn numeric_drift(reference: &NumericProfile, window: &[f64]) -> FeatureDrift {
    let n = window.iter().filter(|v| v.is_finite()).count();
    let test = drift_test_for(n);
    let p = psi(reference, window);
    if p.bins.is_empty() {
        return FeatureDrift::undecided(test, n, NoDecision::EmptyReference);
    }
    if n == 0 {
        return FeatureDrift::undecided(test, 0, NoDecision::EmptyWindow);
    }
    // KS also needs the histogram; a profile with deciles but a malformed histogram can still be
    // judged by PSI on a large window.
    let k = Some(ks(reference, window)).filter(|k| k.n > 0);
    let drifted = match (test, &k) {
        (DriftTest::PValue, Some(k)) => k.p_value < ALPHA,
        (DriftTest::PValue, None) => {
            return FeatureDrift::undecided(test, n, NoDecision::EmptyReference);
        }
        (DriftTest::Distance, _) => p.value > PSI_THRESHOLD,
    };
    FeatureDrift {
        psi: Some(p.value),
        ks: k,
        chi_square: None,
        test,
        drifted,
        n,
        no_decision: None,
    }
}

/// Drift of a categorical feature: chi-square ([`chi_square`]) below 2000 values, p-value <
/// [`ALPHA`]; from 2000 on, PSI over categories > [`PSI_THRESHOLD`].
///
/// PSI over categories rather than Cramér's V: its bins are the reference categories plus one
/// "unseen" bin (window values the reference never had), smoothed as numeric PSI
/// ([`PSI_EPS`]), so both kinds of feature are judged on one scale with one threshold, and it
/// does not depend on how chi-square pooled small cells. Cramér's V would need its own
/// threshold (Cohen's 0.1 / 0.3 / 0.5 depend on the number of categories).
pub fn categorical_drift(reference: &CategoricalProfile, window: &[&str]) -> FeatureDrift {
    let n = window.len();
    let test = drift_test_for(n);
    let Some((observed, ref_counts)) = chi_square::category_cells(reference, window) else {
        let why = if reference.frequencies.iter().all(|(_, c)| *c == 0) {
            NoDecision::EmptyReference
        } else {
            NoDecision::EmptyWindow
        };
        return FeatureDrift::undecided(test, n, why);
    };
    let chi = chi_square(reference, window);

    let total: f64 = ref_counts.iter().sum();
    let expected: Vec<f64> = ref_counts
        .iter()
        .map(|c| c / total)
        .chain(std::iter::once(0.0))
        .collect();
    let actual: Vec<f64> = observed.iter().map(|&o| o as f64 / n as f64).collect();
    let psi_value = psi::psi_value(&expected, &actual);

    let drifted = match test {
        DriftTest::PValue => chi.p_value < ALPHA,
        DriftTest::Distance => psi_value > PSI_THRESHOLD,
    };
    FeatureDrift {
        psi: Some(psi_value),
        ks: None,
        chi_square: Some(chi),
        test,
        drifted,
        n,
        no_decision: None,
    }
}

/// Bonferroni's correction for a window of several features: each p-value-tested feature of
/// the window drifts only if its p-value is below `ALPHA / m`, `m` being the number of features
/// so tested, so that the chance of flagging any unchanged feature stays at `ALPHA` for the
/// window as a whole (64 pixels tested at 0.01 each would flag one in two windows by chance).
/// Distance-tested features keep their decision: PSI does not grow with the number of tests.
pub fn correct_for_features(features: &mut [FeatureDrift]) {
    let tested = features
        .iter()
        .filter(|f| f.decided() && f.test == DriftTest::PValue)
        .count();
    if tested <= 1 {
        return;
    }
    let alpha = ALPHA / tested as f64;
    for f in features
        .iter_mut()
        .filter(|f| f.decided() && f.test == DriftTest::PValue)
    {
        let p =
            f.ks.as_ref()
                .map(|k| k.p_value)
                .or(f.chi_square.as_ref().map(|c| c.p_value));
        f.drifted = p.is_some_and(|p| p < alpha);
    }
}

/// Whether a window drifted as a whole: at least half of the features that had a decision
/// drifted. False when none had one.
pub fn window_drifted(features: &[FeatureDrift]) -> bool {
    let decided = features.iter().filter(|f| f.decided()).count();
    let drifted = features.iter().filter(|f| f.decided() && f.drifted).count();
    decided > 0 && 2 * drifted >= decided
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{categorical_profile, numeric_profile};
    use statrs::distribution::{ContinuousCDF, Normal};

    /// `n` values of N(mean, sd) at the mid-quantiles `(i + 0.5) / n`: a deterministic sample
    /// whose empirical distribution is as close to the normal as `n` points get.
    fn normal_sample(n: usize, mean: f64, sd: f64) -> Vec<f64> {
        let z = Normal::new(0.0, 1.0).unwrap();
        (0..n)
            .map(|i| mean + sd * z.inverse_cdf((i as f64 + 0.5) / n as f64))
            .collect()
    }

    /// The training profile: 10 000 values of N(0, 1), 10 bins like the data layer writes.
    fn reference() -> NumericProfile {
        numeric_profile(&normal_sample(10_000, 0.0, 1.0), 10)
    }

    #[test]
    fn unshifted_windows_do_not_drift() {
        let r = reference();
        for n in [50, 500, 1999] {
            let f = numeric_drift(&r, &normal_sample(n, 0.0, 1.0));
            assert_eq!(
                (f.test, f.drifted, f.n),
                (DriftTest::PValue, false, n),
                "{f:?}"
            );
            assert!(f.ks.as_ref().unwrap().p_value > 0.5, "{f:?}");
        }
        for n in [2000, 20_000] {
            let f = numeric_drift(&r, &normal_sample(n, 0.0, 1.0));
            assert_eq!((f.test, f.drifted), (DriftTest::Distance, false), "{f:?}");
            assert!(f.psi.unwrap() < 0.01, "{f:?}");
        }
    }

    #[test]
    fn shifted_windows_drift_at_small_and_large_n() {
        let r = reference();
        // Shifted by one standard deviation: D ≈ 0.36 at the bin edges, PSI ≈ 1.
        for n in [50, 500, 1999] {
            let f = numeric_drift(&r, &normal_sample(n, 1.0, 1.0));
            assert_eq!((f.test, f.drifted), (DriftTest::PValue, true), "{f:?}");
            assert!(f.ks.as_ref().unwrap().p_value < 1e-4, "{f:?}");
        }
        for n in [2000, 20_000] {
            let f = numeric_drift(&r, &normal_sample(n, 1.0, 1.0));
            assert_eq!((f.test, f.drifted), (DriftTest::Distance, true), "{f:?}");
            assert!(f.psi.unwrap() > 0.5, "{f:?}");
            // KS agrees, but is not what decides here.
            assert!(f.ks.as_ref().unwrap().p_value < ALPHA);
        }
        // Wider spread, same mean: KS and PSI both see it.
        let f = numeric_drift(&r, &normal_sample(500, 0.0, 2.0));
        assert!(f.drifted, "{f:?}");
        let f = numeric_drift(&r, &normal_sample(5000, 0.0, 2.0));
        assert!(f.drifted, "{f:?}");
    }

    #[test]
    fn large_windows_ignore_significant_but_negligible_shifts() {
        // A 0.1 sd shift on 20 000 rows: KS calls it highly significant, PSI ≈ 0.01 says it is
        // negligible, and the window is large enough for PSI to decide.
        let r = reference();
        let f = numeric_drift(&r, &normal_sample(20_000, 0.1, 1.0));
        assert!(f.ks.as_ref().unwrap().p_value < 1e-6, "{f:?}");
        assert!(f.psi.unwrap() < 0.05, "{f:?}");
        assert!(!f.drifted, "{f:?}");
    }

    #[test]
    fn numeric_no_decision() {
        let r = reference();
        let f = numeric_drift(&r, &[]);
        assert_eq!(
            (f.drifted, f.n, f.no_decision),
            (false, 0, Some(NoDecision::EmptyWindow))
        );
        assert!(f.psi.is_none() && f.ks.is_none());
        let f = numeric_drift(&r, &[f64::NAN, f64::NEG_INFINITY]);
        assert_eq!(f.no_decision, Some(NoDecision::EmptyWindow));
        let empty = numeric_profile(&[], 10);
        let f = numeric_drift(&empty, &[1.0, 2.0]);
        assert_eq!(
            (f.drifted, f.n, f.no_decision),
            (false, 2, Some(NoDecision::EmptyReference))
        );
        let f = numeric_drift(&empty, &[]);
        assert_eq!(f.no_decision, Some(NoDecision::EmptyReference));
    }

    fn categories(counts: &[(&'static str, usize)]) -> Vec<&'static str> {
        counts
            .iter()
            .flat_map(|&(v, c)| std::iter::repeat_n(v, c))
            .collect()
    }

    #[test]
    fn categorical_decisions() {
        let r = categorical_profile(categories(&[("a", 500), ("b", 300), ("c", 200)]));
        // Same proportions: no drift at either size.
        let f = categorical_drift(&r, &categories(&[("a", 50), ("b", 30), ("c", 20)]));
        assert_eq!(
            (f.test, f.drifted, f.n),
            (DriftTest::PValue, false, 100),
            "{f:?}"
        );
        assert!(f.chi_square.as_ref().unwrap().p_value > 0.9, "{f:?}");
        let f = categorical_drift(&r, &categories(&[("a", 5000), ("b", 3000), ("c", 2000)]));
        assert_eq!((f.test, f.drifted), (DriftTest::Distance, false), "{f:?}");
        assert!(f.psi.unwrap() < 1e-9, "{f:?}");
        // Proportions reversed: drift at both sizes.
        let f = categorical_drift(&r, &categories(&[("a", 20), ("b", 30), ("c", 50)]));
        assert_eq!((f.test, f.drifted), (DriftTest::PValue, true), "{f:?}");
        let f = categorical_drift(&r, &categories(&[("a", 2000), ("b", 3000), ("c", 5000)]));
        assert_eq!((f.test, f.drifted), (DriftTest::Distance, true), "{f:?}");
        // New values flooding in at a large size: the unseen bin carries the PSI.
        let f = categorical_drift(&r, &categories(&[("a", 1500), ("b", 900), ("new", 600)]));
        assert!(f.drifted && f.psi.unwrap() > 1.0, "{f:?}");
        // A small proportional nudge on a large window: significant, yet PSI ≈ 0.002.
        let f = categorical_drift(&r, &categories(&[("a", 10_400), ("b", 6000), ("c", 3600)]));
        assert!(f.chi_square.as_ref().unwrap().p_value < ALPHA, "{f:?}");
        assert!(!f.drifted, "{f:?}");
    }

    #[test]
    fn categorical_no_decision() {
        let r = categorical_profile(["a", "b"]);
        let f = categorical_drift(&r, &[]);
        assert_eq!(
            (f.drifted, f.n, f.no_decision),
            (false, 0, Some(NoDecision::EmptyWindow))
        );
        let empty = categorical_profile(std::iter::empty());
        let f = categorical_drift(&empty, &["a"]);
        assert_eq!(f.no_decision, Some(NoDecision::EmptyReference));
    }

    #[test]
    fn window_needs_half_of_the_decided_features() {
        let r = reference();
        let drifted = numeric_drift(&r, &normal_sample(300, 2.0, 1.0));
        let stable = numeric_drift(&r, &normal_sample(300, 0.0, 1.0));
        let undecided = numeric_drift(&r, &[]);
        assert!(drifted.drifted && !stable.drifted && !undecided.decided());
        assert!(window_drifted(&[drifted.clone(), stable.clone()]));
        assert!(!window_drifted(&[
            drifted.clone(),
            stable.clone(),
            stable.clone()
        ]));
        // Undecided features do not count either way.
        assert!(window_drifted(&[
            drifted.clone(),
            undecided.clone(),
            undecided.clone()
        ]));
        assert!(!window_drifted(std::slice::from_ref(&undecided)));
        assert!(!window_drifted(&[]));
    }

    #[test]
    fn feature_drift_serde_round_trip() {
        let r = reference();
        let f = numeric_drift(&r, &normal_sample(100, 0.5, 1.0));
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains("\"test\":\"p_value\""), "{json}");
        assert_eq!(serde_json::from_str::<FeatureDrift>(&json).unwrap(), f);
        let none = numeric_drift(&r, &[]);
        let json = serde_json::to_string(&none).unwrap();
        assert!(json.contains("\"no_decision\":\"empty_window\""), "{json}");
        assert_eq!(serde_json::from_str::<FeatureDrift>(&json).unwrap(), none);
    }

    #[test]
    fn bonferroni_divides_alpha_by_the_features_tested() {
        let with_p = |p: f64| FeatureDrift {
            psi: Some(0.0),
            ks: Some(Ks {
                statistic: 0.1,
                p_value: p,
                n: 100,
            }),
            chi_square: None,
            test: DriftTest::PValue,
            drifted: p < ALPHA,
            n: 100,
            no_decision: None,
        };
        // Four tested features: the bar is 0.01 / 4 = 0.0025.
        let mut features = vec![with_p(0.005), with_p(0.0001), with_p(0.5), with_p(0.002)];
        let mut undecided = with_p(0.0);
        undecided.no_decision = Some(NoDecision::EmptyWindow);
        undecided.drifted = false;
        features.push(undecided);
        correct_for_features(&mut features);
        let flags: Vec<bool> = features.iter().map(|f| f.drifted).collect();
        assert_eq!(flags, [false, true, false, true, false]);
        // One feature alone keeps the plain level.
        let mut one = vec![with_p(0.005)];
        correct_for_features(&mut one);
        assert!(one[0].drifted);
    }
}
