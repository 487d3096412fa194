//! Training losses and their gradients with respect to the model's logits, averaged over the
//! batch like PyTorch's `reduction="mean"`. Cross-entropies take logits and stay finite for any
//! logit (log-sum-exp / softplus forms).

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
}
