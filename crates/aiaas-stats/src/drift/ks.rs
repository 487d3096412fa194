//! One-sample Kolmogorov–Smirnov test of a window of served values against the reference
//! distribution kept in a [`NumericProfile`], and the Kolmogorov distribution behind its p-value.

use serde::{Deserialize, Serialize};

use crate::profile::NumericProfile;

/// Result of [`ks`]. `n == 0` means no decision: the window had no finite value or the profile
/// could not give a reference distribution (count 0, malformed deciles or histogram); then
/// `statistic` is 0 and `p_value` 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ks {
    /// `D = sup_x |F_window(x) - F_ref(x)|`, in `[0, 1]`.
    pub statistic: f64,
    /// `P(D_n >= statistic)` under the reference distribution, by [`kolmogorov_sf`].
    pub p_value: f64,
    /// Number of finite window values compared.
    pub n: usize,
}

impl Ks {
    fn no_decision() -> Self {
        Ks {
            statistic: 0.0,
            p_value: 1.0,
            n: 0,
        }
    }
}

/// Kolmogorov–Smirnov test of `window` against the distribution profiled in `reference`.
/// Non-finite window values are skipped.
///
/// The profile keeps no raw values, but its histogram gives the reference CDF exactly at every
/// bin edge: a bin is `[a, b)` (the last one closed), so the fraction of the reference below an
/// edge is the count of the bins before it, and at the maximum everything is at or below it.
/// `D` is the largest gap between the window's and the reference's CDF at those points:
/// `|F_w(x < e) - F_r(x < e)|` at every edge but the last, and `|F_w(x <= max) - 1|`.
///
/// Evaluating at exact points only, rather than interpolating between them, matters for
/// discrete features (pixel intensities, counts): a reference CDF drawn as a line through a
/// staircase differs from any sample of it by several percent, which a thousand rows already
/// call significant. Taking the supremum over fewer points can only lower `D`, so under an
/// unchanged distribution the p-value from the Kolmogorov distribution is conservative (as it
/// is for any KS test on data with ties): decisions err towards "no drift".
pub fn ks(reference: &NumericProfile, window: &[f64]) -> Ks {
    let h = &reference.histogram;
    let valid = reference.count > 0
        && h.edges.len() == h.counts.len() + 1
        && h.edges.iter().all(|v| v.is_finite())
        && h.edges.windows(2).all(|w| w[0] <= w[1])
        && h.counts.iter().any(|&c| c > 0);
    if !valid {
        return Ks::no_decision();
    }
    let mut sorted: Vec<f64> = window.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return Ks::no_decision();
    }
    sorted.sort_unstable_by(f64::total_cmp);
    let n = sorted.len();
    let below = |e: f64| sorted.partition_point(|&v| v < e) as f64 / n as f64;

    let total = h.counts.iter().sum::<u64>() as f64;
    let last = h.edges.len() - 1;
    let mut reference_below = 0u64;
    let mut d = 0.0f64;
    for (i, &edge) in h.edges[..last].iter().enumerate() {
        d = d.max((below(edge) - reference_below as f64 / total).abs());
        reference_below += h.counts[i];
    }
    let at_or_below_max = sorted.partition_point(|&v| v <= h.edges[last]) as f64 / n as f64;
    d = d.max(1.0 - at_or_below_max);
    let statistic = d.clamp(0.0, 1.0);
    Ks {
        statistic,
        p_value: kolmogorov_sf(statistic, n),
        n,
    }
}

/// `P(D_n >= d)` for the one-sample Kolmogorov–Smirnov statistic `D_n` of `n` values from a
/// continuous distribution.
///
/// - `d <= 0` (or NaN), `d <= 1/(2n)` (the smallest value `D_n` can take) or `n == 0`: 1;
///   `d >= 1`: 0.
/// - `n <= 100` and (`d > 0.5` or `n d² > 3`, where the tail is below about 0.005): twice
///   Smirnov's one-sided tail
///   `P(D+_n >= d) = d Σ_{j=0}^{⌊n(1-d)⌋} C(n,j) (1-d-j/n)^(n-j) (d+j/n)^(j-1)` (Birnbaum and
///   Tingey 1951). Above 0.5 the two one-sided events are disjoint and this is exact; for
///   `n d² > 3` their overlap is below 1e-8 of the tail (checked against SciPy's `kstwo`). A sum
///   of positive terms, so tiny tails keep their digits, where `1 - P(D_n < d)` would lose them.
/// - `n <= 100` otherwise: exact, by the matrix-power algorithm of Marsaglia, Tsang and Wang
///   (2003), "Evaluating Kolmogorov's distribution", J. Stat. Software 8(18); there `nd < 18`,
///   so the matrix is at most 35 × 35.
/// - `n > 100`: Kolmogorov's limiting distribution `Q(√n d)`, by [`kolmogorov_limit_sf`]. It
///   overstates the exact tail slightly (at `n = 101` and `p ≈ 0.01`: 0.00985 against 0.00866),
///   so decisions err towards "no drift".
pub fn kolmogorov_sf(d: f64, n: usize) -> f64 {
    if n == 0 || d.is_nan() || d <= 0.0 {
        return 1.0;
    }
    if d >= 1.0 {
        return 0.0;
    }
    let nf = n as f64;
    if d <= 0.5 / nf {
        return 1.0;
    }
    if n > 100 {
        return kolmogorov_limit_sf(nf.sqrt() * d);
    }
    if d > 0.5 || nf * d * d > 3.0 {
        return (2.0 * smirnov_sf(n, d)).clamp(0.0, 1.0);
    }
    (1.0 - mtw_cdf(n, d)).clamp(0.0, 1.0)
}

/// `Q(t) = P(K >= t)` for Kolmogorov's limiting distribution,
/// `Q(t) = 2 Σ_{k>=1} (-1)^(k-1) exp(-2 k² t²)`. For `t < 1.18` that alternating series converges
/// slowly and the equivalent `1 - (√(2π)/t) Σ_{k>=1} exp(-(2k-1)² π² / (8t²))` is used instead.
pub fn kolmogorov_limit_sf(t: f64) -> f64 {
    if t.is_nan() || t <= 0.0 {
        return 1.0;
    }
    if t < 1.18 {
        let w = (2.0 * std::f64::consts::PI).sqrt() / t;
        let x = -std::f64::consts::PI * std::f64::consts::PI / (8.0 * t * t);
        let mut cdf = 0.0;
        for k in 1..=20u32 {
            let m = f64::from(2 * k - 1);
            let term = (m * m * x).exp();
            cdf += term;
            if term < 1e-17 * cdf {
                break;
            }
        }
        (1.0 - w * cdf).clamp(0.0, 1.0)
    } else {
        let mut sum = 0.0;
        let mut sign = 1.0;
        for k in 1..=100u32 {
            let kf = f64::from(k);
            let term = (-2.0 * kf * kf * t * t).exp();
            sum += sign * term;
            if term < 1e-17 {
                break;
            }
            sign = -sign;
        }
        (2.0 * sum).clamp(0.0, 1.0)
    }
}

/// Smirnov's one-sided tail `P(D+_n >= d)`, for `0 < d < 1` and small `n` (binomial
/// coefficients stay within f64).
fn smirnov_sf(n: usize, d: f64) -> f64 {
    let nf = n as f64;
    let jmax = (nf * (1.0 - d)).floor() as usize;
    let mut binom = 1.0f64; // C(n, j)
    let mut sum = 0.0;
    for j in 0..=jmax.min(n) {
        let jf = j as f64;
        let base = 1.0 - d - jf / nf;
        if base > 0.0 {
            sum += binom * base.powi((n - j) as i32) * (d + jf / nf).powi(j as i32 - 1);
        }
        binom = binom * (nf - jf) / (jf + 1.0);
    }
    d * sum
}

/// `P(D_n < d)` by Marsaglia, Tsang and Wang (2003): `n!/n^n` times the central element of the
/// `n`-th power of an `m × m` matrix, `m = 2k - 1`, `k = ⌊nd⌋ + 1`, with powers of 10 carried
/// apart so that the matrix power cannot overflow.
fn mtw_cdf(n: usize, d: f64) -> f64 {
    let nf = n as f64;
    let k = (nf * d) as usize + 1;
    let m = 2 * k - 1;
    let h = k as f64 - nf * d;

    let mut hm = vec![0.0f64; m * m];
    for i in 0..m {
        for j in 0..m {
            if i + 1 >= j {
                hm[i * m + j] = 1.0;
            }
        }
    }
    for i in 0..m {
        hm[i * m] -= h.powi(i as i32 + 1);
        hm[(m - 1) * m + i] -= h.powi((m - i) as i32);
    }
    if 2.0 * h - 1.0 > 0.0 {
        hm[(m - 1) * m] += (2.0 * h - 1.0).powi(m as i32);
    }
    for i in 0..m {
        for j in 0..m {
            if i + 1 > j {
                for g in 1..=(i + 1 - j) {
                    hm[i * m + j] /= g as f64;
                }
            }
        }
    }

    let (q, mut eq) = matrix_power(&hm, 0, m, n);
    let mut s = q[(k - 1) * m + k - 1];
    for i in 1..=n {
        s = s * i as f64 / nf;
        if s < 1e-140 {
            s *= 1e140;
            eq -= 140;
        }
    }
    s * 10f64.powi(eq)
}

fn matrix_multiply(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * m];
    for i in 0..m {
        for l in 0..m {
            let ail = a[i * m + l];
            if ail == 0.0 {
                continue;
            }
            for j in 0..m {
                c[i * m + j] += ail * b[l * m + j];
            }
        }
    }
    c
}

/// `(A^n` scaled, its power of 10`)`: `A^n = V · 10^e`.
fn matrix_power(a: &[f64], ea: i32, m: usize, n: usize) -> (Vec<f64>, i32) {
    if n == 1 {
        return (a.to_vec(), ea);
    }
    let (v, ev) = matrix_power(a, ea, m, n / 2);
    let b = matrix_multiply(&v, &v, m);
    let eb = 2 * ev;
    let (mut v, mut ev) = if n.is_multiple_of(2) {
        (b, eb)
    } else {
        (matrix_multiply(a, &b, m), ea + eb)
    };
    if v[(m / 2) * m + m / 2] > 1e140 {
        for x in &mut v {
            *x *= 1e-140;
        }
        ev += 140;
    }
    (v, ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Histogram, numeric_profile};

    /// Relative tolerance against SciPy's values (its kstwo uses other algorithms).
    fn close_rel(actual: f64, expected: f64, rel: f64) {
        assert!(
            (actual - expected).abs() <= rel * expected.abs(),
            "expected {expected}, got {actual}"
        );
    }

    /// Uniform on [0, 10]: 100 values, 10 in each unit bin, deciles 0, 1, ..., 10: F(x) = x/10.
    fn uniform_0_10() -> NumericProfile {
        NumericProfile {
            count: 100,
            mean: 5.0,
            std: 10.0 / 12f64.sqrt(),
            min: 0.0,
            max: 10.0,
            quantiles: (0..=10).map(f64::from).collect(),
            histogram: Histogram {
                edges: (0..=10).map(f64::from).collect(),
                counts: vec![10; 10],
            },
        }
    }

    #[test]
    fn exact_sf_matches_scipy_kstwo() {
        // Reference values: scipy 1.17.1,
        //   python3 -c "from scipy.stats import kstwo; print(kstwo.sf(d, n))"
        // (10, 0.274) is also Marsaglia, Tsang & Wang's example: P(D_10 < 0.274) =
        // 0.6284796154565043, so P(D_10 >= 0.274) = 0.3715203845434957.
        let cases = [
            (4, 0.6, 0.06740000000000002),
            (10, 0.274, 0.3715203845434957),
            (1, 0.3, 1.0),
            (3, 0.2, 0.9982222222222222),
            (5, 0.3, 0.664),
            (20, 0.1, 0.976255094592155),
            (20, 0.25, 0.13762569836717486),
            (50, 0.2, 0.03143877776953241),
            (100, 0.05, 0.9532159710635725),
            (100, 0.1, 0.2526927570063874),
            // n d² > 3 or d > 0.5: the Smirnov branch.
            (100, 0.2, 0.0005551927327988775),
            (100, 0.27, 6.266673841225714e-07),
            (10, 0.6, 0.0005681672000000003),
            (37, 0.51, 1.887466413446049e-09),
            (100, 0.55, 6.179111218549733e-29),
        ];
        for (n, d, expected) in cases {
            close_rel(kolmogorov_sf(d, n), expected, 1e-9);
        }
    }

    #[test]
    fn asymptotic_sf_matches_scipy_kstwobign() {
        // scipy 1.17.1: kstwobign.sf(t)
        let cases = [
            (0.3, 0.9999906941986655),
            (0.5, 0.9639452436648751),
            (0.8, 0.5441424115741981),
            (1.0, 0.26999967167735456),
            (1.18, 0.1234538094297657),
            (1.2, 0.11224966667072497),
            (1.36, 0.049485876755377876),
            (1.63, 0.009846364888486529),
            (2.0, 0.0006709252557796953),
            (3.0, 3.045995948942526e-08),
        ];
        for (t, expected) in cases {
            close_rel(kolmogorov_limit_sf(t), expected, 1e-9);
        }
        // n > 100 goes to the limit: kstwobign.sf(sqrt(1000) * 0.05) = 0.013475889875863678
        close_rel(kolmogorov_sf(0.05, 1000), 0.013475889875863678, 1e-9);
        // kstwobign.sf(sqrt(400) * 0.07) = 0.039681879538114355
        close_rel(kolmogorov_sf(0.07, 400), 0.039681879538114355, 1e-9);
    }

    #[test]
    fn sf_edges_and_monotonicity() {
        for n in [0, 1, 7, 100, 101, 5000] {
            assert_eq!(kolmogorov_sf(0.0, n), 1.0);
            assert_eq!(kolmogorov_sf(-0.3, n), 1.0);
            assert_eq!(kolmogorov_sf(f64::NAN, n), 1.0);
            if n > 0 {
                assert_eq!(kolmogorov_sf(1.0, n), 0.0);
                assert_eq!(kolmogorov_sf(1.5, n), 0.0);
            }
        }
        for n in [1, 2, 5, 10, 33, 99, 100, 101, 500, 3000] {
            let mut prev = 1.0;
            for i in 0..=1000 {
                let p = kolmogorov_sf(i as f64 / 1000.0, n);
                assert!((0.0..=1.0).contains(&p), "n={n} i={i} p={p}");
                // A hair of slack for rounding between neighbouring branches.
                assert!(
                    p <= prev + 1e-12,
                    "n={n} d={} p={p} > {prev}",
                    i as f64 / 1000.0
                );
                prev = p;
            }
        }
    }

    #[test]
    fn statistic_is_the_largest_gap_at_the_bin_edges() {
        // Reference F(x < e) = e/10 at the edges 0..10. Window 1,2,3,4 (n=4): below the edges
        // 0..5 it has 0, 0, 0.25, 0.5, 0.75, 1 against 0, 0.1, ..., 0.5 -> D = 0.5 at e = 5.
        let r = uniform_0_10();
        let k = ks(&r, &[3.0, 1.0, 4.0, 2.0]);
        assert!((k.statistic - 0.5).abs() < 1e-12, "{k:?}");
        assert_eq!(k.n, 4);
        close_rel(k.p_value, kolmogorov_sf(0.5, 4), 1e-12);
        // Window 6,7,8,9: nothing below 6 against 0.6 there -> D = 0.6.
        let k = ks(&r, &[6.0, 7.0, 8.0, 9.0]);
        assert!((k.statistic - 0.6).abs() < 1e-12, "{k:?}");
        // kstwo.sf(0.6, 4) = 0.06740000000000002
        close_rel(k.p_value, 0.06740000000000002, 1e-9);
        // Outside the reference range: F = 0 below min, 1 above max. Window -5, 20: D = 0.5.
        let k = ks(&r, &[-5.0, 20.0]);
        assert!((k.statistic - 0.5).abs() < 1e-12, "{k:?}");
    }

    #[test]
    fn atoms_and_discrete_values_do_not_fake_drift() {
        // 750 zeros then 250 values spread over (0, 1]: deciles q0..q7 are 0.
        let mut reference: Vec<f64> = vec![0.0; 750];
        reference.extend((1..=250).map(|i| f64::from(i) / 250.0));
        let profile = numeric_profile(&reference, 10);
        // A window with the same make-up: 75 zeros and 25 spread values.
        let mut window: Vec<f64> = vec![0.0; 75];
        window.extend((1..=25).map(|i| f64::from(i) / 25.0));
        let k = ks(&profile, &window);
        // Below 0.1: the reference has (750 + 24) / 1000 = 0.774, the window (75 + 2) / 100.
        assert!(k.statistic < 0.05, "{k:?}");
        assert!(k.p_value > 0.5, "{k:?}");
        // All zeros in the window: 1 below 0.1 against 0.774.
        let k = ks(&profile, &[0.0; 100]);
        assert!((k.statistic - 0.226).abs() < 1e-9, "{k:?}");

        // Integer values 0..=16, as digits pixels: a window drawn from the same counts is
        // not drifted (a CDF interpolated between edges would put D near 0.05 here).
        let reference: Vec<f64> = (0..1700).map(|i| f64::from(i % 17)).collect();
        let profile = numeric_profile(&reference, 10);
        let window: Vec<f64> = (0..1000).map(|i| f64::from((i * 7) % 17)).collect();
        let k = ks(&profile, &window);
        assert!(k.statistic < 0.01 && k.p_value > 0.9, "{k:?}");
    }

    #[test]
    fn constant_reference_is_a_step() {
        let profile = numeric_profile(&[3.0; 50], 10);
        assert_eq!(ks(&profile, &[3.0; 20]).statistic, 0.0);
        // Half below, half above: F_window(3-) = 0.5 against F(3-) = 0.
        let k = ks(&profile, &[2.0, 4.0]);
        assert!((k.statistic - 0.5).abs() < 1e-12, "{k:?}");
    }

    #[test]
    fn no_decision_without_data() {
        let r = uniform_0_10();
        assert_eq!(ks(&r, &[]), Ks::no_decision());
        assert_eq!(ks(&r, &[f64::NAN, f64::INFINITY]), Ks::no_decision());
        let empty = numeric_profile(&[], 10);
        assert_eq!(ks(&empty, &[1.0, 2.0]), Ks::no_decision());
        let mut broken = uniform_0_10();
        broken.histogram.counts.pop();
        assert_eq!(ks(&broken, &[1.0]), Ks::no_decision());
        // NaN values are skipped, not counted.
        assert_eq!(ks(&r, &[1.0, f64::NAN]).n, 1);
    }
}
