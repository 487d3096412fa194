//! The CLI as a client of an aiaas server: one small HTTP [`Client`] for the management API under
//! `/api/v1`, and one module per command group. Responses are read as `serde_json::Value` and
//! their fields looked up defensively, so the client keeps working when the server adds or
//! renames a field (a missing field prints as `-`).
//!
//! The binary stays synchronous: each command builds a current-thread tokio runtime with
//! [`block_on`] and runs its requests on it.
//!
//! `train`, `predict` and `optimize` here are the server side of commands that also run locally
//! (`main` picks); what they print like a local run does comes from [`crate::output`].

pub mod bench;
mod bench_grpc;
pub mod datasets;
pub mod jobs;
pub mod keys;
pub mod models;
pub mod monitor;
pub mod optimize;
pub mod predict;
mod show;
mod sse;
pub mod sweeps;
pub mod train;

use bytes::Bytes;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

/// Longest wait for a TCP connection to the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest server error body quoted in an error message.
const MAX_ERROR_CHARS: usize = 500;

/// Runs a command's `future` to completion on a fresh current-thread runtime.
pub fn block_on<T>(future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("starting the async runtime: {e}"))?
        .block_on(future)
}

/// Why a request to the server did not give a usable answer.
#[derive(Debug)]
pub enum ClientError {
    /// No connection could be made.
    Unreachable { url: String, cause: String },
    /// The server answered with a non-2xx status; `message` is its `error` field.
    Status { status: StatusCode, message: String },
    /// The connection broke, timed out, or the answer could not be read or parsed.
    Transport { url: String, cause: String },
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Unreachable { url, cause } => write!(
                f,
                "cannot reach the aiaas server at {url} (start it with `aiaas serve`, or pass \
                 --server / set AIAAS_URL): {cause}"
            ),
            ClientError::Status { status, message } => {
                write!(f, "server answered {status}: {message}")
            }
            ClientError::Transport { url, cause } => {
                write!(f, "talking to the aiaas server at {url}: {cause}")
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// A connection to one aiaas server's management API.
pub struct Client {
    /// Server URL without a trailing slash, e.g. `http://127.0.0.1:8080`.
    base: String,
    http: reqwest::Client,
}

/// What a command needs to be let in, beyond the server's URL: the API key it sends
/// (`--api-key`) and a CA it trusts for https (`--ca-cert`).
#[derive(Default)]
pub struct Access<'a> {
    pub key: Option<&'a str>,
    pub ca_cert: Option<&'a Path>,
}

impl Access<'_> {
    /// An HTTP client builder that sends the key with every request (as a header marked
    /// sensitive, so that it never shows in debug output) and trusts the CA.
    pub fn http(&self) -> anyhow::Result<reqwest::ClientBuilder> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(key) = self.key.map(str::trim).filter(|k| !k.is_empty()) {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| anyhow::anyhow!("--api-key holds characters a header cannot carry"))?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let mut builder = reqwest::Client::builder().default_headers(headers);
        if let Some(path) = self.ca_cert {
            let pem = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("--ca-cert {}: {e}", path.display()))?;
            let ca = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                anyhow::anyhow!("--ca-cert {} is not a PEM certificate: {e}", path.display())
            })?;
            builder = builder.add_root_certificate(ca);
        }
        Ok(builder)
    }
}

impl Client {
    /// A client for the server at `server`: `http://host:port`, optionally with a path prefix;
    /// a bare `host:port` means `http://host:port`, and an empty one (`AIAAS_URL=`) the default.
    /// Every request carries the key of `access` when there is one.
    pub fn new(server: &str, access: &Access) -> anyhow::Result<Client> {
        let given = match server.trim() {
            "" => crate::cli::DEFAULT_SERVER,
            given => given,
        };
        let base = if given.contains("://") {
            given.trim_end_matches('/').to_string()
        } else {
            format!("http://{}", given.trim_end_matches('/'))
        };
        let url = reqwest::Url::parse(&base)
            .map_err(|e| anyhow::anyhow!("--server {server:?} is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            anyhow::bail!("--server {server:?} must be an http:// or https:// URL with a host");
        }
        let http = access
            .http()?
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("aiaas/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("building the HTTP client: {e}"))?;
        Ok(Client { base, http })
    }

    /// The server URL as given, for messages.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Full URL of an API path such as `/datasets/iris`.
    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// `GET path` as JSON.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        let response = self.send(self.http.get(self.url(path))).await?;
        self.json(response).await
    }

    /// `GET path` as JSON, or `None` when the server answers 404.
    pub async fn get_if_exists(&self, path: &str) -> Result<Option<Value>, ClientError> {
        let response = self.connect(self.http.get(self.url(path))).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = check(response).await?;
        self.json(response).await.map(Some)
    }

    /// `POST path` with a JSON body, answered with JSON.
    pub async fn post_json(&self, path: &str, body: &impl Serialize) -> Result<Value, ClientError> {
        let response = self.send(self.http.post(self.url(path)).json(body)).await?;
        self.json(response).await
    }

    /// `POST` a JSON body to a path outside the management API (such as `/v2/...`).
    pub async fn post_json_at_root(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let response = self.send(self.http.post(url).json(body)).await?;
        self.json(response).await
    }

    /// `POST path` without a body, answered with JSON.
    pub async fn post(&self, path: &str) -> Result<Value, ClientError> {
        let response = self.send(self.http.post(self.url(path))).await?;
        self.json(response).await
    }

    /// `POST path?query` with raw bytes of `content_type`, answered with JSON.
    pub async fn post_bytes(
        &self,
        path: &str,
        query: &[(&str, &str)],
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Value, ClientError> {
        let request = self
            .http
            .post(self.url(path))
            .query(query)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        let response = self.send(request).await?;
        self.json(response).await
    }

    /// `PUT path` with a JSON body, answered with JSON.
    pub async fn put_json(&self, path: &str, body: &impl Serialize) -> Result<Value, ClientError> {
        let response = self.send(self.http.put(self.url(path)).json(body)).await?;
        self.json(response).await
    }

    /// `DELETE path`; the answer's body is ignored.
    pub async fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.send(self.http.delete(self.url(path))).await?;
        Ok(())
    }

    /// `GET path?query` as a streaming response, to read with [`Response::chunk`].
    pub async fn get_stream(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Response, ClientError> {
        self.send(self.http.get(self.url(path)).query(query)).await
    }

    /// The next piece of a streaming response's body; `None` at its end.
    pub async fn chunk(&self, response: &mut Response) -> Result<Option<Bytes>, ClientError> {
        response.chunk().await.map_err(|e| self.transport(&e))
    }

    /// Sends a request and turns a non-2xx answer into [`ClientError::Status`].
    async fn send(&self, request: RequestBuilder) -> Result<Response, ClientError> {
        check(self.connect(request).await?).await
    }

    /// Sends a request; only failures to get any answer are errors.
    async fn connect(&self, request: RequestBuilder) -> Result<Response, ClientError> {
        request.send().await.map_err(|e| {
            if e.is_connect() {
                ClientError::Unreachable {
                    url: self.base.clone(),
                    cause: root_cause(&e),
                }
            } else {
                self.transport(&e)
            }
        })
    }

    async fn json(&self, response: Response) -> Result<Value, ClientError> {
        let bytes = response.bytes().await.map_err(|e| self.transport(&e))?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Transport {
            url: self.base.clone(),
            cause: format!("the answer is not JSON: {e}"),
        })
    }

    fn transport(&self, e: &reqwest::Error) -> ClientError {
        let cause = if e.is_timeout() {
            "timed out".to_string()
        } else {
            root_cause(e)
        };
        ClientError::Transport {
            url: self.base.clone(),
            cause,
        }
    }
}

/// Passes a 2xx response through; anything else becomes [`ClientError::Status`] carrying the
/// server's `{"error": ...}` message (or the start of its body when it sent something else).
async fn check(response: Response) -> Result<Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let message = match serde_json::from_str::<Value>(&body) {
        Ok(v) if v.get("error").and_then(Value::as_str).is_some() => {
            v["error"].as_str().unwrap_or_default().to_string()
        }
        _ if body.trim().is_empty() => status
            .canonical_reason()
            .unwrap_or("no message")
            .to_string(),
        _ => body.trim().chars().take(MAX_ERROR_CHARS).collect(),
    };
    Err(ClientError::Status { status, message })
}

/// The innermost cause of an error: "Connection refused (os error 111)" rather than reqwest's
/// chain of "error sending request for url ...".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_url_is_checked_and_trimmed() {
        let client = Client::new("http://127.0.0.1:8080/", &Access::default()).unwrap();
        assert_eq!(client.url("/health"), "http://127.0.0.1:8080/api/v1/health");
        let bare = Client::new("localhost:9000", &Access::default()).unwrap();
        assert_eq!(bare.base(), "http://localhost:9000");
        assert_eq!(
            Client::new(" ", &Access::default()).unwrap().base(),
            crate::cli::DEFAULT_SERVER
        );
        assert!(Client::new("ftp://host", &Access::default()).is_err());
        assert!(Client::new("http://", &Access::default()).is_err());
    }
}
