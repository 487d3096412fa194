//! Quantization through `optimize`: int8 per channel runs on the int8 runtime at about a quarter
//! of the f32 size, f16 halves the file; neither can be applied twice.

use crate::{PARENT_REF, THREADS, accuracy, digits, round_trip};
use aiaas_artifact::{Layout, Quantization, WeightDtype};
use aiaas_engine::Network;
use aiaas_optimize::{check_recipe, optimize};
use aiaas_train::Silent;
use aiaas_types::{PruneRecipe, PruneScope, QuantScheme, QuantizeRecipe, Recipe};

fn quantize(scheme: QuantScheme) -> Recipe {
    Recipe::Quantize(QuantizeRecipe { scheme })
}

#[test]
fn int8_is_a_quarter_of_the_size_and_cannot_be_quantized_again() {
    let f = digits();
    let v = optimize(
        &f.parent,
        PARENT_REF,
        &f.ds,
        &quantize(QuantScheme::Int8),
        Some(0.05),
        THREADS,
        &mut Silent,
    )
    .unwrap();
    assert!(
        matches!(v.bundle.network, Network::Int8(_)),
        "int8 variant runs on the int8 runtime"
    );
    let weights = &v.bundle.manifest.weights;
    assert_eq!(weights.dtype, WeightDtype::Int8);
    assert_eq!(weights.quantization, Some(Quantization::Int8PerChannel));
    assert_eq!(weights.layout, Layout::Dense);

    let r = &v.report;
    let ratio = r.variant.size_bytes as f64 / r.parent.size_bytes as f64;
    assert!(ratio < 0.3, "int8 file is {ratio:.3} of the f32 one");
    assert_eq!(r.variant.params, r.parent.params);
    let (p, q) = (accuracy(&r.parent), accuracy(&r.variant));
    assert!((p - q).abs() <= 0.05, "accuracy {q} vs the parent's {p}");
    assert!(r.accepted, "{}", r.verdict);
    assert_eq!(
        v.bundle.manifest.lineage.optimization.as_ref(),
        Some(r),
        "the report travels in the manifest"
    );
    let again = round_trip(&v.bundle);
    assert_eq!(again.network, v.bundle.network);
    assert_eq!(again.manifest.weights.dtype, WeightDtype::Int8);

    // An int8 version is not quantized (nor pruned) again.
    for recipe in [
        quantize(QuantScheme::Int8),
        quantize(QuantScheme::F16),
        Recipe::Prune(PruneRecipe {
            sparsity: 0.5,
            structured: false,
            scope: PruneScope::Layer,
            epochs: 0,
        }),
    ] {
        let err = optimize(
            &v.bundle,
            "digits@2",
            &f.ds,
            &recipe,
            None,
            THREADS,
            &mut Silent,
        )
        .unwrap_err();
        assert!(err.to_string().contains("int8"), "{recipe:?}: {err}");
        assert!(check_recipe(&v.bundle, &recipe).is_err());
    }
    let err = optimize(
        &v.bundle,
        "digits@2",
        &f.ds,
        &quantize(QuantScheme::Int8),
        None,
        THREADS,
        &mut Silent,
    )
    .unwrap_err();
    assert!(err.to_string().contains("already"), "{err}");
}

#[test]
fn f16_halves_the_file_and_cannot_be_applied_twice() {
    let f = digits();
    let v = optimize(
        &f.parent,
        PARENT_REF,
        &f.ds,
        &quantize(QuantScheme::F16),
        None,
        THREADS,
        &mut Silent,
    )
    .unwrap();
    assert!(
        matches!(v.bundle.network, Network::F32(_)),
        "f16 computes in f32"
    );
    assert_eq!(v.bundle.manifest.weights.dtype, WeightDtype::F16);
    let r = &v.report;
    assert_eq!(r.max_drop, aiaas_types::DEFAULT_MAX_ACCURACY_DROP);
    let ratio = r.variant.size_bytes as f64 / r.parent.size_bytes as f64;
    assert!(ratio < 0.6, "f16 file is {ratio:.3} of the f32 one");
    let (p, q) = (accuracy(&r.parent), accuracy(&r.variant));
    assert!((p - q).abs() <= 0.01, "accuracy {q} vs the parent's {p}");
    // The variant is the parent rounded to f16 and nothing else.
    let parent = f.parent.network.to_f32();
    let rounded = v.bundle.network.to_f32();
    for (a, b) in parent.params().iter().zip(rounded.params()) {
        assert!((a - b).abs() <= a.abs() * 1e-3 + 1e-7, "{a} stored as {b}");
    }
    let again = round_trip(&v.bundle);
    assert_eq!(
        again.network, v.bundle.network,
        "f16 rounding is idempotent"
    );

    let err = optimize(
        &v.bundle,
        "digits@2",
        &f.ds,
        &quantize(QuantScheme::F16),
        None,
        THREADS,
        &mut Silent,
    )
    .unwrap_err();
    assert!(err.to_string().contains("already"), "{err}");
    // f16 to int8 is allowed: the int8 scales come from the (f16-rounded) f32 weights.
    check_recipe(&v.bundle, &quantize(QuantScheme::Int8)).unwrap();
}
