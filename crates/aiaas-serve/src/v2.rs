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
    pub data: OutputData,
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
