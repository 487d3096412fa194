//! Classification metrics: the confusion matrix and everything derived from it (accuracy,
//! per-class and averaged precision/recall/F1), plus log loss and the majority-class baseline.
//!
//! Conventions are scikit-learn's with `labels=range(num_classes)` and `zero_division=0`: every
//! class in `0..num_classes` counts, present in the data or not, and a zero denominator gives 0.

use serde::{Deserialize, Serialize};

use crate::ratio;

/// Probabilities are clamped to at least this before taking the log, as scikit-learn does, so a
/// confidently wrong prediction costs a large but finite loss.
const LOG_LOSS_EPS: f64 = 1e-15;

/// Counts of (true class, predicted class) pairs: rows are the true class, columns the predicted
/// one. Serialized as its nested rows, `[[u64; num_classes]; num_classes]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Vec<Vec<u64>>", try_from = "Vec<Vec<u64>>")]
pub struct ConfusionMatrix {
    num_classes: usize,
    /// Row-major `num_classes x num_classes`.
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// An all-zero matrix for `num_classes` classes.
    pub fn new(num_classes: usize) -> Self {
        Self {
            num_classes,
            counts: vec![0; num_classes * num_classes],
        }
    }

    /// Tallies paired true and predicted class indices.
    ///
    /// # Panics
    /// If the slices differ in length or an index is `>= num_classes`; callers validate labels
    /// before evaluating, so either is a bug.
    pub fn from_predictions(truth: &[usize], predicted: &[usize], num_classes: usize) -> Self {
        assert_eq!(
            truth.len(),
            predicted.len(),
            "confusion matrix: {} true labels but {} predictions",
            truth.len(),
            predicted.len()
        );
        let mut cm = Self::new(num_classes);
        for (&t, &p) in truth.iter().zip(predicted) {
            cm.add(t, p);
        }
        cm
    }

    /// Counts one example.
    ///
    /// # Panics
    /// If either index is `>= num_classes`.
    pub fn add(&mut self, truth: usize, predicted: usize) {
        let i = self.index(truth, predicted);
        self.counts[i] += 1;
    }

    /// How many examples of class `truth` were predicted as `predicted`.
    ///
    /// # Panics
    /// If either index is `>= num_classes`.
    pub fn get(&self, truth: usize, predicted: usize) -> u64 {
        self.counts[self.index(truth, predicted)]
    }

    /// Number of classes (the matrix is square).
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Number of examples counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The matrix as nested rows, one per true class.
    pub fn rows(&self) -> Vec<Vec<u64>> {
        if self.num_classes == 0 {
            return Vec::new();
        }
        self.counts
            .chunks(self.num_classes)
            .map(<[u64]>::to_vec)
            .collect()
    }

    /// Examples of class `c` (row sum).
    fn support(&self, c: usize) -> u64 {
        (0..self.num_classes).map(|p| self.get(c, p)).sum()
    }

    /// Examples predicted as class `c` (column sum).
    fn predicted_count(&self, c: usize) -> u64 {
        (0..self.num_classes).map(|t| self.get(t, c)).sum()
    }

    fn index(&self, truth: usize, predicted: usize) -> usize {
        let n = self.num_classes;
        assert!(
            truth < n && predicted < n,
            "confusion matrix: class index out of range (true {truth}, predicted {predicted}, \
             num_classes {n})"
        );
        truth * n + predicted
    }
}

impl From<ConfusionMatrix> for Vec<Vec<u64>> {
    fn from(cm: ConfusionMatrix) -> Self {
        cm.rows()
    }
}

impl TryFrom<Vec<Vec<u64>>> for ConfusionMatrix {
    type Error = String;

    fn try_from(rows: Vec<Vec<u64>>) -> Result<Self, Self::Error> {
        let n = rows.len();
        if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != n) {
            return Err(format!(
                "confusion matrix must be square: {n} rows but row {i} has {} columns",
                row.len()
            ));
        }
        Ok(Self {
            num_classes: n,
            counts: rows.into_iter().flatten().collect(),
        })
    }
}

/// Precision, recall and F1 of one class, treating it as the positive class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// TP / (TP + FP); 0 if the class is never predicted.
    pub precision: f64,
    /// TP / (TP + FN); 0 if the class is absent from the labels.
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0 if both are 0.
    pub f1: f64,
    /// Number of examples whose true class is this one.
    pub support: u64,
}

/// Everything a classification evaluation reports.
///
/// Macro averages weigh all `num_classes` classes equally, absent ones included; weighted
/// averages weigh by support; micro averages pool TP/FP/FN over classes (for single-label
/// multiclass they all equal accuracy).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassificationMetrics {
    pub accuracy: f64,
    pub precision_macro: f64,
    pub recall_macro: f64,
    pub f1_macro: f64,
    pub precision_micro: f64,
    pub recall_micro: f64,
    pub f1_micro: f64,
    pub precision_weighted: f64,
    pub recall_weighted: f64,
    pub f1_weighted: f64,
    /// Indexed by class.
    pub per_class: Vec<ClassMetrics>,
    pub confusion_matrix: ConfusionMatrix,
    /// Mean negative log-likelihood of the true class; `None` when no probabilities were given.
    pub log_loss: Option<f64>,
    /// Number of examples evaluated.
    pub count: u64,
}

impl ClassificationMetrics {
    /// Derives every count-based metric from `cm`; `log_loss` is `None`.
    pub fn from_confusion(cm: ConfusionMatrix) -> Self {
        let n = cm.num_classes();
        let total = cm.total();

        let per_class: Vec<ClassMetrics> = (0..n)
            .map(|c| {
                let tp = cm.get(c, c) as f64;
                let support = cm.support(c);
                let precision = ratio(tp, cm.predicted_count(c) as f64);
                let recall = ratio(tp, support as f64);
                ClassMetrics {
                    precision,
                    recall,
                    f1: f1(precision, recall),
                    support,
                }
            })
            .collect();

        let macro_avg =
            |f: fn(&ClassMetrics) -> f64| ratio(per_class.iter().map(f).sum::<f64>(), n as f64);
        let weighted_avg = |f: fn(&ClassMetrics) -> f64| {
            let weighted: f64 = per_class.iter().map(|m| f(m) * m.support as f64).sum();
            ratio(weighted, total as f64)
        };

        // Every misclassified example is one false positive (for the predicted class) and one
        // false negative (for the true class), so both pooled sums are total - TP. Computed from
        // the sums anyway so the definition stays visible if multi-label ever arrives.
        let tp: u64 = (0..n).map(|c| cm.get(c, c)).sum();
        let fp: u64 = (0..n).map(|c| cm.predicted_count(c) - cm.get(c, c)).sum();
        let fn_: u64 = (0..n).map(|c| cm.support(c) - cm.get(c, c)).sum();
        let precision_micro = ratio(tp as f64, (tp + fp) as f64);
        let recall_micro = ratio(tp as f64, (tp + fn_) as f64);

        Self {
            accuracy: ratio(tp as f64, total as f64),
            precision_macro: macro_avg(|m| m.precision),
            recall_macro: macro_avg(|m| m.recall),
            f1_macro: macro_avg(|m| m.f1),
            precision_micro,
            recall_micro,
            f1_micro: f1(precision_micro, recall_micro),
            precision_weighted: weighted_avg(|m| m.precision),
            recall_weighted: weighted_avg(|m| m.recall),
            f1_weighted: weighted_avg(|m| m.f1),
            per_class,
            confusion_matrix: cm,
            log_loss: None,
            count: total,
        }
    }

    /// The class with the lowest recall among classes that occur in the labels (support > 0);
    /// ties go to the lowest index. `None` if no class occurs.
    ///
    /// Absent classes are skipped because their recall of 0 is a convention, not a failure.
    pub fn worst_class_by_recall(&self) -> Option<usize> {
        let mut worst: Option<(usize, f64)> = None;
        for (c, m) in self.per_class.iter().enumerate() {
            if m.support == 0 {
                continue;
            }
            if worst.is_none_or(|(_, r)| m.recall < r) {
                worst = Some((c, m.recall));
            }
        }
        worst.map(|(c, _)| c)
    }
}

/// Evaluates class predictions against the truth.
///
/// `probabilities`, when given, is row-major `truth.len() x num_classes`; log loss is the mean of
/// `-ln(max(p_true, 1e-15))` (0 for zero rows).
///
/// # Panics
/// If lengths disagree or a class index is `>= num_classes`; callers validate first.
pub fn classification_metrics(
    truth: &[usize],
    predicted: &[usize],
    probabilities: Option<&[f32]>,
    num_classes: usize,
) -> ClassificationMetrics {
    let cm = ConfusionMatrix::from_predictions(truth, predicted, num_classes);
    let mut metrics = ClassificationMetrics::from_confusion(cm);
    metrics.log_loss = probabilities.map(|p| log_loss(truth, p, num_classes));
    metrics
}

/// Accuracy of always predicting the most frequent class of `truth`: the bar a classifier must
/// clear to have learned anything. 0 for empty input.
///
/// # Panics
/// If a class index is `>= num_classes`.
pub fn majority_baseline_accuracy(truth: &[usize], num_classes: usize) -> f64 {
    let mut counts = vec![0u64; num_classes];
    for &t in truth {
        assert!(
            t < num_classes,
            "majority baseline: class index {t} out of range (num_classes {num_classes})"
        );
        counts[t] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0);
    ratio(max as f64, truth.len() as f64)
}

fn f1(precision: f64, recall: f64) -> f64 {
    ratio(2.0 * precision * recall, precision + recall)
}

fn log_loss(truth: &[usize], probabilities: &[f32], num_classes: usize) -> f64 {
    assert_eq!(
        probabilities.len(),
        truth.len() * num_classes,
        "log loss: expected {} x {num_classes} probabilities, got {}",
        truth.len(),
        probabilities.len()
    );
    let sum: f64 = truth
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            // f64::max also maps a NaN probability to the clamp, i.e. to a large finite loss.
            let p = f64::from(probabilities[i * num_classes + t]).max(LOG_LOSS_EPS);
            -p.ln()
        })
        .sum();
    ratio(sum, truth.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_util::close;

    /// 3 classes, supports 4/3/3:
    ///   truth     0 0 0 0 1 1 1 2 2 2
    ///   predicted 0 0 0 1 1 1 0 2 1 2
    /// Confusion (rows truth, columns predicted):
    ///   [3 1 0]
    ///   [1 2 0]
    ///   [0 1 2]
    /// Column sums (predicted counts): 4, 4, 2. Diagonal: 3, 2, 2 -> 7 correct of 10.
    fn three_class() -> ClassificationMetrics {
        let truth = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2];
        let predicted = [0, 0, 0, 1, 1, 1, 0, 2, 1, 2];
        classification_metrics(&truth, &predicted, None, 3)
    }

    #[test]
    fn three_class_confusion_matrix() {
        let m = three_class();
        let cm = &m.confusion_matrix;
        assert_eq!(cm.rows(), vec![vec![3, 1, 0], vec![1, 2, 0], vec![0, 1, 2]]);
        assert_eq!(cm.get(2, 1), 1);
        assert_eq!(cm.num_classes(), 3);
        assert_eq!(cm.total(), 10);
        assert_eq!(m.count, 10);
        assert_eq!(m.log_loss, None);
    }

    #[test]
    fn three_class_per_class() {
        let m = three_class();
        // class 0: P = 3/4, R = 3/4, F1 = 3/4
        // class 1: P = 2/4, R = 2/3, F1 = 2*(1/2)(2/3) / (1/2 + 2/3) = (2/3)/(7/6) = 4/7
        // class 2: P = 2/2, R = 2/3, F1 = 2*1*(2/3) / (1 + 2/3) = (4/3)/(5/3) = 4/5
        let expected = [
            (3.0 / 4.0, 3.0 / 4.0, 3.0 / 4.0, 4),
            (1.0 / 2.0, 2.0 / 3.0, 4.0 / 7.0, 3),
            (1.0, 2.0 / 3.0, 4.0 / 5.0, 3),
        ];
        assert_eq!(m.per_class.len(), 3);
        for (c, (got, &(p, r, f, s))) in m.per_class.iter().zip(&expected).enumerate() {
            close(got.precision, p);
            close(got.recall, r);
            close(got.f1, f);
            assert_eq!(got.support, s, "support of class {c}");
        }
    }

    #[test]
    fn three_class_averages() {
        let m = three_class();
        close(m.accuracy, 7.0 / 10.0);
        // macro P = (3/4 + 1/2 + 1) / 3 = (9/4)/3 = 3/4
        close(m.precision_macro, 3.0 / 4.0);
        // macro R = (9/12 + 8/12 + 8/12) / 3 = 25/36
        close(m.recall_macro, 25.0 / 36.0);
        // macro F1 = (105/140 + 80/140 + 112/140) / 3 = (297/140)/3 = 99/140
        close(m.f1_macro, 99.0 / 140.0);
        // micro: TP = 7, FP = (4-3)+(4-2)+(2-2) = 3, FN = 1+1+1 = 3 -> 7/10 each
        close(m.precision_micro, 7.0 / 10.0);
        close(m.recall_micro, 7.0 / 10.0);
        close(m.f1_micro, 7.0 / 10.0);
        // weighted P = (4*3/4 + 3*1/2 + 3*1) / 10 = 7.5/10 = 3/4
        close(m.precision_weighted, 3.0 / 4.0);
        // weighted R = (4*3/4 + 3*2/3 + 3*2/3) / 10 = 7/10
        close(m.recall_weighted, 7.0 / 10.0);
        // weighted F1 = (4*3/4 + 3*4/7 + 3*4/5) / 10 = (105/35 + 60/35 + 84/35)/10 = 249/350
        close(m.f1_weighted, 249.0 / 350.0);
        // recalls 3/4, 2/3, 2/3: tie between 1 and 2 goes to the lower index.
        assert_eq!(m.worst_class_by_recall(), Some(1));
    }

    /// num_classes 3:
    ///   truth     0 0 0 1 1
    ///   predicted 0 0 2 0 0
    /// Confusion:
    ///   [2 0 1]
    ///   [2 0 0]
    ///   [0 0 0]
    /// Class 1 occurs but is never predicted; class 2 is predicted once but never occurs.
    #[test]
    fn never_predicted_and_absent_classes() {
        let m = classification_metrics(&[0, 0, 0, 1, 1], &[0, 0, 2, 0, 0], None, 3);
        assert_eq!(
            m.confusion_matrix.rows(),
            vec![vec![2, 0, 1], vec![2, 0, 0], vec![0, 0, 0]]
        );
        // class 0: P = 2/4, R = 2/3, F1 = (2/3)/(7/6) = 4/7, support 3
        close(m.per_class[0].precision, 1.0 / 2.0);
        close(m.per_class[0].recall, 2.0 / 3.0);
        close(m.per_class[0].f1, 4.0 / 7.0);
        assert_eq!(m.per_class[0].support, 3);
        // class 1: never predicted -> P = 0/0 -> 0; R = 0/2 = 0; F1 = 0
        assert_eq!(
            m.per_class[1],
            ClassMetrics {
                precision: 0.0,
                recall: 0.0,
                f1: 0.0,
                support: 2
            }
        );
        // class 2: absent -> P = 0/1 = 0; R = 0/0 -> 0; F1 = 0; support 0
        assert_eq!(
            m.per_class[2],
            ClassMetrics {
                precision: 0.0,
                recall: 0.0,
                f1: 0.0,
                support: 0
            }
        );
        close(m.accuracy, 2.0 / 5.0);
        // macro over all three classes, the absent one included:
        // P = (1/2 + 0 + 0)/3 = 1/6; R = (2/3)/3 = 2/9; F1 = (4/7)/3 = 4/21
        close(m.precision_macro, 1.0 / 6.0);
        close(m.recall_macro, 2.0 / 9.0);
        close(m.f1_macro, 4.0 / 21.0);
        // weighted by supports 3, 2, 0 over 5:
        // P = 3*(1/2)/5 = 3/10; R = 3*(2/3)/5 = 2/5; F1 = 3*(4/7)/5 = 12/35
        close(m.precision_weighted, 3.0 / 10.0);
        close(m.recall_weighted, 2.0 / 5.0);
        close(m.f1_weighted, 12.0 / 35.0);
        // micro: TP 2, FP 3, FN 3 -> 2/5
        close(m.precision_micro, 2.0 / 5.0);
        close(m.recall_micro, 2.0 / 5.0);
        close(m.f1_micro, 2.0 / 5.0);
        assert_eq!(m.worst_class_by_recall(), Some(1));
    }

    #[test]
    fn worst_class_skips_absent_classes() {
        // class 0 absent (recall 0 by convention), class 1 recall 1/2, class 2 recall 1/1.
        let m = classification_metrics(&[1, 1, 2], &[1, 2, 2], None, 3);
        assert_eq!(m.worst_class_by_recall(), Some(1));
        let empty = classification_metrics(&[], &[], None, 3);
        assert_eq!(empty.worst_class_by_recall(), None);
    }

    /// truth     1 1 1 1 0 0 0 0 0 0
    /// predicted 1 1 1 0 1 1 0 0 0 0
    /// Confusion: [4 2] / [1 3].
    #[test]
    fn binary() {
        let truth = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0];
        let predicted = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0];
        let m = classification_metrics(&truth, &predicted, None, 2);
        assert_eq!(m.confusion_matrix.rows(), vec![vec![4, 2], vec![1, 3]]);
        close(m.accuracy, 7.0 / 10.0);
        // class 1: P = 3/5, R = 3/4, F1 = (9/10)/(27/20) = 2/3
        close(m.per_class[1].precision, 3.0 / 5.0);
        close(m.per_class[1].recall, 3.0 / 4.0);
        close(m.per_class[1].f1, 2.0 / 3.0);
        // class 0: P = 4/5, R = 4/6, F1 = (16/15)/(22/15) = 8/11
        close(m.per_class[0].precision, 4.0 / 5.0);
        close(m.per_class[0].recall, 2.0 / 3.0);
        close(m.per_class[0].f1, 8.0 / 11.0);
        // macro F1 = (8/11 + 2/3)/2 = (24/33 + 22/33)/2 = 23/33
        close(m.f1_macro, 23.0 / 33.0);
        // weighted F1 = (6*8/11 + 4*2/3)/10 = (144/33 + 88/33)/10 = 232/330
        close(m.f1_weighted, 232.0 / 330.0);
    }

    #[test]
    fn log_loss_small_example() {
        // Probabilities exactly representable in f32 so the expected value is exact in f64.
        // p_true = 0.75, 0.5, 0.25:
        //   -ln 0.75 = 0.2876820724517809
        //   -ln 0.5  = 0.6931471805599453
        //   -ln 0.25 = 1.3862943611198906
        //   mean = 2.3671236141316168 / 3 = 0.7890412047105389
        let probs = [0.75f32, 0.25, 0.5, 0.5, 0.75, 0.25];
        let m = classification_metrics(&[0, 1, 1], &[0, 0, 0], Some(&probs), 2);
        close(m.log_loss.unwrap(), 0.789_041_204_710_538_9);
    }

    #[test]
    fn log_loss_clamps_zero_probability() {
        // -ln(1e-15) = 15 ln 10 = 34.538776394910684
        let m = classification_metrics(&[1], &[0], Some(&[1.0, 0.0]), 2);
        assert!((m.log_loss.unwrap() - 34.538_776_394_910_684).abs() < 1e-9);
    }

    #[test]
    fn empty_input_gives_zeros() {
        let m = classification_metrics(&[], &[], Some(&[]), 2);
        assert_eq!(m.accuracy, 0.0);
        assert_eq!(m.f1_macro, 0.0);
        assert_eq!(m.f1_weighted, 0.0);
        assert_eq!(m.log_loss, Some(0.0));
        assert_eq!(m.count, 0);
    }

    #[test]
    fn majority_baseline() {
        // class 2 occurs 3 times of 5
        close(majority_baseline_accuracy(&[2, 0, 2, 1, 2], 3), 3.0 / 5.0);
        close(majority_baseline_accuracy(&[0, 1], 2), 1.0 / 2.0);
        assert_eq!(majority_baseline_accuracy(&[], 2), 0.0);
    }

    #[test]
    fn confusion_matrix_add_and_rows_round_trip() {
        let mut cm = ConfusionMatrix::new(2);
        cm.add(0, 1);
        cm.add(0, 1);
        cm.add(1, 1);
        assert_eq!(cm.rows(), vec![vec![0, 2], vec![0, 1]]);
        let back = ConfusionMatrix::try_from(Vec::<Vec<u64>>::from(cm.clone())).unwrap();
        assert_eq!(back, cm);
        assert!(ConfusionMatrix::try_from(vec![vec![1, 2], vec![3]]).is_err());
        assert_eq!(ConfusionMatrix::new(0).rows(), Vec::<Vec<u64>>::new());
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn class_index_out_of_range_panics() {
        ConfusionMatrix::from_predictions(&[0, 3], &[0, 1], 3);
    }

    #[test]
    #[should_panic(expected = "2 true labels but 1 predictions")]
    fn length_mismatch_panics() {
        ConfusionMatrix::from_predictions(&[0, 1], &[0], 3);
    }
}
