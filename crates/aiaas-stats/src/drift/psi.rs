//! Population Stability Index of a window of served values against the deciles of a
//! [`NumericProfile`], and the smoothed PSI sum shared with categorical features.

use serde::{Deserialize, Serialize};

use crate::profile::NumericProfile;

/// Added to every expected and actual fraction before the PSI sum, so that an empty bin gives a
/// large but finite term instead of an infinite one.
pub const PSI_EPS: f64 = 1e-4;

/// One PSI bin: `(previous upper, upper]`, the first from -inf.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PsiBin {
    /// Upper bound, included; +inf for the last bin, serialized as `null` (JSON has no
    /// infinity) and read back as +inf.
    #[serde(with = "upper_bound")]
    pub upper: f64,
    /// Reference fraction in the bin, before smoothing.
    pub expected: f64,
    /// Window fraction in the bin, before smoothing.
    pub actual: f64,
}

/// Result of [`psi`]. `n == 0` means no decision: the window had no finite value or the profile
/// had no usable deciles; then `value` is 0 (and `bins` empty when the profile was unusable).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Psi {
    pub value: f64,
    pub bins: Vec<PsiBin>,
    /// Number of finite window values binned.
    pub n: usize,
}

/// Serde for an upper bound that may be +inf: `null` stands for it.
mod upper_bound {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_some(v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }
}

/// PSI of `window` against the reference deciles, over (at most) ten quantile bins.
///
/// - **Bins.** The inner edges are the reference deciles `q0.1 .. q0.9`; bin `i` is
///   `(edge_{i-1}, edge_i]`, the first from -inf, the last to +inf. Each bin expects a tenth.
/// - **Tied deciles** (many equal values, e.g. pixels at 0) would give empty `(v, v]` bins. Bins
///   are built on the distinct edges instead, and the tenth between `q_{k-1}` and `q_k` goes to
///   the bin holding `q_k`, so a bin's expected fraction is the sum of the tenths merged into it.
///   E.g. deciles `0 ×8, 2, 4, 10` give bins `(-inf, 0]`, `(0, 2]`, `(2, 4]`, `(4, inf)` expecting
///   0.7, 0.1, 0.1, 0.1. A constant reference gives `(-inf, c]` expecting 1 and `(c, inf)` 0.
/// - **Empty bins.** `eps` = [`PSI_EPS`] = 1e-4 is added to every expected and actual fraction
///   (additive smoothing) before `Σ (a - e) ln(a / e)`. Evidently replaces only zero fractions by
///   1e-4 instead; the two agree on empty bins up to 1e-4 and this one keeps PSI continuous as a
///   bin goes from empty to one value, and exactly 0 for identical fractions.
/// - Non-finite window values are skipped.
pub fn psi(reference: &NumericProfile, window: &[f64]) -> Psi {
    let q = &reference.quantiles;
    let usable = reference.count > 0
        && q.len() == 11
        && q.iter().all(|v| v.is_finite())
        && q.windows(2).all(|w| w[0] <= w[1]);
    if !usable {
        return Psi {
            value: 0.0,
            bins: Vec::new(),
            n: 0,
        };
    }

    let mut uppers: Vec<f64> = q[1..10].to_vec();
    uppers.dedup();
    uppers.push(f64::INFINITY);
    // Bin holding `x`: the first whose upper bound is >= x (bins are closed on the right).
    let bin_of = |x: f64| uppers.partition_point(|&u| u < x);

    // Counted in whole tenths so that merged bins sum exactly (0.1 × 10 is not 1 in f64).
    let mut tenths = vec![0u32; uppers.len()];
    for &qk in &q[1..] {
        tenths[bin_of(qk)] += 1;
    }
    let expected: Vec<f64> = tenths.iter().map(|&t| f64::from(t) / 10.0).collect();
    let mut counts = vec![0u64; uppers.len()];
    let mut n = 0usize;
    for &x in window.iter().filter(|x| x.is_finite()) {
        counts[bin_of(x)] += 1;
        n += 1;
    }
    let actual: Vec<f64> = counts
        .iter()
        .map(|&c| if n == 0 { 0.0 } else { c as f64 / n as f64 })
        .collect();
    let value = if n == 0 {
        0.0
    } else {
        psi_value(&expected, &actual)
    };
    let bins = uppers
        .into_iter()
        .zip(expected)
        .zip(actual)
        .map(|((upper, expected), actual)| PsiBin {
            upper,
            expected,
            actual,
        })
        .collect();
    Psi { value, bins, n }
}

/// `Σ (a + eps - (e + eps)) ln((a + eps) / (e + eps))` over paired fractions, eps = [`PSI_EPS`].
pub(crate) fn psi_value(expected: &[f64], actual: &[f64]) -> f64 {
    expected
        .iter()
        .zip(actual)
        .map(|(&e, &a)| {
            let (e, a) = (e + PSI_EPS, a + PSI_EPS);
            (a - e) * (a / e).ln()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Histogram, numeric_profile};

    const TOL: f64 = 1e-12;

    fn profile_with_deciles(quantiles: Vec<f64>) -> NumericProfile {
        NumericProfile {
            count: 100,
            mean: 0.0,
            std: 0.0,
            min: quantiles[0],
            max: quantiles[10],
            quantiles,
            histogram: Histogram {
                edges: Vec::new(),
                counts: Vec::new(),
            },
        }
    }

    #[test]
    fn empty_bin_hand_worked() {
        // Deciles 0, 1, ..., 10: bins (-inf,1], (1,2], ..., (8,9], (9,inf), each expecting 0.1.
        // Window (10 values): 0.5 ×2 -> bin 0; 1.5, 2.5, ..., 8.5 -> bins 1..8; nothing in (9,inf).
        // actual = 0.2, 0.1 ×8, 0.0
        // bin 0: (0.2001 - 0.1001) ln(0.2001 / 0.1001) = 0.1 ln(2001/1001) = 0.1 × 0.6926475552685127
        // bins 1..8: a = e -> 0
        // bin 9 (empty): (0.0001 - 0.1001) ln(0.0001 / 0.1001) = 0.1 ln(1001) = 0.1 × 6.90875477931522
        // PSI = 0.06926475552685127 + 0.690875477931522 = 0.7601402334583733
        let r = profile_with_deciles((0..=10).map(f64::from).collect());
        let w = [0.5, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5];
        let p = psi(&r, &w);
        assert_eq!(p.n, 10);
        assert_eq!(p.bins.len(), 10);
        assert!((p.value - 0.7601402334583733).abs() < TOL, "{p:?}");
        assert_eq!(p.bins[0].upper, 1.0);
        assert_eq!(p.bins[9].upper, f64::INFINITY);
        assert!((p.bins[0].actual - 0.2).abs() < TOL && p.bins[9].actual == 0.0);
        // Right-closed: a value on an edge belongs to the bin below it.
        let p = psi(&r, &[1.0]);
        assert_eq!(p.bins[0].actual, 1.0);
    }

    #[test]
    fn tied_deciles_merge_hand_worked() {
        // 70% zeros: deciles q0..q7 = 0, q8 = 2, q9 = 4, q10 = 10.
        // Distinct inner edges 0, 2, 4 -> bins (-inf,0], (0,2], (2,4], (4,inf);
        // tenths ending at q1..q7 = 0 -> bin 0 (0.7); q8 = 2 -> bin 1; q9 = 4 -> bin 2;
        // q10 = 10 -> bin 3: expected 0.7, 0.1, 0.1, 0.1.
        // Window: 0 ×8, 1, 3 -> actual 0.8, 0.1, 0.1, 0.0
        // bin 0: 0.1 ln(0.8001/0.7001) = 0.1 × 0.13351353787292639
        // bin 3: 0.1 ln(1001)          = 0.1 × 6.90875477931522
        // PSI = 0.013351353787292639 + 0.690875477931522 = 0.7042268317188146
        let r = profile_with_deciles(vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 4.0, 10.0]);
        let w = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 3.0];
        let p = psi(&r, &w);
        let uppers: Vec<f64> = p.bins.iter().map(|b| b.upper).collect();
        assert_eq!(uppers, vec![0.0, 2.0, 4.0, f64::INFINITY]);
        let expected: Vec<f64> = p.bins.iter().map(|b| b.expected).collect();
        for (e, want) in expected.iter().zip([0.7, 0.1, 0.1, 0.1]) {
            assert!((e - want).abs() < TOL, "{expected:?}");
        }
        assert!((p.value - 0.7042268317188146).abs() < TOL, "{p:?}");
    }

    #[test]
    fn constant_reference() {
        let r = numeric_profile(&[5.0; 20], 10);
        let p = psi(&r, &[5.0; 7]);
        assert_eq!(p.bins.len(), 2);
        assert_eq!((p.bins[0].expected, p.bins[1].expected), (1.0, 0.0));
        assert_eq!(p.value, 0.0);
        // All above: (1.0001 - 0.0001) ln(1.0001/0.0001) + (0.0001 - 1.0001) ln(0.0001/1.0001)
        //          = 2 ln(10001) = 18.420680743952367
        let p = psi(&r, &[6.0; 7]);
        assert!((p.value - 2.0 * 10001f64.ln()).abs() < 1e-9, "{p:?}");
    }

    #[test]
    fn identical_distribution_is_zero() {
        // 0..=99: deciles 9.9k, and exactly 10 values fall at or below each -> fractions equal.
        let values: Vec<f64> = (0..100).map(f64::from).collect();
        let r = numeric_profile(&values, 10);
        let p = psi(&r, &values);
        assert!(p.value.abs() < TOL, "{p:?}");
        for b in &p.bins {
            assert!((b.actual - 0.1).abs() < TOL && (b.expected - 0.1).abs() < TOL);
        }
        // A reordered copy with NaN sprinkled in: the same.
        let mut shuffled: Vec<f64> = values.iter().rev().copied().collect();
        shuffled.push(f64::NAN);
        assert!(psi(&r, &shuffled).value.abs() < TOL);
        assert_eq!(psi(&r, &shuffled).n, 100);
    }

    #[test]
    fn serde_round_trip_keeps_infinity() {
        let r = profile_with_deciles((0..=10).map(f64::from).collect());
        let p = psi(&r, &[0.5, 9.5]);
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"upper\":null"), "{json}");
        let back: Psi = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn no_decision() {
        let r = numeric_profile(&[1.0, 2.0, 3.0], 10);
        let p = psi(&r, &[f64::NAN]);
        assert_eq!((p.n, p.value), (0, 0.0));
        let empty = numeric_profile(&[], 10);
        assert_eq!(
            psi(&empty, &[1.0]),
            Psi {
                value: 0.0,
                bins: Vec::new(),
                n: 0
            }
        );
        let mut broken = r.clone();
        broken.quantiles[3] = f64::NAN;
        assert_eq!(psi(&broken, &[1.0]).n, 0);
    }
}
