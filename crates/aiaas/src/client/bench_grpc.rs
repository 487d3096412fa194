//! The gRPC side of `aiaas bench`: one call of the chosen endpoint over the V2
//! `GRPCInferenceService`, with the API key in each call's `authorization` metadata.

use crate::cli::BenchEndpoint;
use aiaas_api::grpc::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use aiaas_api::grpc::proto::model_infer_request::InferInputTensor;
use aiaas_api::grpc::proto::{
    ModelInferRequest, ModelMetadataRequest, ModelMetadataResponse, ModelReadyRequest,
    ServerLiveRequest,
};
use anyhow::Context;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

/// Puts the key (if any) in every call's metadata.
#[derive(Clone)]
struct Key(Option<MetadataValue<Ascii>>);

impl Interceptor for Key {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

type Client = GrpcInferenceServiceClient<InterceptedService<Channel, Key>>;

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
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .with_context(|| format!("--grpc {addr} is not host:port"))?
        .connect()
        .await
        .with_context(|| format!("cannot reach the aiaas gRPC port at {addr}"))?;
    Ok(GrpcInferenceServiceClient::with_interceptor(channel, key))
}

impl GrpcCall {
    /// Connects to `addr` (`host:port`) and prepares the call: for infer, one row for the
    /// model's inputs as its metadata gives them, as raw bytes (`values(n)`: a number input's
    /// `n` values).
    pub async fn new(
        addr: &str,
        key: Option<&str>,
        endpoint: BenchEndpoint,
        model: &str,
        values: fn(usize) -> Vec<f64>,
    ) -> anyhow::Result<GrpcCall> {
        let key = match key.map(str::trim).filter(|k| !k.is_empty()) {
            Some(key) => Some(format!("Bearer {key}").parse().map_err(|_| {
                anyhow::anyhow!("--api-key holds characters gRPC metadata cannot carry")
            })?),
            None => None,
        };
        let key = Key(key);
        let mut client = connect(addr, key.clone()).await?;
        let metadata = client
            .model_metadata(ModelMetadataRequest {
                name: model.to_string(),
                version: String::new(),
            })
            .await
            .map_err(|s| anyhow::anyhow!("model {model:?} on {addr}: {}", s.message()))?
            .into_inner();
        Ok(GrpcCall {
            request: one_row(model, &metadata, values),
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
