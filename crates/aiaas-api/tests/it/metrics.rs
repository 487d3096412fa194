//! `GET /metrics`: after real inference calls, the Prometheus scrape holds the serving series
//! with the counts those calls imply. Every server of this binary shares one recorder, so this
//! test serves a model name of its own and compares shared series with `>=`.

use crate::{IRIS, TestServer, metrics_handle, quick_iris_job};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The model this test alone serves.
const MODEL: &str = "metrics-iris";

fn one_row(datatype: &str) -> Value {
    json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": datatype,
                       "data": [5.1, 3.5, 1.4, 0.2]}]})
}

/// One sample of a scrape: its name and labels.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Series {
    name: String,
    labels: BTreeMap<String, String>,
}

/// Every sample of a text exposition (label values here hold no quotes or commas).
fn parse(text: &str) -> BTreeMap<Series, f64> {
    let mut samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        let labels = labels
            .split(',')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').expect("key=value");
                (k.to_string(), v.trim_matches('"').to_string())
            })
            .collect();
        let value = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("a number in {line:?}")),
        };
        let series = Series {
            name: name.to_string(),
            labels,
        };
        samples.insert(series, value);
    }
    samples
}

/// The value of `name{labels}`, failing the test when the scrape lacks it.
#[track_caller]
fn value(samples: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let series = Series {
        name: name.to_string(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    *samples.get(&series).unwrap_or_else(|| {
        let known: Vec<_> = samples.keys().filter(|s| s.name == name).collect();
        panic!("no {series:?} in the scrape; {name} has {known:?}")
    })
}

async fn scrape(server: &TestServer) -> BTreeMap<Series, f64> {
    let res = server.get("/metrics").await;
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = res.text().await.unwrap();
    for kind in [
        "# TYPE aiaas_inference_requests_total counter",
        "# TYPE aiaas_inference_request_duration_seconds histogram",
        "# TYPE aiaas_inference_batch_size histogram",
        "# TYPE aiaas_model_memory_bytes gauge",
        "# HELP aiaas_models_loaded",
    ] {
        assert!(text.contains(kind), "{kind:?} missing from:\n{text}");
    }
    assert!(
        !text.contains("ghost"),
        "an unknown model's name became a label:\n{text}"
    );
    parse(&text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scrape_counts_inference_calls_batches_and_loaded_models() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    server.upload("iris", IRIS).await;
    let mut job = quick_iris_job();
    job["name"] = json!(MODEL);
    assert_eq!(server.train(job).await["state"], "succeeded");

    let infer = format!("/v2/models/{MODEL}/infer");
    const GOOD: usize = 5;
    for _ in 0..GOOD {
        let res = server.post_json(&infer, &one_row("FP32")).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{}",
            res.text().await.unwrap()
        );
    }
    let res = server.post_json(&infer, &one_row("INT64")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = server
        .post_json("/v2/models/ghost-of-metrics/infer", &one_row("FP32"))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Refused before it reaches the model: not JSON at all. Counted under the model's name.
    let res = server
        .http
        .post(server.url(&infer))
        .body("{\"inputs\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    let s = scrape(&server).await;
    let v1 = [("model", MODEL), ("version", "1")];
    let requests = |outcome| {
        value(
            &s,
            "aiaas_inference_requests_total",
            &[v1[0], v1[1], ("outcome", outcome)],
        )
    };
    assert_eq!(requests("ok"), GOOD as f64);
    assert_eq!(requests("bad_request"), 1.0);
    let refused = value(
        &s,
        "aiaas_inference_requests_total",
        &[
            ("model", MODEL),
            ("version", ""),
            ("outcome", "bad_request"),
        ],
    );
    assert_eq!(refused, 1.0);
    // Resolved once per loaded version: every outcome is there from the start.
    for outcome in [
        "not_found",
        "overloaded",
        "deadline",
        "unavailable",
        "error",
    ] {
        assert_eq!(requests(outcome), 0.0, "{outcome}");
    }
    let unknown = [
        ("model", "unknown"),
        ("version", ""),
        ("outcome", "not_found"),
    ];
    assert!(value(&s, "aiaas_inference_requests_total", &unknown) >= 1.0);

    let count = |name: &str| value(&s, &format!("{name}_count"), &v1);
    let sum = |name: &str| value(&s, &format!("{name}_sum"), &v1);
    let calls = (GOOD + 1) as f64;
    assert_eq!(count("aiaas_inference_request_duration_seconds"), calls);
    assert!(sum("aiaas_inference_request_duration_seconds") > 0.0);
    let inf = [v1[0], v1[1], ("le", "+Inf")];
    assert_eq!(
        value(&s, "aiaas_inference_request_duration_seconds_bucket", &inf),
        calls
    );
    // The warm-up pass at load goes through the batcher too: one more than the good calls.
    let computed = (GOOD + 1) as f64;
    assert_eq!(count("aiaas_inference_queue_duration_seconds"), computed);
    let batches = count("aiaas_inference_compute_duration_seconds");
    assert!((1.0..=computed).contains(&batches), "{batches} batches");
    assert_eq!(count("aiaas_inference_batch_size"), batches);
    assert_eq!(sum("aiaas_inference_batch_size"), computed, "rows computed");
    let le_128 = [v1[0], v1[1], ("le", "128")];
    assert_eq!(
        value(&s, "aiaas_inference_batch_size_bucket", &le_128),
        batches
    );
    assert_eq!(value(&s, "aiaas_inference_queue_depth", &v1), 0.0);
    assert!(value(&s, "aiaas_model_memory_bytes", &v1) > 0.0);
    assert!(value(&s, "aiaas_models_loaded", &[]) >= 1.0);

    let res = server
        .http
        .post(server.url(&format!("/v2/repository/models/{MODEL}/unload")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let s = scrape(&server).await;
    assert_eq!(value(&s, "aiaas_model_memory_bytes", &v1), 0.0);

    // The handle the server renders is the shared one.
    assert!(metrics_handle().render().contains(MODEL));
    server.stop().await;
}
