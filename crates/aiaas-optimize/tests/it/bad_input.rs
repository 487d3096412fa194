//! Recipes and data `optimize` refuses before doing any work, each with a message that says why.

use crate::{PARENT_REF, THREADS, digits, train};
use aiaas_optimize::{OptimizeError, check_recipe, optimize};
use aiaas_train::Silent;
use aiaas_types::{DistillRecipe, PruneRecipe, PruneScope, Recipe, SplitSpec, TrainOptions};

fn refused(parent: &aiaas_artifact::Bundle, ds: &aiaas_data::Dataset, recipe: &Recipe) -> String {
    let err =
        optimize(parent, PARENT_REF, ds, recipe, None, THREADS, &mut Silent).expect_err("refused");
    err.to_string()
}

fn distill(hidden: Vec<usize>) -> Recipe {
    Recipe::Distill(DistillRecipe {
        hidden,
        temperature: 4.0,
        alpha: 0.7,
        epochs: Some(1),
        seed: None,
    })
}

#[test]
fn sparsity_must_be_strictly_between_zero_and_one() {
    let f = digits();
    for structured in [false, true] {
        for sparsity in [0.0, 1.0, 1.5, -0.5, f64::NAN] {
            let recipe = Recipe::Prune(PruneRecipe {
                sparsity,
                structured,
                scope: PruneScope::Global,
                epochs: 1,
            });
            let message = refused(&f.parent, &f.ds, &recipe);
            assert!(
                message.contains("strictly between 0 and 1"),
                "{sparsity} (structured {structured}): {message}"
            );
            let err = check_recipe(&f.parent, &recipe).unwrap_err();
            assert!(matches!(
                err,
                OptimizeError::InvalidSparsity(_) | OptimizeError::InvalidFraction(_)
            ));
        }
    }
}

#[test]
fn a_student_needs_a_classifier_teacher_and_units_in_every_layer() {
    let f = digits();
    let message = refused(&f.parent, &f.ds, &distill(vec![0]));
    assert!(message.contains("at least one unit"), "{message}");
    let message = refused(&f.parent, &f.ds, &distill(vec![8, 0]));
    assert!(message.contains("at least one unit"), "{message}");

    let diabetes = aiaas_data::load("diabetes", None, None).unwrap();
    let regression = train(
        &diabetes,
        TrainOptions {
            hidden: Some(vec![4]),
            epochs: Some(2),
            ..TrainOptions::default()
        },
        &SplitSpec::default(),
    );
    assert_eq!(regression.manifest.task, aiaas_types::Task::Regression);
    let message = refused(&regression, &diabetes, &distill(vec![2]));
    assert!(message.contains("classification"), "{message}");
}

#[test]
fn the_data_must_be_the_parents_own_with_a_test_split() {
    let f = digits();
    let recipe = Recipe::Quantize(Default::default());
    // The same rows with one more newline: other bytes, so another dataset as far as lineage
    // goes.
    let mut bytes = aiaas_data::samples::embedded_csv("digits")
        .unwrap()
        .to_vec();
    bytes.extend_from_slice(b"\n");
    let other = aiaas_data::read_csv_bytes("digits.csv", &bytes, None, None).unwrap();
    assert_ne!(other.digest, f.ds.digest);
    let message = refused(&f.parent, &other, &recipe);
    assert!(message.contains("not the one"), "{message}");
    let wine = aiaas_data::load("wine", None, None).unwrap();
    let message = refused(&f.parent, &wine, &recipe);
    assert!(message.contains("not the one"), "{message}");

    // A parent trained without a test split has nothing to be compared on.
    let iris = aiaas_data::load("iris", None, None).unwrap();
    let no_test = train(
        &iris,
        TrainOptions {
            hidden: Some(vec![4]),
            epochs: Some(2),
            ..TrainOptions::default()
        },
        &SplitSpec {
            val_fraction: 0.2,
            test_fraction: 0.0,
            seed: 1,
        },
    );
    let message = refused(&no_test, &iris, &recipe);
    assert!(message.contains("without a test split"), "{message}");
}
