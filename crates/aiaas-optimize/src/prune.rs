//! Pruning of MLPs: unstructured magnitude pruning expressed as a [`Mask`] over the flat
//! parameter buffer (so it can be re-applied after every fine-tuning step), and structured
//! pruning that drops whole hidden neurons and returns a genuinely smaller [`Mlp`].
//!
//! Biases are never pruned: they are few, and zeroing them buys no size or speed.

use crate::OptimizeError;
use aiaas_engine::Mlp;
use aiaas_types::{LayerSpec, PruneScope};

/// Which parameters of a model survive pruning, one flag per parameter in [`Mlp::params`] order.
/// Biases are always kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    keep: Vec<bool>,
    /// Number of weight (non-bias) parameters, the denominator of [`Mask::sparsity`].
    weights: usize,
}

impl Mask {
    /// One flag per parameter: `true` where the parameter is kept.
    pub fn keep(&self) -> &[bool] {
        &self.keep
    }

    /// Number of parameters the mask covers (the model's parameter count).
    pub fn len(&self) -> usize {
        self.keep.len()
    }

    /// Whether the mask covers no parameters at all.
    pub fn is_empty(&self) -> bool {
        self.keep.is_empty()
    }

    /// Number of weights the mask removes.
    pub fn masked(&self) -> usize {
        self.keep.iter().filter(|&&k| !k).count()
    }

    /// Zeroes every masked parameter of `params`; meant to run after each optimizer step while
    /// fine-tuning so that pruned weights stay zero.
    ///
    /// # Panics
    /// If `params` does not have one entry per mask flag (a mask of a different model).
    pub fn apply(&self, params: &mut [f32]) {
        assert_eq!(
            params.len(),
            self.keep.len(),
            "mask covers {} parameters, model has {}",
            self.keep.len(),
            params.len()
        );
        for (p, &keep) in params.iter_mut().zip(&self.keep) {
            if !keep {
                *p = 0.0;
            }
        }
    }

    /// Fraction of the model's weights (biases excluded) that the mask removes; 0 for a model
    /// without weights.
    pub fn sparsity(&self) -> f64 {
        if self.weights == 0 {
            0.0
        } else {
            self.masked() as f64 / self.weights as f64
        }
    }

    /// Number of nonzero entries of `params` (weights and biases), the size a sparse format
    /// would have to store.
    ///
    /// # Panics
    /// If `params` does not have one entry per mask flag.
    pub fn nonzero(&self, params: &[f32]) -> usize {
        assert_eq!(
            params.len(),
            self.keep.len(),
            "mask covers {} parameters, model has {}",
            self.keep.len(),
            params.len()
        );
        params.iter().filter(|&&p| p != 0.0).count()
    }
}

/// Clears `keep` for the `floor(sparsity * candidates.len())` candidates of smallest `|w|`,
/// ties broken by lower index first so the result is deterministic.
fn mask_smallest(params: &[f32], mut candidates: Vec<usize>, sparsity: f64, keep: &mut [bool]) {
    let count = (sparsity * candidates.len() as f64).floor() as usize;
    candidates
        .sort_unstable_by(|&a, &b| params[a].abs().total_cmp(&params[b].abs()).then(a.cmp(&b)));
    for &i in &candidates[..count] {
        keep[i] = false;
    }
}

/// Unstructured magnitude pruning: masks the `sparsity` fraction of weights with the smallest
/// `|w|`, per layer or over the whole model (`scope`). Exactly `floor(sparsity * n)` weights are
/// masked out of each group of `n`; ties at the threshold go by index. Biases are always kept.
///
/// The model is not modified: [`Mask::apply`] zeroes the masked weights.
///
/// # Errors
/// [`OptimizeError::InvalidSparsity`] unless `0 < sparsity < 1`.
pub fn magnitude_mask(mlp: &Mlp, sparsity: f64, scope: PruneScope) -> Result<Mask, OptimizeError> {
    // Written so that NaN fails too.
    if !(sparsity > 0.0 && sparsity < 1.0) {
        return Err(OptimizeError::InvalidSparsity(sparsity));
    }
    let params = mlp.params();
    let ranges: Vec<_> = (0..mlp.layers().len())
        .map(|l| mlp.weight_range(l))
        .collect();
    let mut keep = vec![true; params.len()];
    match scope {
        PruneScope::Layer => {
            for range in &ranges {
                mask_smallest(params, range.clone().collect(), sparsity, &mut keep);
            }
        }
        PruneScope::Global => {
            let all = ranges.iter().flat_map(|r| r.clone()).collect();
            mask_smallest(params, all, sparsity, &mut keep);
        }
    }
    Ok(Mask {
        keep,
        weights: ranges.iter().map(|r| r.len()).sum(),
    })
}

/// Structured pruning: in every hidden layer removes `round(fraction * width)` neurons (always
/// keeping at least one), those whose incoming weights (row of `W`) have the smallest L2 norm,
/// ties by index. A removed neuron loses its row of `W` and its bias, and the next layer loses
/// the matching column, so the returned model is really smaller. Output neurons are never
/// removed; a model without hidden layers comes back unchanged.
///
/// Returns the pruned model and, for each hidden layer, the indices of the neurons kept, in
/// increasing order (the pruned model's neuron `j` is the original neuron `kept[l][j]`).
///
/// # Errors
/// [`OptimizeError::InvalidFraction`] unless `0 < fraction < 1`.
pub fn prune_neurons(mlp: &Mlp, fraction: f64) -> Result<(Mlp, Vec<Vec<usize>>), OptimizeError> {
    // Written so that NaN fails too.
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(OptimizeError::InvalidFraction(fraction));
    }
    let layers = mlp.layers();
    let hidden = layers.len() - 1;
    let kept: Vec<Vec<usize>> = (0..hidden)
        .map(|l| {
            let width = layers[l].outputs;
            let remove = ((fraction * width as f64).round() as usize).min(width.saturating_sub(1));
            let w = mlp.weight(l);
            let inputs = layers[l].inputs;
            // f64 so that the ranking does not depend on f32 rounding of the sums.
            let norms: Vec<f64> = (0..width)
                .map(|j| {
                    w[j * inputs..(j + 1) * inputs]
                        .iter()
                        .map(|&v| f64::from(v) * f64::from(v))
                        .sum::<f64>()
                        .sqrt()
                })
                .collect();
            let mut order: Vec<usize> = (0..width).collect();
            order.sort_unstable_by(|&a, &b| norms[a].total_cmp(&norms[b]).then(a.cmp(&b)));
            let mut keep = order[remove..].to_vec();
            keep.sort_unstable();
            keep
        })
        .collect();

    let mut new_layers = Vec::with_capacity(layers.len());
    let mut params = Vec::new();
    for (l, layer) in layers.iter().enumerate() {
        let all_in: Vec<usize>;
        let ins: &[usize] = if l == 0 {
            all_in = (0..layer.inputs).collect();
            &all_in
        } else {
            &kept[l - 1]
        };
        let all_out: Vec<usize>;
        let outs: &[usize] = if l < hidden {
            &kept[l]
        } else {
            all_out = (0..layer.outputs).collect();
            &all_out
        };
        let w = mlp.weight(l);
        for &o in outs {
            params.extend(ins.iter().map(|&i| w[o * layer.inputs + i]));
        }
        let b = mlp.bias(l);
        params.extend(outs.iter().map(|&o| b[o]));
        new_layers.push(LayerSpec {
            inputs: ins.len(),
            outputs: outs.len(),
            activation: layer.activation,
        });
    }
    Ok((Mlp::from_params(new_layers, params)?, kept))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiaas_engine::stack;
    use aiaas_types::Activation;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// 3 -> 2 (relu) -> 1. Parameters: W0 at 0..6, b0 at 6..8, W1 at 8..10, b1 at 10.
    fn tiny() -> Mlp {
        let layers = stack(3, &[2], 1, Activation::Relu);
        #[rustfmt::skip]
        let params = vec![
            0.5, -0.1, 0.3,
            -0.2, 0.05, 0.4,
            0.001, -9.0,
            0.6, -0.7,
            0.0,
        ];
        Mlp::from_params(layers, params).unwrap()
    }

    fn masked_indices(mask: &Mask) -> Vec<usize> {
        (0..mask.len()).filter(|&i| !mask.keep()[i]).collect()
    }

    #[test]
    fn per_layer_masks_smallest_of_each_layer() {
        let mask = magnitude_mask(&tiny(), 0.5, PruneScope::Layer).unwrap();
        // Layer 0: |0.05|, |-0.1|, |-0.2| of six; layer 1: |0.6| of two.
        assert_eq!(masked_indices(&mask), vec![1, 3, 4, 8]);
        assert_eq!(mask.sparsity(), 0.5);
        assert_eq!(mask.len(), 11);
    }

    #[test]
    fn global_uses_one_threshold() {
        let mask = magnitude_mask(&tiny(), 0.5, PruneScope::Global).unwrap();
        // Four smallest of all eight weights: 0.05, 0.1, 0.2, 0.3, all in layer 0.
        assert_eq!(masked_indices(&mask), vec![1, 2, 3, 4]);
        assert_eq!(mask.sparsity(), 0.5);
    }

    #[test]
    fn counts_are_floored_per_group() {
        // Layer 0: floor(0.3 * 6) = 1; layer 1: floor(0.3 * 2) = 0.
        let mask = magnitude_mask(&tiny(), 0.3, PruneScope::Layer).unwrap();
        assert_eq!(masked_indices(&mask), vec![4]);
        assert_eq!(mask.sparsity(), 1.0 / 8.0);
        // Global: floor(0.3 * 8) = 2.
        let mask = magnitude_mask(&tiny(), 0.3, PruneScope::Global).unwrap();
        assert_eq!(masked_indices(&mask), vec![1, 4]);
        assert_eq!(mask.sparsity(), 2.0 / 8.0);
    }

    #[test]
    fn biases_never_masked() {
        // Bias 0.001 and 0.0 are the smallest magnitudes in the model, yet survive even at 99%.
        let mask = magnitude_mask(&tiny(), 0.99, PruneScope::Global).unwrap();
        assert!(mask.keep()[6] && mask.keep()[7] && mask.keep()[10]);
        // floor(0.99 * 8) = 7 weights masked: all but |-0.7|.
        assert_eq!(masked_indices(&mask), vec![0, 1, 2, 3, 4, 5, 8]);
    }

    #[test]
    fn ties_prune_exact_count_by_index() {
        let layers = stack(4, &[], 1, Activation::Identity);
        let mlp = Mlp::from_params(layers, vec![0.2, -0.2, 0.2, -0.2, 0.0]).unwrap();
        let mask = magnitude_mask(&mlp, 0.5, PruneScope::Layer).unwrap();
        assert_eq!(masked_indices(&mask), vec![0, 1]);
        let mask = magnitude_mask(&mlp, 0.75, PruneScope::Global).unwrap();
        assert_eq!(masked_indices(&mask), vec![0, 1, 2]);
    }

    #[test]
    fn invalid_sparsity_rejected() {
        for s in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
            for scope in [PruneScope::Layer, PruneScope::Global] {
                let err = magnitude_mask(&tiny(), s, scope).unwrap_err();
                assert!(matches!(err, OptimizeError::InvalidSparsity(_)), "{s}");
                assert!(err.to_string().contains("strictly between 0 and 1"));
            }
        }
    }

    #[test]
    fn apply_zeroes_exactly_masked_and_survives_updates() {
        let mut mlp = Mlp::new(stack(6, &[10, 7], 3, Activation::Relu), 11).unwrap();
        let before = mlp.params().to_vec();
        let mask = magnitude_mask(&mlp, 0.6, PruneScope::Global).unwrap();
        mask.apply(mlp.params_mut());
        for (i, (&p, &b)) in mlp.params().iter().zip(&before).enumerate() {
            if mask.keep()[i] {
                assert_eq!(p, b, "kept parameter {i} changed");
            } else {
                assert_eq!(p, 0.0, "masked parameter {i} not zeroed");
                assert_ne!(b, 0.0);
            }
        }
        let weights: usize = mlp.layers().iter().map(|l| l.inputs * l.outputs).sum();
        assert_eq!(mask.masked(), (0.6 * weights as f64).floor() as usize);
        assert_eq!(
            mask.nonzero(mlp.params()),
            mlp.param_count() - mask.masked()
        );

        // A fake optimizer step moves every parameter; re-applying restores the zeros only.
        for p in mlp.params_mut() {
            *p += 0.125;
        }
        mask.apply(mlp.params_mut());
        for (i, (&p, &b)) in mlp.params().iter().zip(&before).enumerate() {
            if mask.keep()[i] {
                assert_eq!(p, b + 0.125);
            } else {
                assert_eq!(p, 0.0);
            }
        }
    }

    #[test]
    #[should_panic(expected = "mask covers")]
    fn apply_rejects_other_model() {
        let mask = magnitude_mask(&tiny(), 0.5, PruneScope::Global).unwrap();
        mask.apply(&mut [0.0; 3]);
    }

    /// The dense model with every removed neuron silenced: incoming row and bias zeroed, and its
    /// column in the next layer zeroed.
    fn silenced(mlp: &Mlp, kept: &[Vec<usize>]) -> Mlp {
        let layers = mlp.layers().to_vec();
        let mut params = mlp.params().to_vec();
        let mut at = 0;
        for (l, layer) in layers.iter().enumerate() {
            let (n_in, n_out) = (layer.inputs, layer.outputs);
            for o in 0..n_out {
                for i in 0..n_in {
                    let out_removed = l < kept.len() && !kept[l].contains(&o);
                    let in_removed = l > 0 && !kept[l - 1].contains(&i);
                    if out_removed || in_removed {
                        params[at + o * n_in + i] = 0.0;
                    }
                }
                if l < kept.len() && !kept[l].contains(&o) {
                    params[at + n_out * n_in + o] = 0.0;
                }
            }
            at += n_out * (n_in + 1);
        }
        Mlp::from_params(layers, params).unwrap()
    }

    /// `count` multiples of 1/4 in `[-1, 1]`: with such weights and inputs every product and sum
    /// of a small ReLU network is exact in f32, so no summation order can change a result.
    fn dyadic(rng: &mut ChaCha8Rng, count: usize) -> Vec<f32> {
        (0..count)
            .map(|_| rng.random_range(-4i32..=4) as f32 / 4.0)
            .collect()
    }

    fn check_pruned_against_silenced(
        mlp: &Mlp,
        x: &[f32],
        rows: usize,
        compare: impl Fn(&[f32], &[f32]),
    ) {
        let (pruned, kept) = prune_neurons(mlp, 0.4).unwrap();
        let widths: Vec<(usize, usize)> = pruned
            .layers()
            .iter()
            .map(|l| (l.inputs, l.outputs))
            .collect();
        // round(0.4 * 8) = 3 removed, round(0.4 * 6) = 2 removed.
        assert_eq!(widths, vec![(5, 5), (5, 4), (4, 3)]);
        assert_eq!(kept.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 4]);
        assert_eq!(pruned.param_count(), 5 * 6 + 4 * 6 + 3 * 5);
        let got = pruned.predict(x, rows, 1);
        compare(&got, &silenced(mlp, &kept).predict(x, rows, 1));
        // Dropping those neurons changes the function: the comparison above is not vacuous.
        assert_ne!(got, mlp.predict(x, rows, 1));
    }

    #[test]
    fn pruned_model_equals_silenced_dense_model_exactly() {
        // Exact equality needs exact arithmetic: gemm's summation order depends on the inner
        // dimension, which pruning changes, so general weights differ in the last bits.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let layers = stack(5, &[8, 6], 3, Activation::Relu);
        let count = Mlp::new(layers.clone(), 0).unwrap().param_count();
        let mlp = Mlp::from_params(layers, dyadic(&mut rng, count)).unwrap();
        let rows = 17;
        let x = dyadic(&mut rng, rows * 5);
        check_pruned_against_silenced(&mlp, &x, rows, |a, b| assert_eq!(a, b));
    }

    #[test]
    fn pruned_model_matches_silenced_dense_model() {
        // Tolerance: a few f32 ulps of the logits (about 0.1 to 1 here), from summation order.
        const TOL: f32 = 1e-6;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for activation in [Activation::Relu, Activation::Tanh] {
            let mlp = Mlp::new(stack(5, &[8, 6], 3, activation), 42).unwrap();
            let rows = 17;
            let x: Vec<f32> = (0..rows * 5).map(|_| rng.random_range(-2.0..2.0)).collect();
            check_pruned_against_silenced(&mlp, &x, rows, |a, b| {
                assert_eq!(a.len(), b.len());
                for (i, (&p, &d)) in a.iter().zip(b).enumerate() {
                    assert!((p - d).abs() <= TOL, "{activation:?} logit {i}: {p} vs {d}");
                }
            });
        }
    }

    #[test]
    fn removes_neurons_with_smallest_incoming_norm() {
        let mlp = Mlp::new(stack(4, &[9, 7], 2, Activation::Relu), 3).unwrap();
        let (_, kept) = prune_neurons(&mlp, 0.5).unwrap();
        for (l, keep) in kept.iter().enumerate() {
            let inputs = mlp.layers()[l].inputs;
            let w = mlp.weight(l);
            let norm = |j: usize| -> f64 {
                w[j * inputs..(j + 1) * inputs]
                    .iter()
                    .map(|&v| f64::from(v).powi(2))
                    .sum()
            };
            let width = mlp.layers()[l].outputs;
            assert_eq!(keep.len(), width - (0.5 * width as f64).round() as usize);
            assert!(keep.windows(2).all(|p| p[0] < p[1]), "kept indices sorted");
            let min_kept = keep.iter().map(|&j| norm(j)).fold(f64::INFINITY, f64::min);
            for j in (0..width).filter(|j| !keep.contains(j)) {
                assert!(
                    norm(j) <= min_kept,
                    "layer {l}: removed {j} outweighs a kept neuron"
                );
            }
        }
    }

    #[test]
    fn hand_made_neuron_choice_and_weight_copy() {
        // 2 -> 3 (tanh) -> 2. Row norms of W0: 1, 0.1, 2 => fraction 0.5 removes round(1.5) = 2.
        let layers = stack(2, &[3], 2, Activation::Tanh);
        #[rustfmt::skip]
        let params = vec![
            0.6, 0.8,
            0.1, 0.0,
            0.0, -2.0,
            1.0, 2.0, 3.0,
            10.0, 11.0, 12.0,
            20.0, 21.0, 22.0,
            -1.0, -2.0,
        ];
        let mlp = Mlp::from_params(layers, params).unwrap();
        let (pruned, kept) = prune_neurons(&mlp, 0.5).unwrap();
        assert_eq!(kept, vec![vec![2]]);
        assert_eq!(pruned.params(), &[0.0, -2.0, 3.0, 12.0, 22.0, -1.0, -2.0]);
    }

    #[test]
    fn keeps_at_least_one_neuron_and_never_touches_outputs() {
        let mlp = Mlp::new(stack(3, &[2, 1], 4, Activation::Relu), 9).unwrap();
        let (pruned, kept) = prune_neurons(&mlp, 0.9).unwrap();
        let widths: Vec<usize> = pruned.layers().iter().map(|l| l.outputs).collect();
        assert_eq!(widths, vec![1, 1, 4]);
        assert_eq!(kept.len(), 2);

        let linear = Mlp::new(stack(3, &[], 2, Activation::Relu), 9).unwrap();
        let (same, kept) = prune_neurons(&linear, 0.5).unwrap();
        assert_eq!(same, linear);
        assert!(kept.is_empty());
    }

    #[test]
    fn invalid_fraction_rejected() {
        for f in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
            let err = prune_neurons(&tiny(), f).unwrap_err();
            assert!(matches!(err, OptimizeError::InvalidFraction(_)), "{f}");
            assert!(err.to_string().contains("strictly between 0 and 1"));
        }
    }
}
