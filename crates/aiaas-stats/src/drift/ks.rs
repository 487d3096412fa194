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
/// The profile keeps no raw values, so the reference CDF is rebuilt from it:
/// - knots at the histogram edges, at their exact cumulative fractions (a bin is `[a, b)`, so the
///   count below an edge is the fraction of values `< edge`), and at the deciles `q_k`, at `k/10`
///   (NumPy's linear quantiles, so within `1/count` of the true fraction); between knots `F` is
///   linear, below `min` it is 0 and from `max` on it is 1;
/// - a value where two or more deciles coincide (`q_j == ... == q_k == v`, e.g. MNIST pixels at 0)
///   holds at least a tenth of the reference: `F` jumps there. The profile only bounds the jump:
///   `F(v-)` lies in `[(j-1)/10, j/10]` and `F(v)` in `[k/10, (k+1)/10]` (clipped to `[0, 1]`),
///   both also within the cumulative fractions of the histogram bin holding `v`; each is taken at
///   the middle of its interval, which halves the worst error. Without the jump, a linear `F`
///   through an atom makes every window from the reference itself look drifted (`D` ≈ the atom's
///   mass).
///
/// `D` is evaluated exactly for this piecewise-linear `F` with jumps: `F_window` is a step
/// function and `F` is monotone, so the supremum is reached at a window value, either just at it
/// (`i/n - F(x_i)`) or just before it (`F(x_i-) - (i-1)/n`); both sides are checked.
///
/// The p-value assumes a continuous reference; with jumps the test is conservative (p-values
/// too large), as for any KS test on data with ties.
pub fn ks(reference: &NumericProfile, window: &[f64]) -> Ks {
    let Some(cdf) = ReferenceCdf::from_profile(reference) else {
        return Ks::no_decision();
    };
    let mut sorted: Vec<f64> = window.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return Ks::no_decision();
    }
    sorted.sort_by(f64::total_cmp);

    let n = sorted.len();
    let nf = n as f64;
    let mut d = 0.0f64;
    for (i, &x) in sorted.iter().enumerate() {
        let (left, right) = cdf.eval(x);
        // Ties in the window: the larger `i` gives the true step height above `x`, the first `i`
        // the true one below it; the other indices only give smaller candidates.
        d = d.max((i + 1) as f64 / nf - right).max(left - i as f64 / nf);
    }
    let statistic = d.clamp(0.0, 1.0);
    Ks {
        statistic,
        p_value: kolmogorov_sf(statistic, n),
        n,
    }
}

/// A knot of the reference CDF: `F(x-) = left`, `F(x) = right`; linear from one knot's `right`
/// to the next knot's `left`.
#[derive(Clone, Copy, Debug)]
struct Knot {
    x: f64,
    left: f64,
    right: f64,
}

/// The reference CDF rebuilt from a profile; see [`ks`].
#[derive(Debug)]
struct ReferenceCdf {
    /// Ascending `x`, monotone values, the first `left` 0, the last `right` 1.
    knots: Vec<Knot>,
}

impl ReferenceCdf {
    fn from_profile(p: &NumericProfile) -> Option<Self> {
        let q = &p.quantiles;
        let h = &p.histogram;
        let valid = p.count > 0
            && q.len() == 11
            && q.iter().all(|v| v.is_finite())
            && q.windows(2).all(|w| w[0] <= w[1])
            && h.edges.len() == h.counts.len() + 1
            && h.edges.iter().all(|v| v.is_finite())
            && h.edges.windows(2).all(|w| w[0] <= w[1])
            && h.counts.iter().any(|&c| c > 0);
        if !valid {
            return None;
        }

        let total = h.counts.iter().sum::<u64>() as f64;
        // cum[i]: fraction of the reference below edges[i] (at the last edge: all of it).
        let mut cum = Vec::with_capacity(h.edges.len());
        let mut acc = 0u64;
        cum.push(0.0);
        for &c in &h.counts {
            acc += c;
            cum.push(acc as f64 / total);
        }
        let last = h.edges.len() - 1;
        // Cumulative fractions at the ends of the histogram bin holding `v` (by the histogram's
        // own rule: `[a, b)`, the last bin closed).
        let bin_bounds = |v: f64| -> (f64, f64) {
            if v < h.edges[0] {
                return (0.0, 0.0);
            }
            if v >= h.edges[last] {
                return if v == h.edges[last] {
                    // In the closed last bin: from its start up to everything.
                    let start = h.edges[..last].partition_point(|&e| e <= v).max(1) - 1;
                    (cum[start], 1.0)
                } else {
                    (1.0, 1.0)
                };
            }
            let i = h.edges.partition_point(|&e| e <= v) - 1;
            (cum[i], cum[i + 1])
        };

        let mut knots: Vec<Knot> = h
            .edges
            .iter()
            .zip(&cum)
            .map(|(&x, &f)| Knot {
                x,
                left: f,
                right: f,
            })
            .collect();
        // The last edge is the maximum: everything is at or below it.
        knots[last].right = 1.0;

        let mut j = 0;
        while j < q.len() {
            let v = q[j];
            let mut k = j;
            while k + 1 < q.len() && q[k + 1] == v {
                k += 1;
            }
            let (left, right) = if k == j {
                let f = j as f64 / 10.0;
                (f, f)
            } else {
                let (a, b) = bin_bounds(v);
                let mid = |lo: f64, hi: f64| {
                    let (lo, hi) = (lo.max(a), hi.min(b));
                    if lo <= hi { (lo + hi) / 2.0 } else { lo }
                };
                let left_lo = j.saturating_sub(1) as f64 / 10.0;
                let right_hi = ((k + 1) as f64 / 10.0).min(1.0);
                (
                    mid(left_lo, j as f64 / 10.0),
                    mid(k as f64 / 10.0, right_hi),
                )
            };
            knots.push(Knot { x: v, left, right });
            j = k + 1;
        }
        // The histogram's minimum and maximum are exact: nothing below, nothing above.
        knots.push(Knot {
            x: q[0],
            left: 0.0,
            right: 0.0,
        });

        knots.sort_by(|a, b| a.x.total_cmp(&b.x));
        // Merge knots at one x: the smallest left limit and the largest value; this keeps the
        // exact fractions from the histogram edges (and 0 at the minimum, 1 at the maximum).
        let mut merged: Vec<Knot> = Vec::with_capacity(knots.len());
        for kn in knots {
            match merged.last_mut() {
                Some(m) if m.x == kn.x => {
                    m.left = m.left.min(kn.left);
                    m.right = m.right.max(kn.right);
                }
                _ => merged.push(kn),
            }
        }
        // Deciles are within 1/count of the truth, so they can disagree slightly with the exact
        // histogram fractions: make F monotone and keep it in [0, 1].
        let mut floor = 0.0f64;
        for m in &mut merged {
            m.left = m.left.clamp(floor, 1.0);
            m.right = m.right.clamp(m.left, 1.0);
            floor = m.right;
        }
        if let Some(first) = merged.first_mut() {
            first.left = 0.0;
        }
        if let Some(last) = merged.last_mut() {
            last.right = 1.0;
        }
        Some(ReferenceCdf { knots: merged })
    }

    /// `(F(x-), F(x))`.
    fn eval(&self, x: f64) -> (f64, f64) {
        let i = self.knots.partition_point(|k| k.x < x);
        if i == self.knots.len() {
            return (1.0, 1.0);
        }
        let hi = self.knots[i];
        if hi.x == x {
            return (hi.left, hi.right);
        }
        if i == 0 {
            return (0.0, 0.0);
        }
        let lo = self.knots[i - 1];
        let t = (x - lo.x) / (hi.x - lo.x);
        let f = lo.right + (hi.left - lo.right) * t;
        (f, f)
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
    fn statistic_checks_both_sides_of_each_step() {
        // F(x) = x/10. Window 1,2,3,4 (n=4), i/n - F(x_i): 0.25-0.1, 0.5-0.2, 0.75-0.3, 1-0.4
        // -> D = 0.6 just at x = 4 (the window runs ahead of the reference).
        let r = uniform_0_10();
        let k = ks(&r, &[3.0, 1.0, 4.0, 2.0]);
        assert!((k.statistic - 0.6).abs() < 1e-12, "{k:?}");
        assert_eq!(k.n, 4);
        // kstwo.sf(0.6, 4) = 0.06740000000000002
        close_rel(k.p_value, 0.06740000000000002, 1e-9);
        // Window 6,7,8,9: F(x_i) - (i-1)/n: 0.6-0, 0.7-0.25, 0.8-0.5, 0.9-0.75 -> D = 0.6 just
        // before x = 6 (the window lags behind).
        let k = ks(&r, &[6.0, 7.0, 8.0, 9.0]);
        assert!((k.statistic - 0.6).abs() < 1e-12, "{k:?}");
        // Outside the reference range: F = 0 below min, 1 above max. Window -5, 20: D = 0.5.
        let k = ks(&r, &[-5.0, 20.0]);
        assert!((k.statistic - 0.5).abs() < 1e-12, "{k:?}");
    }

    #[test]
    fn atoms_at_tied_deciles_do_not_fake_drift() {
        // 750 zeros then 250 values spread over (0, 1]: deciles q0..q7 are 0.
        let mut reference: Vec<f64> = vec![0.0; 750];
        reference.extend((1..=250).map(|i| f64::from(i) / 250.0));
        let profile = numeric_profile(&reference, 10);
        // A window with the same make-up: 75 zeros and 25 spread values.
        let mut window: Vec<f64> = vec![0.0; 75];
        window.extend((1..=25).map(|i| f64::from(i) / 25.0));
        let k = ks(&profile, &window);
        // F(0) lies in [0.7, 0.8] (deciles q0..q7 tie at 0, q8 does not) and in [0, F(0.1-)] of the
        // first histogram bin, F(0.1-) = (750 + 24) / 1000 = 0.774 -> midpoint of [0.7, 0.774]:
        // F(0) = 0.737; F_window(0) = 0.75.
        assert!(k.statistic < 0.05, "{k:?}");
        assert!(k.p_value > 0.5, "{k:?}");
        // All zeros in the window: F_window(0) = 1 against F(0) = 0.737.
        let k = ks(&profile, &[0.0; 100]);
        assert!((k.statistic - 0.263).abs() < 1e-9, "{k:?}");
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
        broken.quantiles.truncate(5);
        assert_eq!(ks(&broken, &[1.0]), Ks::no_decision());
        let mut broken = uniform_0_10();
        broken.histogram.counts.pop();
        assert_eq!(ks(&broken, &[1.0]), Ks::no_decision());
        // NaN values are skipped, not counted.
        assert_eq!(ks(&r, &[1.0, f64::NAN]).n, 1);
    }
}
