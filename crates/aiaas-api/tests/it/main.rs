//! The management API end to end: an in-process server on 127.0.0.1:0 over a temporary data
//! directory, called over real HTTP.

mod auth;
mod bad_input;
mod concurrency;
mod crafted;
mod dashboard;
mod datasets;
mod flow;
mod grpc;
mod inference;
mod metrics;
mod monitoring;
mod onnx;
mod optimize;
mod privacy;
mod slow_clients;
mod sweeps;
mod tamper;

use aiaas_api::{ErrorCode, ServerLimits};
use aiaas_service::{Platform, ServiceConfig, Store, StoreConfig};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::oneshot;

pub const IRIS: &[u8] = include_bytes!("../../../../datasets/iris.csv");

/// A running server and the platform behind it.
pub struct TestServer {
    pub base: String,
    /// `http://host:port` of V2 over gRPC.
    pub grpc_url: String,
    pub platform: Platform,
    /// A client that sends the admin key with every request.
    pub http: Client,
    /// The admin key the server created at its first start.
    pub admin_key: String,
    /// What `/v2/health/ready` reports; tests may clear it.
    pub ready: Arc<AtomicBool>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(dir: &Path) -> TestServer {
        TestServer::with_config(dir, test_config()).await
    }

    /// A server with the iris dataset and `iris` version 1 trained by [`quick_iris_job`].
    pub async fn with_iris(dir: &Path) -> TestServer {
        let server = TestServer::start(dir).await;
        assert_eq!(
            server.upload("iris", IRIS).await.status(),
            StatusCode::CREATED
        );
        let job = server.train(quick_iris_job()).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["result"]["version"], 1, "{job}");
        server
    }

    pub async fn with_config(dir: &Path, config: ServiceConfig) -> TestServer {
        TestServer::with_limits(dir, config, ServerLimits::default()).await
    }

    pub async fn with_limits(
        dir: &Path,
        config: ServiceConfig,
        limits: ServerLimits,
    ) -> TestServer {
        let store = Store::open(&StoreConfig {
            data_dir: dir.to_path_buf(),
            ..StoreConfig::default()
        })
        .await
        .expect("store opens");
        let platform = Platform::start(store, config)
            .await
            .expect("platform starts");
        // Written on the first start of `dir`; read back on a restart.
        platform
            .ensure_admin_key(dir, None)
            .await
            .expect("the admin key is written");
        let admin_key = std::fs::read_to_string(dir.join(aiaas_service::ADMIN_KEY_FILE))
            .expect("the admin key file")
            .trim()
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc_url = format!("http://{}", grpc.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let ready = Arc::new(AtomicBool::new(true));
        let state = aiaas_api::AppState {
            platform: platform.clone(),
            pool: aiaas_api::model_pool(&platform, Default::default()),
            ready: ready.clone(),
            metrics: Some(metrics_handle()),
            auth: aiaas_api::AuthConfig::default(),
            serves_api: true,
        };
        let task = tokio::spawn(async move {
            aiaas_api::serve(listener, Some(grpc), state, limits, None, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        TestServer {
            base,
            grpc_url,
            platform,
            http: client_with_key(&admin_key),
            admin_key,
            ready,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Imports `archive` as a new version of `model`.
    pub async fn import(&self, model: &str, archive: impl Into<reqwest::Body>) -> Response {
        self.http
            .post(self.url(&format!("/api/v1/models/{model}/versions")))
            .body(archive)
            .send()
            .await
            .unwrap()
    }

    /// Version 1 of `iris` as its export archive.
    pub async fn iris_archive(&self) -> bytes::Bytes {
        self.get("/api/v1/models/iris/versions/1/archive")
            .await
            .bytes()
            .await
            .unwrap()
    }

    pub async fn upload(&self, name: &str, csv: impl Into<reqwest::Body>) -> Response {
        self.http
            .post(self.url(&format!("/api/v1/datasets?name={name}")))
            .body(csv)
            .send()
            .await
            .unwrap()
    }

    /// Submit a training job and wait for it to finish; returns the final job record.
    pub async fn train(&self, body: Value) -> Value {
        let res = self.post_json("/api/v1/jobs", &body).await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap()
        );
        let job: Value = res.json().await.unwrap();
        self.wait_job(job["id"].as_str().unwrap()).await
    }

    pub async fn wait_job(&self, id: &str) -> Value {
        for _ in 0..600 {
            let job: Value = self.get_json(&format!("/api/v1/jobs/{id}")).await;
            if ["succeeded", "failed", "cancelled"].contains(&job["state"].as_str().unwrap()) {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("job {id} did not finish in a minute");
    }

    pub async fn stop(mut self) {
        self.platform.shutdown().await;
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
    }
}

/// A client that sends `key` with every request.
/// Creates an API key from `body` (name, role, rate_limit); its secret and the answer.
pub async fn create_key(server: &TestServer, body: Value) -> (String, Value) {
    let res = server.post_json("/api/v1/keys", &body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    (created["key"].as_str().unwrap().to_string(), created)
}

pub fn client_with_key(key: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse().unwrap(),
    );
    Client::builder().default_headers(headers).build().unwrap()
}

/// The process's one Prometheus recorder, installed by the first server a test starts and
/// shared by all: each test's series add up with the others', so tests compare with `>=`.
pub fn metrics_handle() -> aiaas_api::metrics::PrometheusHandle {
    static HANDLE: OnceLock<aiaas_api::metrics::PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| aiaas_api::metrics::install_recorder().expect("the only recorder"))
        .clone()
}

pub fn test_config() -> ServiceConfig {
    ServiceConfig {
        workers: 1,
        train_threads: 1,
        checkpoint_every: 2,
        ..ServiceConfig::default()
    }
}

/// Status and `error` message of a failed call. Checks the body's shape on the way: a V2 error
/// is Triton's `{"error": ...}`; every other error also carries its `code`, and the status is
/// the one the error table gives that code.
pub async fn error_of(res: Response) -> (StatusCode, String) {
    let status = res.status();
    let (_, message) = coded_error_of(res).await;
    (status, message)
}

/// The code and message of a failed call (V2 errors, which carry no code, give the code their
/// status belongs to), checking as [`error_of`] does.
pub async fn coded_error_of(res: Response) -> (ErrorCode, String) {
    let status = res.status();
    let v2 = res.url().path().starts_with("/v2");
    let body: Value = res.json().await.expect("error bodies are JSON");
    let message = body["error"].as_str().expect("an error field").to_string();
    if v2 {
        assert_eq!(
            body.as_object().unwrap().len(),
            1,
            "V2 errors keep Triton's shape: {body}"
        );
        let code = ErrorCode::ALL
            .into_iter()
            .find(|c| c.status().as_u16() == status.as_u16())
            .expect("a status of the error table");
        return (code, message);
    }
    let name = body["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code in {body}"));
    let code = ErrorCode::ALL
        .into_iter()
        .find(|c| c.as_str() == name)
        .unwrap_or_else(|| panic!("unknown code {name:?}"));
    assert_eq!(code.status().as_u16(), status.as_u16(), "{body}");
    (code, message)
}

/// A small, fast training job on the iris dataset.
/// `archive` with its manifest and weights changed by `edit`; the digest is made right again,
/// so only what `edit` did differs.
pub fn rewritten(archive: &[u8], edit: impl FnOnce(&mut Value, &mut Vec<u8>)) -> Vec<u8> {
    use aiaas_artifact::{MANIFEST_FILE, WEIGHTS_FILE, archive};
    let mut files = archive::unpack(archive, usize::MAX).unwrap();
    let mut manifest: Value = serde_json::from_slice(&files[MANIFEST_FILE]).unwrap();
    let weights = files.get_mut(WEIGHTS_FILE).unwrap();
    edit(&mut manifest, weights);
    manifest["files"][WEIGHTS_FILE] = json!(aiaas_artifact::sha256_hex(weights));
    files.insert(MANIFEST_FILE.into(), serde_json::to_vec(&manifest).unwrap());
    archive::pack(&files).unwrap()
}

pub fn quick_iris_job() -> Value {
    json!({"kind": "train", "dataset": "iris", "epochs": 20, "hidden": [8], "lr": 0.02})
}
