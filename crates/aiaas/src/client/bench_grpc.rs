//! The gRPC side of `aiaas bench`: one call of the chosen endpoint over the V2
//! `GRPCInferenceService`, with the API key in each call's `authorization` metadata.

use crate::cli::BenchEndpoint;
use aiaas_api::grpc::client::{self, Client, Key};
use aiaas_api::grpc::proto::infer_parameter::ParameterChoice;
use aiaas_api::grpc::proto::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use aiaas_api::grpc::proto::{
    InferParameter, ModelInferRequest, ModelMetadataRequest, ModelMetadataResponse,
    ModelReadyRequest, ServerLiveRequest,
};
use aiaas_serve::v2::{InferRequest, OutputData, TensorData};
use serde_json::Value;
use std::collections::HashMap;
/// One call of the load, ready to repeat.
#[derive(Clone)]
pub struct GrpcCall {
    client: Client,
    /// Where, and with which key: for more connections.
    addr: String,
    key: Key,
    endpoint: BenchEndpoint,
    model: String,
    /// The infer request (for `infer`).
    request: ModelInferRequest,
}

async fn connect(addr: &str, key: Key) -> anyhow::Result<Client> {
    client::connect(addr, key)
        .await
        .map_err(|e| anyhow::anyhow!("--grpc: {e}"))
}

impl GrpcCall {
    /// Connects to `addr` (`host:port`) and prepares the call: for infer, `payload` (a V2
    /// request read from `--payload`) or else one row for the model's inputs as its metadata
    /// gives them (`values(n)`: a number input's `n` values), with raw contents either way.
    pub async fn new(
        addr: &str,
        key: Option<&str>,
        endpoint: BenchEndpoint,
        model: &str,
        payload: Option<InferRequest>,
        values: fn(usize) -> Vec<f64>,
    ) -> anyhow::Result<GrpcCall> {
        let key = Key::bearer(key).map_err(|e| anyhow::anyhow!("--api-key: {e}"))?;
        let mut client = connect(addr, key.clone()).await?;
        let metadata = client
            .model_metadata(ModelMetadataRequest {
                name: model.to_string(),
                version: String::new(),
            })
            .await
            .map_err(|s| anyhow::anyhow!("model {model:?} on {addr}: {}", s.message()))?
            .into_inner();
        let request = match payload {
            Some(payload) => raw_request(model, payload)?,
            None => one_row(model, &metadata, values),
        };
        Ok(GrpcCall {
            request,
            client,
            addr: addr.to_string(),
            key,
            endpoint,
            model: model.to_string(),
        })
    }

    /// The same call over a connection of its own (each load task has one, as over REST).
    pub async fn reconnected(&self) -> anyhow::Result<GrpcCall> {
        Ok(GrpcCall {
            client: connect(&self.addr, self.key.clone()).await?,
            ..self.clone()
        })
    }

    /// Sends the call once; whether it was answered without error.
    pub async fn send(&mut self) -> bool {
        let model = || self.model.clone();
        match self.endpoint {
            BenchEndpoint::Infer => self.client.model_infer(self.request.clone()).await.is_ok(),
            BenchEndpoint::Metadata => {
                let request = ModelMetadataRequest {
                    name: model(),
                    version: String::new(),
                };
                self.client.model_metadata(request).await.is_ok()
            }
            BenchEndpoint::Ready => {
                let request = ModelReadyRequest {
                    name: model(),
                    version: String::new(),
                };
                let answer = self.client.model_ready(request).await;
                answer.is_ok_and(|r| r.into_inner().ready)
            }
            BenchEndpoint::Live => self.client.server_live(ServerLiveRequest {}).await.is_ok(),
        }
    }
}

/// A batch-1 request for the model's inputs, as raw bytes: `values` as FP32, empty strings
/// for BYTES.
fn one_row(
    model: &str,
    metadata: &ModelMetadataResponse,
    values: fn(usize) -> Vec<f64>,
) -> ModelInferRequest {
    let mut request = ModelInferRequest {
        model_name: model.to_string(),
        ..Default::default()
    };
    for input in &metadata.inputs {
        let shape: Vec<i64> = input.shape.iter().map(|&d| d.max(1)).collect();
        let count = shape.iter().product::<i64>() as usize;
        let raw: Vec<u8> = if input.datatype == "BYTES" {
            std::iter::repeat_n([0u8; 4], count).flatten().collect()
        } else {
            values(count)
                .iter()
                .flat_map(|&v| (v as f32).to_le_bytes())
                .collect()
        };
        request.inputs.push(InferInputTensor {
            name: input.name.clone(),
            datatype: input.datatype.clone(),
            shape,
            ..Default::default()
        });
        request.raw_input_contents.push(raw);
    }
    request
}

/// A V2 request (a `--payload` file) as a gRPC message with raw contents, as
/// `tritonclient.grpc` sends it: FP32 values little-endian, BYTES as length and bytes; its
/// requested outputs and its parameters kept.
fn raw_request(model: &str, request: InferRequest) -> anyhow::Result<ModelInferRequest> {
    let mut message = ModelInferRequest {
        model_name: model.to_string(),
        id: request.id.unwrap_or_default(),
        parameters: parameters(request.parameters)?,
        ..Default::default()
    };
    for input in request.inputs {
        let raw = match (input.binary, input.data) {
            (Some(bytes), _) => bytes,
            (None, TensorData::Numbers(values)) if input.datatype == "FP32" => values
                .iter()
                .flat_map(|&v| (v as f32).to_le_bytes())
                .collect(),
            (None, TensorData::Texts(texts)) => {
                let mut bytes = Vec::new();
                OutputData::Bytes(texts).write_raw(&mut bytes);
                bytes
            }
            (None, TensorData::Empty) => Vec::new(),
            (None, _) => anyhow::bail!(
                "input {:?}: over gRPC the bench sends FP32 numbers or BYTES strings",
                input.name
            ),
        };
        message.inputs.push(InferInputTensor {
            name: input.name,
            datatype: input.datatype,
            shape: input.shape,
            ..Default::default()
        });
        message.raw_input_contents.push(raw);
    }
    for output in request.outputs.into_iter().flatten() {
        message.outputs.push(InferRequestedOutputTensor {
            name: output.name,
            parameters: parameters(output.parameters)?,
        });
    }
    Ok(message)
}

/// JSON parameters as the protocol's typed ones (booleans, integers, numbers, strings).
fn parameters(
    parameters: Option<serde_json::Map<String, Value>>,
) -> anyhow::Result<HashMap<String, InferParameter>> {
    parameters
        .into_iter()
        .flatten()
        .map(|(name, value)| {
            let choice = match &value {
                Value::Bool(b) => ParameterChoice::BoolParam(*b),
                Value::Number(n) if n.is_u64() => ParameterChoice::Uint64Param(n.as_u64().unwrap_or(0)),
                Value::Number(n) if n.is_i64() => ParameterChoice::Int64Param(n.as_i64().unwrap_or(0)),
                Value::Number(n) => ParameterChoice::DoubleParam(n.as_f64().unwrap_or(f64::NAN)),
                Value::String(s) => ParameterChoice::StringParam(s.clone()),
                other => anyhow::bail!("parameter {name:?} is {other}: gRPC parameters are booleans, numbers or strings"),
            };
            let parameter = InferParameter {
                parameter_choice: Some(choice),
            };
            Ok((name, parameter))
        })
        .collect()
}
