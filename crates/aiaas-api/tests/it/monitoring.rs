//! Monitoring end to end: logged predictions, feedback by id, and quality equal to an offline
//! evaluation of the same rows.

use crate::{TestServer, coded_error_of, error_of};
use aiaas_api::ErrorCode;
use aiaas_service::{ModelRecord, Window};
use aiaas_stats::classification_metrics;
use aiaas_types::ModelName;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

pub const DIGITS: &[u8] = include_bytes!("../../../../datasets/digits.csv");

/// The digits rows as (64 pixel values, label).
fn digits_rows() -> Vec<(Vec<f64>, String)> {
    let text = std::str::from_utf8(DIGITS).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let mut cells: Vec<&str> = line.split(',').collect();
            let label = cells.pop().unwrap().to_string();
            (cells.iter().map(|c| c.parse().unwrap()).collect(), label)
        })
        .collect()
}

/// Waits until the prediction log holds `n` rows of `model`.
pub(crate) async fn logged(server: &TestServer, model: &str, n: usize) {
    let name = ModelName::new(model).unwrap();
    for _ in 0..200 {
        let rows = server
            .platform
            .store()
            .predictions(&name, &Window::default())
            .await
            .unwrap();
        if rows.len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the prediction log did not reach {n} rows");
}

/// Sets `model`'s monitoring policy, which must be accepted.
async fn set_policy(server: &TestServer, model: &str, policy: Value) {
    let res = server
        .http
        .put(server.url(&format!("/api/v1/models/{model}/policy")))
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
}

/// `model`'s events once a retrain has ended (`promoted`, `kept` or `retrain_refused`).
async fn retrain_outcome(server: &TestServer, model: &str) -> Vec<Value> {
    let mut events = Vec::new();
    for _ in 0..1200 {
        let all: Value = server
            .get_json(&format!("/api/v1/models/{model}/events"))
            .await;
        events = all.as_array().unwrap().clone();
        let ended = ["promoted", "kept", "retrain_refused"];
        if events
            .iter()
            .any(|e| ended.contains(&e["kind"].as_str().unwrap_or("")))
        {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no retrain outcome for {model}: {events:?}");
}

/// `a` and `b` have the same shape and numbers equal to 1e-12 relative.
fn same_numbers(a: &Value, b: &Value) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-12 * x.abs().max(1.0), "{x} vs {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).for_each(|(x, y)| same_numbers(x, y));
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
            x.iter().for_each(|(k, v)| same_numbers(v, &y[k]));
        }
        _ => assert_eq!(a, b),
    }
}

#[tokio::test]
async fn quality_equals_an_offline_evaluation_of_the_labelled_rows() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    assert_eq!(
        server.upload("digits", DIGITS).await.status(),
        StatusCode::CREATED
    );
    let job = server
        .train(json!({"kind": "train", "dataset": "digits", "epochs": 15}))
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let model: ModelRecord = server
        .get("/api/v1/models/digits")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(model.versions.len(), 1);

    // 1,000 predictions, one row each, with ids.
    let rows = digits_rows();
    let mut predicted = Vec::new();
    for (i, (x, _)) in rows.iter().take(1000).enumerate() {
        let body = json!({"id": format!("p{i}"), "inputs": [
            {"name": "input", "shape": [1, 64], "datatype": "FP32", "data": x}
        ]});
        let res: Value = server
            .post_json("/v2/models/digits/infer", &body)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(res["id"], format!("p{i}"));
        let label = res["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "label")
            .unwrap();
        predicted.push(label["data"][0].as_str().unwrap().to_string());
    }
    logged(&server, "digits", 1000).await;

    // Feedback: the true labels, some as numbers, plus ids nobody logged.
    let mut feedback: Vec<Value> = rows
        .iter()
        .take(1000)
        .enumerate()
        .map(|(i, (_, y))| {
            let label = if i % 2 == 0 {
                json!(y)
            } else {
                json!(y.parse::<u32>().unwrap())
            };
            json!({"id": format!("p{i}"), "label": label})
        })
        .collect();
    feedback.push(json!({"id": "never-logged", "label": "3"}));
    let res = server
        .post_json("/api/v1/models/digits/feedback", &json!(feedback))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let outcome: Value = res.json().await.unwrap();
    assert_eq!(outcome["matched"], 1000, "{outcome}");
    assert_eq!(outcome["unknown"], 1);
    assert_eq!(outcome["unknown_ids"], json!(["never-logged"]));

    let report: Value = server.get_json("/api/v1/models/digits/quality").await;
    assert_eq!(report["logged"], 1000, "{report}");
    assert_eq!(report["labelled"], 1000);
    assert_eq!(report["label_coverage"], 1.0);
    // Over time: ten stretches of 100 in time order, whose accuracies average to the whole's.
    let points = report["over_time"].as_array().unwrap();
    assert_eq!(points.len(), 10, "{report}");
    assert!(points.iter().all(|p| p["labelled"] == 100), "{points:?}");
    assert!(
        points
            .windows(2)
            .all(|w| w[0]["to_ms"].as_i64() <= w[1]["from_ms"].as_i64())
    );
    let mean: f64 = points
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .sum::<f64>()
        / 10.0;
    let accuracy = report["metrics"]["accuracy"].as_f64().unwrap();
    assert!((mean - accuracy).abs() < 1e-9, "{mean} vs {accuracy}");

    // The same figures offline, with the same metric function training uses.
    let labels: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    let index = |l: &str| labels.iter().position(|x| x == l).unwrap();
    let truth: Vec<usize> = rows.iter().take(1000).map(|(_, y)| index(y)).collect();
    let guessed: Vec<usize> = predicted.iter().map(|p| index(p)).collect();
    let offline = classification_metrics(&truth, &guessed, None, 10);
    let offline = serde_json::to_value(aiaas_stats::Metrics::Classification(offline)).unwrap();
    // The same confusion matrix, so the same figures; compared within a few ulps because
    // serde_json's default float parsing may be off in the last digit.
    assert_eq!(
        report["metrics"]["confusion_matrix"],
        offline["confusion_matrix"]
    );
    same_numbers(&report["metrics"], &offline);
    assert!(
        report["diagnosis"]["summary"]
            .as_str()
            .unwrap()
            .contains("accuracy")
    );

    // Drift: the unshifted window drifts nowhere; then two features shifted in 500 new rows
    // are flagged, exactly those.
    let report: Value = server.get_json("/api/v1/models/digits/drift").await;
    assert_eq!(report["rows"], 1000, "{report}");
    assert_eq!(report["drifted_features"], 0, "{report}");
    assert_eq!(report["drifted"], false);
    assert_eq!(report["predictions"]["drifted"], false, "{report}");
    let shifted = [19usize, 44]; // pixel_2_3 and pixel_5_4
    // Every third row: a sample of the whole file (its rows are grouped by writer, so a block
    // of consecutive rows really differs from the training rows).
    for (i, (x, _)) in rows.iter().skip(1).step_by(3).take(500).enumerate() {
        let mut x = x.clone();
        for &f in &shifted {
            x[f] = (x[f] + 8.0).min(16.0);
        }
        let body = json!({"id": format!("s{i}"), "inputs": [
            {"name": "input", "shape": [1, 64], "datatype": "FP32", "data": x}
        ]});
        let res = server.post_json("/v2/models/digits/infer", &body).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    logged(&server, "digits", 1500).await;
    let report: Value = server
        .get_json("/api/v1/models/digits/drift?last=500")
        .await;
    assert_eq!(report["rows"], 500, "{report}");
    let flagged: Vec<&str> = report["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["drifted"] == true)
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(flagged, ["pixel_2_3", "pixel_5_4"], "{report}");
    assert_eq!(report["features"][19]["test"], "p_value");
    assert_eq!(report["drifted"], false, "two of 64 features is not half");
    // Each feature's window on its reference's bins, for a plot: a shifted one sits higher.
    let overlay = &report["features"][19]["overlay"];
    assert_eq!(overlay["kind"], "numeric", "{overlay}");
    let counts = |key: &str| -> Vec<f64> {
        let values = overlay[key].as_array().unwrap();
        values.iter().map(|v| v.as_f64().unwrap()).collect()
    };
    let (reference, production) = (counts("reference"), counts("production"));
    assert_eq!(counts("edges").len(), reference.len() + 1);
    let outside = overlay["below"].as_f64().unwrap() + overlay["above"].as_f64().unwrap();
    let n = report["features"][19]["n"].as_f64().unwrap();
    assert_eq!(production.iter().sum::<f64>() + outside, n, "{overlay}");
    let mean_bin = |c: &[f64]| {
        let weighted: f64 = c.iter().enumerate().map(|(i, v)| i as f64 * v).sum();
        weighted / c.iter().sum::<f64>()
    };
    assert!(
        mean_bin(&production) > mean_bin(&reference) + 1.0,
        "{overlay}"
    );
    let classes = &report["predictions_overlay"];
    assert_eq!(classes["kind"], "categorical", "{classes}");
    assert_eq!(classes["categories"].as_array().unwrap().len(), 10);
    let predicted: u64 = (classes["production"].as_array().unwrap().iter())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(predicted + classes["unseen"].as_u64().unwrap(), 500);

    // The gauges follow.
    let text = server.get("/metrics").await.text().await.unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("aiaas_model_quality{")
            && l.contains("model=\"digits\"")
            && l.contains("metric=\"accuracy\"")),
        "{text}"
    );

    // The world changes: labels for the same 1,000 predictions now say 3 for 8 and 8 for 3.
    let swapped: Vec<Value> = rows
        .iter()
        .take(1000)
        .enumerate()
        .map(|(i, (_, y))| {
            let y = match y.as_str() {
                "3" => "8",
                "8" => "3",
                other => other,
            };
            json!({"id": format!("p{i}"), "label": y})
        })
        .collect();
    let res = server
        .post_json("/api/v1/models/digits/feedback", &json!(swapped))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let policy = json!({"accuracy_floor": 0.9, "min_labelled": 100, "window": 2000,
        "check_interval_s": 1, "auto_retrain": true, "promote_margin": 0.01});
    set_policy(&server, "digits", policy).await;
    let events = retrain_outcome(&server, "digits").await;
    let breach = events.iter().find(|e| e["kind"] == "breach").unwrap();
    assert_eq!(breach["data"]["reason"], "accuracy", "{events:?}");
    let promoted = events.iter().find(|e| e["kind"] == "promoted");
    let promoted = promoted.unwrap_or_else(|| panic!("{events:?}"));
    let (champion, challenger) = (
        promoted["data"]["champion"]["recent"].as_f64().unwrap(),
        promoted["data"]["challenger"]["recent"].as_f64().unwrap(),
    );
    assert!(challenger > champion + 0.01, "{promoted}");
    let model: Value = server.get_json("/api/v1/models/digits").await;
    assert_eq!(
        (
            model["aliases"]["champion"].clone(),
            model["aliases"]["previous"].clone()
        ),
        (json!(2), json!(1)),
        "{model}"
    );
    server
        .http
        .delete(server.url("/api/v1/models/digits/policy"))
        .send()
        .await
        .unwrap();
    let res = server
        .post_json("/api/v1/models/digits/rollback", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let model: Value = server.get_json("/api/v1/models/digits").await;
    assert_eq!(model["aliases"]["champion"], 1, "{model}");
    server.stop().await;
}

#[tokio::test]
async fn bad_feedback_and_empty_windows_get_clear_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    assert_eq!(
        server.upload("iris", crate::IRIS).await.status(),
        StatusCode::CREATED
    );
    let job = server
        .train(json!({"kind": "train", "dataset": "iris", "epochs": 5}))
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");

    // A version whose bundle has no training profile: drift says so.
    let archive = server.iris_archive().await;
    let mut files = Vec::new();
    for entry in tar::Archive::new(&archive[..]).entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        if name == "manifest.json" {
            let mut manifest: Value = serde_json::from_slice(&bytes).unwrap();
            manifest["profile"] = json!([]);
            bytes = serde_json::to_vec(&manifest).unwrap();
        }
        files.push((name, bytes));
    }
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in &files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, &bytes[..]).unwrap();
    }
    let res = server.import("bare", builder.into_inner().unwrap()).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let body = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]});
    assert_eq!(
        server
            .post_json("/v2/models/bare/infer", &body)
            .await
            .status(),
        StatusCode::OK
    );
    logged(&server, "bare", 1).await;
    let res = server.get("/api/v1/models/bare/drift").await;
    let (code, message) = coded_error_of(res).await;
    assert_eq!(code, ErrorCode::InvalidInput);
    assert!(message.contains("no training profile"), "{message}");

    // No labelled rows yet.
    let res = server.get("/api/v1/models/iris/quality").await;
    let (code, message) = coded_error_of(res).await;
    assert_eq!(code, ErrorCode::PredictionsNotFound);
    assert!(message.contains("no labelled predictions"), "{message}");

    for (body, status, says) in [
        (
            json!([{"id": "a", "label": "not-a-class"}]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not one of the model's classes",
        ),
        (
            json!([{"id": "a", "label": [1]}]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a class label",
        ),
        (json!([]), StatusCode::UNPROCESSABLE_ENTITY, "no labels"),
        (
            json!([{"id": "a"}]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "label",
        ),
        (
            json!({"id": "a", "label": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "expected an array",
        ),
    ] {
        let res = server
            .post_json("/api/v1/models/iris/feedback", &body)
            .await;
        let (got, text) = error_of(res).await;
        assert!(
            got == status || got == StatusCode::BAD_REQUEST,
            "{body}: {got} {text}"
        );
        assert!(text.contains(says), "{body}: {text}");
    }
    // Unknown ids are counted, not fatal.
    let res = server
        .post_json(
            "/api/v1/models/iris/feedback",
            &json!([{"id": "ghost", "label": "1"}]),
        )
        .await;
    let outcome: Value = res.json().await.unwrap();
    assert_eq!(
        (outcome["matched"].clone(), outcome["unknown"].clone()),
        (json!(0), json!(1))
    );

    let res = server
        .post_json(
            "/api/v1/models/nope/feedback",
            &json!([{"id": "a", "label": "x"}]),
        )
        .await;
    assert_eq!(coded_error_of(res).await.0, ErrorCode::ModelNotFound);
    let res = server.get("/api/v1/models/iris/drift").await;
    let (code, message) = coded_error_of(res).await;
    assert_eq!(code, ErrorCode::PredictionsNotFound);
    assert!(message.contains("no logged predictions"), "{message}");
    let res = server.get("/api/v1/models/iris/quality?version=9").await;
    assert_eq!(coded_error_of(res).await.0, ErrorCode::VersionNotFound);
    let res = server.get("/api/v1/models/iris/quality?last=many").await;
    assert_eq!(coded_error_of(res).await.0, ErrorCode::BadRequest);
    server.stop().await;
}

/// The update loop end to end: labels with two classes swapped breach the accuracy floor, a
/// retrain runs on the training data plus the labelled rows, the challenger wins on the recent
/// holdout and becomes champion, and rollback restores the old version.
#[tokio::test]
async fn a_breach_retrains_promotes_the_challenger_and_rollback_restores_the_champion() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    assert_eq!(
        server.upload("iris", crate::IRIS).await.status(),
        StatusCode::CREATED
    );
    let job = server
        .train(json!({"kind": "train", "dataset": "iris", "epochs": 60, "lr": 0.02}))
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let put = |path: &str, body: Value| server.http.put(server.url(path)).json(&body).send();
    let res = put(
        "/api/v1/models/iris/aliases/champion",
        json!({"version": 1}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Predictions of the champion, then labels with classes 0 and 1 swapped.
    let text = std::str::from_utf8(crate::IRIS).unwrap();
    let rows: Vec<(Vec<f64>, String)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let mut c: Vec<&str> = l.split(',').collect();
            let y = c.pop().unwrap().to_string();
            (c.iter().map(|v| v.parse().unwrap()).collect(), y)
        })
        .collect();
    for (i, (x, _)) in rows.iter().enumerate() {
        let body = json!({"id": format!("q{i}"), "inputs": [
            {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": x}
        ]});
        let res = server.post_json("/v2/models/iris/infer", &body).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    logged(&server, "iris", rows.len()).await;
    let swapped: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, (_, y))| {
            let y = match y.as_str() {
                "0" => "1",
                "1" => "0",
                other => other,
            };
            json!({"id": format!("q{i}"), "label": y})
        })
        .collect();
    let res = server
        .post_json("/api/v1/models/iris/feedback", &json!(swapped))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // A bad policy is refused; a good one is checked at once.
    let bad = put("/api/v1/models/iris/policy", json!({"accuracy_floor": 1.5}))
        .await
        .unwrap();
    assert_eq!(coded_error_of(bad).await.0, ErrorCode::InvalidInput);
    let policy = json!({"accuracy_floor": 0.8, "min_labelled": 50, "check_interval_s": 1,
        "drift_share": 0.0, "auto_retrain": true});
    set_policy(&server, "iris", policy).await;

    // The breach, the retrain and its outcome, as events.
    let events = retrain_outcome(&server, "iris").await;
    let find = |kind: &str| {
        events
            .iter()
            .find(|e| e["kind"] == kind)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let breach = find("breach");
    assert_eq!(breach["data"]["reason"], "accuracy", "{events:?}");
    assert_eq!(breach["data"]["version"], 1);
    assert!(breach["data"]["value"].as_f64().unwrap() < 0.8, "{breach}");
    assert!(
        find("retrain_started")["data"]["job"].is_string(),
        "{events:?}"
    );
    let promoted = find("promoted");
    let data = &promoted["data"];
    assert!(
        data["challenger"]["recent"].as_f64().unwrap()
            > data["champion"]["recent"].as_f64().unwrap(),
        "{events:?}"
    );
    assert_eq!(data["challenger_version"], 2);
    let metrics = server.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("aiaas_monitor_breaches_total{"),
        "{metrics}"
    );
    let model: Value = server.get_json("/api/v1/models/iris").await;
    assert_eq!(model["aliases"]["champion"], 2, "{model}");
    assert_eq!(model["aliases"]["previous"], 1, "{model}");
    assert_eq!(model["aliases"]["challenger"], 2, "{model}");
    let version: Value = server.get_json("/api/v1/models/iris/versions/2").await;
    assert_eq!(version["parent"], 1, "{version}");
    assert_eq!(version["manifest"]["lineage"]["parent"], "iris@1");

    // No new breach is acted on while we look: the policy goes.
    let res = server
        .http
        .delete(server.url("/api/v1/models/iris/policy"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = server.get("/api/v1/models/iris/policy").await;
    assert_eq!(coded_error_of(res).await.0, ErrorCode::PolicyNotFound);

    // Rollback: the old champion serves again, and the swap is an event.
    let res = server
        .post_json("/api/v1/models/iris/rollback", &json!({}))
        .await;
    let moved: Value = res.json().await.unwrap();
    assert_eq!(
        (moved["from"].clone(), moved["to"].clone()),
        (json!(2), json!(1))
    );
    let model: Value = server.get_json("/api/v1/models/iris").await;
    assert_eq!(model["aliases"]["champion"], 1, "{model}");
    assert_eq!(model["aliases"]["previous"], 2, "{model}");
    // Serving follows the alias as soon as the pool hears of the change.
    let mut answer = Value::Null;
    for _ in 0..100 {
        let res = server
            .post_json(
                "/v2/models/iris/infer",
                &json!({"inputs": [
                    {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": rows[0].0}
                ]}),
            )
            .await;
        answer = res.json().await.unwrap();
        if answer["model_version"] == "1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(answer["model_version"], "1", "{answer}");
    let events: Value = server.get_json("/api/v1/models/iris/events").await;
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "rolled_back")
    );

    // Without a previous version: a clear answer.
    let res = server
        .http
        .delete(server.url("/api/v1/models/iris/aliases/previous"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = server
        .post_json("/api/v1/models/iris/rollback", &json!({}))
        .await;
    assert_eq!(coded_error_of(res).await.0, ErrorCode::Conflict);
    server.stop().await;
}

/// The loop on a regression model: shifted true values push the window's RMSE over the
/// ceiling, and the retrained challenger, which learns the shift, is promoted on R².
#[tokio::test]
async fn a_regression_model_breaches_its_rmse_ceiling_and_is_retrained() {
    const DIABETES: &[u8] = include_bytes!("../../../../datasets/diabetes.csv");
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    assert_eq!(
        server.upload("diabetes", DIABETES).await.status(),
        StatusCode::CREATED
    );
    let job = server
        .train(json!({"kind": "train", "dataset": "diabetes", "model": "linear", "epochs": 200, "lr": 0.05}))
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let text = std::str::from_utf8(DIABETES).unwrap();
    let rows: Vec<(Vec<f64>, f64)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let mut c: Vec<f64> = l.split(',').map(|v| v.parse().unwrap()).collect();
            let y = c.pop().unwrap();
            (c, y)
        })
        .collect();
    let width = rows[0].0.len();
    for (i, (x, _)) in rows.iter().enumerate() {
        let body = json!({"id": format!("d{i}"), "inputs": [
            {"name": "input", "shape": [1, width], "datatype": "FP32", "data": x}
        ]});
        assert_eq!(
            server
                .post_json("/v2/models/diabetes/infer", &body)
                .await
                .status(),
            StatusCode::OK
        );
    }
    logged(&server, "diabetes", rows.len()).await;
    // The world moved: every true value is 150 higher now.
    let labels: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, (_, y))| json!({"id": format!("d{i}"), "label": y + 150.0}))
        .collect();
    let res = server
        .post_json("/api/v1/models/diabetes/feedback", &json!(labels))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let quality: Value = server.get_json("/api/v1/models/diabetes/quality").await;
    let rmse = quality["metrics"]["rmse"].as_f64().unwrap();
    assert!(rmse > 100.0, "{quality}");

    let policy = json!({"rmse_ceiling": 100.0, "min_labelled": 100, "check_interval_s": 1,
        "drift_share": 0.0, "auto_retrain": true});
    set_policy(&server, "diabetes", policy).await;
    let events = retrain_outcome(&server, "diabetes").await;
    let breach = events.iter().find(|e| e["kind"] == "breach").unwrap();
    assert_eq!(breach["data"]["reason"], "rmse", "{events:?}");
    assert!(events.iter().any(|e| e["kind"] == "promoted"), "{events:?}");
    let model: Value = server.get_json("/api/v1/models/diabetes").await;
    assert_eq!(model["aliases"]["champion"], 2, "{model}");
    server.stop().await;
}

/// Labels sent the moment their predictions are answered all count: the feedback call has the
/// log write what it still holds before it looks the ids up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_sent_right_after_their_predictions_all_count() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    let mut labels = Vec::new();
    for i in 0..200 {
        let id = format!("now-{i}");
        let x = [
            5.0 + (i % 10) as f64 / 10.0,
            3.0,
            1.5 + (i % 7) as f64 / 2.0,
            0.5,
        ];
        let body = json!({"id": id, "inputs": [{"name": "input", "shape": [1, 4],
            "datatype": "FP32", "data": x}]});
        let res: Value = server
            .post_json("/v2/models/iris/infer", &body)
            .await
            .json()
            .await
            .unwrap();
        let label = res["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "label")
            .unwrap()["data"][0]
            .clone();
        labels.push(json!({"id": id, "label": label}));
    }
    // At once: the writer gathers for 100 ms, so most rows are not written yet.
    let outcome: Value = server
        .post_json("/api/v1/models/iris/feedback", &json!(labels))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (outcome["matched"].clone(), outcome["unknown"].clone()),
        (json!(200), json!(0)),
        "{outcome}"
    );
    let quality = server.get_json("/api/v1/models/iris/quality").await;
    assert_eq!(quality["labelled"], 200, "{quality}");
    assert_eq!(quality["metrics"]["accuracy"], 1.0, "{quality}");
    server.stop().await;
}

/// The per-model cap holds as rows arrive, not only at the five-minute retention pass.
#[tokio::test]
async fn the_prediction_log_stays_within_its_cap_as_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let config = aiaas_service::ServiceConfig {
        prediction_keep: 100,
        ..crate::test_config()
    };
    let server = TestServer::with_config(dir.path(), config).await;
    assert_eq!(
        server.upload("iris", crate::IRIS).await.status(),
        reqwest::StatusCode::CREATED
    );
    assert_eq!(
        server.train(crate::quick_iris_job()).await["state"],
        "succeeded"
    );
    let model = ModelName::new("iris").unwrap();
    let count = || async {
        // Feedback waits for the log's writer, so the count includes every answered request.
        server
            .post_json(
                "/api/v1/models/iris/feedback",
                &json!([{"id": "none", "label": "setosa"}]),
            )
            .await;
        server
            .platform
            .store()
            .predictions(&model, &Window::default())
            .await
            .unwrap()
            .len()
    };
    let mut most = 0;
    for i in 0..40 {
        let data: Vec<f64> = (0..10).flat_map(|_| [5.1, 3.5, 1.4, 0.2]).collect();
        let body = json!({"id": format!("r{i}"), "inputs": [{"name": "input", "shape": [10, 4],
            "datatype": "FP32", "data": data}]});
        let res = server.post_json("/v2/models/iris/infer", &body).await;
        assert!(res.status().is_success());
        if i % 5 == 4 {
            most = most.max(count().await);
        }
    }
    assert!(
        (100..=110).contains(&most),
        "{most} rows against a cap of 100"
    );
    server.stop().await;
}
