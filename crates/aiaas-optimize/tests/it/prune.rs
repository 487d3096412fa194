//! Pruning through `optimize`: unstructured masks survive fine-tuning and the sparse bundle
//! shrinks with sparsity; structured pruning really removes neurons and, without fine-tuning,
//! computes exactly what the parent computes with those neurons silenced.

use crate::{PARENT_REF, THREADS, accuracy, digits, prepared, round_trip};
use aiaas_artifact::{Layout, WeightDtype};
use aiaas_engine::{Mlp, Network};
use aiaas_optimize::{magnitude_mask, optimize, prune_neurons};
use aiaas_train::Silent;
use aiaas_types::{PruneRecipe, PruneScope, Recipe};

fn prune(sparsity: f64, structured: bool, epochs: usize) -> Recipe {
    Recipe::Prune(PruneRecipe {
        sparsity,
        structured,
        scope: PruneScope::Layer,
        epochs,
    })
}

#[test]
fn unstructured_pruning_keeps_masked_weights_zero_through_fine_tuning() {
    let f = digits();
    let recipe = prune(0.5, false, 2);
    // A generous guard: this test is about the variant, not the verdict.
    let v = optimize(
        &f.parent,
        PARENT_REF,
        &f.ds,
        &recipe,
        Some(1.0),
        THREADS,
        &mut Silent,
    )
    .unwrap();

    let parent = f.parent.network.to_f32();
    let mask = magnitude_mask(&parent, 0.5, PruneScope::Layer).unwrap();
    let Network::F32(mlp) = &v.bundle.network else {
        panic!("a pruned model stays f32")
    };
    assert_eq!(mlp.layers(), parent.layers());
    // Every weight the mask removed is still exactly zero after two epochs of fine-tuning.
    for (i, (&p, &keep)) in mlp.params().iter().zip(mask.keep()).enumerate() {
        if !keep {
            assert_eq!(p, 0.0, "masked parameter {i} came back to life");
        }
    }
    for l in 0..mlp.layers().len() {
        let w = mlp.weight(l);
        let zeros = w.iter().filter(|&&x| x == 0.0).count();
        assert!(
            zeros >= w.len() / 2,
            "layer {l}: {zeros} zeros of {}, want at least floor(0.5 * n)",
            w.len()
        );
    }
    // Fine-tuning did train the weights that were kept.
    let moved = mlp
        .params()
        .iter()
        .zip(parent.params())
        .zip(mask.keep())
        .filter(|((a, b), keep)| **keep && a != b)
        .count();
    assert!(moved > 0, "fine-tuning changed no kept weight");

    // At half sparsity, sparse storage (8 bytes per kept weight) would not be smaller than dense.
    let weights = &v.bundle.manifest.weights;
    assert_eq!(weights.layout, Layout::Dense);
    assert_eq!(weights.dtype, WeightDtype::F32);

    let r = &v.report;
    assert_eq!(r.recipe, recipe);
    assert_eq!(r.parent_ref, PARENT_REF);
    assert_eq!(r.max_drop, 1.0);
    assert!(r.accepted, "{}", r.verdict);
    assert_eq!(r.variant.params, r.parent.params);
    assert!(
        r.variant.nonzero < r.parent.nonzero,
        "{} nonzero vs the parent's {}",
        r.variant.nonzero,
        r.parent.nonzero
    );
    // Biases are never pruned: at most the weights' half is gone.
    assert!(r.variant.nonzero <= r.parent.params - mask.masked());
    for figures in [&r.parent, &r.variant] {
        assert!((0.0..=1.0).contains(&accuracy(figures)), "{figures:?}");
        assert!(figures.f1_macro.is_some(), "{figures:?}");
        assert!(figures.rmse.is_none(), "{figures:?}");
        assert!(figures.latency_ms_batch1 > 0.0, "{figures:?}");
        assert!(figures.latency_ms_batch64 > 0.0, "{figures:?}");
    }
    assert!(r.scratch.is_none());
    // Stored dense, like the parent.
    assert!(
        r.variant.size_bytes <= r.parent.size_bytes,
        "{} bytes vs the parent's {}",
        r.variant.size_bytes,
        r.parent.size_bytes
    );

    let lineage = &v.bundle.manifest.lineage;
    assert_eq!(lineage.parent.as_deref(), Some(PARENT_REF));
    assert_eq!(lineage.optimization.as_ref(), Some(r));
    assert_eq!(lineage.dataset, f.parent.manifest.lineage.dataset);
    assert_eq!(lineage.spec.epochs, 2);
    assert_eq!(lineage.epochs_run, 2);
    let test = lineage.metrics["test"].headline();
    assert!((test - accuracy(&r.variant)).abs() < 1e-12, "{test}");

    // What is stored is what was measured.
    let again = round_trip(&v.bundle);
    assert_eq!(again.network, v.bundle.network);
    assert_eq!(again.manifest.weights.layout, Layout::Dense);
}

#[test]
fn sparse_storage_shrinks_the_file_beyond_half_sparsity() {
    let f = digits();
    let v = optimize(
        &f.parent,
        PARENT_REF,
        &f.ds,
        &prune(0.8, false, 0),
        Some(1.0),
        THREADS,
        &mut Silent,
    )
    .unwrap();
    let r = &v.report;
    // 8 bytes for each of the 20% of weights kept: about 0.4 of the dense file.
    let ratio = r.variant.size_bytes as f64 / r.parent.size_bytes as f64;
    assert!(ratio < 0.5, "sparse file is {ratio:.3} of the dense one");
    assert!(r.variant.nonzero < r.parent.nonzero);
}

#[test]
fn structured_pruning_equals_the_parent_with_those_neurons_silenced() {
    let f = digits();
    let v = optimize(
        &f.parent,
        PARENT_REF,
        &f.ds,
        &prune(0.5, true, 0),
        Some(1.0),
        THREADS,
        &mut Silent,
    )
    .unwrap();
    let parent = f.parent.network.to_f32();
    let (_, kept) = prune_neurons(&parent, 0.5).unwrap();

    let widths = |layers: &[aiaas_types::LayerSpec]| -> Vec<usize> {
        layers[..layers.len() - 1]
            .iter()
            .map(|l| l.outputs)
            .collect()
    };
    let before = widths(parent.layers());
    let after = widths(v.bundle.network.layers());
    let halved: Vec<usize> = before
        .iter()
        .map(|&w| w - (0.5 * w as f64).round() as usize)
        .collect();
    assert_eq!(after, halved);
    assert_eq!(after, vec![64]);
    assert_eq!(v.bundle.manifest.lineage.spec.model.hidden, after);
    assert_eq!(v.bundle.manifest.weights.layout, Layout::Dense);

    // The parent with the removed neurons' rows and biases zeroed: a ReLU neuron with zero
    // weights and bias outputs 0, so the next layer sees exactly what the pruned model feeds it.
    let mut params = parent.params().to_vec();
    for (l, keep) in kept.iter().enumerate() {
        let range = parent.weight_range(l);
        let inputs = parent.layers()[l].inputs;
        let width = parent.layers()[l].outputs;
        for j in (0..width).filter(|j| !keep.contains(j)) {
            params[range.start + j * inputs..range.start + (j + 1) * inputs].fill(0.0);
            // The bias vector follows the weight matrix.
            params[range.end + j] = 0.0;
        }
    }
    let silenced = Mlp::from_params(parent.layers().to_vec(), params).unwrap();
    let data = prepared(f);
    let rows = data.test.rows;
    assert!(rows > 0);
    let want = silenced.predict(&data.test.x, rows, 1);
    let got = v.bundle.network.predict(&data.test.x, rows, 1);
    assert_eq!(want.len(), got.len());
    // Same sums over fewer (all-zero) terms; only the summation order may differ.
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
            "logit {i}: pruned {a} vs silenced parent {b}"
        );
    }

    let r = &v.report;
    assert!(
        r.variant.params < r.parent.params,
        "{} params vs the parent's {}",
        r.variant.params,
        r.parent.params
    );
    assert_eq!(r.variant.params, v.bundle.network.param_count());
    assert!(r.variant.size_bytes < r.parent.size_bytes);
    assert_eq!(
        round_trip(&v.bundle).network,
        v.bundle.network,
        "the smaller model loads back as measured"
    );
}
