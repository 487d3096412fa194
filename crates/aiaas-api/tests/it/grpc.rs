//! V2 over gRPC, called with the client generated from the same `.proto`: every RPC, answers
//! equal to REST's, typed and raw tensors, each error with its gRPC code, and keys and roles as
//! REST weighs them.

use crate::{TestServer, create_key};
use aiaas_api::grpc::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use aiaas_api::grpc::proto::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use aiaas_api::grpc::proto::*;
use aiaas_api::grpc::rpc;
use aiaas_api::grpc::{GRPC_ROUTES, grpc_access};
use aiaas_types::Role;
use serde_json::{Value, json};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

pub type Client = GrpcInferenceServiceClient<Channel>;

pub async fn client(server: &TestServer) -> Client {
    let channel = Channel::from_shared(server.grpc_url.clone())
        .unwrap()
        .connect()
        .await
        .expect("the gRPC port answers");
    GrpcInferenceServiceClient::new(channel)
}

/// `message` with `key` in its `authorization` metadata.
pub fn keyed<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value = format!("Bearer {key}").parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

fn iris_rows(rows: &[[f32; 4]]) -> InferInputTensor {
    InferInputTensor {
        name: "input".into(),
        datatype: "FP32".into(),
        shape: vec![rows.len() as i64, 4],
        parameters: Default::default(),
        contents: Some(InferTensorContents {
            fp32_contents: rows.iter().flatten().copied().collect(),
            ..Default::default()
        }),
    }
}

pub fn infer_request(rows: &[[f32; 4]]) -> ModelInferRequest {
    ModelInferRequest {
        model_name: "iris".into(),
        inputs: vec![iris_rows(rows)],
        ..Default::default()
    }
}

/// The same request with its values as raw little-endian bytes.
fn raw(mut request: ModelInferRequest) -> ModelInferRequest {
    for input in &mut request.inputs {
        let values = input.contents.take().unwrap().fp32_contents;
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        request.raw_input_contents.push(bytes);
    }
    request
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// BYTES elements as raw contents carry them: a 4-byte little-endian length before each.
fn texts(mut bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((len, rest)) = bytes.split_first_chunk::<4>() {
        let len = u32::from_le_bytes(*len) as usize;
        out.push(String::from_utf8(rest[..len].to_vec()).unwrap());
        bytes = &rest[len..];
    }
    out
}

const ROWS: [[f32; 4]; 8] = [
    [5.1, 3.5, 1.4, 0.2],
    [6.0, 2.9, 4.5, 1.5],
    [6.9, 3.1, 5.4, 2.1],
    [4.9, 3.0, 1.4, 0.2],
    [5.7, 2.8, 4.1, 1.3],
    [6.3, 3.3, 6.0, 2.5],
    [5.0, 3.6, 1.4, 0.2],
    [6.5, 3.0, 5.2, 2.0],
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_answers_as_its_rest_endpoint_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    let key = server.admin_key.clone();
    let mut grpc = client(&server).await;

    let live = grpc.server_live(ServerLiveRequest {}).await.unwrap();
    assert!(live.into_inner().live);
    let ready = grpc.server_ready(ServerReadyRequest {}).await.unwrap();
    assert!(ready.into_inner().ready);
    server
        .ready
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let ready = grpc.server_ready(ServerReadyRequest {}).await.unwrap();
    assert!(!ready.into_inner().ready, "not ready while models load");
    server
        .ready
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let meta = grpc
        .server_metadata(keyed(ServerMetadataRequest {}, &key))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(meta.name, "aiaas");
    assert_eq!(meta.extensions, ["model_repository"]);

    // Model metadata: REST's, field for field.
    let rest = server.get_json("/v2/models/iris").await;
    let model = ModelMetadataRequest {
        name: "iris".into(),
        version: String::new(),
    };
    let m = grpc
        .model_metadata(keyed(model, &key))
        .await
        .unwrap()
        .into_inner();
    let tensors = |t: &[model_metadata_response::TensorMetadata]| -> Value {
        t.iter()
            .map(|t| json!({"name": t.name, "datatype": t.datatype, "shape": t.shape}))
            .collect()
    };
    let as_json = json!({"name": m.name, "versions": m.versions, "platform": m.platform,
        "inputs": tensors(&m.inputs), "outputs": tensors(&m.outputs)});
    assert_eq!(as_json, rest);
    let ready = |name: &str, version: &str| ModelReadyRequest {
        name: name.into(),
        version: version.into(),
    };
    let is_ready = grpc.model_ready(keyed(ready("iris", "1"), &key)).await;
    assert!(is_ready.unwrap().into_inner().ready);
    for (name, version) in [("nope", ""), ("iris", "9")] {
        let answer = grpc.model_ready(keyed(ready(name, version), &key)).await;
        assert!(!answer.unwrap().into_inner().ready, "{name} {version}");
    }

    // Infer at batch 1 and 8, typed and raw: REST's answer, value for value.
    for rows in [&ROWS[..1], &ROWS[..]] {
        let body = json!({"inputs": [{"name": "input", "shape": [rows.len(), 4],
            "datatype": "FP32", "data": rows}]});
        let rest: Value = server
            .post_json("/v2/models/iris/infer", &body)
            .await
            .json()
            .await
            .unwrap();
        let rest_probabilities: Vec<f32> = rest["outputs"][0]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let rest_labels: Vec<String> =
            serde_json::from_value(rest["outputs"][1]["data"].clone()).unwrap();

        let mut typed = infer_request(rows);
        typed.id = "typed-1".into();
        let answer = grpc
            .model_infer(keyed(typed, &key))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (answer.model_name.as_str(), answer.model_version.as_str()),
            ("iris", "1")
        );
        assert_eq!(answer.id, "typed-1");
        assert!(answer.raw_output_contents.is_empty(), "typed in, typed out");
        let [probabilities, label] = &answer.outputs[..] else {
            panic!("two outputs: {answer:?}")
        };
        assert_eq!(probabilities.shape, [rows.len() as i64, 3]);
        assert_eq!(label.shape, [rows.len() as i64]);
        let contents = |o: &model_infer_response::InferOutputTensor| o.contents.clone().unwrap();
        assert_eq!(contents(probabilities).fp32_contents, rest_probabilities);
        let labels: Vec<String> = contents(label)
            .bytes_contents
            .into_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect();
        assert_eq!(labels, rest_labels);

        let answer = grpc
            .model_infer(keyed(raw(infer_request(rows)), &key))
            .await
            .unwrap()
            .into_inner();
        assert!(
            answer.outputs.iter().all(|o| o.contents.is_none()),
            "raw in, raw out"
        );
        assert_eq!(floats(&answer.raw_output_contents[0]), rest_probabilities);
        assert_eq!(texts(&answer.raw_output_contents[1]), rest_labels);
    }
    // Selected outputs, and a version by number.
    let mut selected = infer_request(&ROWS[..2]);
    selected.model_version = "1".into();
    selected.outputs = vec![InferRequestedOutputTensor {
        name: "label".into(),
        parameters: Default::default(),
    }];
    let answer = grpc
        .model_infer(keyed(selected, &key))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = answer.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["label"]);

    // Many requests over one stream, a bad one among them: answers in order, the error in its
    // place, the stream goes on.
    let mut bad = infer_request(&ROWS[..1]);
    bad.inputs[0].shape = vec![1, 3];
    let requests = vec![infer_request(&ROWS[..1]), bad, infer_request(&ROWS[..2])];
    let mut answers = grpc
        .model_stream_infer(keyed(futures_util::stream::iter(requests), &key))
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(answer) = answers.message().await.unwrap() {
        got.push(answer);
    }
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[0].infer_response.as_ref().unwrap().outputs[0].shape,
        [1, 3]
    );
    assert!(got[1].error_message.contains("shape"), "{:?}", got[1]);
    assert_eq!(
        got[2].infer_response.as_ref().unwrap().outputs[0].shape,
        [2, 3]
    );

    // The repository: index, unload, load.
    let index = |ready| RepositoryIndexRequest {
        repository_name: String::new(),
        ready,
    };
    let all = grpc
        .repository_index(keyed(index(false), &key))
        .await
        .unwrap();
    let entry = &all.into_inner().models[0];
    assert_eq!((entry.name.as_str(), entry.version.as_str()), ("iris", "1"));
    assert_eq!(entry.state, "READY");
    let unload = RepositoryModelUnloadRequest {
        model_name: "iris".into(),
        ..Default::default()
    };
    grpc.repository_model_unload(keyed(unload, &key))
        .await
        .unwrap();
    let ready_only = grpc
        .repository_index(keyed(index(true), &key))
        .await
        .unwrap();
    assert!(ready_only.into_inner().models.is_empty());
    let load = RepositoryModelLoadRequest {
        model_name: "iris".into(),
        ..Default::default()
    };
    grpc.repository_model_load(keyed(load, &key)).await.unwrap();
    let ready_only = grpc
        .repository_index(keyed(index(true), &key))
        .await
        .unwrap();
    assert_eq!(ready_only.into_inner().models.len(), 1);
    // Unload and load are in the audit log, as over REST.
    let audit = server.get_json("/api/v1/audit").await;
    let routes: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["route"].as_str())
        .collect();
    assert!(routes.contains(&rpc::REPOSITORY_MODEL_UNLOAD), "{audit}");
    assert!(routes.contains(&rpc::REPOSITORY_MODEL_LOAD), "{audit}");
    server.stop().await;
}

fn code_of<T: std::fmt::Debug>(result: Result<tonic::Response<T>, Status>) -> (Code, String) {
    let status = result.expect_err("an error");
    (status.code(), status.message().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_has_its_grpc_code_and_says_what_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    let key = server.admin_key.clone();
    let mut grpc = client(&server).await;
    let mut infer =
        async |request: ModelInferRequest| code_of(grpc.model_infer(keyed(request, &key)).await);

    let mut unknown = infer_request(&ROWS[..1]);
    unknown.model_name = "nope".into();
    assert_eq!(infer(unknown).await.0, Code::NotFound);
    let mut no_version = infer_request(&ROWS[..1]);
    no_version.model_version = "9".into();
    assert_eq!(infer(no_version).await.0, Code::NotFound);

    let mut shape = infer_request(&ROWS[..1]);
    shape.inputs[0].shape = vec![1, 3];
    let (code, message) = infer(shape).await;
    assert_eq!(code, Code::InvalidArgument);
    assert!(message.contains("[-1, 4]"), "{message}");

    let mut wrong_field = infer_request(&ROWS[..1]);
    let contents = wrong_field.inputs[0].contents.as_mut().unwrap();
    contents.fp64_contents = contents.fp32_contents.drain(..).map(f64::from).collect();
    let (code, message) = infer(wrong_field).await;
    assert_eq!(code, Code::InvalidArgument);
    assert!(message.contains("fp32_contents"), "{message}");

    let mut short_raw = raw(infer_request(&ROWS[..1]));
    short_raw.raw_input_contents[0].truncate(12);
    let (code, message) = infer(short_raw).await;
    assert_eq!(code, Code::InvalidArgument);
    assert!(message.contains("12 bytes"), "{message}");

    let mut both = raw(infer_request(&ROWS[..1]));
    both.inputs[0].contents = iris_rows(&ROWS[..1]).contents;
    assert_eq!(infer(both).await.0, Code::InvalidArgument);

    let mut unknown_output = infer_request(&ROWS[..1]);
    unknown_output.outputs = vec![InferRequestedOutputTensor {
        name: "colour".into(),
        parameters: Default::default(),
    }];
    assert_eq!(infer(unknown_output).await.0, Code::InvalidArgument);

    // A deadline that passed before compute. (A call's own gRPC deadline stands for the
    // parameter, `convert`'s unit tests show; a client enforces it too, so a lapsed one races.)
    let mut late = infer_request(&ROWS[..1]);
    let zero = InferParameter {
        parameter_choice: Some(infer_parameter::ParameterChoice::Int64Param(0)),
    };
    late.parameters.insert("timeout".into(), zero);
    assert_eq!(infer(late).await.0, Code::DeadlineExceeded);

    // A message over 32 MiB, as a REST body over it: RESOURCE_EXHAUSTED.
    let mut huge = raw(infer_request(&ROWS[..1]));
    huge.raw_input_contents[0] = vec![0; (32 << 20) + 1];
    let (code, message) = infer(huge).await;
    assert_eq!(code, Code::ResourceExhausted);
    assert!(message.contains("32 MiB"), "{message}");

    // Load with a model in the call is refused: models come from the registry.
    let mut load = RepositoryModelLoadRequest {
        model_name: "iris".into(),
        ..Default::default()
    };
    load.parameters
        .insert("config".into(), ModelRepositoryParameter::default());
    let (code, message) = code_of(grpc.repository_model_load(keyed(load, &key)).await);
    assert_eq!(code, Code::InvalidArgument);
    assert!(message.contains("registry"), "{message}");

    // Over its key's rate: RESOURCE_EXHAUSTED, with when to retry.
    let slow = json!({"name": "slow", "role": "predictor", "rate_limit": 0.01});
    let (slow, _) = create_key(&server, slow).await;
    grpc.model_infer(keyed(infer_request(&ROWS[..1]), &slow))
        .await
        .unwrap();
    let status = grpc
        .model_infer(keyed(infer_request(&ROWS[..1]), &slow))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.metadata().get("retry-after").is_some());

    // Still serving.
    grpc.model_infer(keyed(infer_request(&ROWS[..1]), &key))
        .await
        .unwrap();
    server.stop().await;
}

/// Calls `rpc` with `key` (none: anonymous); whether the gate let it through.
async fn call(grpc: &mut Client, rpc_path: &str, key: Option<&str>) -> Result<(), Status> {
    fn with<T>(message: T, key: Option<&str>) -> Request<T> {
        match key {
            Some(key) => keyed(message, key),
            None => Request::new(message),
        }
    }
    let model = || "iris".to_string();
    let gated = |r: Result<(), Status>| match r {
        Err(s) if matches!(s.code(), Code::Unauthenticated | Code::PermissionDenied) => Err(s),
        _ => Ok(()),
    };
    let r = match rpc_path {
        rpc::SERVER_LIVE => grpc
            .server_live(with(ServerLiveRequest {}, key))
            .await
            .map(drop),
        rpc::SERVER_READY => grpc
            .server_ready(with(ServerReadyRequest {}, key))
            .await
            .map(drop),
        rpc::MODEL_READY => {
            let m = ModelReadyRequest {
                name: model(),
                version: String::new(),
            };
            grpc.model_ready(with(m, key)).await.map(drop)
        }
        rpc::SERVER_METADATA => grpc
            .server_metadata(with(ServerMetadataRequest {}, key))
            .await
            .map(drop),
        rpc::MODEL_METADATA => {
            let m = ModelMetadataRequest {
                name: model(),
                version: String::new(),
            };
            grpc.model_metadata(with(m, key)).await.map(drop)
        }
        rpc::MODEL_INFER => grpc
            .model_infer(with(infer_request(&ROWS[..1]), key))
            .await
            .map(drop),
        rpc::MODEL_STREAM_INFER => {
            let requests = futures_util::stream::iter(vec![infer_request(&ROWS[..1])]);
            grpc.model_stream_infer(with(requests, key)).await.map(drop)
        }
        rpc::REPOSITORY_INDEX => grpc
            .repository_index(with(RepositoryIndexRequest::default(), key))
            .await
            .map(drop),
        rpc::REPOSITORY_MODEL_LOAD => {
            let m = RepositoryModelLoadRequest {
                model_name: model(),
                ..Default::default()
            };
            grpc.repository_model_load(with(m, key)).await.map(drop)
        }
        rpc::REPOSITORY_MODEL_UNLOAD => {
            let m = RepositoryModelUnloadRequest {
                model_name: model(),
                ..Default::default()
            };
            grpc.repository_model_unload(with(m, key)).await.map(drop)
        }
        other => panic!("no call for {other}"),
    };
    gated(r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_refuses_anonymous_and_wrong_role_calls_as_rest_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    let mut keys = vec![(Role::Admin, server.admin_key.clone())];
    for role in [Role::Operator, Role::Predictor, Role::Viewer] {
        let (key, _) = create_key(&server, json!({"name": role.as_str(), "role": role})).await;
        keys.push((role, key));
    }
    // A predictor limited to another model may not touch iris.
    let scoped = json!({"name": "scoped", "role": "predictor", "models": ["wine"]});
    let (scoped, _) = create_key(&server, scoped).await;
    let mut grpc = client(&server).await;
    for &(rpc_path, _, _) in GRPC_ROUTES {
        let access = grpc_access(rpc_path).expect("a rule");
        let anonymous = call(&mut grpc, rpc_path, None).await;
        if access == aiaas_api::Access::Public {
            assert!(anonymous.is_ok(), "{rpc_path}: {anonymous:?}");
        } else {
            let status = anonymous.expect_err(rpc_path);
            assert_eq!(status.code(), Code::Unauthenticated, "{rpc_path}");
            assert!(status.message().contains("Bearer"), "{status:?}");
        }
        for (role, key) in &keys {
            let answer = call(&mut grpc, rpc_path, Some(key)).await;
            if access.allows(*role) {
                assert!(answer.is_ok(), "{role} may call {rpc_path}: {answer:?}");
            } else {
                let status = answer.expect_err(rpc_path);
                assert_eq!(status.code(), Code::PermissionDenied, "{role} {rpc_path}");
                assert!(status.message().contains(role.as_str()), "{status:?}");
            }
        }
        if rpc_path == rpc::MODEL_INFER || rpc_path == rpc::MODEL_METADATA {
            let status = call(&mut grpc, rpc_path, Some(&scoped)).await.unwrap_err();
            assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
            assert!(status.message().contains("wine"), "{status:?}");
        }
    }
    // Refusals are in the audit log, as REST's are.
    let audit = server.get_json("/api/v1/audit").await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["route"] == rpc::MODEL_INFER && e["status"] == 401),
        "{audit}"
    );
    server.stop().await;
}
