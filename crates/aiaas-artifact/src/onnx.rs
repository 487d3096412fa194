//! An imported ONNX model as a bundle: `manifest.json` (what the graph takes and gives, where the
//! file came from) beside the file itself, `model.onnx`, with its SHA-256 in the manifest. The
//! graph is not read here: whether it can run is the ONNX runtime's question, asked once at
//! import (`aiaas-onnx`), and its answer (the tensors, the source) is what the manifest records.

use crate::manifest::architecture;
use crate::{Architecture, ArtifactError, Bundle, MANIFEST_FILE, Preprocess, sha256_hex};
use aiaas_types::{DataType, GraphEngine, OnnxSource, Task, TensorSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The ONNX file of an imported model's bundle.
pub const ONNX_FILE: &str = "model.onnx";

/// An imported classifier's labels as a user gives them beside [`ONNX_FILE`]: one per line, in
/// the order of its scores' columns. The bundle keeps them in its manifest ([`Classes`]).
pub const LABELS_FILE: &str = "labels.txt";

/// An imported text model's tokenizer, in the Hugging Face format, kept as a file of the bundle.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// The token inputs a tokenizer fills, by the names Hugging Face exports give them.
pub const TOKEN_INPUTS: [&str; 3] = ["input_ids", "attention_mask", "token_type_ids"];

/// `manifest.json` of an imported ONNX model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnnxManifest {
    pub format_version: u32,
    pub name: String,
    /// Always [`Architecture::Onnx`].
    pub architecture: Architecture,
    pub task: Task,
    /// What the graph takes and gives, in its order (`-1` for an axis whose size varies).
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    /// What the import found runs the graph: the native engine for a plain dense network.
    #[serde(default)]
    pub engine: GraphEngine,
    /// For a classifier: the output holding its class scores and the label of each column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Classes>,
    /// For an image model: how encoded images become the input it names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprocess: Option<Preprocess>,
    /// For a text model (a tokenizer given at import): which of [`TOKEN_INPUTS`] it has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_inputs: Vec<String>,
    pub lineage: ImportLineage,
    /// SHA-256 of every other file of the bundle, by file name.
    pub files: BTreeMap<String, String>,
}

/// Where an imported model came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportLineage {
    /// The file's format (`onnx`).
    pub format: String,
    /// The file's own account of itself (opset, producer, metadata).
    #[serde(flatten)]
    pub source: OnnxSource,
    /// The file's size and SHA-256 as imported.
    pub size_bytes: u64,
    pub sha256: String,
    pub created_at_ms: i64,
}

/// What makes an imported model a classifier: its output `output`, FP32 or FP16 `[N, C]`,
/// holds one score per class, and column `i` is class `labels[i]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Classes {
    pub output: String,
    pub labels: Vec<String>,
}

/// The output of `outputs` that can hold scores for `labels`: the first FP32 or FP16 output of
/// two axes whose second has one column per label. Labels must be distinct and not empty.
pub fn classes_for(outputs: &[TensorSpec], labels: Vec<String>) -> Result<Classes, String> {
    if labels.len() < 2 {
        return Err(format!(
            "{} labels: a classifier needs at least 2, one per line",
            labels.len()
        ));
    }
    if let Some(blank) = labels.iter().position(|l| l.trim().is_empty()) {
        return Err(format!("label {} is empty", blank + 1));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = labels.iter().find(|l| !seen.insert(l.as_str())) {
        return Err(format!("label {twice:?} is given twice"));
    }
    let scores = outputs.iter().find(|o| {
        matches!(o.datatype, DataType::Fp32 | DataType::Fp16)
            && o.shape.len() == 2
            && o.shape[1] == labels.len() as i64
    });
    match scores {
        Some(o) => Ok(Classes {
            output: o.name.clone(),
            labels,
        }),
        None => Err(format!(
            "{} labels, but no FP32 or FP16 output has {} columns (the outputs: {}); give one \
             label per column of the class scores",
            labels.len(),
            labels.len(),
            (outputs.iter())
                .map(|o| format!("{} {} {:?}", o.name, o.datatype.v2_name(), o.shape))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The inputs of [`TOKEN_INPUTS`] the graph has, in that order: `input_ids` must be one, and
/// each an integer tensor of two varying axes (rows, tokens).
fn token_inputs(inputs: &[TensorSpec]) -> Result<Vec<String>, String> {
    let found: Vec<&TensorSpec> = TOKEN_INPUTS
        .iter()
        .filter_map(|name| inputs.iter().find(|i| i.name == *name))
        .collect();
    if found.first().is_none_or(|i| i.name != TOKEN_INPUTS[0]) {
        return Err(format!(
            "a tokenizer fills inputs named input_ids (and attention_mask, token_type_ids); the \
             graph's inputs are {}",
            (inputs.iter())
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for i in &found {
        let integer = matches!(i.datatype, DataType::Int64 | DataType::Int32);
        if !integer || i.shape.len() != 2 || i.shape[1] != -1 {
            return Err(format!(
                "input {:?} is {} {:?}; a tokenizer fills INT64 or INT32 [N, -1] (rows, tokens)",
                i.name,
                i.datatype.v2_name(),
                i.shape
            ));
        }
    }
    Ok(found.iter().map(|i| i.name.clone()).collect())
}

/// A number per row that an imported classifier's logged predictions keep for drift, in place
/// of its input tensors: what a profile can describe of an image or a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Summary {
    /// The mean of the row's values of input `0` (for an image, its mean intensity as the
    /// preprocessing scaled it).
    Mean(usize),
    /// The row's token count: the sum of its `attention_mask` (input `0`), or with `mask`
    /// false, the length of its `input_ids`.
    Tokens { input: usize, mask: bool },
}

impl OnnxManifest {
    /// The summaries its logged rows keep (see [`summaries`]).
    pub fn summaries(&self) -> Vec<(String, Summary)> {
        summaries(&self.inputs)
    }
}

/// The summaries of a row of a graph taking `inputs`, named, in the order they are logged:
/// `tokens` for token inputs, `<input> mean` for every other numeric input (token ids and text
/// are not averaged).
pub fn summaries(inputs: &[TensorSpec]) -> Vec<(String, Summary)> {
    let position = |name: &str| inputs.iter().position(|i| i.name == name);
    let tokens = match (position("attention_mask"), position("input_ids")) {
        (Some(mask), _) => Some(Summary::Tokens {
            input: mask,
            mask: true,
        }),
        (None, Some(ids)) => Some(Summary::Tokens {
            input: ids,
            mask: false,
        }),
        (None, None) => None,
    };
    let means = (inputs.iter().enumerate())
        .filter(|(_, i)| !TOKEN_INPUTS.contains(&i.name.as_str()))
        .filter(|(_, i)| i.datatype != DataType::Bytes)
        .map(|(n, i)| (format!("{} mean", i.name), Summary::Mean(n)));
    (tokens.map(|t| ("tokens".to_string(), t)).into_iter())
        .chain(means)
        .collect()
}

/// An imported ONNX model: its manifest and its file's bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxBundle {
    pub manifest: OnnxManifest,
    pub model: Vec<u8>,
    /// The tokenizer of a text model ([`TOKENIZER_FILE`]).
    pub tokenizer: Option<Vec<u8>>,
}

impl OnnxBundle {
    /// A bundle for the ONNX file `model`, described by what the runtime found in it.
    pub fn new(
        name: &str,
        model: Vec<u8>,
        inputs: Vec<TensorSpec>,
        outputs: Vec<TensorSpec>,
        engine: GraphEngine,
        source: OnnxSource,
        created_at_ms: i64,
    ) -> OnnxBundle {
        let manifest = OnnxManifest {
            format_version: crate::FORMAT_VERSION,
            name: name.to_string(),
            architecture: Architecture::Onnx,
            task: Task::Other,
            inputs,
            outputs,
            engine,
            classes: None,
            preprocess: None,
            token_inputs: Vec::new(),
            lineage: ImportLineage {
                format: "onnx".into(),
                source,
                size_bytes: model.len() as u64,
                sha256: sha256_hex(&model),
                created_at_ms,
            },
            files: BTreeMap::new(),
        };
        OnnxBundle {
            manifest,
            model,
            tokenizer: None,
        }
    }

    /// The bundle as a classifier of `labels` (see [`classes_for`]); the error says why the
    /// labels do not fit the graph.
    pub fn with_labels(mut self, labels: Vec<String>) -> Result<OnnxBundle, String> {
        self.manifest.classes = Some(classes_for(&self.manifest.outputs, labels)?);
        self.manifest.task = Task::Classification;
        Ok(self)
    }

    /// The bundle as an image model: `preprocess` fitted to its inputs (see
    /// [`Preprocess::fit`]); the error says why it does not fit.
    pub fn with_preprocess(mut self, preprocess: Preprocess) -> Result<OnnxBundle, String> {
        self.manifest.preprocess = Some(preprocess.fit(&self.manifest.inputs)?);
        Ok(self)
    }

    /// The bundle as a text model: `tokenizer` (a Hugging Face `tokenizer.json`) fills its
    /// token inputs ([`TOKEN_INPUTS`]: `input_ids`, INT64 or INT32 `[N, S]`, is needed); the
    /// error says why it cannot.
    pub fn with_tokenizer(mut self, tokenizer: Vec<u8>) -> Result<OnnxBundle, String> {
        tokenizers::Tokenizer::from_bytes(&tokenizer)
            .map_err(|e| format!("{TOKENIZER_FILE} is not a tokenizer this runtime reads: {e}"))?;
        self.manifest.token_inputs = token_inputs(&self.manifest.inputs)?;
        self.tokenizer = Some(tokenizer);
        Ok(self)
    }

    /// Every file of the bundle as `(name, bytes)`, the manifest last, with the digests of the
    /// others recorded in it.
    pub fn to_files(&self) -> Result<Vec<(String, Vec<u8>)>, ArtifactError> {
        let mut files = vec![(ONNX_FILE.to_string(), self.model.clone())];
        if let Some(tokenizer) = &self.tokenizer {
            files.push((TOKENIZER_FILE.to_string(), tokenizer.clone()));
        }
        let mut manifest = self.manifest.clone();
        manifest.files = (files.iter())
            .map(|(name, bytes)| (name.clone(), sha256_hex(bytes)))
            .collect();
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| ArtifactError::Manifest(e.to_string()))?;
        files.push((MANIFEST_FILE.to_string(), json));
        Ok(files)
    }

    /// Rebuilds the bundle from its manifest's bytes and its files, fetched through `read`;
    /// the model file's digest is checked.
    fn from_manifest(
        json: &[u8],
        read: impl FnMut(&str) -> Result<Option<Vec<u8>>, ArtifactError>,
    ) -> Result<OnnxBundle, ArtifactError> {
        let manifest: OnnxManifest =
            serde_json::from_slice(json).map_err(|e| ArtifactError::Manifest(e.to_string()))?;
        crate::bundle::check_format(manifest.format_version)?;
        if manifest.inputs.is_empty() || manifest.outputs.is_empty() {
            return Err(ArtifactError::Manifest(
                "an ONNX model needs inputs and outputs".into(),
            ));
        }
        if let Some(classes) = &manifest.classes {
            let found = classes_for(&manifest.outputs, classes.labels.clone())
                .map_err(ArtifactError::Manifest)?;
            if found != *classes || manifest.task != Task::Classification {
                return Err(ArtifactError::Manifest(format!(
                    "the class scores are declared in output {:?}, which does not fit {} labels",
                    classes.output,
                    classes.labels.len()
                )));
            }
        }
        if let Some(p) = &manifest.preprocess {
            let fitted = (p.clone().fit(&manifest.inputs)).map_err(ArtifactError::Manifest)?;
            if fitted != *p {
                return Err(ArtifactError::Manifest(
                    "the preprocessing names no input of the graph".into(),
                ));
            }
        }
        let mut read = read;
        let tokenizer = match manifest.token_inputs.is_empty() {
            true => None,
            false => {
                let found = token_inputs(&manifest.inputs).map_err(ArtifactError::Manifest)?;
                if found != manifest.token_inputs {
                    return Err(ArtifactError::Manifest(
                        "the token inputs are not the graph's".into(),
                    ));
                }
                Some(crate::bundle::verified(
                    &manifest.files,
                    TOKENIZER_FILE,
                    &mut read,
                )?)
            }
        };
        let model = crate::bundle::verified(&manifest.files, ONNX_FILE, read)?;
        Ok(OnnxBundle {
            manifest,
            model,
            tokenizer,
        })
    }
}

/// A bundle of either kind: a model trained here, or an imported ONNX model.
// One is made per load or import and moved a few times, never held in bulk: not worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Artifact {
    Native(Bundle),
    Onnx(OnnxBundle),
}

impl Artifact {
    /// Rebuilds a bundle of either kind from its files (as [`Bundle::from_files`] does for
    /// models trained here); the manifest's `architecture` says which.
    pub fn from_files(
        mut read: impl FnMut(&str) -> Result<Option<Vec<u8>>, ArtifactError>,
    ) -> Result<Artifact, ArtifactError> {
        let json = crate::bundle::manifest_bytes(&mut read)?;
        match architecture(&json)? {
            Architecture::Dense => Bundle::from_manifest(&json, read).map(Artifact::Native),
            Architecture::Onnx => OnnxBundle::from_manifest(&json, read).map(Artifact::Onnx),
        }
    }

    /// Every file, the manifest last (see [`Bundle::to_files`]).
    pub fn to_files(&self) -> Result<Vec<(String, Vec<u8>)>, ArtifactError> {
        match self {
            Artifact::Native(b) => b.to_files(),
            Artifact::Onnx(b) => b.to_files(),
        }
    }

    /// Names the model the bundle belongs to.
    pub fn set_name(&mut self, name: &str) {
        match self {
            Artifact::Native(b) => b.manifest.name = name.to_string(),
            Artifact::Onnx(b) => b.manifest.name = name.to_string(),
        }
    }

    pub fn task(&self) -> Task {
        match self {
            Artifact::Native(b) => b.manifest.task,
            Artifact::Onnx(b) => b.manifest.task,
        }
    }
}

impl From<Bundle> for Artifact {
    fn from(bundle: Bundle) -> Artifact {
        Artifact::Native(bundle)
    }
}

impl From<OnnxBundle> for Artifact {
    fn from(bundle: OnnxBundle) -> Artifact {
        Artifact::Onnx(bundle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, datatype: DataType) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            datatype,
            shape: vec![-1, -1],
        }
    }

    #[test]
    fn rows_keep_a_token_count_for_token_inputs_and_a_mean_for_other_numbers() {
        let text = [
            spec("input_ids", DataType::Int64),
            spec("attention_mask", DataType::Int64),
            spec("token_type_ids", DataType::Int64),
        ];
        let mask = Summary::Tokens {
            input: 1,
            mask: true,
        };
        assert_eq!(summaries(&text), [("tokens".to_string(), mask)]);
        let ids_alone = Summary::Tokens {
            input: 0,
            mask: false,
        };
        assert_eq!(summaries(&text[..1]), [("tokens".to_string(), ids_alone)]);
        let mixed = [
            spec("pixels", DataType::Fp32),
            spec("name", DataType::Bytes),
            spec("flags", DataType::Bool),
        ];
        let means = [
            ("pixels mean".to_string(), Summary::Mean(0)),
            ("flags mean".to_string(), Summary::Mean(2)),
        ];
        assert_eq!(summaries(&mixed), means);
    }
}
