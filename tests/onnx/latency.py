"""ONNX Runtime's latency on a model, the peer figure of aiaas-onnx's latency bench
(crates/aiaas-onnx/benches/latency.rs).

Usage: python3 tests/onnx/latency.py MODEL.onnx THREADS BATCH [BATCH ...]

Feeds uniform random FP32 inputs of each batch (the model's other axes as declared; for INT64
token inputs, 32 token ids, or a mask of ones for an input named *mask*) and prints
one JSON object: {"BATCH": median milliseconds, ...}, timed as the Rust side times (median of
runs filling about 300 ms, at least 5, after one warm-up run).
"""

import json
import sys
import time

import numpy as np
import onnxruntime


def median_ms(run):
    run()
    start = time.perf_counter()
    run()
    once = max(time.perf_counter() - start, 1e-7)
    runs = int(min(max(0.3 / once, 5), 20000))
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[runs // 2] * 1e3


SEQUENCE = 32


def feed(spec, batch, rng):
    if spec.type == "tensor(int64)":
        if "mask" in spec.name:
            return np.ones((batch, SEQUENCE), dtype=np.int64)
        return rng.integers(1000, 30000, (batch, SEQUENCE), dtype=np.int64)
    return rng.random((batch, *spec.shape[1:]), dtype=np.float32)


def main(path, threads, batches):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    result = {}
    for batch in batches:
        feeds = {i.name: feed(i, batch, rng) for i in session.get_inputs()}
        result[str(batch)] = median_ms(lambda: session.run(None, feeds))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), [int(b) for b in sys.argv[3:]])
