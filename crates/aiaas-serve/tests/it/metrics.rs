//! The batcher's and the call's series, read back from a Prometheus recorder installed once for
//! this test binary (with the crate's own buckets). Each test labels its series with a model name
//! of its own, so the tests that share the recorder do not see each other's counts.

use crate::{bounded, config, input, mlp};
use aiaas_serve::metrics::HISTOGRAMS;
use aiaas_serve::{Arrivals, Batcher, ModelMetrics, Outcome, ServeError};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let mut builder = PrometheusBuilder::new();
        for (name, buckets) in HISTOGRAMS {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(name.to_string()), buckets)
                .unwrap();
        }
        let handle = builder.install_recorder().expect("the only recorder");
        aiaas_serve::metrics::describe();
        handle
    })
}

/// The value of the sample `name{labels...}` in `text`, whatever the order of its labels.
#[track_caller]
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = text.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let rest = series.strip_prefix(name)?.strip_prefix('{')?;
        let have: Vec<&str> = rest.strip_suffix('}')?.split(',').collect();
        let want = labels.iter().map(|(k, v)| format!("{k}=\"{v}\""));
        (have.len() == labels.len() && want.into_iter().all(|l| have.contains(&l.as_str())))
            .then(|| value.parse::<f64>().expect("a number"))
    });
    found.unwrap_or_else(|| panic!("no {name}{labels:?} in:\n{text}"))
}

#[tokio::test]
async fn the_batcher_records_queue_time_compute_time_and_rows_per_pass() {
    let recorder = recorder();
    let model = [("model", "it-batcher"), ("version", "7")];
    let b = Batcher::start_with(
        mlp(4, &[8], 2, 11),
        config(4, Duration::from_millis(1), 16),
        "it-batcher-v7",
        ModelMetrics::new("it-batcher", "7"),
        Arrivals::default(),
    );
    bounded(b.infer(input(1, 4, 0), 1, None)).await.unwrap();
    // Larger than max_batch: computed alone, in passes of 4, 4 and 2 rows.
    bounded(b.infer(input(10, 4, 1), 10, None)).await.unwrap();

    let text = recorder.render();
    let bucket = |le| {
        let labels = [model[0], model[1], ("le", le)];
        sample(&text, "aiaas_inference_batch_size_bucket", &labels)
    };
    assert_eq!(
        sample(&text, "aiaas_inference_batch_size_count", &model),
        4.0
    );
    assert_eq!(
        sample(&text, "aiaas_inference_batch_size_sum", &model),
        11.0
    );
    assert_eq!([bucket("1"), bucket("2"), bucket("4")], [1.0, 2.0, 4.0]);
    assert_eq!(bucket("128"), 4.0);
    for name in [
        "aiaas_inference_queue_duration_seconds_count",
        "aiaas_inference_compute_duration_seconds_count",
    ] {
        assert_eq!(sample(&text, name, &model), 2.0, "{name}");
    }
    let compute = sample(
        &text,
        "aiaas_inference_compute_duration_seconds_sum",
        &model,
    );
    assert!(compute > 0.0, "{compute}");
    assert_eq!(sample(&text, "aiaas_inference_queue_depth", &model), 0.0);
    assert_eq!(b.queue_depth(), 0);
}

#[tokio::test]
async fn refused_requests_leave_the_queue_depth_as_it_was() {
    let recorder = recorder();
    let model = [("model", "it-refused"), ("version", "1")];
    let depth = || sample(&recorder.render(), "aiaas_inference_queue_depth", &model);
    // As in `limits`: a 64-row pass of this model takes milliseconds, queueing microseconds.
    let b = Batcher::start_with(
        mlp(512, &[2048, 2048], 4, 6),
        config(64, Duration::ZERO, 1),
        "it-refused-v1",
        ModelMetrics::new("it-refused", "1"),
        Arrivals::default(),
    );
    let busy = b.infer(input(64, 512, 0), 64, None);
    bounded(async {
        while b.queue_depth() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    let queued = b.infer(input(1, 512, 1), 1, None);
    for i in 0..5 {
        let refused = bounded(b.infer(input(1, 512, 2 + i), 1, None)).await;
        assert!(
            matches!(refused, Err(ServeError::Overloaded(_))),
            "{refused:?}"
        );
    }
    assert_eq!(depth(), 1.0);
    bounded(busy).await.unwrap();
    bounded(queued).await.unwrap();
    assert_eq!(depth(), 0.0);
}

#[test]
fn a_call_counts_under_its_outcome() {
    let recorder = recorder();
    let model = ModelMetrics::new("it-outcomes", "2");
    model.record_request(Outcome::Ok, Duration::from_millis(3));
    model.record_request(Outcome::Overloaded, Duration::from_micros(40));
    model.record_request(Outcome::Overloaded, Duration::from_micros(60));
    let text = recorder.render();
    let count = |outcome| {
        let labels = [
            ("model", "it-outcomes"),
            ("version", "2"),
            ("outcome", outcome),
        ];
        sample(&text, "aiaas_inference_requests_total", &labels)
    };
    assert_eq!(
        Outcome::ALL.map(|o| count(o.as_str())),
        [1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0]
    );
    let labels = [("model", "it-outcomes"), ("version", "2")];
    let name = "aiaas_inference_request_duration_seconds";
    assert_eq!(sample(&text, &format!("{name}_count"), &labels), 3.0);
    let sum = sample(&text, &format!("{name}_sum"), &labels);
    assert!((sum - 0.0031).abs() < 1e-9, "{sum}");
}
