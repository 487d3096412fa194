//! KServe V2 / Open Inference Protocol messages (`specification/protocol/inference_rest.md`):
//! what an infer request and response carry, and a model's metadata.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /v2/models/{m}/infer` body.
#[derive(Clone, Debug, Deserialize)]
pub struct InferRequest {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    pub inputs: Vec<RequestInput>,
    /// Outputs to return (all of them when absent).
    #[serde(default)]
    pub outputs: Option<Vec<RequestOutput>>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RequestInput {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    /// Row-major values, flat or nested.
    #[serde(default)]
    pub data: Value,
    /// The raw bytes of this input when it came as binary data (Triton's binary tensor
    /// extension) instead of `data`.
    #[serde(skip)]
    pub binary: Option<Vec<u8>>,
}

impl InferRequest {
    /// Parse a request body. With Triton's binary tensor extension the body is
    /// `header_length` bytes of JSON followed by the raw bytes of every input whose parameters
    /// give a `binary_data_size`, in input order.
    pub fn parse(body: &[u8], header_length: Option<usize>) -> Result<InferRequest, String> {
        let json_end = header_length.unwrap_or(body.len());
        if json_end > body.len() {
            return Err(format!(
                "Inference-Header-Content-Length is {json_end} but the body has {} bytes",
                body.len()
            ));
        }
        let mut request: InferRequest = serde_json::from_slice(&body[..json_end])
            .map_err(|e| format!("the request body is not a V2 infer request: {e}"))?;
        let mut rest = &body[json_end..];
        for input in &mut request.inputs {
            let Some(size) = input
                .parameters
                .as_ref()
                .and_then(|p| p.get("binary_data_size"))
            else {
                continue;
            };
            let size = size
                .as_u64()
                .and_then(|s| usize::try_from(s).ok())
                .ok_or_else(|| format!("input {:?}: binary_data_size is {size}", input.name))?;
            if size > rest.len() {
                return Err(format!(
                    "input {:?} declares {size} bytes of binary data; only {} follow the JSON",
                    input.name,
                    rest.len()
                ));
            }
            input.binary = Some(rest[..size].to_vec());
            rest = &rest[size..];
        }
        if !rest.is_empty() {
            return Err(format!(
                "{} bytes of binary data follow the JSON that no input claims",
                rest.len()
            ));
        }
        Ok(request)
    }

    /// Which outputs the caller wants as binary data: a per-output `binary_data` parameter,
    /// else the request's `binary_data_output` parameter.
    pub fn binary_outputs(&self) -> BinaryOutputs {
        let flag = |p: &Option<Map<String, Value>>, key: &str| {
            p.as_ref().and_then(|p| p.get(key)).and_then(Value::as_bool)
        };
        BinaryOutputs {
            all: flag(&self.parameters, "binary_data_output").unwrap_or(false),
            named: self
                .outputs
                .iter()
                .flatten()
                .filter_map(|o| flag(&o.parameters, "binary_data").map(|b| (o.name.clone(), b)))
                .collect(),
        }
    }
}

/// See [`InferRequest::binary_outputs`].
#[derive(Clone, Debug, Default)]
pub struct BinaryOutputs {
    all: bool,
    named: Vec<(String, bool)>,
}

impl BinaryOutputs {
    fn wants(&self, name: &str) -> bool {
        self.named
            .iter()
            .find(|(n, _)| n == name)
            .map_or(self.all, |(_, b)| *b)
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct RequestOutput {
    pub name: String,
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
}

/// The infer response body.
#[derive(Clone, Debug, Serialize)]
pub struct InferResponse {
    pub model_name: String,
    pub model_version: String,
    pub id: String,
    pub outputs: Vec<ResponseOutput>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ResponseOutput {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: &'static str,
    /// `binary_data_size` when the values travel as binary data after the JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<OutputData>,
}

impl InferResponse {
    /// Move the outputs the caller wants as binary out of the JSON; returns their bytes, to be
    /// sent after the JSON in output order (empty when none is binary).
    pub fn take_binary(&mut self, wanted: &BinaryOutputs) -> Vec<u8> {
        let mut binary = Vec::new();
        for output in &mut self.outputs {
            if !wanted.wants(&output.name) {
                continue;
            }
            let start = binary.len();
            match output.data.take() {
                Some(OutputData::Fp32(values)) => values
                    .iter()
                    .for_each(|v| binary.extend_from_slice(&v.to_le_bytes())),
                Some(OutputData::Bytes(values)) => {
                    for v in values {
                        binary.extend_from_slice(&(v.len() as u32).to_le_bytes());
                        binary.extend_from_slice(v.as_bytes());
                    }
                }
                None => {}
            }
            output.parameters = Some(serde_json::json!({"binary_data_size": binary.len() - start}));
        }
        binary
    }
}

/// Output values, flat and row-major.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OutputData {
    Fp32(Vec<f32>),
    Bytes(Vec<String>),
}

/// One tensor a model takes or gives.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TensorMetadata {
    pub name: String,
    pub datatype: &'static str,
    /// `-1` for the batch dimension.
    pub shape: Vec<i64>,
}

/// `GET /v2/models/{m}` body.
#[derive(Clone, Debug, Serialize)]
pub struct ModelMetadata {
    pub name: String,
    pub versions: Vec<String>,
    pub platform: &'static str,
    pub inputs: Vec<TensorMetadata>,
    pub outputs: Vec<TensorMetadata>,
}
