//! An imported ONNX model in the runtime: its V2 signature, straight from the graph's inputs and
//! outputs (`-1` for an axis that varies), the conversions of request tensors into the graph's
//! tensors and of its outputs into response tensors, and [`Graph`], the [`Compute`] its batcher
//! runs.
//!
//! A classifier (labels given at import) also answers `label` BYTES `[N]`: per row, the label of
//! its highest class score. It takes the place of any output the graph itself calls `label`.
//!
//! An image model (preprocessing given at import) takes, in place of the input the images fill,
//! a BYTES `[N]` tensor of the same name: one encoded PNG or JPEG per row (raw in binary data,
//! base64 in JSON), made into the graph's tensor as [`crate::image`] says.
//!
//! A text model (tokenizer given at import) takes, in place of its token inputs (`input_ids`,
//! `attention_mask`, `token_type_ids`), a BYTES `[N]` tensor `text`: one UTF-8 text per row,
//! tokenized here and padded to the longest of the request. Its token inputs are still taken as
//! they are when a request sends them instead.
//!
//! A graph whose every input and output varies along axis 0 is batched along it: the requests of
//! a batch are joined there when their other axes agree (one sequence length, one image size),
//! run in one pass and split again. Otherwise (a fixed batch of 1, an output without a batch
//! axis) each request runs alone and the batcher takes one at a time.

use crate::compute::Compute;
use crate::signature::{
    bad, byte_strings, check_count, check_datatype, check_names, check_requested, names, numbers,
    texts,
};
use crate::v2::{OutputData, RequestInput, RequestOutput, ResponseOutput, TensorMetadata};
use crate::{MAX_REQUEST_INPUTS, MAX_ROWS, ServeError};
use aiaas_artifact::{Classes, Preprocess, Summary, summaries};
use aiaas_engine::argmax_rows;
use aiaas_onnx::{DataType, OnnxError, OnnxModel, Tensor, TensorSpec, Values};
use half::f16;
use std::borrow::Cow;
use std::sync::Arc;
use tokenizers::Tokenizer;

/// What an imported model takes and gives, as V2 tensors.
#[derive(Clone, Debug)]
pub struct GraphSignature {
    pub inputs: Vec<TensorMetadata>,
    pub outputs: Vec<TensorMetadata>,
    specs: Vec<TensorSpec>,
    /// Requests can be joined along axis 0.
    batched: bool,
    /// For a classifier: where its scores are and what their columns mean.
    classes: Option<Scores>,
    /// For an image model: which input the images fill, and how.
    images: Option<(usize, Preprocess)>,
    /// For a text model: its tokenizer and token inputs.
    text: Option<Text>,
    /// The graph's own inputs, which a request may send in place of `text`.
    graph_inputs: Vec<TensorMetadata>,
    /// What a logged row keeps of its inputs (see [`aiaas_artifact::summaries`]).
    summaries: Vec<Summary>,
}

/// A text model's tokenizer and the graph inputs it fills (`input_ids` first).
#[derive(Clone, Debug)]
struct Text {
    tokenizer: Arc<Tokenizer>,
    inputs: Vec<usize>,
}

/// The input a text model takes its texts in.
const TEXT: &str = "text";

/// A classifier's scores: the graph output that holds them, and the label of each column.
#[derive(Clone, Debug)]
struct Scores {
    output: usize,
    labels: Vec<String>,
    /// The graph's own output named `label`, which the labels replace.
    replaced: Option<usize>,
}

/// The output a classifier adds.
const LABEL: &str = "label";

impl GraphSignature {
    /// The signature of a graph taking `inputs` and giving `outputs`, a classifier of `classes`
    /// if given (whose scores output must be one of `outputs`).
    pub fn of(
        inputs: &[TensorSpec],
        outputs: &[TensorSpec],
        classes: Option<&Classes>,
        preprocess: Option<&Preprocess>,
        text: Option<(Tokenizer, &[String])>,
    ) -> Result<GraphSignature, ServeError> {
        let metadata = |specs: &[TensorSpec]| {
            (specs.iter())
                .map(|s| TensorMetadata {
                    name: s.name.clone(),
                    datatype: s.datatype.v2_name(),
                    shape: s.shape.clone(),
                })
                .collect()
        };
        let mut metadata_out: Vec<TensorMetadata> = metadata(outputs);
        let classes = match classes {
            None => None,
            Some(c) => {
                let output =
                    (outputs.iter().position(|o| o.name == c.output)).ok_or_else(|| {
                        ServeError::Internal(format!("no output {:?} holds the scores", c.output))
                    })?;
                let replaced = outputs.iter().position(|o| o.name == LABEL);
                let rows = outputs[output].shape[0];
                metadata_out.retain(|o| o.name != LABEL);
                metadata_out.push(TensorMetadata {
                    name: LABEL.into(),
                    datatype: DataType::Bytes.v2_name(),
                    shape: vec![rows],
                });
                Some(Scores {
                    output,
                    labels: c.labels.clone(),
                    replaced,
                })
            }
        };
        let images = match preprocess {
            None => None,
            Some(p) => {
                let input = (inputs.iter())
                    .position(|i| p.input.as_ref() == Some(&i.name))
                    .ok_or_else(|| {
                        ServeError::Internal(format!("no input {:?} takes the images", p.input))
                    })?;
                Some((input, p.clone()))
            }
        };
        let graph_inputs: Vec<TensorMetadata> = metadata(inputs);
        let mut metadata_in = graph_inputs.clone();
        if let Some((i, _)) = &images {
            metadata_in[*i].datatype = DataType::Bytes.v2_name();
            metadata_in[*i].shape = vec![inputs[*i].shape[0]];
        }
        let text = match text {
            None => None,
            Some((tokenizer, names)) => {
                let at = |name: &String| inputs.iter().position(|i| &i.name == name);
                let token_inputs: Vec<usize> = names.iter().filter_map(at).collect();
                if token_inputs.len() != names.len() || token_inputs.is_empty() {
                    return Err(ServeError::Internal(format!(
                        "the token inputs {names:?} are not all the graph's"
                    )));
                }
                let ids = &inputs[token_inputs[0]];
                metadata_in.retain(|m| !names.contains(&m.name));
                metadata_in.push(TensorMetadata {
                    name: TEXT.into(),
                    datatype: DataType::Bytes.v2_name(),
                    shape: vec![ids.shape[0]],
                });
                Some(Text {
                    tokenizer: Arc::new(tokenizer),
                    inputs: token_inputs,
                })
            }
        };
        Ok(GraphSignature {
            inputs: metadata_in,
            outputs: metadata_out,
            specs: inputs.to_vec(),
            batched: inputs.iter().chain(outputs).all(TensorSpec::batched),
            classes,
            images,
            text,
            graph_inputs,
            summaries: summaries(inputs).into_iter().map(|(_, s)| s).collect(),
        })
    }

    /// The summaries of each of the `rows` rows of `x` (the graph's inputs), row after row:
    /// what the prediction log keeps of an imported classifier's inputs.
    pub fn summaries(&self, x: &[Tensor], rows: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(rows * self.summaries.len());
        for row in 0..rows {
            for summary in &self.summaries {
                let value = match *summary {
                    Summary::Mean(input) => x[input].row_sum(row).map(|(s, n)| s / n as f64),
                    Summary::Tokens { input, mask: true } => x[input].row_sum(row).map(|(s, _)| s),
                    Summary::Tokens { input, mask: false } => {
                        x[input].row_sum(row).map(|(_, n)| n as f64)
                    }
                };
                out.push(value.map_or(f32::NAN, |v| v as f32));
            }
        }
        out
    }

    /// For a classifier, the class of each row of a graph's `outputs`: the column of its highest
    /// score (the first of equals; NaN never wins).
    pub fn classes(&self, outputs: &[Tensor]) -> Option<Vec<usize>> {
        let scores = &outputs[self.classes.as_ref()?.output];
        let columns = *scores.shape.get(1)?;
        let values: Cow<[f32]> = match &scores.values {
            Values::Fp32(v) => Cow::Borrowed(v),
            Values::Fp16(v) => Cow::Owned(v.iter().map(|&x| f32::from(x)).collect()),
            _ => return None,
        };
        Some(argmax_rows(&values, columns.max(1)))
    }

    /// The labels of `classes` (from [`GraphSignature::classes`]).
    pub fn labels(&self, classes: &[usize]) -> Vec<String> {
        let labels = self.classes.as_ref().map_or(&[][..], |c| &c.labels);
        (classes.iter())
            .map(|&c| labels.get(c).cloned().unwrap_or_default())
            .collect()
    }

    /// Whether the graph is a classifier (labels were given for its scores).
    pub fn is_classifier(&self) -> bool {
        self.classes.is_some()
    }

    /// Whether an input takes encoded images.
    pub fn takes_images(&self) -> bool {
        self.images.is_some()
    }

    /// Whether requests are joined along axis 0 (else each runs alone).
    pub fn batched(&self) -> bool {
        self.batched
    }

    /// The graph's tensors for the request's, in the graph's input order, and the rows they
    /// hold (axis 0 when batched; 1 otherwise: the request is one unit of work).
    pub fn prepare(&self, inputs: &[RequestInput]) -> Result<(Vec<Tensor>, usize), ServeError> {
        // The tensors the tokenizer made, at the positions of the inputs they fill.
        let mut made: Vec<Option<Tensor>> = vec![None; self.specs.len()];
        match &self.text {
            Some(text) => match inputs.iter().find(|i| i.name == TEXT) {
                Some(input) => {
                    check_names(&self.inputs, inputs)?;
                    let tokens = tokenized(text, input, &self.specs)?;
                    for (&at, tensor) in text.inputs.iter().zip(tokens) {
                        made[at] = Some(tensor);
                    }
                }
                None => check_names(&self.graph_inputs, inputs)?,
            },
            None => check_names(&self.inputs, inputs)?,
        }
        let mut rows = None;
        let mut tensors = Vec::with_capacity(self.specs.len());
        for (i, spec) in self.specs.iter().enumerate() {
            let (name, tensor) = match made[i].take() {
                Some(tensor) => (TEXT, tensor),
                None => {
                    let input = (inputs.iter())
                        .find(|i| i.name == spec.name)
                        .expect("names were checked");
                    (input.name.as_str(), self.tensor_of(i, input, spec)?)
                }
            };
            let shape = &tensor.shape;
            if self.batched {
                match rows {
                    None => rows = Some(shape[0]),
                    Some(r) if r != shape[0] => {
                        return Err(bad(format!(
                            "input {name:?} has {} rows, the others {r}: every input needs the \
                             same rows",
                            shape[0]
                        )));
                    }
                    Some(_) => {}
                }
            }
            tensors.push(tensor);
        }
        Ok((tensors, if self.batched { rows.unwrap_or(1) } else { 1 }))
    }

    /// The graph's tensor `i` (`spec`) from the request's `input`: encoded images made into it,
    /// or its values as they came.
    fn tensor_of(
        &self,
        i: usize,
        input: &RequestInput,
        spec: &TensorSpec,
    ) -> Result<Tensor, ServeError> {
        if let Some((at, p)) = &self.images
            && *at == i
        {
            return images_of(input, spec, p);
        }
        check_datatype(input, spec.datatype.v2_name())?;
        let shape = shape_of(input, spec)?;
        let count = shape.iter().product();
        Ok(Tensor {
            values: values_of(input, spec.datatype, count)?,
            shape,
        })
    }

    /// The response tensors for the graph's `outputs`, limited to `requested` if given.
    /// A classifier's `label` output holds the labels of `classes` ([`GraphSignature::classes`]).
    pub fn respond(
        &self,
        outputs: Vec<Tensor>,
        classes: Option<&[usize]>,
        requested: Option<&[RequestOutput]>,
    ) -> Result<Vec<ResponseOutput>, ServeError> {
        let wanted = check_requested(&self.outputs, requested)?;
        let replaced = self.classes.as_ref().and_then(|c| c.replaced);
        let mut answer: Vec<ResponseOutput> = (outputs.into_iter().enumerate())
            .filter(|&(i, _)| Some(i) != replaced)
            .zip(&self.outputs)
            .filter(|(_, meta)| wanted(&meta.name))
            .map(|((_, tensor), meta)| ResponseOutput {
                name: meta.name.clone(),
                shape: tensor.shape.iter().map(|&d| d as i64).collect(),
                datatype: tensor.values.datatype().v2_name(),
                parameters: None,
                data: Some(output_data(tensor.values)),
            })
            .collect();
        if let Some(classes) = classes.filter(|_| self.classes.is_some() && wanted(LABEL)) {
            answer.push(ResponseOutput {
                name: LABEL.into(),
                shape: vec![classes.len() as i64],
                datatype: DataType::Bytes.v2_name(),
                parameters: None,
                data: Some(OutputData::Bytes(self.labels(classes))),
            });
        }
        Ok(answer)
    }

    /// One request of zeros (empty strings for BYTES), every varying axis of size 1: the pass
    /// that warms a freshly loaded graph.
    pub fn zeros(&self) -> Vec<Tensor> {
        (self.specs.iter())
            .map(|spec| {
                let shape: Vec<usize> = spec.shape.iter().map(|&d| d.max(1) as usize).collect();
                let n = shape.iter().product();
                let values = match spec.datatype {
                    DataType::Fp32 => Values::Fp32(vec![0.0; n]),
                    DataType::Fp16 => Values::Fp16(vec![f16::ZERO; n]),
                    DataType::Int64 => Values::Int64(vec![0; n]),
                    DataType::Int32 => Values::Int32(vec![0; n]),
                    DataType::Bool => Values::Bool(vec![false; n]),
                    DataType::Bytes => Values::Bytes(vec![String::new(); n]),
                };
                Tensor { shape, values }
            })
            .collect()
    }
}

/// The token tensors of a text model (in the order of `text.inputs`) for the request's texts,
/// one per row: ids, attention mask (1 for a token, 0 for padding), token types, each padded
/// to the longest text with the tokenizer's padding id (0 when it sets none).
fn tokenized(
    text: &Text,
    input: &RequestInput,
    specs: &[TensorSpec],
) -> Result<Vec<Tensor>, ServeError> {
    let rows = byte_rows(input, "texts", MAX_ROWS)?;
    let encodings = (texts(input, rows)?.into_iter().enumerate())
        .map(|(row, t)| {
            (text.tokenizer.encode(t, true))
                .map_err(|e| bad(format!("input {TEXT:?} row {row} cannot be tokenized: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let longest = encodings.iter().map(|e| e.len()).max().unwrap_or(0).max(1);
    if rows * longest > MAX_REQUEST_INPUTS {
        return Err(bad(format!(
            "the texts of this request come to {rows} x {longest} tokens; one request may \
             hold at most {MAX_REQUEST_INPUTS}: send fewer or shorter texts"
        )));
    }
    let pad = text.tokenizer.get_padding().map_or(0, |p| p.pad_id as i64);
    let padded = |values: fn(&tokenizers::Encoding) -> &[u32], fill: i64| -> Vec<i64> {
        (encodings.iter())
            .flat_map(|e| {
                let row = values(e).iter().map(|&v| v as i64);
                row.chain(std::iter::repeat_n(fill, longest - e.len()))
            })
            .collect()
    };
    let columns = [
        padded(tokenizers::Encoding::get_ids, pad),
        padded(tokenizers::Encoding::get_attention_mask, 0),
        padded(tokenizers::Encoding::get_type_ids, 0),
    ];
    Ok((text.inputs.iter().zip(columns))
        .map(|(&at, values)| Tensor {
            shape: vec![rows, longest],
            values: match specs[at].datatype {
                DataType::Int32 => Values::Int32(values.into_iter().map(|v| v as i32).collect()),
                _ => Values::Int64(values),
            },
        })
        .collect())
}

/// The rows of a BYTES input of one value per row (shape `[N]`, or `[N, 1]`), 1 to `most`;
/// `what` the values are, for the message.
fn byte_rows(input: &RequestInput, what: &str, most: usize) -> Result<usize, ServeError> {
    check_datatype(input, DataType::Bytes.v2_name())?;
    match input.shape.as_slice() {
        [n] | [n, 1] if (1..=most as i64).contains(n) => Ok(*n as usize),
        _ => Err(bad(format!(
            "input {:?} has shape {:?}; send [N] {what}, N from 1 to {most}",
            input.name, input.shape
        ))),
    }
}

/// The tensor for `spec` made from the request's encoded images, one per row.
fn images_of(
    input: &RequestInput,
    spec: &TensorSpec,
    p: &Preprocess,
) -> Result<Tensor, ServeError> {
    let most = if spec.shape[0] < 0 {
        MAX_ROWS
    } else {
        spec.shape[0] as usize
    };
    let rows = byte_rows(input, "encoded images", most)?;
    let files = byte_strings(input, rows)?;
    let files: Vec<&[u8]> = files.iter().map(|f| f.as_ref()).collect();
    let (values, each) = crate::image::tensor(p, &files, &input.name, MAX_REQUEST_INPUTS)?;
    let shape = match spec.shape.len() {
        2 => vec![rows, each.iter().product()],
        _ => [&[rows][..], &each].concat(),
    };
    // A side the preprocessing leaves to the image must still be one the graph takes.
    if let Some(axis) = (shape.iter().zip(&spec.shape)).position(|(&n, &d)| d >= 0 && n as i64 != d)
    {
        return Err(bad(format!(
            "input {:?}: the images come out as {shape:?}, but the model takes {:?} (axis {axis} \
             differs); send images of the size it takes",
            input.name, spec.shape
        )));
    }
    Ok(Tensor {
        shape,
        values: Values::Fp32(values),
    })
}

/// The request's shape if it fits `spec` (a varying axis takes 1 to [`MAX_ROWS`] at axis 0,
/// any size elsewhere), holding at most [`MAX_REQUEST_INPUTS`] values.
fn shape_of(input: &RequestInput, spec: &TensorSpec) -> Result<Vec<usize>, ServeError> {
    let fits = input.shape.len() == spec.shape.len()
        && (input.shape.iter().zip(&spec.shape)).all(|(&n, &d)| n >= 0 && (d < 0 || n == d));
    if !fits {
        return Err(bad(format!(
            "input {:?} has shape {:?}; this model expects {:?} (-1: any size)",
            input.name, input.shape, spec.shape
        )));
    }
    if spec.batched() && !(1..=MAX_ROWS as i64).contains(&input.shape[0]) {
        return Err(bad(format!(
            "input {:?} has {} rows; send 1 to {MAX_ROWS} per request",
            input.name, input.shape[0]
        )));
    }
    let count = (input.shape.iter()).try_fold(1u64, |n, &d| n.checked_mul(d as u64));
    if count.is_none_or(|n| n > MAX_REQUEST_INPUTS as u64) {
        return Err(bad(format!(
            "input {:?} has shape {:?}; one request may hold at most {MAX_REQUEST_INPUTS} \
             values per input: split it",
            input.name, input.shape
        )));
    }
    Ok(input.shape.iter().map(|&d| d as usize).collect())
}

/// The input's `count` values as `datatype`, from JSON `data` or binary data.
fn values_of(input: &RequestInput, datatype: DataType, count: usize) -> Result<Values, ServeError> {
    if datatype == DataType::Bytes {
        let texts = texts(input, count)?;
        return Ok(Values::Bytes(
            texts.into_iter().map(str::to_string).collect(),
        ));
    }
    if datatype == DataType::Fp32 {
        let values = numbers(input, count)?;
        return Ok(Values::Fp32(values.iter().map(|&v| v as f32).collect()));
    }
    if let Some(raw) = &input.binary {
        return binary(input, raw, datatype, count);
    }
    let values = crate::signature::all_numbers(input, count)?;
    let at = |i: usize, what: &str| {
        bad(format!(
            "input {:?} holds {} at position {i}: not {what}",
            input.name, values[i]
        ))
    };
    // f64 holds every integer up to 2^53 exactly: JSON token ids and counts are far below.
    let integer = |i: usize, min: f64, max: f64, what: &str| {
        let v = values[i];
        if v.fract() == 0.0 && (min..=max).contains(&v) {
            Ok(v)
        } else {
            Err(at(i, what))
        }
    };
    Ok(match datatype {
        DataType::Fp16 => Values::Fp16(
            (0..count)
                .map(|i| {
                    let v = f16::from_f64(values[i]);
                    if v.is_finite() {
                        Ok(v)
                    } else {
                        Err(at(
                            i,
                            "a finite FP16 number (FP16 holds magnitudes up to 65504)",
                        ))
                    }
                })
                .collect::<Result<_, _>>()?,
        ),
        DataType::Int64 => Values::Int64(
            (0..count)
                .map(|i| integer(i, -(2f64.powi(53)), 2f64.powi(53), "an INT64 integer"))
                .map(|v| v.map(|v| v as i64))
                .collect::<Result<_, _>>()?,
        ),
        DataType::Int32 => Values::Int32(
            (0..count)
                .map(|i| integer(i, i32::MIN as f64, i32::MAX as f64, "an INT32 integer"))
                .map(|v| v.map(|v| v as i32))
                .collect::<Result<_, _>>()?,
        ),
        DataType::Bool => Values::Bool(
            (0..count)
                .map(|i| integer(i, 0.0, 1.0, "a BOOL (0 or 1)").map(|v| v == 1.0))
                .collect::<Result<_, _>>()?,
        ),
        DataType::Fp32 | DataType::Bytes => unreachable!("read above"),
    })
}

/// Binary data (Triton's extension, gRPC's raw contents): little-endian numbers of the
/// datatype's width, BOOL one byte each.
fn binary(
    input: &RequestInput,
    raw: &[u8],
    datatype: DataType,
    count: usize,
) -> Result<Values, ServeError> {
    let width = match datatype {
        DataType::Fp16 => 2,
        DataType::Int64 => 8,
        DataType::Int32 => 4,
        DataType::Bool => 1,
        DataType::Fp32 | DataType::Bytes => unreachable!("read by the JSON readers"),
    };
    if !raw.len().is_multiple_of(width) {
        return Err(bad(format!(
            "input {:?} has {} bytes of binary data: not whole {} values of {width} bytes",
            input.name,
            raw.len(),
            datatype.v2_name()
        )));
    }
    check_count(input, raw.len() / width, count)?;
    Ok(match datatype {
        DataType::Fp16 => Values::Fp16(
            (raw.chunks_exact(2))
                .map(|b| f16::from_le_bytes([b[0], b[1]]))
                .collect(),
        ),
        DataType::Int64 => Values::Int64(
            (raw.chunks_exact(8))
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
        ),
        DataType::Int32 => Values::Int32(
            (raw.chunks_exact(4))
                .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect(),
        ),
        DataType::Bool => Values::Bool(raw.iter().map(|&b| b != 0).collect()),
        DataType::Fp32 | DataType::Bytes => unreachable!("read by the JSON readers"),
    })
}

fn output_data(values: Values) -> OutputData {
    match values {
        Values::Fp32(v) => OutputData::Fp32(v),
        Values::Fp16(v) => OutputData::Fp16(v.into_iter().map(f32::from).collect()),
        Values::Int64(v) => OutputData::Int64(v),
        Values::Int32(v) => OutputData::Int32(v),
        Values::Bool(v) => OutputData::Bool(v),
        Values::Bytes(v) => OutputData::Bytes(v),
    }
}

/// An imported ONNX model as its batcher runs it; see the module documentation.
pub struct Graph {
    model: OnnxModel,
    signature: GraphSignature,
}

impl Graph {
    pub fn new(model: OnnxModel, signature: GraphSignature) -> Graph {
        Graph { model, signature }
    }

    /// One request alone; a batched request of more than `max_batch` rows in passes of
    /// `max_batch` rows, joined again.
    fn alone(
        &self,
        x: &[Tensor],
        rows: usize,
        max_batch: usize,
    ) -> Result<Vec<Tensor>, ServeError> {
        if !self.signature.batched || rows <= max_batch {
            return self.model.run(x.to_vec()).map_err(served);
        }
        let mut parts = Vec::new();
        for start in (0..rows).step_by(max_batch) {
            let range = start..(start + max_batch).min(rows);
            let chunk = x.iter().map(|t| t.rows(range.clone())).collect();
            parts.push(self.model.run(chunk).map_err(served)?);
        }
        joined(&parts)
            .ok_or_else(|| ServeError::Internal("the model's outputs could not be joined".into()))
    }

    /// The batch in one pass: `None` when its requests cannot be joined (their other axes
    /// differ), the pass fails, or an output cannot be split by rows again.
    fn together(&self, batch: &[(Vec<Tensor>, usize)]) -> Option<Vec<Vec<Tensor>>> {
        let inputs = (0..self.signature.specs.len())
            .map(|i| Tensor::concat(&batch.iter().map(|(x, _)| &x[i]).collect::<Vec<_>>()))
            .collect::<Option<Vec<_>>>()?;
        let outputs = self.model.run(inputs).ok()?;
        let rows: usize = batch.iter().map(|(_, n)| n).sum();
        if outputs.iter().any(|t| t.shape.first() != Some(&rows)) {
            return None;
        }
        let mut at = 0;
        Some(
            (batch.iter())
                .map(|(_, n)| {
                    let range = at..at + n;
                    at += n;
                    outputs.iter().map(|t| t.rows(range.clone())).collect()
                })
                .collect(),
        )
    }
}

/// Per output, the parts' tensors joined along axis 0.
fn joined(parts: &[Vec<Tensor>]) -> Option<Vec<Tensor>> {
    (0..parts.first().map_or(0, Vec::len))
        .map(|o| Tensor::concat(&parts.iter().map(|p| &p[o]).collect::<Vec<_>>()))
        .collect()
}

/// A failed run as the caller should see it: a request the graph cannot take is the caller's
/// to fix (a token id past the vocabulary, a sequence too long); anything else is ours.
fn served(e: OnnxError) -> ServeError {
    match e {
        OnnxError::BadInput(why) => ServeError::BadRequest(why),
        OnnxError::Run(_) => ServeError::BadRequest(e.to_string()),
        other => ServeError::Internal(other.to_string()),
    }
}

impl Compute for Graph {
    type Rows = Vec<Tensor>;
    type Answer = Vec<Tensor>;
    type Scratch = ();

    fn scratch(&self, _threads: usize) {}

    fn check(&self, x: &Vec<Tensor>, rows: usize) -> Result<(), String> {
        let inputs = self.signature.specs.len();
        if x.len() != inputs {
            return Err(format!(
                "{} tensors for a model of {inputs} inputs ({})",
                x.len(),
                names(&self.signature.inputs)
            ));
        }
        if self.signature.batched && x.iter().any(|t| t.shape.first() != Some(&rows)) {
            return Err(format!("the inputs do not all hold {rows} rows"));
        }
        Ok(())
    }

    fn run(
        &self,
        _scratch: &mut (),
        batch: &[(Vec<Tensor>, usize)],
        max_batch: usize,
        answers: &mut Vec<Result<Vec<Tensor>, ServeError>>,
    ) {
        if batch.len() > 1
            && let Some(split) = self.together(batch)
        {
            answers.extend(split.into_iter().map(Ok));
            return;
        }
        // One request, or requests that could not share a pass: each alone, so that one
        // request the graph fails on fails alone.
        answers.extend(batch.iter().map(|(x, n)| self.alone(x, *n, max_batch)));
    }
}
