//! A model's V2 signature, derived from its manifest's schema, and the two conversions around a
//! forward pass: request tensors into scaled model inputs, logits into response tensors.
//!
//! A model whose features are all numeric takes one input `input`, FP32 `[N, F]`; a model with
//! categorical features takes one input per feature, named as in its schema: FP32 `[N, 1]` for
//! numeric ones, BYTES `[N, 1]` for categorical ones. Classification gives `probabilities` FP32
//! `[N, C]` and `label` BYTES `[N]`; regression gives `prediction` FP32 `[N, 1]`.

use crate::ServeError;
use crate::v2::{
    OutputData, RequestInput, RequestOutput, ResponseOutput, TensorData, TensorMetadata,
};
use aiaas_data::InputEncoder;
use aiaas_engine::{Predictions, decode};
use aiaas_types::{FeatureKind, Schema, TargetSchema};
use serde_json::Value;
use std::borrow::Cow;

/// The input name of an all-numeric model.
pub const DENSE_INPUT: &str = "input";
/// Most rows one request may carry.
pub const MAX_ROWS: usize = 65_536;
/// Most encoded model inputs (rows x inputs per row) one request may make: 64 MiB of f32.
pub const MAX_REQUEST_INPUTS: usize = 1 << 24;
/// Values reserved for up front at most: a declared shape is a claim, not data, so buffers
/// grow with the values that really arrive.
const PREALLOC: usize = 1 << 16;

const FP32: &str = "FP32";
const BYTES: &str = "BYTES";

/// One row's raw feature values: numbers in schema order (NaN at a categorical feature), and
/// the categorical values in schema order when the model has any.
pub type RawRow = (Vec<f32>, Option<Vec<String>>);

/// What a model takes and gives.
#[derive(Clone, Debug, PartialEq)]
pub struct Signature {
    pub inputs: Vec<TensorMetadata>,
    pub outputs: Vec<TensorMetadata>,
    /// One FP32 matrix rather than one tensor per feature.
    dense: bool,
    /// Raw values into scaled model inputs, built once per loaded model.
    encoder: InputEncoder,
}

impl Signature {
    pub fn of(schema: &Schema) -> Signature {
        let dense = schema
            .features
            .iter()
            .all(|f| matches!(f.kind, FeatureKind::Numeric { .. }));
        let inputs = if dense {
            vec![tensor(
                DENSE_INPUT,
                FP32,
                vec![-1, schema.features.len() as i64],
            )]
        } else {
            schema
                .features
                .iter()
                .map(|f| match f.kind {
                    FeatureKind::Numeric { .. } => tensor(&f.name, FP32, vec![-1, 1]),
                    FeatureKind::Categorical { .. } => tensor(&f.name, BYTES, vec![-1, 1]),
                })
                .collect()
        };
        let outputs = match &schema.target {
            TargetSchema::Classification { labels, .. } => vec![
                tensor("probabilities", FP32, vec![-1, labels.len() as i64]),
                tensor("label", BYTES, vec![-1]),
            ],
            TargetSchema::Regression { .. } => vec![tensor("prediction", FP32, vec![-1, 1])],
        };
        Signature {
            inputs,
            outputs,
            dense,
            encoder: InputEncoder::new(schema),
        }
    }

    /// The scaled model inputs (`rows x schema.input_width()`) for the request's tensors; with
    /// `raw`, also each row's raw feature values, for the prediction log, from the same pass.
    pub fn prepare(
        &self,
        schema: &Schema,
        inputs: &[RequestInput],
        mut raw: Option<&mut Vec<RawRow>>,
    ) -> Result<(Vec<f32>, usize), ServeError> {
        check_names(&self.inputs, inputs)?;
        let encoder = &self.encoder;
        let width = encoder.width();
        let features = schema.features.len();
        if self.dense {
            let input = &inputs[0];
            let rows = check_shape(input, &[None, Some(features)])?;
            check_size(input, rows, width)?;
            check_datatype(input, FP32)?;
            let values = numbers(input, rows * features)?;
            let mut x = vec![0.0f32; rows * width];
            for (row, raw) in x.chunks_exact_mut(width).zip(values.chunks_exact(features)) {
                for (f, &v) in raw.iter().enumerate() {
                    encoder.number(row, f, v);
                }
            }
            check_scaled(&x, width)?;
            if let Some(out) = raw {
                out.extend(
                    values
                        .chunks_exact(features)
                        .map(|r| (r.iter().map(|&v| v as f32).collect(), None)),
                );
            }
            return Ok((x, rows));
        }
        let has_categories = schema
            .features
            .iter()
            .any(|f| matches!(f.kind, FeatureKind::Categorical { .. }));
        let mut rows = None;
        let mut x = Vec::new();
        for (f, feature) in schema.features.iter().enumerate() {
            let input = inputs
                .iter()
                .find(|i| i.name == feature.name)
                .expect("names were checked");
            let n = match input.shape.len() {
                1 => check_shape(input, &[None])?,
                _ => check_shape(input, &[None, Some(1)])?,
            };
            match rows {
                None => {
                    check_size(input, n, width)?;
                    rows = Some(n);
                }
                Some(r) if r != n => {
                    return Err(bad(format!(
                        "input {:?} has {n} rows, the others {r}: every input needs the same rows",
                        input.name
                    )));
                }
                Some(_) => {}
            }
            // Read and check the values before the buffers are sized: the first input that
            // really holds `n` values pays for the `n` rows.
            let values = match feature.kind {
                FeatureKind::Numeric { .. } => {
                    check_datatype(input, FP32)?;
                    Values::Numbers(numbers(input, n)?)
                }
                FeatureKind::Categorical { .. } => {
                    check_datatype(input, BYTES)?;
                    Values::Texts(texts(input, n)?)
                }
            };
            if x.is_empty() {
                x = vec![0.0f32; n * width];
                if let Some(out) = raw.as_deref_mut() {
                    let empty = (vec![f32::NAN; features], has_categories.then(Vec::new));
                    out.resize(n, empty);
                }
            }
            let rows_of = x.chunks_exact_mut(width.max(1));
            match values {
                Values::Numbers(values) => {
                    for (row, &v) in rows_of.zip(values.iter()) {
                        encoder.number(row, f, v);
                    }
                    if let Some(out) = raw.as_deref_mut() {
                        for ((numbers, _), &v) in out.iter_mut().zip(values.iter()) {
                            numbers[f] = v as f32;
                        }
                    }
                }
                Values::Texts(values) => {
                    for (row, &v) in rows_of.zip(&values) {
                        encoder.text(row, f, v);
                    }
                    if let Some(out) = raw.as_deref_mut() {
                        for ((_, categories), &v) in out.iter_mut().zip(&values) {
                            if let Some(c) = categories {
                                c.push(v.to_string());
                            }
                        }
                    }
                }
            }
        }
        check_scaled(&x, width)?;
        Ok((x, rows.unwrap_or(0)))
    }

    /// The response tensors for `logits` (`rows x cols`), limited to `requested` if given.
    pub fn respond(
        &self,
        schema: &Schema,
        logits: &[f32],
        cols: usize,
        requested: Option<&[RequestOutput]>,
    ) -> Result<Vec<ResponseOutput>, ServeError> {
        let wanted = check_requested(&self.outputs, requested)?;
        let mut outputs = Vec::new();
        match (decode(&schema.target, logits, cols), &schema.target) {
            (
                Predictions::Classes {
                    probabilities,
                    classes,
                    predicted,
                },
                TargetSchema::Classification { labels, .. },
            ) => {
                let rows = predicted.len() as i64;
                if wanted("probabilities") {
                    outputs.push(ResponseOutput {
                        name: "probabilities".into(),
                        shape: vec![rows, classes as i64],
                        datatype: FP32,
                        parameters: None,
                        data: Some(OutputData::Fp32(probabilities)),
                    });
                }
                if wanted("label") {
                    let names = predicted.iter().map(|&c| labels[c].clone()).collect();
                    outputs.push(ResponseOutput {
                        name: "label".into(),
                        shape: vec![rows],
                        datatype: BYTES,
                        parameters: None,
                        data: Some(OutputData::Bytes(names)),
                    });
                }
            }
            (Predictions::Values(values), _) => {
                if wanted("prediction") {
                    outputs.push(ResponseOutput {
                        name: "prediction".into(),
                        shape: vec![values.len() as i64, 1],
                        datatype: FP32,
                        parameters: None,
                        data: Some(OutputData::Fp32(values.iter().map(|&v| v as f32).collect())),
                    });
                }
            }
            (Predictions::Classes { .. }, TargetSchema::Regression { .. }) => {
                unreachable!("decode follows the target")
            }
        }
        Ok(outputs)
    }
}

/// Exactly the `declared` inputs, each once.
pub(crate) fn check_names(
    declared: &[TensorMetadata],
    inputs: &[RequestInput],
) -> Result<(), ServeError> {
    for input in inputs {
        if !declared.iter().any(|t| t.name == input.name) {
            return Err(bad(format!(
                "unknown input {:?}; this model takes {}",
                input.name,
                names(declared)
            )));
        }
        if inputs.iter().filter(|i| i.name == input.name).count() > 1 {
            return Err(bad(format!("input {:?} is given twice", input.name)));
        }
    }
    if let Some(missing) = (declared.iter()).find(|t| !inputs.iter().any(|i| i.name == t.name)) {
        return Err(bad(format!(
            "missing input {:?}; this model takes {}",
            missing.name,
            names(declared)
        )));
    }
    Ok(())
}

/// Which outputs to answer: every one when `requested` is `None`, else those it names, each of
/// which must be `declared`.
pub(crate) fn check_requested<'a>(
    declared: &[TensorMetadata],
    requested: Option<&'a [RequestOutput]>,
) -> Result<impl Fn(&str) -> bool + 'a, ServeError> {
    for r in requested.into_iter().flatten() {
        if !declared.iter().any(|o| o.name == r.name) {
            return Err(bad(format!(
                "unknown output {:?}; this model gives {}",
                r.name,
                names(declared)
            )));
        }
    }
    Ok(move |name: &str| requested.is_none_or(|r| r.iter().any(|o| o.name == name)))
}

fn tensor(name: &str, datatype: &'static str, shape: Vec<i64>) -> TensorMetadata {
    TensorMetadata {
        name: name.to_string(),
        datatype,
        shape,
    }
}

pub(crate) fn names(tensors: &[TensorMetadata]) -> String {
    let quoted: Vec<String> = tensors.iter().map(|t| format!("{:?}", t.name)).collect();
    quoted.join(", ")
}

pub(crate) fn bad(message: String) -> ServeError {
    ServeError::BadRequest(message)
}

/// The batch size of `input` if its shape is `expected` (`None`: the batch dimension, any
/// size from 1 to [`MAX_ROWS`]).
fn check_shape(input: &RequestInput, expected: &[Option<usize>]) -> Result<usize, ServeError> {
    let wanted: Vec<String> = expected
        .iter()
        .map(|d| d.map_or("-1".to_string(), |n| n.to_string()))
        .collect();
    let wrong = || {
        bad(format!(
            "input {:?} has shape {:?}; this model expects [{}]",
            input.name,
            input.shape,
            wanted.join(", ")
        ))
    };
    if input.shape.len() != expected.len() {
        return Err(wrong());
    }
    let mut rows = 0;
    for (&dim, want) in input.shape.iter().zip(expected) {
        match want {
            Some(n) if dim != *n as i64 => return Err(wrong()),
            Some(_) => {}
            None => {
                if dim < 1 || dim as u64 > MAX_ROWS as u64 {
                    return Err(bad(format!(
                        "input {:?} has {dim} rows; send 1 to {MAX_ROWS} per request",
                        input.name
                    )));
                }
                rows = dim as usize;
            }
        }
    }
    Ok(rows)
}

/// One input's checked values.
enum Values<'a> {
    Numbers(Cow<'a, [f64]>),
    Texts(Vec<&'a str>),
}

/// Refuses a request whose `rows` would make more than [`MAX_REQUEST_INPUTS`] model inputs of
/// `width` each, before anything is allocated for them.
fn check_size(input: &RequestInput, rows: usize, width: usize) -> Result<(), ServeError> {
    if rows.saturating_mul(width) > MAX_REQUEST_INPUTS {
        return Err(bad(format!(
            "input {:?} has {rows} rows of {width} model inputs each; one request may make at \
             most {MAX_REQUEST_INPUTS} ({} rows): split it",
            input.name,
            MAX_REQUEST_INPUTS / width.max(1)
        )));
    }
    Ok(())
}

pub(crate) fn check_datatype(input: &RequestInput, expected: &str) -> Result<(), ServeError> {
    if input.datatype == expected {
        Ok(())
    } else {
        Err(bad(format!(
            "input {:?} has datatype {}; this model expects {expected}",
            input.name, input.datatype
        )))
    }
}

/// Refuses model inputs that scaling made non-finite (a value near FP32's limit, divided by a
/// small training scale), naming the row.
fn check_scaled(x: &[f32], width: usize) -> Result<(), ServeError> {
    match x.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(at) => Err(bad(format!(
            "row {} holds a value too large for the model once scaled as in training (it \
             overflows FP32); send values in the range the model was trained on",
            at / width.max(1)
        ))),
    }
}

/// The input's values, flattened, as numbers; exactly `count` of them.
pub(crate) fn numbers(input: &RequestInput, count: usize) -> Result<Cow<'_, [f64]>, ServeError> {
    let values = all_numbers(input, count)?;
    // A value FP32 cannot hold would come back as a non-finite prediction.
    if let Some((at, v)) = values
        .iter()
        .enumerate()
        .find(|(_, v)| !(**v as f32).is_finite())
    {
        return Err(bad(format!(
            "input {:?} holds {v} at position {at}: not a finite FP32 number (FP32 holds \
             magnitudes up to 3.4e38)",
            input.name
        )));
    }
    Ok(values)
}

/// The input's values, flattened, as numbers; exactly `count` of them.
pub(crate) fn all_numbers(
    input: &RequestInput,
    count: usize,
) -> Result<Cow<'_, [f64]>, ServeError> {
    if let Some(raw) = &input.binary {
        // FP32, little-endian, as the binary tensor extension sends it.
        if raw.len() != count * 4 {
            return Err(bad(format!(
                "input {:?} has {} bytes of binary data; its shape {:?} needs {} (FP32)",
                input.name,
                raw.len(),
                input.shape,
                count * 4
            )));
        }
        return Ok(Cow::Owned(
            raw.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
                .collect(),
        ));
    }
    match &input.data {
        TensorData::Numbers(values) => {
            if values.len() > count {
                return Err(too_many(input, count));
            }
            check_count(input, values.len(), count)?;
            Ok(Cow::Borrowed(values))
        }
        TensorData::Empty => {
            check_count(input, 0, count)?;
            Ok(Cow::Borrowed(&[]))
        }
        TensorData::Texts(values) => {
            Err(not_a(input, &Value::from(values[0].as_str()), "a number"))
        }
        TensorData::Mixed { not_a_number, .. } => Err(bad(format!(
            "input {:?} holds {not_a_number}, not a number",
            input.name
        ))),
    }
}

/// The input's values, flattened, as strings; exactly `count` of them.
pub(crate) fn texts(input: &RequestInput, count: usize) -> Result<Vec<&str>, ServeError> {
    if let Some(raw) = &input.binary {
        return binary_texts(input, raw, count);
    }
    match &input.data {
        TensorData::Texts(values) => {
            if values.len() > count {
                return Err(too_many(input, count));
            }
            check_count(input, values.len(), count)?;
            Ok(values.iter().map(String::as_str).collect())
        }
        TensorData::Empty => {
            check_count(input, 0, count)?;
            Ok(Vec::new())
        }
        TensorData::Numbers(values) => {
            Err(not_a(input, &Value::from(values[0]), "a string (BYTES)"))
        }
        TensorData::Mixed { not_a_string, .. } => Err(bad(format!(
            "input {:?} holds {not_a_string}, not a string (BYTES)",
            input.name
        ))),
    }
}

fn not_a(input: &RequestInput, value: &Value, wanted: &str) -> ServeError {
    bad(format!(
        "input {:?} holds {value}, not {wanted}",
        input.name
    ))
}

/// BYTES in the binary tensor extension: each element is a 4-byte little-endian length and
/// that many UTF-8 bytes.
fn binary_texts<'a>(
    input: &RequestInput,
    raw: &'a [u8],
    count: usize,
) -> Result<Vec<&'a str>, ServeError> {
    (binary_elements(input, raw, count)?.into_iter().enumerate())
        .map(|(i, value)| {
            std::str::from_utf8(value).map_err(|_| {
                bad(format!(
                    "input {:?}: element {i} of its binary BYTES data is not UTF-8 text",
                    input.name
                ))
            })
        })
        .collect()
}

/// The elements of BYTES in the binary tensor extension (each a 4-byte little-endian length
/// and that many bytes); exactly `count` of them.
fn binary_elements<'a>(
    input: &RequestInput,
    mut raw: &'a [u8],
    count: usize,
) -> Result<Vec<&'a [u8]>, ServeError> {
    let mut out = Vec::with_capacity(count.min(PREALLOC));
    while !raw.is_empty() {
        let malformed = || {
            bad(format!(
                "input {:?}: binary BYTES data must be 4-byte little-endian lengths, each followed by that many bytes",
                input.name
            ))
        };
        let (len, rest) = raw.split_first_chunk::<4>().ok_or_else(malformed)?;
        let len = u32::from_le_bytes(*len) as usize;
        out.push(rest.get(..len).ok_or_else(malformed)?);
        raw = &rest[len..];
        if out.len() > count {
            return Err(too_many(input, count));
        }
    }
    check_count(input, out.len(), count)?;
    Ok(out)
}

/// The input's values as byte strings (encoded images): raw in binary data, base64 in JSON;
/// exactly `count` of them.
pub(crate) fn byte_strings(
    input: &RequestInput,
    count: usize,
) -> Result<Vec<Cow<'_, [u8]>>, ServeError> {
    use base64::Engine;
    if let Some(raw) = &input.binary {
        let elements = binary_elements(input, raw, count)?;
        return Ok(elements.into_iter().map(Cow::Borrowed).collect());
    }
    (texts(input, count)?.into_iter().enumerate())
        .map(|(i, text)| {
            let decoded = base64::engine::general_purpose::STANDARD.decode(text.trim());
            decoded.map(Cow::Owned).map_err(|e| {
                bad(format!(
                    "input {:?} element {i} is not base64 ({e}): in JSON, send each encoded \
                     file as a base64 string (or raw, as binary data)",
                    input.name
                ))
            })
        })
        .collect()
}

fn too_many(input: &RequestInput, count: usize) -> ServeError {
    bad(format!(
        "input {:?} holds more than the {count} values its shape {:?} says",
        input.name, input.shape
    ))
}

pub(crate) fn check_count(
    input: &RequestInput,
    found: usize,
    count: usize,
) -> Result<(), ServeError> {
    if found == count {
        Ok(())
    } else {
        Err(bad(format!(
            "input {:?} holds {found} values; its shape {:?} needs {count}",
            input.name, input.shape
        )))
    }
}
