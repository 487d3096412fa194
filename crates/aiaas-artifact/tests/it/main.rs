//! Bundles round-trip exactly, are written atomically, and are refused when tampered with.

use aiaas_artifact::{
    ArtifactError, Bundle, DatasetRef, FORMAT_VERSION, Layout, Lineage, MANIFEST_FILE, Manifest,
    WEIGHTS_FILE, WeightDtype, WeightsInfo,
};
use aiaas_engine::{Mlp, Network, QuantizedMlp, stack};
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
            sweep: None,
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
            optimization: None,
            imported: None,
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
        original.network.predict(&x, 10, 1),
        loaded.network.predict(&x, 10, 1)
    );
    assert_eq!(loaded.manifest.layers, original.network.layers());
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

/// Size of the weights file of `b`.
fn weights_size(b: &Bundle) -> usize {
    b.to_files().unwrap()[0].1.len()
}

/// `b` written to files and read back.
fn round_trip(b: &Bundle) -> Bundle {
    let files = b.to_files().unwrap();
    Bundle::from_files(|f| Ok(files.iter().find(|(n, _)| n == f).map(|(_, v)| v.clone()))).unwrap()
}

fn big_mlp() -> Mlp {
    Mlp::new(stack(3, &[400, 100], 2, Activation::Tanh), 4).unwrap()
}

#[test]
fn every_storage_format_round_trips() {
    let b = Bundle::new(bundle().manifest, big_mlp());
    let dense = weights_size(&b);

    // f16: half the bytes of the weights, values within f16 rounding.
    let mut half = b.clone();
    half.manifest.weights.dtype = WeightDtype::F16;
    let back = round_trip(&half);
    assert_eq!(back.manifest.weights, half.manifest.weights);
    let (Network::F32(orig), Network::F32(got)) = (&b.network, &back.network) else {
        panic!("f16 loads into f32")
    };
    for (a, g) in orig.params().iter().zip(got.params()) {
        assert!((a - g).abs() <= a.abs() * 1e-3 + 1e-7, "{a} vs {g}");
    }
    assert!(weights_size(&half) < dense * 6 / 10);

    // int8: exactly the same int8 network, about a quarter of the size.
    let int8 = Bundle::new(b.manifest.clone(), QuantizedMlp::from_mlp(&big_mlp()));
    assert!(int8.manifest.weights.is_int8());
    let back = round_trip(&int8);
    assert_eq!(back.network, int8.network);
    assert!(weights_size(&int8) < dense * 35 / 100);

    // Sparse: exactly the same weights; a 90%-zero model stores about a fifth of the bytes.
    let mut params = big_mlp().params().to_vec();
    for (i, p) in params.iter_mut().enumerate() {
        if i % 10 != 0 {
            *p = 0.0;
        }
    }
    let pruned = Mlp::from_params(big_mlp().layers().to_vec(), params).unwrap();
    let mut sparse = Bundle::new(b.manifest.clone(), pruned.clone());
    sparse.manifest.weights.layout = Layout::Sparse;
    let back = round_trip(&sparse);
    assert_eq!(back.network, Network::F32(pruned));
    assert!(weights_size(&sparse) < dense / 3);
}

#[test]
fn bad_stored_weights_are_refused_with_the_reason() {
    // Sparse positions out of order.
    let mut sparse = bundle();
    sparse.manifest.weights.layout = Layout::Sparse;
    let files = sparse.to_files().unwrap();
    let manifest: Manifest = serde_json::from_slice(&files[1].1).unwrap();
    let good = files[0].1.clone();
    // Swap the first two stored positions of layer 0 (both little-endian i32).
    let tensors = safetensors::SafeTensors::deserialize(&good).unwrap();
    let indices = tensors
        .tensor("layers.0.weight.indices")
        .unwrap()
        .data()
        .to_vec();
    let at = good
        .windows(indices.len())
        .position(|w| w == indices.as_slice())
        .unwrap();
    let mut bad = good.clone();
    bad[at..at + 4].copy_from_slice(&indices[4..8]);
    bad[at + 4..at + 8].copy_from_slice(&indices[0..4]);
    let err =
        aiaas_artifact::decode_weights(&manifest.layers, &manifest.weights, &bad).unwrap_err();
    assert!(err.to_string().contains("strictly increasing"), "{err}");

    // An int8 value of -128.
    let int8 = Bundle::new(bundle().manifest, QuantizedMlp::from_mlp(&big_mlp_small()));
    let files = int8.to_files().unwrap();
    let manifest: Manifest = serde_json::from_slice(&files[1].1).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&files[0].1).unwrap();
    let values = tensors.tensor("layers.0.weight").unwrap().data().to_vec();
    let at = files[0]
        .1
        .windows(values.len())
        .position(|w| w == values.as_slice())
        .unwrap();
    let mut bad = files[0].1.clone();
    bad[at] = 0x80;
    let err =
        aiaas_artifact::decode_weights(&manifest.layers, &manifest.weights, &bad).unwrap_err();
    assert!(err.to_string().contains("-128"), "{err}");
}

fn big_mlp_small() -> Mlp {
    Mlp::new(stack(3, &[5], 2, Activation::Tanh), 9).unwrap()
}
