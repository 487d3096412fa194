//! What an imported model takes and gives, and where its file came from: the tensors' names,
//! datatypes and shapes as the V2 protocol states them, and the ONNX file's own account of
//! itself. The manifest records them at import; serving answers V2 metadata from them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The tensor datatypes served, by their V2 names (`FP32`, ...).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DataType {
    Fp32,
    Fp16,
    Int64,
    Int32,
    Bool,
    /// UTF-8 text, one string per element (ONNX `STRING`).
    Bytes,
}

impl DataType {
    /// The V2 protocol's name (`FP32`, ...).
    pub fn v2_name(self) -> &'static str {
        match self {
            DataType::Fp32 => "FP32",
            DataType::Fp16 => "FP16",
            DataType::Int64 => "INT64",
            DataType::Int32 => "INT32",
            DataType::Bool => "BOOL",
            DataType::Bytes => "BYTES",
        }
    }
}

/// One input or output of a model: its name, datatype and shape, `-1` for an axis whose size
/// varies (a batch, a sequence length).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub datatype: DataType,
    pub shape: Vec<i64>,
}

impl TensorSpec {
    /// Whether axis 0 varies: requests can be batched along it.
    pub fn batched(&self) -> bool {
        self.shape.first() == Some(&-1)
    }
}

/// Where an ONNX model came from, as its file says.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnnxSource {
    pub ir_version: i64,
    /// The default (`ai.onnx`) operator set's version.
    pub opset: i64,
    pub producer_name: String,
    pub producer_version: String,
    /// The file's `metadata_props` (labels may travel there).
    pub metadata: BTreeMap<String, String>,
}

/// What runs an imported graph.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphEngine {
    /// tract, for any graph it supports.
    #[default]
    Tract,
    /// The platform's own dense engine, for a graph that is a plain dense network.
    Native,
}
