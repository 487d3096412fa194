"""A model trained here and exported with `aiaas models export --format onnx`, run by ONNX
Runtime on the rows of EXPECTED (what `aiaas predict` answered for them, written by
crates/aiaas/tests/interop/tritonclient.rs): the same probabilities within 1e-5 and the same
labels. Run by crates/aiaas/tests/interop/onnxruntime.rs.

Usage: python3 tests/onnx/check_exported.py MODEL.onnx EXPECTED.json
"""

import json
import sys

import numpy as np
import onnxruntime


def main(model, expected_path):
    expected = json.loads(open(expected_path).read())
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    assert names == ["probabilities", "label"], names
    rows = np.array(expected["rows"], dtype=np.float32)
    probabilities, labels = session.run(None, {"input": rows})
    worst = float(np.max(np.abs(probabilities - np.array(expected["probabilities"]))))
    assert worst <= 1e-5, f"probabilities off by {worst}"
    assert list(labels) == expected["labels"], (list(labels), expected["labels"])
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["labels"]) == sorted(set(expected["labels"])), meta
    print(f"{len(rows)} rows: probabilities within {worst:.2e}, labels equal")


if __name__ == "__main__":
    main(*sys.argv[1:3])
