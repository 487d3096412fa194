//! A V2 gRPC client that sends an API key (for `aiaas bench --grpc`): the generated client over
//! tonic's channel, with the key in every call's `authorization` metadata. Here so that only
//! this crate depends on tonic.

use super::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

/// The client: each call carries the key it was made with.
pub type Client = GrpcInferenceServiceClient<InterceptedService<Channel, Key>>;

/// An API key (or none) for the `authorization` metadata.
#[derive(Clone)]
pub struct Key(Option<MetadataValue<Ascii>>);

impl Key {
    /// `Bearer <key>` for a key that is not blank; none otherwise.
    pub fn bearer(key: Option<&str>) -> Result<Key, String> {
        match key.map(str::trim).filter(|k| !k.is_empty()) {
            Some(key) => format!("Bearer {key}")
                .parse()
                .map(|value| Key(Some(value)))
                .map_err(|_| "the API key holds characters gRPC metadata cannot carry".into()),
            None => Ok(Key(None)),
        }
    }
}

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

/// A client on a connection of its own to `addr` (`host:port`, plain HTTP/2).
pub async fn connect(addr: &str, key: Key) -> Result<Client, String> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| format!("{addr} is not host:port: {e}"))?
        .connect()
        .await
        .map_err(|e| format!("cannot reach the aiaas gRPC port at {addr}: {e}"))?;
    Ok(GrpcInferenceServiceClient::with_interceptor(channel, key))
}
