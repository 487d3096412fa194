//! Bad requests get a 4xx with a message a user can act on, and the server keeps serving.

use crate::{IRIS, TestServer, coded_error_of, error_of, test_config};
use aiaas_api::ErrorCode;
use aiaas_service::ServiceConfig;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_4xx_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig {
        max_dataset_bytes: 8 << 10,
        ..test_config()
    };
    let server = TestServer::with_config(dir.path(), config).await;
    assert_eq!(
        server.upload("iris", IRIS).await.status(),
        StatusCode::CREATED
    );

    let cases: Vec<(reqwest::RequestBuilder, ErrorCode, &str)> =
        vec![
        (
            server
                .http
                .post(server.url("/api/v1/jobs"))
                .header("content-type", "application/json")
                .body("{\"kind\": \"train\", "),
            ErrorCode::BadRequest,
            "",
        ),
        (
            server
                .http
                .post(server.url("/api/v1/jobs"))
                .json(&json!({"kind": "train", "dataset": "nope"})),
            ErrorCode::DatasetNotFound,
            "nope",
        ),
        (
            server
                .http
                .post(server.url("/api/v1/jobs"))
                .json(&json!({"kind": "train", "dataset": "iris", "lr": -1.0})),
            ErrorCode::InvalidInput,
            "learning rate",
        ),
        (
            server
                .http
                .post(server.url("/api/v1/jobs"))
                .json(&json!({"kind": "train", "dataset": "iris", "hidden": [0]})),
            ErrorCode::InvalidInput,
            "hidden",
        ),
        (
            server
                .http
                .post(server.url("/api/v1/jobs"))
                .json(&json!({"kind": "train", "dataset": "iris", "epocs": 3})),
            ErrorCode::InvalidInput,
            "epocs",
        ),
        (
            server.http.post(server.url("/api/v1/jobs")).json(
                &json!({"kind": "train", "dataset": "iris", "val_split": 0.7, "test_split": 0.5}),
            ),
            ErrorCode::InvalidInput,
            "val_split",
        ),
        (
            server
                .http
                .post(server.url("/api/v1/jobs"))
                .json(&json!({"kind": "train", "dataset": "../etc"})),
            ErrorCode::InvalidInput,
            "invalid dataset name",
        ),
        (
            server
                .http
                .post(server.url("/api/v1/datasets?name=a..b"))
                .body("x,target\n1,2\n"),
            ErrorCode::BadRequest,
            "invalid dataset name",
        ),
        (
            server
                .http
                .post(server.url("/api/v1/datasets?name=a%2Fb"))
                .body("x,target\n1,2\n"),
            ErrorCode::BadRequest,
            "invalid dataset name",
        ),
        (
            server.http.get(server.url("/api/v1/models/a%2F..%2Fb")),
            ErrorCode::BadRequest,
            "invalid model name",
        ),
        (
            server
                .http
                .post(server.url("/api/v1/datasets?name=big"))
                .body(vec![b'1'; 9 << 10]),
            ErrorCode::PayloadTooLarge,
            "larger",
        ),
        (
            server
                .http
                .post(server.url("/api/v1/datasets?name=bad"))
                .body("a,b\n1\n"),
            ErrorCode::InvalidInput,
            "line",
        ),
        (
            server
                .http
                .post(server.url("/api/v1/datasets?name=iris"))
                .body(IRIS),
            ErrorCode::Conflict,
            "already exists",
        ),
        (
            server.http.get(server.url("/api/v1/models/ghost")),
            ErrorCode::ModelNotFound,
            "ghost",
        ),
        (
            server.http.get(server.url("/api/v1/models/ghost?limit=0")),
            ErrorCode::BadRequest,
            "limit must be 1 to 1000000",
        ),
        (
            server.http.get(server.url("/api/v1/models/ghost?limit=2147483648")),
            ErrorCode::BadRequest,
            "limit must be 1 to",
        ),
        (
            server.http.get(server.url("/api/v1/models/ghost?before=0")),
            ErrorCode::BadRequest,
            "before must be a version number",
        ),
        (
            server.http.get(server.url("/api/v1/models/ghost?before=-2")),
            ErrorCode::BadRequest,
            "before",
        ),
        (
            server.http.get(server.url("/api/v1/jobs/job-ghost")),
            ErrorCode::JobNotFound,
            "job-ghost",
        ),
        (
            server
                .http
                .put(server.url("/api/v1/models/ghost/aliases/champion"))
                .json(&json!({"version": 1})),
            ErrorCode::ModelNotFound,
            "ghost",
        ),
        (
            server
                .http
                .put(server.url("/api/v1/models/ghost/aliases/champion"))
                .json(&json!({"version": "one"})),
            ErrorCode::InvalidInput,
            "version",
        ),
        (
            server
                .http
                .post(server.url("/api/v1/models/m/versions"))
                .body("not a tar archive"),
            ErrorCode::InvalidInput,
            "archive",
        ),
        (
            server.http.get(server.url("/api/v1/nothing-here")),
            ErrorCode::RouteNotFound,
            "no such endpoint",
        ),
    ];
    for (request, code, needle) in cases {
        let res = request.send().await.unwrap();
        let url = res.url().to_string();
        let (got, message) = coded_error_of(res).await;
        assert_eq!(got, code, "{url}: {message}");
        assert!(
            message.contains(needle),
            "{url}: {message:?} lacks {needle:?}"
        );
    }

    // Job requests that parse but ask for the impossible.
    let jobs = [
        (json!({"epochs": 4294967296u64}), "epochs"),
        (json!({"hidden": [4000000000u64]}), "hidden layer"),
        (json!({"hidden": [60000, 60000]}), "parameters"),
        (
            json!({"schedule": {"kind": "step", "step_size": 1, "gamma": -2.0}}),
            "gamma",
        ),
        (
            json!({"schedule": {"kind": "cosine", "t_max": 5, "eta_min": -1e38}}),
            "eta_min",
        ),
    ];
    for (fields, needle) in jobs {
        let mut body = json!({"kind": "train", "dataset": "iris"});
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        let (status, message) = error_of(server.post_json("/api/v1/jobs", &body).await).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {message}"
        );
        assert!(
            message.contains(needle),
            "{body}: {message:?} lacks {needle:?}"
        );
    }

    // Still serving, and nothing was registered by the bad calls.
    assert_eq!(server.get("/api/v1/health").await.status(), StatusCode::OK);
    let datasets: serde_json::Value = server.get_json("/api/v1/datasets").await;
    assert_eq!(datasets.as_array().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_and_docs_page_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let doc: serde_json::Value = server.get_json("/api/v1/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'));
    // Every route the router serves, with its methods.
    let routes = [
        ("/api/v1/health", &["get"][..]),
        ("/api/v1/datasets", &["get", "post"]),
        ("/api/v1/datasets/{name}", &["get", "delete"]),
        ("/api/v1/jobs", &["get", "post"]),
        ("/api/v1/jobs/{id}", &["get"]),
        ("/api/v1/jobs/{id}/cancel", &["post"]),
        ("/api/v1/jobs/{id}/events", &["get"]),
        ("/api/v1/sweeps", &["get", "post"]),
        ("/api/v1/sweeps/{id}", &["get"]),
        ("/api/v1/sweeps/{id}/cancel", &["post"]),
        ("/api/v1/models", &["get"]),
        ("/api/v1/models/{name}", &["get"]),
        ("/api/v1/models/{name}/versions", &["post"]),
        (
            "/api/v1/models/{name}/versions/{version}",
            &["get", "delete"],
        ),
        ("/api/v1/models/{name}/versions/{version}/archive", &["get"]),
        (
            "/api/v1/models/{name}/versions/{version}/manifest",
            &["get"],
        ),
        ("/api/v1/models/{name}/versions/{version}/profile", &["get"]),
        ("/api/v1/models/{name}/aliases/{alias}", &["put", "delete"]),
        ("/api/v1/models/{name}/versions/{version}/tags", &["get"]),
        (
            "/api/v1/models/{name}/versions/{version}/tags/{key}",
            &["put", "delete"],
        ),
        ("/api/v1/models/{name}/feedback", &["post"]),
        ("/api/v1/models/{name}/quality", &["get"]),
        ("/api/v1/models/{name}/drift", &["get"]),
        ("/api/v1/models/{name}/policy", &["put", "get", "delete"]),
        ("/api/v1/models/{name}/events", &["get"]),
        ("/api/v1/models/{name}/rollback", &["post"]),
        ("/api/v1/keys", &["post", "get"]),
        ("/api/v1/keys/{id}", &["delete"]),
        ("/api/v1/session", &["get"]),
        ("/api/v1/serving", &["get"]),
        ("/api/v1/audit", &["get"]),
        ("/api/v1/models/{name}/logging", &["put", "get"]),
        ("/api/v1/models/{name}/predictions", &["delete"]),
    ];
    assert_eq!(doc["paths"].as_object().unwrap().len(), routes.len());
    for (path, methods) in routes {
        let item = &doc["paths"][path];
        for method in methods {
            assert!(
                item.get(*method).is_some(),
                "{method} {path} missing from the document"
            );
        }
    }
    for schema in [
        "JobSpec",
        "JobRecord",
        "JobDetail",
        "JobEvent",
        "DatasetRecord",
        "ModelRecord",
        "VersionRecord",
        "ErrorBody",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "schema {schema} missing from the document"
        );
    }
    let page = server.get("/docs").await.text().await.unwrap();
    assert!(page.contains("/api/v1/openapi.json"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diverging_job_fails_with_its_reason_and_the_jobs_stay_readable() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    server.upload("iris", IRIS).await;
    // Losses that overflow to infinity on the way: whatever the ending, every record stays
    // readable (infinity has no JSON form).
    let job = server
        .train(json!({"kind": "train", "dataset": "iris", "optimizer": "gd", "lr": 1e10, "momentum": 0.5, "epochs": 3}))
        .await;
    assert!(
        ["succeeded", "failed"].contains(&job["state"].as_str().unwrap()),
        "{job}"
    );
    let job = server
        .train(json!({"kind": "train", "dataset": "iris", "lr": 3e38, "epochs": 2}))
        .await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("diverged"), "{job}");
    assert_eq!(server.get("/api/v1/jobs").await.status(), StatusCode::OK);
    // The worker is still there for the next job.
    assert_eq!(
        server.train(crate::quick_iris_job()).await["state"],
        "succeeded"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_beyond_the_limit_are_refused_with_429_not_buffered() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig {
        max_concurrent_uploads: 1,
        ..test_config()
    };
    let server = TestServer::with_config(dir.path(), config).await;
    // A slow upload holds the only slot while its body trickles in.
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/datasets?name=slow HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\
         Authorization: Bearer {}\r\n\r\nx,target\n",
        server.admin_key
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let (status, message) = error_of(server.upload("iris", IRIS).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{message}");
    assert!(
        message.contains("uploads are already in progress"),
        "{message}"
    );

    drop(slow);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        server.upload("iris", IRIS).await.status(),
        StatusCode::CREATED
    );
    server.stop().await;
}

/// The error table is in the OpenAPI document (every code by name, and the error body with it)
/// and in the README.
#[tokio::test]
async fn the_openapi_document_lists_every_error_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let doc = server.get_json("/api/v1/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    let listed: Vec<&str> = schemas["ErrorCode"]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("no ErrorCode enum in {}", schemas["ErrorCode"]))
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let table: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(listed, table);
    let required = schemas["ErrorBody"]["required"].as_array().unwrap();
    assert!(
        required.contains(&json!("code")),
        "{}",
        schemas["ErrorBody"]
    );
    server.stop().await;
}

/// A web page on another site cannot change anything: a write with a foreign `Origin` is refused
/// and changes nothing (a form without a key is too: see `guard.rs`, and without a key there is
/// no write anyway); clients that send no `Origin` (curl, the CLI, tritonclient) are served.
#[tokio::test]
async fn cross_site_writes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let upload = |origin: Option<&str>, content_type: Option<&str>| {
        let mut request = server
            .http
            .post(server.url("/api/v1/datasets?name=iris"))
            .body(IRIS);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send()
    };
    let host = server.base.clone();
    for (origin, content_type, code) in [
        (
            Some("http://evil.example"),
            Some("text/csv"),
            ErrorCode::ForbiddenOrigin,
        ),
        (Some("null"), Some("text/csv"), ErrorCode::ForbiddenOrigin),
        (
            Some("http://evil.example"),
            Some("multipart/form-data; boundary=x"),
            ErrorCode::ForbiddenOrigin,
        ),
    ] {
        let res = upload(origin, content_type).await.unwrap();
        let (got, message) = coded_error_of(res).await;
        assert_eq!(got, code, "{origin:?} {content_type:?}: {message}");
    }
    assert_eq!(server.get_json("/api/v1/datasets").await, json!([]));
    // Reads are not writes: a foreign page may still be refused by the browser, not by us.
    let res = server
        .http
        .get(server.url("/api/v1/datasets"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The server's own pages, and clients without an Origin or a content type, are served.
    let res = upload(Some(&host), Some("text/csv")).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = server
        .http
        .post(server.url("/api/v1/datasets?name=again"))
        .body(IRIS)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    server.stop().await;
}

/// Upload mistakes are explained in the API's words: `?target=`, the dataset's name (not a file
/// the user never sent), a body whose line breaks `curl -d` removed; and `curl -F file=@iris.csv`
/// (a form) is read as the file it carries.
#[tokio::test]
async fn upload_errors_speak_http_and_forms_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let post = |name: &str, body: Vec<u8>, content_type: &str| {
        server
            .http
            .post(server.url(&format!("/api/v1/datasets?name={name}")))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let res = post(
        "flowers",
        b"a,b,species\n1,2,x\n3,4,y\n".to_vec(),
        "text/csv",
    );
    let (code, message) = coded_error_of(res.await.unwrap()).await;
    assert_eq!(code, ErrorCode::InvalidInput);
    assert!(message.contains("?target="), "{message}");
    assert!(message.starts_with("dataset \"flowers\""), "{message}");
    assert!(!message.contains(".csv"), "{message}");

    let one_line: Vec<u8> = IRIS.iter().copied().filter(|b| *b != b'\n').collect();
    let res = post("flat", one_line, "application/x-www-form-urlencoded");
    let (code, message) = coded_error_of(res.await.unwrap()).await;
    assert_eq!(code, ErrorCode::InvalidInput);
    assert!(message.contains("--data-binary @file"), "{message}");

    // `curl -F file=@iris.csv` (with another field before the file).
    let boundary = "------------------------aiaasboundary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"iris.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(IRIS);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let res = post(
        "iris",
        form,
        &format!("multipart/form-data; boundary={boundary}"),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let dataset: serde_json::Value = server.get_json("/api/v1/datasets/iris").await;
    assert_eq!(dataset["rows"], 150, "{dataset}");
    server.stop().await;
}
