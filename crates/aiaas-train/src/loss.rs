//! Training losses and their gradients with respect to the model's logits, averaged over the
//! batch like PyTorch's `reduction="mean"`. Cross-entropies take logits and stay finite for any
//! logit (log-sum-exp / softplus forms). Knowledge distillation's soft-target loss lives here
//! too, for training a student against a teacher's logits.

use aiaas_engine::sigmoid;
use aiaas_types::LossKind;

/// Mean loss over `rows` rows of `outputs` (`rows x cols`), writing dLoss/d(outputs) into `grad`.
///
/// `targets` holds one value per row: the (scaled) target for `mse`, 0 or 1 for `bce` (one logit
/// per row), the class index for `cross_entropy`.
pub fn loss_and_grad(
    kind: LossKind,
    outputs: &[f32],
    targets: &[f32],
    cols: usize,
    grad: &mut [f32],
) -> f64 {
    let rows = targets.len();
    debug_assert_eq!(outputs.len(), rows * cols);
    debug_assert_eq!(grad.len(), outputs.len());
    if rows == 0 {
        return 0.0;
    }
    let mut total = 0.0f64;
    match kind {
        LossKind::Mse => {
            let scale = 2.0 / (rows * cols) as f32;
            for ((o, g), y) in outputs
                .chunks_exact(cols)
                .zip(grad.chunks_exact_mut(cols))
                .zip(targets)
            {
                for (o, g) in o.iter().zip(g) {
                    let d = o - y;
                    total += (d * d) as f64;
                    *g = scale * d;
                }
            }
            total / cols as f64 / rows as f64
        }
        LossKind::Bce => {
            let scale = 1.0 / rows as f32;
            for ((&z, g), &y) in outputs.iter().zip(grad.iter_mut()).zip(targets) {
                // max(z, 0) - z*y + ln(1 + e^-|z|): softplus form, finite for any z.
                total += (z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()) as f64;
                *g = scale * (sigmoid(z) - y);
            }
            total / rows as f64
        }
        LossKind::CrossEntropy => {
            let scale = 1.0 / rows as f32;
            for ((z, g), &y) in outputs
                .chunks_exact(cols)
                .zip(grad.chunks_exact_mut(cols))
                .zip(targets)
            {
                let class = y as usize;
                let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0f32;
                for (g, &zi) in g.iter_mut().zip(z) {
                    *g = (zi - max).exp();
                    sum += *g;
                }
                total += (max + sum.ln() - z[class]) as f64;
                let inv = scale / sum;
                g.iter_mut().for_each(|g| *g *= inv);
                g[class] -= scale;
            }
            total / rows as f64
        }
    }
}

/// Knowledge-distillation loss (Hinton et al. 2015) averaged over rows, writing dLoss/d(student)
/// into `grad`: `alpha * T² * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) *
/// CE(student, label)`, the KL term as PyTorch's
/// `kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean")`.
///
/// `student` and `teacher` are `rows x cols` logits, `labels` one class index per row. The
/// gradient is `alpha * T * (softmax(s/T) - softmax(t/T)) / rows + (1 - alpha) * (softmax(s) -
/// onehot) / rows`. Worked in f64 from max-subtracted logits, so it stays finite for any finite
/// logits and any finite `temperature > 0`.
pub fn distill_loss_and_grad(
    student: &[f32],
    teacher: &[f32],
    labels: &[f32],
    cols: usize,
    temperature: f32,
    alpha: f32,
    grad: &mut [f32],
) -> f64 {
    let rows = labels.len();
    debug_assert_eq!(student.len(), rows * cols);
    debug_assert_eq!(teacher.len(), rows * cols);
    debug_assert_eq!(grad.len(), student.len());
    if rows == 0 {
        return 0.0;
    }
    let t = f64::from(temperature);
    let a = f64::from(alpha);
    let n = rows as f64;
    let max = |z: &[f32]| f64::from(z.iter().copied().fold(f32::NEG_INFINITY, f32::max));
    let mut total = 0.0f64;
    for (((s, te), g), &y) in student
        .chunks_exact(cols)
        .zip(teacher.chunks_exact(cols))
        .zip(grad.chunks_exact_mut(cols))
        .zip(labels)
    {
        let (max_s, max_t) = (max(s), max(te));
        let (mut sum_st, mut sum_tt, mut sum_s) = (0.0f64, 0.0f64, 0.0f64);
        for (&si, &ti) in s.iter().zip(te) {
            let ds = f64::from(si) - max_s;
            sum_st += (ds / t).exp();
            sum_tt += ((f64::from(ti) - max_t) / t).exp();
            sum_s += ds.exp();
        }
        let (ln_st, ln_tt, ln_s) = (sum_st.ln(), sum_tt.ln(), sum_s.ln());
        let mut kl = 0.0f64;
        for ((gi, &si), &ti) in g.iter_mut().zip(s).zip(te) {
            let ds = f64::from(si) - max_s;
            let log_ps = ds / t - ln_st;
            let log_pt = (f64::from(ti) - max_t) / t - ln_tt;
            let pt = log_pt.exp();
            // Both logs are finite, so a teacher probability that underflows to 0 adds 0
            // (PyTorch's 0 · log 0 = 0).
            kl += pt * (log_pt - log_ps);
            let soft = a * t * (log_ps.exp() - pt);
            let hard = (1.0 - a) * (ds - ln_s).exp();
            *gi = ((soft + hard) / n) as f32;
        }
        let class = y as usize;
        let ce = ln_s - (f64::from(s[class]) - max_s);
        g[class] -= ((1.0 - a) / n) as f32;
        total += a * t * t * kl + (1.0 - a) * ce;
    }
    total / n
}

/// Mean loss only, for evaluation; `scratch` is reused as the unused gradient.
pub fn loss(
    kind: LossKind,
    outputs: &[f32],
    targets: &[f32],
    cols: usize,
    scratch: &mut Vec<f32>,
) -> f64 {
    scratch.resize(outputs.len(), 0.0);
    loss_and_grad(kind, outputs, targets, cols, scratch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mse_is_the_mean_squared_error_and_its_gradient() {
        let mut g = [0.0; 2];
        let l = loss_and_grad(LossKind::Mse, &[1.0, 4.0], &[0.0, 2.0], 1, &mut g);
        assert!((l - 2.5).abs() < 1e-12); // (1 + 4) / 2
        assert_eq!(g, [1.0, 2.0]); // 2 (o - y) / 2
    }

    #[test]
    fn bce_matches_hand_values_and_survives_huge_logits() {
        let mut g = [0.0; 2];
        let l = loss_and_grad(LossKind::Bce, &[0.0, 0.0], &[1.0, 0.0], 1, &mut g);
        assert!((l - std::f64::consts::LN_2).abs() < 1e-7);
        assert_eq!(g, [-0.25, 0.25]); // (0.5 - y) / 2
        let l = loss_and_grad(LossKind::Bce, &[100.0, -100.0], &[0.0, 1.0], 1, &mut g);
        assert!((l - 100.0).abs() < 1e-4, "{l}");
        assert!(l.is_finite());
    }

    #[test]
    fn cross_entropy_matches_hand_values_and_survives_huge_logits() {
        let mut g = [0.0; 3];
        // logits (0, ln 2, 0): softmax (1/4, 1/2, 1/4); class 1 -> loss ln 2.
        let l = loss_and_grad(
            LossKind::CrossEntropy,
            &[0.0, 2f32.ln(), 0.0],
            &[1.0],
            3,
            &mut g,
        );
        assert!((l - std::f64::consts::LN_2).abs() < 1e-6);
        for (got, want) in g.iter().zip([0.25, -0.5, 0.25]) {
            assert!((got - want).abs() < 1e-6);
        }
        let l = loss_and_grad(
            LossKind::CrossEntropy,
            &[1000.0, 0.0, -1000.0],
            &[2.0],
            3,
            &mut g,
        );
        assert!((l - 2000.0).abs() < 1e-2, "{l}");
        assert!(g.iter().all(|g| g.is_finite()));
    }

    /// The loss in plain f64 from the definition (log-softmax by log-sum-exp), outside the
    /// implementation, for finite differences.
    fn reference(
        s: &[f64],
        t: &[f64],
        labels: &[usize],
        cols: usize,
        temp: f64,
        alpha: f64,
    ) -> f64 {
        let log_softmax = |z: &[f64], temp: f64| -> Vec<f64> {
            let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = z.iter().map(|v| ((v - m) / temp).exp()).sum::<f64>().ln();
            z.iter().map(|v| (v - m) / temp - lse).collect()
        };
        let rows = labels.len();
        let mut total = 0.0;
        for r in 0..rows {
            let (s, t) = (&s[r * cols..(r + 1) * cols], &t[r * cols..(r + 1) * cols]);
            let (ls, lt) = (log_softmax(s, temp), log_softmax(t, temp));
            let kl: f64 = lt
                .iter()
                .zip(&ls)
                .map(|(lt, ls)| lt.exp() * (lt - ls))
                .sum();
            let ce = -log_softmax(s, 1.0)[labels[r]];
            total += alpha * temp * temp * kl + (1.0 - alpha) * ce;
        }
        total / rows as f64
    }

    #[test]
    fn distillation_without_the_teacher_is_cross_entropy() {
        let student = [0.3, -1.2, 2.0, 0.7, 0.0, -0.4];
        let teacher = [5.0, 1.0, -3.0, 0.0, 2.0, 9.0];
        let labels = [2.0, 0.0];
        let (mut g, mut want_g) = ([0.0; 6], [0.0; 6]);
        let l = distill_loss_and_grad(&student, &teacher, &labels, 3, 3.0, 0.0, &mut g);
        let want = loss_and_grad(LossKind::CrossEntropy, &student, &labels, 3, &mut want_g);
        assert!((l - want).abs() < 1e-6, "{l} vs {want}");
        for (got, want) in g.iter().zip(want_g) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    #[test]
    fn a_student_equal_to_its_teacher_has_no_distillation_loss() {
        let logits = [0.3, -1.2, 2.0, 40.0, 0.0, -40.0];
        let mut g = [1.0; 6];
        let l = distill_loss_and_grad(&logits, &logits, &[2.0, 0.0], 3, 4.0, 1.0, &mut g);
        assert!(l.abs() < 1e-12, "{l}");
        assert!(g.iter().all(|&g| g == 0.0), "{g:?}");
    }

    #[test]
    fn distillation_matches_a_hand_worked_two_class_example() {
        // T = 2, alpha = 1/2, label 0. Student (0, 0): softmax(s/T) = softmax(s) = (1/2, 1/2).
        // Teacher (2 ln 3, 0): t/T = (ln 3, 0), softmax = (3/4, 1/4).
        // KL = 3/4 ln(3/2) + 1/4 ln(1/2); T² KL = 3 ln(3/2) - ln 2; CE = ln 2.
        // Loss = 1/2 (3 ln(3/2) - ln 2) + 1/2 ln 2 = 3/2 ln(3/2) ≈ 0.608198.
        // Grad = 1/2 · 2 · ((1/2, 1/2) - (3/4, 1/4)) + 1/2 · ((1/2, 1/2) - (1, 0)) = (-1/2, 1/2).
        let mut g = [0.0; 2];
        let teacher = [2.0 * 3f32.ln(), 0.0];
        let l = distill_loss_and_grad(&[0.0, 0.0], &teacher, &[0.0], 2, 2.0, 0.5, &mut g);
        assert!((l - 1.5 * 1.5f64.ln()).abs() < 1e-6, "{l}");
        for (got, want) in g.iter().zip([-0.5, 0.5]) {
            assert!((got - want).abs() < 1e-6, "{g:?}");
        }
    }

    #[test]
    fn distillation_gradient_matches_finite_differences() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (rows, cols, temp, alpha) = (5, 4, 4.0, 0.7);
        let student: Vec<f32> = (0..rows * cols)
            .map(|_| rng.random_range(-3.0..3.0))
            .collect();
        let teacher: Vec<f32> = (0..rows * cols)
            .map(|_| rng.random_range(-6.0..6.0))
            .collect();
        let labels: Vec<usize> = (0..rows).map(|_| rng.random_range(0..cols)).collect();
        let labels_f: Vec<f32> = labels.iter().map(|&c| c as f32).collect();
        let mut g = vec![0.0; rows * cols];
        let l = distill_loss_and_grad(&student, &teacher, &labels_f, cols, temp, alpha, &mut g);
        let s64: Vec<f64> = student.iter().map(|&v| v as f64).collect();
        let t64: Vec<f64> = teacher.iter().map(|&v| v as f64).collect();
        let (temp, alpha) = (temp as f64, alpha as f64);
        let want = reference(&s64, &t64, &labels, cols, temp, alpha);
        assert!((l - want).abs() < 1e-9, "{l} vs {want}");
        let h = 1e-5;
        for i in 0..rows * cols {
            let (mut up, mut down) = (s64.clone(), s64.clone());
            up[i] += h;
            down[i] -= h;
            let fd = (reference(&up, &t64, &labels, cols, temp, alpha)
                - reference(&down, &t64, &labels, cols, temp, alpha))
                / (2.0 * h);
            assert!(
                (g[i] as f64 - fd).abs() < 1e-6,
                "param {i}: {} vs {fd}",
                g[i]
            );
        }
    }

    #[test]
    fn distillation_survives_huge_logits_and_temperatures() {
        let student = [f32::MAX, 0.0, -f32::MAX];
        let teacher = [-f32::MAX, f32::MAX, 0.0];
        let mut g = [0.0; 3];
        for temp in [1e-30, 1.0, 1e30] {
            let l = distill_loss_and_grad(&student, &teacher, &[2.0], 3, temp, 0.5, &mut g);
            assert!(l.is_finite(), "T = {temp}: {l}");
            assert!(g.iter().all(|g| g.is_finite()), "T = {temp}: {g:?}");
        }
    }
}
