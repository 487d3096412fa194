//! Feature and target scaling: fitting a [`Schema`] on training rows only (so that no
//! statistic leaks from validation or test rows) and applying it.

use crate::{Column, Dataset, Target, idx};
use aiaas_types::{Feature, FeatureKind, Schema, TargetSchema};

/// Fits the schema on the `train` rows of `ds`: numeric features get the mean and population
/// standard deviation of those rows (scale 1 where the deviation is 0 or not finite), text
/// features their vocabulary, a regression target the mean and deviation of its train values.
/// MNIST images are the exception: pixels are scaled as `x / 255`, the usual convention.
pub fn fit_schema(ds: &Dataset, train: &[usize]) -> Schema {
    let width = ds.width();
    let stats = if idx::is_mnist(ds) {
        vec![(0.0, 255.0); width]
    } else {
        column_stats(&ds.x, width, train)
    };
    let mut offset = 0;
    let features = ds
        .columns
        .iter()
        .map(|column| {
            let kind = match column {
                Column::Numeric { .. } => {
                    let (mean, scale) = stats[offset];
                    FeatureKind::Numeric { mean, scale }
                }
                Column::Categorical { vocabulary, .. } => FeatureKind::Categorical {
                    vocabulary: vocabulary.clone(),
                },
            };
            offset += column.width();
            Feature {
                name: column.name().to_string(),
                kind,
            }
        })
        .collect();
    let target = match &ds.target {
        Target::Classification { name, labels } => TargetSchema::Classification {
            name: name.clone(),
            labels: labels.clone(),
        },
        Target::Regression { name } => {
            let (mean, scale) = column_stats(&ds.y, 1, train)[0];
            TargetSchema::Regression {
                name: name.clone(),
                mean,
                scale,
            }
        }
    };
    Schema { features, target }
}

/// Mean and scale of every column of a row-major `width`-wide matrix over `rows`.
fn column_stats(x: &[f32], width: usize, rows: &[usize]) -> Vec<(f64, f64)> {
    let n = rows.len() as f64;
    let mut mean = vec![0.0f64; width];
    for &r in rows {
        for (m, &v) in mean.iter_mut().zip(&x[r * width..(r + 1) * width]) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    // Two passes rather than sum of squares: the one-pass formula loses digits when the mean
    // is large against the spread.
    let mut var = vec![0.0f64; width];
    for &r in rows {
        for ((s, &v), m) in var
            .iter_mut()
            .zip(&x[r * width..(r + 1) * width])
            .zip(&mean)
        {
            let d = f64::from(v) - m;
            *s += d * d;
        }
    }
    mean.iter()
        .zip(&var)
        .map(|(&m, &s)| {
            let std = (s / n).sqrt();
            let mean = if m.is_finite() { m } else { 0.0 };
            let scale = if std.is_finite() && std > 0.0 {
                std
            } else {
                1.0
            };
            (mean, scale)
        })
        .collect()
}

/// `(value - mean) / scale`, treating a degenerate scale as 1 so that a hand-edited schema
/// cannot produce infinities.
pub(crate) fn standardize(value: f64, mean: f64, scale: f64) -> f32 {
    ((value - mean) / aiaas_types::usable_scale(scale)) as f32
}

/// The model inputs for `rows` of an encoded matrix `x` (`width` values per row, as in
/// [`Dataset::x`]): numeric features standardized with the schema, one-hot blocks copied.
/// `width` must equal `schema.input_width()`; panics if a row is out of range.
pub fn encode(schema: &Schema, x: &[f32], rows: &[usize], width: usize) -> Vec<f32> {
    encode_on(schema, x, rows, width, 1)
}

/// [`encode`] with the rows shared out over `threads` threads: a wide dataset's encoding is
/// mostly first writes to fresh pages, which threads fault in side by side.
pub fn encode_on(
    schema: &Schema,
    x: &[f32],
    rows: &[usize],
    width: usize,
    threads: usize,
) -> Vec<f32> {
    /// Fewest rows a thread is given: below, starting it costs more than it saves.
    const MIN_ROWS_PER_THREAD: usize = 4096;
    debug_assert_eq!(width, schema.input_width());
    // Per encoded slot, the mean and scale it is standardized with; a one-hot slot gets (0, 1),
    // which gives its value back exactly. One branch-free formula for every slot lets the
    // compiler vectorize the loop, the bulk of encoding a wide dataset.
    let mut means: Vec<f64> = Vec::with_capacity(width);
    let mut scales: Vec<f64> = Vec::with_capacity(width);
    for feature in &schema.features {
        match &feature.kind {
            FeatureKind::Numeric { mean, scale } => {
                means.push(*mean);
                scales.push(aiaas_types::usable_scale(*scale));
            }
            FeatureKind::Categorical { vocabulary } => {
                means.extend(std::iter::repeat_n(0.0, vocabulary.len()));
                scales.extend(std::iter::repeat_n(1.0, vocabulary.len()));
            }
        }
    }
    let encode_rows = |rows: &[usize], out: &mut [f32]| {
        for (&r, encoded) in rows.iter().zip(out.chunks_exact_mut(width)) {
            let row = &x[r * width..(r + 1) * width];
            for (((e, &v), &mean), &scale) in encoded.iter_mut().zip(row).zip(&means).zip(&scales) {
                *e = ((f64::from(v) - mean) / scale) as f32;
            }
        }
    };
    let mut out = vec![0.0f32; rows.len() * width];
    let parts = threads.min(rows.len() / MIN_ROWS_PER_THREAD).max(1);
    if parts == 1 || width == 0 {
        encode_rows(rows, &mut out);
        return out;
    }
    let per = rows.len().div_ceil(parts);
    std::thread::scope(|scope| {
        for (rows, out) in rows.chunks(per).zip(out.chunks_mut(per * width)) {
            let encode_rows = &encode_rows;
            scope.spawn(move || encode_rows(rows, out));
        }
    });
    out
}

/// Targets as the model learns them ([`TargetSchema::to_model`]).
pub fn scale_target(schema: &Schema, y: &[f32]) -> Vec<f32> {
    y.iter()
        .map(|&v| schema.target.to_model(f64::from(v)) as f32)
        .collect()
}

/// Model outputs back in the target's units ([`TargetSchema::from_model`]).
pub fn unscale_target(schema: &Schema, y: &[f32]) -> Vec<f32> {
    y.iter()
        .map(|&v| schema.target.from_model(f64::from(v)) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_csv_bytes;

    fn tiny() -> Dataset {
        read_csv_bytes(
            "tiny.csv",
            b"a,c,target\n1,x,10\n3,y,20\n100,x,30.5\n",
            None,
            None,
        )
        .unwrap()
    }

    #[test]
    fn schema_uses_only_train_rows() {
        let ds = tiny();
        let schema = fit_schema(&ds, &[0, 1]);
        // a over rows 0,1 = {1, 3}: mean 2, population std 1. Row 2 (100) must not count.
        assert_eq!(
            schema.features[0].kind,
            FeatureKind::Numeric {
                mean: 2.0,
                scale: 1.0
            }
        );
        assert_eq!(
            schema.features[1].kind,
            FeatureKind::Categorical {
                vocabulary: vec!["x".into(), "y".into()]
            }
        );
        // target over rows 0,1 = {10, 20}: mean 15, std 5.
        assert_eq!(
            schema.target,
            TargetSchema::Regression {
                name: "target".into(),
                mean: 15.0,
                scale: 5.0
            }
        );
        let encoded = encode(&schema, &ds.x, &[2, 0], ds.width());
        assert_eq!(encoded, [98.0, 1.0, 0.0, -1.0, 1.0, 0.0]);
        let scaled = scale_target(&schema, &ds.y);
        assert_eq!(scaled, [-1.0, 1.0, 3.1]);
        assert_eq!(unscale_target(&schema, &scaled), [10.0, 20.0, 30.5]);
    }

    #[test]
    fn encoding_on_threads_equals_encoding_on_one() {
        let csv: String = std::iter::once("a,c,target\n".to_string())
            .chain((0..9000).map(|i| format!("{},{},{}\n", i % 97, ["x", "y"][i % 2], i % 3)))
            .collect();
        let ds = read_csv_bytes("wide.csv", csv.as_bytes(), None, None).unwrap();
        let rows: Vec<usize> = (0..ds.rows).rev().collect();
        let schema = fit_schema(&ds, &rows);
        let one = encode(&schema, &ds.x, &rows, ds.width());
        for threads in [2, 3] {
            assert_eq!(encode_on(&schema, &ds.x, &rows, ds.width(), threads), one);
        }
    }

    #[test]
    fn constant_column_gets_scale_one() {
        let ds = tiny();
        let schema = fit_schema(&ds, &[0]);
        assert_eq!(
            schema.features[0].kind,
            FeatureKind::Numeric {
                mean: 1.0,
                scale: 1.0
            }
        );
    }

    #[test]
    fn empty_train_set_gives_neutral_scaling() {
        let schema = fit_schema(&tiny(), &[]);
        assert_eq!(
            schema.features[0].kind,
            FeatureKind::Numeric {
                mean: 0.0,
                scale: 1.0
            }
        );
    }
}
