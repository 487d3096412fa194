//! Per-feature profiles of a data set: summary statistics, deciles and a histogram for numeric
//! columns, value frequencies for categorical ones. Written at training time into the model's
//! report; later the reference distribution that drift detection compares served inputs with.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Equal-width histogram. `edges.len() == counts.len() + 1`; bin `i` is `[edges[i], edges[i+1])`
/// except the last, which is closed so the maximum is counted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

/// Values counted on a [`Histogram`]'s bins, with those outside its range apart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binned {
    /// One count per bin.
    pub counts: Vec<u64>,
    /// Values below the first edge.
    pub below: u64,
    /// Values above the last edge.
    pub above: u64,
}

impl Histogram {
    /// `values` counted on these bins (the same half-open bins, the last closed); values outside
    /// the range are counted apart and non-finite ones skipped. An empty histogram counts every
    /// finite value nowhere.
    pub fn count(&self, values: &[f64]) -> Binned {
        let mut binned = Binned {
            counts: vec![0; self.counts.len()],
            below: 0,
            above: 0,
        };
        let (Some(&first), Some(&last)) = (self.edges.first(), self.edges.last()) else {
            return binned;
        };
        let inner = &self.edges[1..self.edges.len() - 1];
        for &v in values.iter().filter(|v| v.is_finite()) {
            if v < first {
                binned.below += 1;
            } else if v > last {
                binned.above += 1;
            } else if let Some(count) = binned.counts.get_mut(inner.partition_point(|&e| e <= v)) {
                *count += 1;
            }
        }
        binned
    }
}

/// Summary of a numeric column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NumericProfile {
    /// Number of finite values profiled.
    pub count: u64,
    pub mean: f64,
    /// Population standard deviation (divides by `count`, not `count - 1`).
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// The 11 deciles q0, q0.1, ..., q1.0, by [`quantile`].
    pub quantiles: Vec<f64>,
    /// Equal-width bins from `min` to `max`.
    pub histogram: Histogram,
}

/// Value frequencies of a categorical column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategoricalProfile {
    /// Number of values profiled.
    pub count: u64,
    /// `(value, count)`, most frequent first, ties by value ascending so the order is stable.
    pub frequencies: Vec<(String, u64)>,
}

/// The `q`-quantile of ascending `sorted` values, interpolating linearly between order
/// statistics at position `q * (n - 1)` (NumPy's default "linear" method, R's type 7).
///
/// # Panics
/// If `sorted` is empty or `q` is not within `[0, 1]`.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "quantile of an empty slice");
    assert!((0.0..=1.0).contains(&q), "quantile {q} outside [0, 1]");
    interpolate(q * (sorted.len() - 1) as f64, sorted.len(), |rank| {
        sorted[rank]
    })
}

/// The value at fractional `position` among `n` ascending values, `at(rank)` giving the value of
/// a rank: linear between the two order statistics around it.
fn interpolate(position: f64, n: usize, at: impl Fn(usize) -> f64) -> f64 {
    let lo = position.floor() as usize;
    let frac = position - lo as f64;
    if frac > 0.0 && lo + 1 < n {
        let low = at(lo);
        low + (at(lo + 1) - low) * frac
    } else {
        at(lo)
    }
}

/// The 11 deciles of `values` (non-empty, finite, from `min` to `max`), equal to [`quantile`]
/// of the sorted values, without a sort: the values are counted on equal-width buckets (an
/// order-keeping map: a bucket's values are all at least those of the buckets before it), ranks
/// among the ties at `min` or `max` are answered from their counts, and only the buckets holding
/// another rank the deciles need are gathered and selected in. Linear, and quick on the many
/// ties of sparse and pixel columns.
fn deciles(values: &[f64], min: f64, max: f64) -> Vec<f64> {
    const BUCKETS: usize = 1024;
    if min == max {
        return vec![min; 11];
    }
    let n = values.len();
    let position = |i: usize| i as f64 / 10.0 * (n - 1) as f64;
    let mut ranks: Vec<usize> = (0..=10)
        .flat_map(|i| {
            let lo = position(i).floor() as usize;
            [lo, (lo + 1).min(n - 1)]
        })
        .collect();
    ranks.sort_unstable();
    ranks.dedup();

    // Finite even for a range of a few subnormals, so that the minimum maps to 0, not NaN.
    let scale = (BUCKETS as f64 / (max - min)).min(f64::MAX);
    let bucket = |v: f64| nearest(((v - min) * scale).min((BUCKETS - 1) as f64));
    let counts = tally(values, BUCKETS, bucket);
    // Where each bucket's values start in ascending order.
    let mut starts = Vec::with_capacity(BUCKETS);
    let mut total = 0;
    for &c in &counts {
        starts.push(total);
        total += c;
    }
    // Ranks among the ties at either end (the zeros of a sparse column) need no gathering.
    let at_min = values.iter().filter(|&&v| v == min).count();
    let at_max = values.iter().filter(|&&v| v == max).count();

    // Each rank is min, max, or (bucket, rank within the bucket).
    let mut stats = vec![0.0; ranks.len()];
    let mut wanted: Vec<(usize, usize, usize)> = Vec::new(); // (bucket, local rank, index)
    for (i, &rank) in ranks.iter().enumerate() {
        if rank < at_min {
            stats[i] = min;
        } else if rank >= n - at_max {
            stats[i] = max;
        } else {
            let b = starts.partition_point(|&s| s <= rank) - 1;
            wanted.push((b, rank - starts[b], i));
        }
    }
    // One pass gathers the wanted buckets' values; each bucket then selects its ranks.
    let mut slot = vec![usize::MAX; BUCKETS];
    let mut gathered: Vec<Vec<f64>> = Vec::new();
    for &(b, _, _) in &wanted {
        if slot[b] == usize::MAX {
            slot[b] = gathered.len();
            gathered.push(Vec::with_capacity(counts[b]));
        }
    }
    if !gathered.is_empty() {
        for &v in values {
            let s = slot[bucket(v)];
            if s != usize::MAX {
                gathered[s].push(v);
            }
        }
    }
    for (b, &s) in slot.iter().enumerate().filter(|(_, s)| **s != usize::MAX) {
        let local: Vec<usize> = wanted.iter().filter(|w| w.0 == b).map(|w| w.1).collect();
        let mut found = vec![0.0; local.len()];
        select_ranks(&mut gathered[s], &local, 0, &mut found);
        for (w, value) in wanted.iter().filter(|w| w.0 == b).zip(found) {
            stats[w.2] = value;
        }
    }
    let at = |rank: usize| stats[ranks.partition_point(|&r| r < rank)];
    (0..=10).map(|i| interpolate(position(i), n, at)).collect()
}

/// Writes into `out[i]` the value of rank `ranks[i]` (ascending, distinct, counted from `base`
/// for `values`): selecting the middle rank splits the slice, and the ranks on either side are
/// found in their own part.
fn select_ranks(values: &mut [f64], ranks: &[usize], base: usize, out: &mut [f64]) {
    if ranks.is_empty() {
        return;
    }
    let mid = ranks.len() / 2;
    let rank = ranks[mid] - base;
    let (below, value, above) = values.select_nth_unstable_by(rank, f64::total_cmp);
    out[mid] = *value;
    select_ranks(below, &ranks[..mid], base, &mut out[..mid]);
    select_ranks(
        above,
        &ranks[mid + 1..],
        base + rank + 1,
        &mut out[mid + 1..],
    );
}

/// Profiles a numeric column with a `bins`-bin histogram (at least one bin; exactly one when all
/// values are equal).
///
/// Non-finite values (NaN, ±inf) are skipped: they have no place on a histogram axis and would
/// poison the mean, and missing values are the data layer's business. With nothing left the
/// profile is all zeros with empty quantiles and histogram.
pub fn numeric_profile(values: &[f64], bins: usize) -> NumericProfile {
    let finite: Cow<[f64]> = if values.iter().all(|v| v.is_finite()) {
        Cow::Borrowed(values)
    } else {
        values.iter().copied().filter(|v| v.is_finite()).collect()
    };
    if finite.is_empty() {
        return NumericProfile {
            count: 0,
            mean: 0.0,
            std: 0.0,
            min: 0.0,
            max: 0.0,
            quantiles: Vec::new(),
            histogram: Histogram {
                edges: Vec::new(),
                counts: Vec::new(),
            },
        };
    }
    let n = finite.len() as f64;
    let (sum, min, max) = sum_min_max(&finite);
    let mean = sum / n;
    // Two passes rather than sum-of-squares: no cancellation when the mean dwarfs the spread.
    let var = lane_sum(&finite, |v| (v - mean) * (v - mean)) / n;
    NumericProfile {
        count: finite.len() as u64,
        mean,
        std: var.sqrt(),
        min,
        max,
        quantiles: deciles(&finite, min, max),
        histogram: histogram(&finite, min, max, bins),
    }
}

/// Accumulators per pass: independent sums the compiler keeps in one vector register, where a
/// single running sum would wait on each addition in turn.
const LANES: usize = 4;

/// The sum of `f(v)` over `values`, in [`LANES`] interleaved partial sums.
fn lane_sum(values: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let mut sums = [0.0; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest: f64 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for chunk in chunks {
        for (s, &v) in sums.iter_mut().zip(chunk) {
            *s += f(v);
        }
    }
    sums.iter().sum::<f64>() + rest
}

/// Sum, minimum and maximum of non-empty finite `values` in one pass.
fn sum_min_max(values: &[f64]) -> (f64, f64, f64) {
    let mut sums = [0.0; LANES];
    let mut lo = [values[0]; LANES];
    let mut hi = [values[0]; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for j in 0..LANES {
            let v = chunk[j];
            sums[j] += v;
            lo[j] = if v < lo[j] { v } else { lo[j] };
            hi[j] = if v > hi[j] { v } else { hi[j] };
        }
    }
    let (mut min, mut max) = (lo[0], hi[0]);
    for &v in lo.iter().chain(&hi).chain(rest) {
        min = min.min(v);
        max = max.max(v);
    }
    (
        sums.iter().sum::<f64>() + rest.iter().sum::<f64>(),
        min,
        max,
    )
}

/// Counts how often each value occurs.
pub fn categorical_profile<'a>(values: impl IntoIterator<Item = &'a str>) -> CategoricalProfile {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut total = 0u64;
    for v in values {
        *counts.entry(v).or_default() += 1;
        total += 1;
    }
    let mut frequencies: Vec<(String, u64)> =
        counts.into_iter().map(|(v, c)| (v.to_owned(), c)).collect();
    // The map already yields values ascending; a stable sort by count keeps that for ties.
    frequencies.sort_by_key(|&(_, count)| Reverse(count));
    CategoricalProfile {
        count: total,
        frequencies,
    }
}

/// `x` (in `[0, 2^31)`) rounded to the nearest integer: adding 2^52 leaves the rounded value in
/// the low bits of the sum. Order-keeping like a cast, with none of the checks a cast makes for
/// NaN, negatives and overflow, which cost more than the rest of a tally's work per value.
fn nearest(x: f64) -> usize {
    const SHIFT: f64 = 4_503_599_627_370_496.0; // 2^52
    ((x + SHIFT).to_bits() & 0xFFFF_FFFF) as usize
}

/// How many of `values` fall in each of `slots` slots, `slot(v)` naming a value's. Consecutive
/// values count on separate tallies: a run of equal values (the zeros of a pixel column) would
/// otherwise wait on each increment of one counter in turn.
fn tally(values: &[f64], slots: usize, slot: impl Fn(f64) -> usize) -> Vec<usize> {
    let mut lanes = vec![[0usize; LANES]; slots];
    let chunks = values.chunks_exact(LANES);
    for &v in chunks.remainder() {
        lanes[slot(v)][0] += 1;
    }
    for chunk in chunks {
        for (lane, &v) in chunk.iter().enumerate() {
            lanes[slot(v)][lane] += 1;
        }
    }
    lanes.iter().map(|l| l.iter().sum()).collect()
}

/// Histogram of non-empty, finite values from `min` to `max`.
fn histogram(values: &[f64], min: f64, max: f64, bins: usize) -> Histogram {
    if min == max {
        return Histogram {
            edges: vec![min, max],
            counts: vec![values.len() as u64],
        };
    }
    let bins = bins.max(1);
    let width = max - min;
    let mut edges: Vec<f64> = (0..bins)
        .map(|i| min + width * (i as f64 / bins as f64))
        .collect();
    edges.push(max);

    let per_width = (bins as f64 / width).min(f64::MAX);
    let counts = tally(values, bins, |v| {
        let guess = nearest(((v - min) * per_width).min((bins - 1) as f64));
        // The arithmetic guess can land one bin off near an edge; the stored edges are what a
        // reader sees, so they decide (without branches, which tie-heavy columns mispredict).
        let below = usize::from(v < edges[guess]);
        let above = usize::from(guess + 1 < bins) & usize::from(v >= edges[guess + 1]);
        guess + above - below
    })
    .into_iter()
    .map(|c| c as u64)
    .collect();
    Histogram { edges, counts }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: f64 = 1e-12;

    fn close_all(actual: &[f64], expected: &[f64]) {
        assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
        for (a, e) in actual.iter().zip(expected) {
            assert!(
                (a - e).abs() <= TOL,
                "expected {expected:?}, got {actual:?}"
            );
        }
    }

    #[test]
    fn quantiles_of_even_length() {
        // [1, 2, 3, 4]: position = 3q
        //   q0.25 -> 0.75 -> 1 + 0.75 * (2 - 1) = 1.75
        //   q0.5  -> 1.5  -> 2.5
        //   q0.1  -> 0.3  -> 1.3
        //   q0.9  -> 2.7  -> 3.7
        let s = [1.0, 2.0, 3.0, 4.0];
        let got: Vec<f64> = [0.0, 0.1, 0.25, 0.5, 0.9, 1.0]
            .iter()
            .map(|&q| quantile(&s, q))
            .collect();
        close_all(&got, &[1.0, 1.3, 1.75, 2.5, 3.7, 4.0]);
    }

    #[test]
    fn deciles_of_odd_length() {
        // [1, 2, 4, 8, 16]: position = 4q
        //   q0.1 -> 0.4 -> 1 + 0.4*1 = 1.4     q0.6 -> 2.4 -> 4 + 0.4*4 = 5.6
        //   q0.2 -> 0.8 -> 1 + 0.8*1 = 1.8     q0.7 -> 2.8 -> 4 + 0.8*4 = 7.2
        //   q0.3 -> 1.2 -> 2 + 0.2*2 = 2.4     q0.8 -> 3.2 -> 8 + 0.2*8 = 9.6
        //   q0.4 -> 1.6 -> 2 + 0.6*2 = 3.2     q0.9 -> 3.6 -> 8 + 0.6*8 = 12.8
        //   q0.5 -> 2   -> 4                   q1   -> 16
        // Given unsorted: the profile selects the order statistics.
        let p = numeric_profile(&[8.0, 1.0, 16.0, 4.0, 2.0], 4);
        close_all(
            &p.quantiles,
            &[1.0, 1.4, 1.8, 2.4, 3.2, 4.0, 5.6, 7.2, 9.6, 12.8, 16.0],
        );
        assert_eq!((p.min, p.max, p.count), (1.0, 16.0, 5));
    }

    #[test]
    fn selected_deciles_equal_those_of_the_sorted_values() {
        // Lengths around the decile positions' integer points, values with many ties (as pixel
        // columns have) and without.
        let mut state = 12345u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as f64
        };
        for n in [1, 2, 3, 10, 11, 12, 21, 100, 101, 1000, 5000] {
            for distinct in [2.0, 7.0, 300.0, 1e9] {
                let mut values: Vec<f64> = (0..n).map(|_| (next() % distinct) - 3.0).collect();
                if n > 100 {
                    // An outlier crowds every other value into the first bucket or two.
                    values[n / 2] = 1e12;
                }
                let mut sorted = values.clone();
                sorted.sort_by(f64::total_cmp);
                let want: Vec<f64> = (0..=10)
                    .map(|i| quantile(&sorted, i as f64 / 10.0))
                    .collect();
                let (min, max) = (sorted[0], sorted[n - 1]);
                assert_eq!(
                    deciles(&values, min, max),
                    want,
                    "n {n}, {distinct} distinct"
                );
            }
        }
    }

    #[test]
    fn a_range_of_a_few_subnormals_is_profiled_in_order() {
        let tiny = f64::from_bits(1);
        let values = [3.0 * tiny, 0.0, tiny, 2.0 * tiny, 0.0, 5.0 * tiny];
        let p = numeric_profile(&values, 2);
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let want: Vec<f64> = (0..=10)
            .map(|i| quantile(&sorted, i as f64 / 10.0))
            .collect();
        assert_eq!(p.quantiles, want);
        assert_eq!(p.histogram.counts.iter().sum::<u64>(), 6);
        assert_eq!((p.min, p.max), (0.0, 5.0 * tiny));
    }

    #[test]
    fn single_value_quantile() {
        assert_eq!(quantile(&[7.0], 0.3), 7.0);
    }

    #[test]
    fn mean_and_population_std() {
        // mean = 40/8 = 5; squared deviations 9,1,1,1,0,0,4,16 sum 32; var = 32/8 = 4; std = 2
        let p = numeric_profile(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], 10);
        close_all(&[p.mean, p.std], &[5.0, 2.0]);
    }

    #[test]
    fn histogram_max_lands_in_last_bin() {
        // min 0, max 10, 5 bins of width 2: edges 0,2,4,6,8,10
        // 0,1 -> bin 0; 2,3 -> bin 1 (2 is a left edge); 4 -> bin 2; 10 (= max) -> bin 4
        let p = numeric_profile(&[0.0, 1.0, 2.0, 3.0, 4.0, 10.0], 5);
        close_all(&p.histogram.edges, &[0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(p.histogram.counts, vec![2, 2, 1, 0, 1]);
    }

    #[test]
    fn histogram_of_constant_values_is_one_bin() {
        let p = numeric_profile(&[3.0, 3.0, 3.0], 10);
        assert_eq!(
            p.histogram,
            Histogram {
                edges: vec![3.0, 3.0],
                counts: vec![3]
            }
        );
        assert_eq!(p.std, 0.0);
    }

    #[test]
    fn histogram_counts_sum_to_count() {
        // Tenths are not exact in binary, so values sit right on inexact edges.
        let values: Vec<f64> = (0..=100).map(|i| i as f64 / 10.0).collect();
        let p = numeric_profile(&values, 7);
        assert_eq!(p.histogram.counts.iter().sum::<u64>(), 101);
        assert_eq!(p.histogram.edges.len(), 8);
        assert_eq!(*p.histogram.edges.last().unwrap(), 10.0);
    }

    #[test]
    fn values_counted_on_a_histogram_land_where_it_put_them() {
        let values: Vec<f64> = (0..=100).map(|i| i as f64 / 10.0).collect();
        let p = numeric_profile(&values, 7);
        let binned = p.histogram.count(&values);
        assert_eq!(binned.counts, p.histogram.counts);
        assert_eq!((binned.below, binned.above), (0, 0));
        let outside = p.histogram.count(&[-1.0, 11.0, 12.0, f64::NAN, 10.0]);
        assert_eq!((outside.below, outside.above), (1, 2));
        assert_eq!(
            outside.counts.iter().sum::<u64>(),
            1,
            "10 is the closed last edge"
        );
        let constant = numeric_profile(&[3.0, 3.0], 10).histogram;
        assert_eq!(constant.count(&[3.0, 2.0]).counts, vec![1]);
    }

    #[test]
    fn empty_and_non_finite_input() {
        let p = numeric_profile(&[], 10);
        assert_eq!(p.count, 0);
        assert_eq!((p.mean, p.std, p.min, p.max), (0.0, 0.0, 0.0, 0.0));
        assert!(p.quantiles.is_empty());
        assert!(p.histogram.edges.is_empty() && p.histogram.counts.is_empty());
        let nowhere = p.histogram.count(&[1.0]);
        assert_eq!(
            (nowhere.counts.len(), nowhere.below, nowhere.above),
            (0, 0, 0)
        );
        assert_eq!(numeric_profile(&[f64::NAN, f64::INFINITY], 3), p);
        // NaN skipped: [1, 3] -> mean 2
        let q = numeric_profile(&[1.0, f64::NAN, 3.0], 2);
        assert_eq!((q.count, q.mean), (2, 2.0));
    }

    #[test]
    fn categorical_frequencies_ordering() {
        // a:3, b:2, c:2, d:1 -> by count desc, ties (b, c) by value asc
        let p = categorical_profile(["b", "a", "c", "a", "b", "a", "d", "c"]);
        assert_eq!(p.count, 8);
        let expected: Vec<(String, u64)> = [("a", 3), ("b", 2), ("c", 2), ("d", 1)]
            .iter()
            .map(|&(v, c)| (v.to_owned(), c))
            .collect();
        assert_eq!(p.frequencies, expected);
        assert_eq!(
            categorical_profile(std::iter::empty()),
            CategoricalProfile {
                count: 0,
                frequencies: Vec::new()
            }
        );
    }
}
