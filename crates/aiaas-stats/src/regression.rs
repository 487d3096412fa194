//! Regression metrics (MAE, MSE, RMSE, R²) and the predict-the-mean baseline they are judged
//! against. Accumulates in f64 whatever precision the model ran in.

use serde::{Deserialize, Serialize};

use crate::ratio;

/// Error metrics of real-valued predictions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegressionMetrics {
    /// Mean absolute error.
    pub mae: f64,
    /// Mean squared error.
    pub mse: f64,
    /// Square root of `mse`, in the target's units.
    pub rmse: f64,
    /// Coefficient of determination, 1 - SS_res / SS_tot. For constant truth (SS_tot = 0) it is
    /// 1 if the predictions are exact and 0 otherwise (scikit-learn's `force_finite`).
    pub r2: f64,
    /// Number of examples evaluated.
    pub count: u64,
}

/// Compares `predicted` with `truth`. Empty input gives all zeros.
///
/// # Panics
/// If the slices differ in length; callers validate first.
pub fn regression_metrics(truth: &[f64], predicted: &[f64]) -> RegressionMetrics {
    assert_eq!(
        truth.len(),
        predicted.len(),
        "regression metrics: {} true values but {} predictions",
        truth.len(),
        predicted.len()
    );
    let n = truth.len() as f64;
    let mean = ratio(truth.iter().sum(), n);

    let (mut abs_sum, mut ss_res, mut ss_tot) = (0.0, 0.0, 0.0);
    for (&t, &p) in truth.iter().zip(predicted) {
        let err = t - p;
        abs_sum += err.abs();
        ss_res += err * err;
        ss_tot += (t - mean) * (t - mean);
    }

    let mse = ratio(ss_res, n);
    let r2 = if truth.is_empty() {
        0.0
    } else if ss_tot == 0.0 {
        // R² is undefined here; report "perfect" or "no better than the mean" instead of NaN/-inf.
        if ss_res == 0.0 { 1.0 } else { 0.0 }
    } else {
        1.0 - ss_res / ss_tot
    };

    RegressionMetrics {
        mae: ratio(abs_sum, n),
        mse,
        rmse: mse.sqrt(),
        r2,
        count: truth.len() as u64,
    }
}

/// Metrics of predicting the mean of `truth` for every example: the bar a regressor must clear.
/// Its R² is 0 by construction (unless `truth` is constant, where it is 1).
pub fn mean_baseline(truth: &[f64]) -> RegressionMetrics {
    let mean = ratio(truth.iter().sum(), truth.len() as f64);
    regression_metrics(truth, &vec![mean; truth.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_util::close;

    // truth [3, -0.5, 2, 7], predicted [2.5, 0, 2, 8]
    // errors 0.5, -0.5, 0, -1
    // MAE  = (0.5 + 0.5 + 0 + 1) / 4 = 0.5
    // MSE  = (0.25 + 0.25 + 0 + 1) / 4 = 1.5 / 4 = 0.375
    // RMSE = sqrt(0.375) = 0.6123724356957945
    // mean truth = 11.5 / 4 = 2.875; deviations 0.125, -3.375, -0.875, 4.125
    // SS_tot = 0.015625 + 11.390625 + 0.765625 + 17.015625 = 29.1875
    // R2 = 1 - 1.5 / 29.1875 = 1 - 24/467 = 443/467
    const TRUTH: [f64; 4] = [3.0, -0.5, 2.0, 7.0];

    #[test]
    fn four_point_example() {
        let m = regression_metrics(&TRUTH, &[2.5, 0.0, 2.0, 8.0]);
        close(m.mae, 0.5);
        close(m.mse, 0.375);
        close(m.rmse, 0.612_372_435_695_794_5);
        close(m.r2, 443.0 / 467.0);
        assert_eq!(m.count, 4);
    }

    #[test]
    fn mean_baseline_four_point() {
        // predicting 2.875: |dev| sum = 0.125 + 3.375 + 0.875 + 4.125 = 8.5 -> MAE 2.125
        // MSE = SS_tot / 4 = 29.1875 / 4 = 7.296875; R2 = 1 - SS_tot/SS_tot = 0
        let m = mean_baseline(&TRUTH);
        close(m.mae, 2.125);
        close(m.mse, 7.296_875);
        close(m.rmse, 7.296_875f64.sqrt());
        close(m.r2, 0.0);
    }

    #[test]
    fn r2_for_constant_truth() {
        assert_eq!(regression_metrics(&[2.0; 3], &[2.0; 3]).r2, 1.0);
        let m = regression_metrics(&[2.0; 3], &[1.0, 2.0, 3.0]);
        assert_eq!(m.r2, 0.0);
        // MSE = (1 + 0 + 1) / 3
        close(m.mse, 2.0 / 3.0);
        assert_eq!(mean_baseline(&[5.0; 2]).r2, 1.0);
    }

    #[test]
    fn empty_input_gives_zeros() {
        let zero = RegressionMetrics {
            mae: 0.0,
            mse: 0.0,
            rmse: 0.0,
            r2: 0.0,
            count: 0,
        };
        assert_eq!(regression_metrics(&[], &[]), zero);
        assert_eq!(mean_baseline(&[]), zero);
    }

    #[test]
    #[should_panic(expected = "2 true values but 1 predictions")]
    fn length_mismatch_panics() {
        regression_metrics(&[1.0, 2.0], &[1.0]);
    }
}
