//! Distillation through `optimize`: a smaller student trained on the teacher's soft targets,
//! reported next to the same student trained from scratch.

use crate::{PARENT_REF, THREADS, accuracy, digits};
use aiaas_optimize::optimize;
use aiaas_train::Silent;
use aiaas_types::{DistillRecipe, Recipe};

#[test]
fn a_small_student_is_reported_against_the_same_student_from_scratch() {
    let f = digits();
    let recipe = Recipe::Distill(DistillRecipe {
        hidden: vec![8],
        temperature: 4.0,
        alpha: 0.7,
        epochs: Some(6),
        seed: Some(3),
    });
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
    let layers = v.bundle.network.layers();
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0].outputs, 8);
    assert_eq!(layers[0].inputs, 64);
    assert_eq!(layers[1].outputs, 10);
    let lineage = &v.bundle.manifest.lineage;
    assert_eq!(lineage.spec.model.hidden, vec![8]);
    assert_eq!(lineage.spec.epochs, 6);
    assert_eq!(lineage.spec.seed, 3);
    assert_eq!(lineage.parent.as_deref(), Some(PARENT_REF));

    let r = &v.report;
    let scratch = r
        .scratch
        .as_ref()
        .expect("distillation reports a scratch run");
    let (student, from_scratch) = (accuracy(&r.variant), accuracy(scratch));
    assert!(student > 0.5, "student accuracy {student}");
    assert!((0.0..=1.0).contains(&from_scratch), "{from_scratch}");
    assert_eq!(scratch.params, r.variant.params, "the same student shape");
    assert!(
        r.variant.params < r.parent.params,
        "{} params vs the teacher's {}",
        r.variant.params,
        r.parent.params
    );
    assert!(r.variant.size_bytes < r.parent.size_bytes);
    assert_eq!(lineage.optimization.as_ref(), Some(r));
}
