//! The `max_drop` guard: a variant that loses too much is measured and refused, and a guard
//! that is not a number >= 0 is an error.

use crate::{PARENT_REF, THREADS, accuracy, digits};
use aiaas_optimize::optimize;
use aiaas_train::Silent;
use aiaas_types::{PruneRecipe, PruneScope, QuantScheme, QuantizeRecipe, Recipe};

#[test]
fn a_variant_beyond_the_allowed_drop_is_refused() {
    let f = digits();
    let recipe = Recipe::Prune(PruneRecipe {
        sparsity: 0.99,
        structured: false,
        scope: PruneScope::Layer,
        epochs: 0,
    });
    let v = optimize(
        &f.parent,
        PARENT_REF,
        &f.ds,
        &recipe,
        Some(0.0),
        THREADS,
        &mut Silent,
    )
    .unwrap();
    let r = &v.report;
    assert!(
        accuracy(&r.variant) < accuracy(&r.parent),
        "{} vs {}",
        accuracy(&r.variant),
        accuracy(&r.parent)
    );
    assert!(!r.accepted, "{}", r.verdict);
    assert!(r.verdict.contains("beyond"), "{}", r.verdict);
    assert_eq!(r.max_drop, 0.0);
}

#[test]
fn a_guard_that_is_not_a_number_at_least_zero_is_an_error() {
    let f = digits();
    let recipe = Recipe::Quantize(QuantizeRecipe {
        scheme: QuantScheme::F16,
    });
    for bad in [f64::NAN, -1.0, f64::INFINITY] {
        let err = optimize(
            &f.parent,
            PARENT_REF,
            &f.ds,
            &recipe,
            Some(bad),
            THREADS,
            &mut Silent,
        )
        .unwrap_err();
        assert!(err.to_string().contains("max_drop"), "{bad}: {err}");
    }
}
