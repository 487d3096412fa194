//! aiaas-optimize at the library level: every recipe from a trained parent bundle to a measured
//! variant, the guard, and the inputs it refuses. One digits parent (64-128-10, ReLU,
//! cross-entropy, with a test split) is trained once and shared by every test of the binary.

mod bad_input;
mod distill;
mod guard;
mod prune;
mod quantize;

use aiaas_artifact::{Bundle, DatasetRef};
use aiaas_data::Dataset;
use aiaas_train::{Prepared, Silent};
use aiaas_types::{Activation, LossKind, SplitSpec, TrainOptions};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// How the shared parent is named in lineage and reports.
pub const PARENT_REF: &str = "digits@1";
/// One thread everywhere: tests run in parallel already, and results stay reproducible.
pub const THREADS: usize = 1;

/// A parent bundle and the dataset it was trained on.
pub struct Fixture {
    pub ds: Dataset,
    pub parent: Bundle,
}

/// Digits 64-128-10 (ReLU, cross-entropy) trained for a few epochs with the default split
/// (10% validation, 20% test), shared by every test. 128 hidden units rather than fewer so that
/// the int8 scales and f32 biases (8 bytes per row) and the file header weigh little against
/// the weights, as in a real model.
pub fn digits() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ds = aiaas_data::load("digits", None, None).expect("the bundled digits sample");
        let parent = train(
            &ds,
            TrainOptions {
                hidden: Some(vec![128]),
                activation: Some(Activation::Relu),
                loss: Some(LossKind::CrossEntropy),
                epochs: Some(8),
                seed: Some(7),
                ..TrainOptions::default()
            },
            &SplitSpec::default(),
        );
        Fixture { ds, parent }
    })
}

/// Trains `ds` as `options` and `split` say and wraps the result as the CLI does.
pub fn train(ds: &Dataset, options: TrainOptions, split: &SplitSpec) -> Bundle {
    let spec = aiaas_train::resolve(&options, ds).expect("valid options");
    let Some(trained) =
        aiaas_train::train(ds, &spec, split, THREADS, &mut Silent, None).expect("trains")
    else {
        panic!("a silent observer never suspends");
    };
    let dataset = DatasetRef {
        name: ds.name.clone(),
        digest: ds.digest.clone(),
        rows: ds.rows,
    };
    trained.to_bundle(&ds.name, dataset, None)
}

/// The parent's split encoded with its schema, as `optimize` sees it.
pub fn prepared(f: &Fixture) -> Prepared {
    let m = &f.parent.manifest;
    aiaas_train::prepare(&f.ds, &m.lineage.split, &m.schema).expect("the parent's own data")
}

/// `bundle` written to its files and read back, as the registry and serving load it.
pub fn round_trip(bundle: &Bundle) -> Bundle {
    let files: BTreeMap<String, Vec<u8>> = bundle.to_files().unwrap().into_iter().collect();
    Bundle::from_files(|name| Ok(files.get(name).cloned())).unwrap()
}

/// Test accuracy recorded in a report's figures.
pub fn accuracy(figures: &aiaas_types::VariantFigures) -> f64 {
    figures.accuracy.expect("a classifier has an accuracy")
}
