//! The V2 JSON decoder alone: a batch-1 and a batch-64 infer request for an MNIST-shaped input
//! (784 uniform values in [0, 1) with 4 decimals, as normalized features are written), decoded
//! by `InferRequest::parse` (one pass over the bytes: the structure walked by hand, `data`'s
//! plain decimals parsed exactly where they stand, small fields handed to serde in place) against
//! the general path: `serde_json::Value` for the whole body, then its `data` flattened into the
//! same vector. Prints MB/s and values/s of each (medians), and the speed-up.
//!
//! Run with `cargo bench -p aiaas-serve --bench decode`.

#[path = "../../aiaas-engine/benches/common/mod.rs"]
#[allow(dead_code)]
mod common;

use aiaas_serve::v2::{InferRequest, TensorData};
use common::median;
use serde_json::Value;
use std::hint::black_box;

const FEATURES: usize = 784;

fn main() {
    println!(
        "V2 JSON infer request decode, {FEATURES} values per row with 4 decimals (median of runs)"
    );
    println!(
        "{:>5} {:>9} {:<14} {:>9} {:>12} {:>9}",
        "rows", "bytes", "decoder", "MB/s", "Mvalues/s", "speed-up"
    );
    for rows in [1, 64] {
        let body = request(rows);
        let values = (rows * FEATURES) as f64;
        let typed = median(|| {
            black_box(typed_values(black_box(&body)));
        });
        let tree = median(|| {
            black_box(value_values(black_box(&body)));
        });
        assert_eq!(
            typed_values(&body),
            value_values(&body),
            "both decode alike"
        );
        for (name, t, speedup) in [
            (
                "InferRequest",
                typed,
                Some(tree.as_secs_f64() / typed.as_secs_f64()),
            ),
            ("serde Value", tree, None),
        ] {
            let s = t.as_secs_f64();
            println!(
                "{rows:>5} {:>9} {name:<14} {:>9.0} {:>12.1} {:>9}",
                body.len(),
                body.len() as f64 / s / 1e6,
                values / s / 1e6,
                speedup.map_or(String::new(), |x| format!("{x:.2}x")),
            );
        }
    }
}

/// The request's values through the decoder the server uses.
fn typed_values(body: &[u8]) -> Vec<f64> {
    let request = InferRequest::parse(body, None).expect("a V2 request");
    match request.inputs.into_iter().next().map(|i| i.data) {
        Some(TensorData::Numbers(values)) => values,
        other => panic!("not numbers: {other:?}"),
    }
}

/// The same values through a `serde_json::Value` tree.
fn value_values(body: &[u8]) -> Vec<f64> {
    let request: Value = serde_json::from_slice(body).expect("JSON");
    let mut values = Vec::new();
    flatten(&request["inputs"][0]["data"], &mut values);
    values
}

fn flatten(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        v => out.push(v.as_f64().expect("a number")),
    }
}

/// A V2 request of `rows` rows, nested as clients write them (`[[...], ...]`).
fn request(rows: usize) -> Vec<u8> {
    let data: Vec<Vec<f64>> = (0..rows)
        .map(|r| {
            (0..FEATURES)
                .map(|i| {
                    let h =
                        ((r * FEATURES + i + 1) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
                    (h % 10_000) as f64 / 10_000.0
                })
                .collect()
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "id": "bench",
        "inputs": [{"name": "input", "shape": [rows, FEATURES], "datatype": "FP32", "data": data}],
    }))
    .unwrap()
}
