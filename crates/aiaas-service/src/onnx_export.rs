//! A model trained here as an ONNX file (`aiaas models export --format onnx`): its network, f32
//! or int8 (dequantized: ONNX Runtime then computes in f32), with the input scaling folded into
//! the first layer, so the file takes raw feature values as the V2 endpoint does, and answers the
//! same tensors (`probabilities` and `label`, or `prediction`). Its labels and where it came from
//! go in the file's metadata.

use crate::ServiceError;
use aiaas_artifact::Bundle;
use aiaas_onnx::export::{DenseGraph, DenseLayer, Head, write};
use aiaas_types::{FeatureKind, TargetSchema, usable_scale};
use std::collections::BTreeMap;

/// The input of an exported model, as the V2 endpoint names it.
const INPUT: &str = "input";

/// The `.onnx` bytes of `bundle`, named `name` (the model's `name@version`, say). Models with
/// text features are refused: their one-hot encoding is not written yet.
pub fn bundle_to_onnx(bundle: &Bundle, name: &str) -> Result<Vec<u8>, ServiceError> {
    let schema = &bundle.manifest.schema;
    let mut scaling = Vec::with_capacity(schema.features.len());
    for feature in &schema.features {
        match feature.kind {
            FeatureKind::Numeric { mean, scale } => scaling.push((mean, usable_scale(scale))),
            FeatureKind::Categorical { .. } => {
                return Err(ServiceError::Invalid(format!(
                    "{name} has the text feature {:?}: only models of numeric features can be \
                     exported as ONNX yet",
                    feature.name
                )));
            }
        }
    }
    let mlp = bundle.network.to_f32();
    let mut layers: Vec<DenseLayer> = (mlp.layers().iter().enumerate())
        .map(|(l, spec)| DenseLayer {
            weights: mlp.weight(l).to_vec(),
            bias: mlp.bias(l).to_vec(),
            inputs: spec.inputs,
            outputs: spec.outputs,
            activation: spec.activation,
        })
        .collect();
    if let Some(first) = layers.first_mut() {
        fold_scaling(first, &scaling);
    }
    let (head, labels) = match &schema.target {
        TargetSchema::Classification { labels, .. } => (
            Head::Classes {
                labels: labels.clone(),
            },
            labels.clone(),
        ),
        TargetSchema::Regression { mean, scale, .. } => (
            Head::Value {
                mean: *mean as f32,
                scale: usable_scale(*scale) as f32,
            },
            Vec::new(),
        ),
    };
    let mut metadata = BTreeMap::from([
        ("aiaas.model".to_string(), name.to_string()),
        (
            "aiaas.features".to_string(),
            serde_json::to_string(&schema.features.iter().map(|f| &f.name).collect::<Vec<_>>())
                .expect("names serialize"),
        ),
    ]);
    if !labels.is_empty() {
        let labels = serde_json::to_string(&labels).expect("labels serialize");
        metadata.insert("labels".to_string(), labels);
    }
    let graph = DenseGraph {
        name: name.to_string(),
        input: INPUT.to_string(),
        layers,
        head,
        metadata,
    };
    write(&graph).map_err(|e| ServiceError::Invalid(format!("{name}: {e}")))
}

/// Makes `layer` take raw values where it took `(x - mean) / scale`: each weight divided by its
/// input's scale, and the bias less what the means contributed (in f64, then rounded once).
fn fold_scaling(layer: &mut DenseLayer, scaling: &[(f64, f64)]) {
    for (o, bias) in layer.bias.iter_mut().enumerate() {
        let row = &mut layer.weights[o * layer.inputs..(o + 1) * layer.inputs];
        let mut shift = 0.0f64;
        for (w, &(mean, scale)) in row.iter_mut().zip(scaling) {
            let folded = f64::from(*w) / scale;
            shift += folded * mean;
            *w = folded as f32;
        }
        *bias = (f64::from(*bias) - shift) as f32;
    }
}
