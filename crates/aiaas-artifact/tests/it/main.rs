//! Bundles round-trip exactly, are written atomically, and are refused when tampered with.

use aiaas_artifact::{
    ArtifactError, Bundle, DatasetRef, FORMAT_VERSION, Lineage, MANIFEST_FILE, Manifest,
    WEIGHTS_FILE, WeightsInfo,
};
use aiaas_engine::{Mlp, stack};
use aiaas_types::{
    Activation, Feature, FeatureKind, LossKind, ModelKind, ModelSpec, OptimizerKind, OptimizerSpec,
    Schedule, Schema, SplitSpec, TargetSchema, Task, TrainSpec,
};
use std::collections::BTreeMap;

fn bundle() -> Bundle {
    let mlp = Mlp::new(stack(3, &[5], 2, Activation::Tanh), 9).unwrap();
    let schema = Schema {
        features: (0..3)
            .map(|i| Feature {
                name: format!("f{i}"),
                kind: FeatureKind::Numeric {
                    mean: i as f64,
                    scale: 2.0,
                },
            })
            .collect(),
        target: TargetSchema::Classification {
            name: "target".into(),
            labels: vec!["a".into(), "b".into()],
        },
    };
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        name: "tiny".into(),
        task: Task::Classification,
        layers: Vec::new(),
        schema,
        weights: WeightsInfo::default(),
        lineage: Lineage {
            dataset: DatasetRef {
                name: "tiny".into(),
                digest: "00".repeat(32),
                rows: 10,
            },
            job: None,
            spec: TrainSpec {
                model: ModelSpec {
                    kind: ModelKind::Mlp,
                    hidden: vec![5],
                    activation: Activation::Tanh,
                },
                loss: LossKind::CrossEntropy,
                optimizer: OptimizerSpec::defaults(OptimizerKind::Adam),
                schedule: Schedule::Constant,
                batch_size: 4,
                epochs: 1,
                patience: None,
                restore_best: true,
                seed: 1,
            },
            split: SplitSpec::default(),
            split_rows: BTreeMap::new(),
            epochs_run: 1,
            best_epoch: 1,
            metrics: BTreeMap::new(),
            parent: None,
            created_at_ms: 0,
        },
        profile: Vec::new(),
        files: BTreeMap::new(),
    };
    Bundle::new(manifest, mlp)
}

#[test]
fn a_written_bundle_predicts_exactly_what_the_model_in_memory_did() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model");
    let original = bundle();
    original.write(&path).unwrap();
    let loaded = Bundle::read(&path).unwrap();
    let x: Vec<f32> = (0..30).map(|i| i as f32 / 7.0 - 2.0).collect();
    assert_eq!(
        original.mlp.predict(&x, 10, 1),
        loaded.mlp.predict(&x, 10, 1)
    );
    assert_eq!(loaded.manifest.layers, original.mlp.layers());
    assert_eq!(loaded.manifest.schema, original.manifest.schema);
    assert!(loaded.manifest.files.contains_key(WEIGHTS_FILE));
}

#[test]
fn a_changed_weights_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model");
    bundle().write(&path).unwrap();
    let weights = path.join(WEIGHTS_FILE);
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&weights, bytes).unwrap();
    let err = Bundle::read(&path).unwrap_err();
    assert!(matches!(err, ArtifactError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(WEIGHTS_FILE));
}

#[test]
fn missing_files_and_non_bundles_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Bundle::read(dir.path()),
        Err(ArtifactError::NotABundle(_))
    ));
    let path = dir.path().join("model");
    bundle().write(&path).unwrap();
    std::fs::remove_file(path.join(WEIGHTS_FILE)).unwrap();
    assert!(matches!(
        Bundle::read(&path),
        Err(ArtifactError::MissingFile { .. })
    ));
}

#[test]
fn rewriting_replaces_a_bundle_but_never_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model");
    bundle().write(&path).unwrap();
    bundle().write(&path).unwrap();
    assert!(Bundle::read(&path).is_ok());
    // No staging or old copies left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("model")]);

    let other = dir.path().join("notes");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    assert!(matches!(
        bundle().write(&other),
        Err(ArtifactError::OutExists(_))
    ));
    assert_eq!(
        std::fs::read_to_string(other.join("keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn weights_of_the_wrong_shape_are_refused() {
    let b = bundle();
    let files = b.to_files().unwrap();
    let mut manifest: serde_json::Value = serde_json::from_slice(&files[1].1).unwrap();
    manifest["layers"][0]["outputs"] = 6.into();
    manifest["layers"][1]["inputs"] = 6.into();
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let err = Bundle::from_files(|f| {
        Ok(Some(if f == MANIFEST_FILE {
            manifest.clone()
        } else {
            files[0].1.clone()
        }))
    })
    .unwrap_err();
    assert!(err.to_string().contains("shape"), "{err}");
}
