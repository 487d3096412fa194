//! Element-wise activations with their derivatives, and row-wise (log-)softmax.
//!
//! Derivatives are taken from the activation's *output*, so a forward pass keeps one buffer per
//! layer and the backward pass needs nothing else.

use aiaas_types::Activation;

/// Numerically stable logistic function.
#[inline]
pub fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Apply `act` in place.
pub fn activate(act: Activation, values: &mut [f32]) {
    match act {
        Activation::Identity => {}
        Activation::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::Tanh => values.iter_mut().for_each(|v| *v = v.tanh()),
        Activation::Sigmoid => values.iter_mut().for_each(|v| *v = sigmoid(*v)),
    }
}

/// Turn `grad` (dL/d output) into dL/d input of the activation, given its `output`.
pub fn activation_backward(act: Activation, output: &[f32], grad: &mut [f32]) {
    debug_assert_eq!(output.len(), grad.len());
    match act {
        Activation::Identity => {}
        Activation::Relu => grad.iter_mut().zip(output).for_each(|(g, &a)| {
            if a <= 0.0 {
                *g = 0.0;
            }
        }),
        Activation::Tanh => grad
            .iter_mut()
            .zip(output)
            .for_each(|(g, &a)| *g *= 1.0 - a * a),
        Activation::Sigmoid => grad
            .iter_mut()
            .zip(output)
            .for_each(|(g, &a)| *g *= a * (1.0 - a)),
    }
}

/// Replace each row of `values` (`cols` wide) by its softmax, shifted by the row maximum so that
/// large logits cannot overflow.
pub fn softmax_rows(values: &mut [f32], cols: usize) {
    for row in values.chunks_exact_mut(cols) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        let inv = 1.0 / sum;
        row.iter_mut().for_each(|v| *v *= inv);
    }
}

/// Replace each row of `values` by its log-softmax (log-sum-exp stable).
pub fn log_softmax_rows(values: &mut [f32], cols: usize) {
    for row in values.chunks_exact_mut(cols) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
        row.iter_mut().for_each(|v| *v -= lse);
    }
}

/// Class probabilities from logits, `rows x max(cols, 2)`: softmax over `cols` classes, or for a
/// binary model with one logit per row, `[1 - σ(z), σ(z)]`.
pub fn class_probabilities(logits: &[f32], cols: usize) -> Vec<f32> {
    if cols == 1 {
        logits
            .iter()
            .flat_map(|&z| {
                let p = sigmoid(z);
                [1.0 - p, p]
            })
            .collect()
    } else {
        let mut probs = logits.to_vec();
        softmax_rows(&mut probs, cols);
        probs
    }
}

/// Index of the largest value of each `cols`-wide row (the first on ties).
pub fn argmax_rows(values: &[f32], cols: usize) -> Vec<usize> {
    values
        .chunks_exact(cols)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                    if v > best.1 { (i, v) } else { best }
                })
                .0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_is_stable_at_the_extremes() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert!((sigmoid(2.0) - 0.880_797_1).abs() < 1e-6);
    }

    #[test]
    fn softmax_of_huge_logits_is_finite_and_sums_to_one() {
        let mut v = vec![1000.0, 1001.0, 1002.0, 0.0, 0.0, 0.0];
        softmax_rows(&mut v, 3);
        // exp(-2), exp(-1), 1 normalised.
        let s = 1.0 + (-1.0f32).exp() + (-2.0f32).exp();
        assert!((v[2] - 1.0 / s).abs() < 1e-6);
        assert!((v[0] - (-2.0f32).exp() / s).abs() < 1e-6);
        assert!(v[3..].iter().all(|p| (p - 1.0 / 3.0).abs() < 1e-6));
    }

    #[test]
    fn log_softmax_matches_ln_of_softmax() {
        let mut a = vec![0.5, -3.0, 2.0, 80.0, 81.0, 79.0];
        let mut b = a.clone();
        log_softmax_rows(&mut a, 3);
        softmax_rows(&mut b, 3);
        for (l, p) in a.iter().zip(&b) {
            assert!((l - p.ln()).abs() < 1e-5);
        }
    }

    #[test]
    fn one_logit_means_a_binary_model() {
        let p = class_probabilities(&[0.0, 2.0], 1);
        assert_eq!(p[..2], [0.5, 0.5]);
        assert!((p[3] - sigmoid(2.0)).abs() < 1e-7);
        assert_eq!(argmax_rows(&p, 2), vec![0, 1]);
        assert_eq!(argmax_rows(&[1.0, 3.0, 3.0, 0.0], 4), vec![1]);
    }

    #[test]
    fn derivatives_come_from_outputs() {
        let out = [0.0, 2.0];
        let mut g = [1.0, 1.0];
        activation_backward(Activation::Relu, &out, &mut g);
        assert_eq!(g, [0.0, 1.0]);
        let out = [0.5f32];
        let mut g = [2.0f32];
        activation_backward(Activation::Tanh, &out, &mut g);
        assert_eq!(g, [1.5]);
        let mut g = [2.0f32];
        activation_backward(Activation::Sigmoid, &out, &mut g);
        assert_eq!(g, [0.5]);
    }
}
