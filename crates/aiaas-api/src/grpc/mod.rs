//! The KServe V2 / Open Inference Protocol over gRPC: Triton's `GRPCInferenceService`
//! (`proto/grpc_service.proto`), so that `tritonclient.grpc` works unchanged. Every RPC calls
//! the same core as its REST endpoint (`inference.rs`) and the same `aiaas_serve::infer`; keys
//! come from the `authorization` metadata and are weighed by the same gate, each RPC needing
//! what its REST endpoint needs ([`GRPC_ROUTES`]); refusals and repository loads and unloads
//! are recorded in the audit log; errors take their gRPC code from the one error table. Served
//! on its own port by the same accept loop as REST, over HTTP/2.

#[cfg(feature = "client")]
pub mod client;
mod convert;

/// The messages, the server and the client generated from the `.proto` file.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    tonic::include_proto!("inference");
}

use crate::auth::{Call, Gate, Refusal};
use crate::error::{ApiError, ErrorCode};
use crate::inference::{self as v2, SERVER_NAME};
use crate::{Access, AppState, MAX_INFER_BYTES, access_rule, audit};
use aiaas_serve::{ServeError, VersionState};
use aiaas_service::KeyRecord;
use aiaas_types::ModelName;
use axum::extract::ConnectInfo;
use axum::http::{Method, StatusCode};
use futures_util::{Stream, StreamExt};
use proto::grpc_inference_service_server::{GrpcInferenceService, GrpcInferenceServiceServer};
use proto::*;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use tonic::{Code, Request, Response, Status, Streaming};

/// The path of each RPC.
pub mod rpc {
    pub const SERVER_LIVE: &str = "/inference.GRPCInferenceService/ServerLive";
    pub const SERVER_READY: &str = "/inference.GRPCInferenceService/ServerReady";
    pub const MODEL_READY: &str = "/inference.GRPCInferenceService/ModelReady";
    pub const SERVER_METADATA: &str = "/inference.GRPCInferenceService/ServerMetadata";
    pub const MODEL_METADATA: &str = "/inference.GRPCInferenceService/ModelMetadata";
    pub const MODEL_INFER: &str = "/inference.GRPCInferenceService/ModelInfer";
    pub const MODEL_STREAM_INFER: &str = "/inference.GRPCInferenceService/ModelStreamInfer";
    pub const REPOSITORY_INDEX: &str = "/inference.GRPCInferenceService/RepositoryIndex";
    pub const REPOSITORY_MODEL_LOAD: &str = "/inference.GRPCInferenceService/RepositoryModelLoad";
    pub const REPOSITORY_MODEL_UNLOAD: &str =
        "/inference.GRPCInferenceService/RepositoryModelUnload";
}

/// Each RPC with the REST route it stands for (method and template): it needs what that route
/// needs in [`RULES`](crate::RULES), so the two transports cannot drift apart.
pub const GRPC_ROUTES: &[(&str, &str, &str)] = &[
    (rpc::SERVER_LIVE, "GET", "/v2/health/live"),
    (rpc::SERVER_READY, "GET", "/v2/health/ready"),
    (rpc::MODEL_READY, "GET", "/v2/models/{name}/ready"),
    (rpc::SERVER_METADATA, "GET", "/v2"),
    (rpc::MODEL_METADATA, "GET", "/v2/models/{name}"),
    (rpc::MODEL_INFER, "POST", "/v2/models/{name}/infer"),
    (rpc::MODEL_STREAM_INFER, "POST", "/v2/models/{name}/infer"),
    (rpc::REPOSITORY_INDEX, "POST", "/v2/repository/index"),
    (
        rpc::REPOSITORY_MODEL_LOAD,
        "POST",
        "/v2/repository/models/{name}/load",
    ),
    (
        rpc::REPOSITORY_MODEL_UNLOAD,
        "POST",
        "/v2/repository/models/{name}/unload",
    ),
];

/// What a call to `rpc` needs: what its REST route needs (`None` for an unknown RPC).
pub fn grpc_access(rpc: &str) -> Option<Access> {
    let &(_, method, template) = GRPC_ROUTES.iter().find(|(r, _, _)| *r == rpc)?;
    access_rule(&Method::from_bytes(method.as_bytes()).ok()?, template)
}

/// Requests of one `ModelStreamInfer` stream computed at once; their answers keep the order.
const STREAM_IN_FLIGHT: usize = 64;

/// The gRPC service as a router for the accept loop.
pub(crate) fn router(gate: Gate) -> axum::Router {
    let service = GrpcInferenceServiceServer::new(Inference { gate })
        .max_decoding_message_size(MAX_INFER_BYTES);
    tonic::service::Routes::new(service)
        .into_axum_router()
        .layer(axum::middleware::map_response(too_large_as_exhausted))
}

/// tonic refuses a message over the size limit as OUT_OF_RANGE, a code the error table never
/// gives; it is answered as the table answers a body too large (RESOURCE_EXHAUSTED).
async fn too_large_as_exhausted(
    mut response: axum::response::Response,
) -> axum::response::Response {
    let headers = response.headers_mut();
    if Status::from_header_map(headers).is_some_and(|s| s.code() == Code::OutOfRange) {
        let message = format!(
            "the message is larger than the {} MiB this server takes",
            MAX_INFER_BYTES >> 20
        );
        let status = Status::from(ApiError::new(ErrorCode::PayloadTooLarge, message));
        status.add_header(headers).expect("a plain message encodes");
    }
    response
}

/// The service: the gate, and the handlers' state behind it.
#[derive(Clone)]
struct Inference {
    gate: Gate,
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Status {
        Status::new(Code::from_i32(e.code.grpc() as i32), e.message)
    }
}

fn serve_error(e: ServeError) -> Status {
    ApiError::from(e).into()
}

fn client_of<T>(request: &Request<T>) -> Option<SocketAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

fn authorization_of<T>(request: &Request<T>) -> Option<&[u8]> {
    request
        .metadata()
        .get("authorization")
        .map(|v| v.as_bytes())
}

/// `None` for the empty string: proto3's "not given".
fn given(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

impl Inference {
    fn state(&self) -> &AppState {
        &self.gate.state
    }

    /// The key that may make the call to `rpc` naming `model` (see [`Gate::admit`]); a refusal
    /// is recorded in the audit log, as the REST gate records it.
    async fn admit<T>(
        &self,
        request: &Request<T>,
        rpc: &str,
        model: Option<&str>,
    ) -> Result<Option<Arc<KeyRecord>>, Status> {
        self.admit_with(authorization_of(request), client_of(request), rpc, model)
            .await
    }

    async fn admit_with(
        &self,
        authorization: Option<&[u8]>,
        client: Option<SocketAddr>,
        rpc: &str,
        model: Option<&str>,
    ) -> Result<Option<Arc<KeyRecord>>, Status> {
        let needs = grpc_access(rpc).expect("every RPC has an access rule");
        let call = Call {
            method: "POST",
            route: rpc,
            needs,
            model,
        };
        match self.gate.admit(&call, authorization) {
            Ok(key) => Ok(key),
            Err(refusal) => {
                let status = refusal.error.status();
                self.audit(refusal.key.as_deref(), rpc, model, status, client)
                    .await;
                Err(refused(refusal))
            }
        }
    }

    /// Records a call in the audit log, with the HTTP status of how it ended.
    async fn audit(
        &self,
        key: Option<&KeyRecord>,
        rpc: &str,
        model: Option<&str>,
        status: StatusCode,
        client: Option<SocketAddr>,
    ) {
        let target = match model {
            Some(model) => format!("{rpc}?model_name={model}"),
            None => rpc.to_string(),
        };
        let status = status.as_u16();
        let entry = audit::entry(key, "POST", rpc.to_string(), &target, status, client);
        self.state().platform.record_audit(&entry).await;
    }

    /// The answer of a call that changes something, recorded in the audit log.
    async fn audited<T>(
        &self,
        key: Option<Arc<KeyRecord>>,
        (rpc, model): (&str, &str),
        client: Option<SocketAddr>,
        result: Result<T, ApiError>,
    ) -> Result<Response<T>, Status> {
        let status = result
            .as_ref()
            .map_or_else(ApiError::status, |_| StatusCode::OK);
        self.audit(key.as_deref(), rpc, Some(model), status, client)
            .await;
        Ok(Response::new(result?))
    }

    /// One infer call, counted as REST counts it.
    async fn infer(
        &self,
        mut message: ModelInferRequest,
        timeout_us: Option<u64>,
    ) -> Result<ModelInferResponse, Status> {
        let started = Instant::now();
        let pool = &self.state().pool;
        let arriving = pool.arriving(&message.model_name);
        let refuse = |name: Option<&ModelName>, e: ServeError| {
            aiaas_serve::count_refused(pool, name, &e, started);
            serve_error(e)
        };
        let name = ModelName::new(std::mem::take(&mut message.model_name))
            .map_err(|e| refuse(None, ServeError::NotFound(e.to_string())))?;
        let version = given(std::mem::take(&mut message.model_version));
        let (request, raw) = convert::request(message, timeout_us)
            .map_err(|m| refuse(Some(&name), ServeError::BadRequest(m)))?;
        let response = aiaas_serve::infer(pool, &name, version.as_deref(), request, arriving)
            .await
            .map_err(serve_error)?;
        Ok(convert::response(response, raw))
    }
}

/// A refusal of the gate as a gRPC status (with `retry-after` for a key over its rate).
fn refused(refusal: Refusal) -> Status {
    let mut status = Status::from(refusal.error);
    if let Some(seconds) = refusal.retry_after_s {
        status
            .metadata_mut()
            .insert("retry-after", seconds.to_string().parse().expect("digits"));
    }
    status
}

type AnswerStream = Pin<Box<dyn Stream<Item = Result<ModelStreamInferResponse, Status>> + Send>>;

#[tonic::async_trait]
impl GrpcInferenceService for Inference {
    async fn server_live(
        &self,
        request: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        self.admit(&request, rpc::SERVER_LIVE, None).await?;
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        request: Request<ServerReadyRequest>,
    ) -> Result<Response<ServerReadyResponse>, Status> {
        self.admit(&request, rpc::SERVER_READY, None).await?;
        let ready = v2::check_ready(self.state()).await.is_ok();
        Ok(Response::new(ServerReadyResponse { ready }))
    }

    /// Ready when the version can answer (it is loaded now if it was not); a model or version
    /// that does not exist is not ready, as Triton answers.
    async fn model_ready(
        &self,
        request: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        self.admit(&request, rpc::MODEL_READY, Some(&request.get_ref().name))
            .await?;
        let ModelReadyRequest { name, version } = request.into_inner();
        let ready = v2::loaded(self.state(), name, given(version).as_deref())
            .await
            .is_ok();
        Ok(Response::new(ModelReadyResponse { ready }))
    }

    async fn server_metadata(
        &self,
        request: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        self.admit(&request, rpc::SERVER_METADATA, None).await?;
        Ok(Response::new(ServerMetadataResponse {
            name: SERVER_NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            extensions: vec!["model_repository".into()],
        }))
    }

    async fn model_metadata(
        &self,
        request: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        self.admit(&request, rpc::MODEL_METADATA, Some(&request.get_ref().name))
            .await?;
        let ModelMetadataRequest { name, version } = request.into_inner();
        let metadata = v2::metadata(self.state(), name, given(version)).await?;
        Ok(Response::new(convert::metadata(metadata)))
    }

    async fn model_infer(
        &self,
        request: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        let model = Some(request.get_ref().model_name.as_str());
        self.admit(&request, rpc::MODEL_INFER, model).await?;
        let timeout_us = convert::grpc_timeout_us(request.metadata());
        let response = self.infer(request.into_inner(), timeout_us).await?;
        Ok(Response::new(response))
    }

    type ModelStreamInferStream = AnswerStream;

    /// Each request of the stream is admitted and answered as a `ModelInfer` call; a failed one
    /// is answered with its error message and the stream goes on.
    async fn model_stream_infer(
        &self,
        request: Request<Streaming<ModelInferRequest>>,
    ) -> Result<Response<AnswerStream>, Status> {
        // A stream without a valid key is refused as a whole.
        self.admit(&request, rpc::MODEL_STREAM_INFER, None).await?;
        let authorization = authorization_of(&request).map(<[u8]>::to_vec);
        let client = client_of(&request);
        let service = self.clone();
        let answers = request
            .into_inner()
            .map(move |message| {
                let (service, authorization) = (service.clone(), authorization.clone());
                async move {
                    let message = message?;
                    let answer = async {
                        let model = Some(message.model_name.as_str());
                        let rpc = rpc::MODEL_STREAM_INFER;
                        service
                            .admit_with(authorization.as_deref(), client, rpc, model)
                            .await?;
                        service.infer(message, None).await
                    };
                    Ok(match answer.await {
                        Ok(response) => ModelStreamInferResponse {
                            error_message: String::new(),
                            infer_response: Some(response),
                        },
                        Err(status) => ModelStreamInferResponse {
                            error_message: status.message().to_string(),
                            infer_response: None,
                        },
                    })
                }
            })
            .buffered(STREAM_IN_FLIGHT);
        Ok(Response::new(Box::pin(answers)))
    }

    async fn repository_index(
        &self,
        request: Request<RepositoryIndexRequest>,
    ) -> Result<Response<RepositoryIndexResponse>, Status> {
        self.admit(&request, rpc::REPOSITORY_INDEX, None).await?;
        let only_ready = request.get_ref().ready;
        let models = v2::index(self.state())
            .await?
            .into_iter()
            .filter(|m| m.state == VersionState::Ready || !only_ready)
            .map(|m| repository_index_response::ModelIndex {
                name: m.name.to_string(),
                version: m.version.map(|v| v.to_string()).unwrap_or_default(),
                state: m.triton_state().into(),
                reason: m.reason().into(),
            })
            .collect();
        Ok(Response::new(RepositoryIndexResponse { models }))
    }

    /// Loads the model's default version from the registry (Triton's `config` and `file:`
    /// parameters, which carry a model in the call, are refused: models come from the registry).
    async fn repository_model_load(
        &self,
        request: Request<RepositoryModelLoadRequest>,
    ) -> Result<Response<RepositoryModelLoadResponse>, Status> {
        let rpc = rpc::REPOSITORY_MODEL_LOAD;
        let model = request.get_ref().model_name.clone();
        let key = self.admit(&request, rpc, Some(&model)).await?;
        let client = client_of(&request);
        let result = match request.get_ref().parameters.keys().next() {
            Some(parameter) => Err(ApiError::bad_request(format!(
                "parameter {parameter:?} is not taken: aiaas loads models from its registry \
                 (upload a version with POST /api/v1/models/{{name}}/versions)"
            ))),
            None => v2::loaded(self.state(), model.clone(), None)
                .await
                .map(|_| RepositoryModelLoadResponse {}),
        };
        self.audited(key, (rpc, &model), client, result).await
    }

    /// Unloads every loaded version of the model (`unload_dependents` is taken and has no
    /// effect: aiaas models have no dependents).
    async fn repository_model_unload(
        &self,
        request: Request<RepositoryModelUnloadRequest>,
    ) -> Result<Response<RepositoryModelUnloadResponse>, Status> {
        let rpc = rpc::REPOSITORY_MODEL_UNLOAD;
        let model = request.get_ref().model_name.clone();
        let key = self.admit(&request, rpc, Some(&model)).await?;
        let client = client_of(&request);
        let unknown = request
            .get_ref()
            .parameters
            .keys()
            .find(|p| *p != "unload_dependents");
        let result = match unknown {
            Some(parameter) => Err(ApiError::bad_request(format!(
                "parameter {parameter:?} is not taken; only unload_dependents is"
            ))),
            None => v2::unload(self.state(), model.clone())
                .await
                .map(|_| RepositoryModelUnloadResponse {}),
        };
        self.audited(key, (rpc, &model), client, result).await
    }
}
