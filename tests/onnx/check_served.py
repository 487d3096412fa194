"""Imported ONNX models as a running aiaas server serves them, through the real `tritonclient`
over HTTP and gRPC, against what ONNX Runtime answered for the same inputs (the cases
tests/onnx/reference.py wrote). Run by crates/aiaas/tests/interop/onnxruntime.rs.

Usage: python3 tests/onnx/check_served.py HTTP_ADDR GRPC_ADDR API_KEY CASES_DIR

Each CASES_DIR/NAME.json is checked against model NAME: every output within 1e-4 (integers
exactly), over HTTP with JSON and with binary tensors, and over gRPC.
"""

import json
import sys
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

DTYPES = {"FP32": np.float32, "INT64": np.int64}


def check(name, output, got, want):
    want_array = np.array(want["data"]).reshape(want["shape"])
    assert list(got.shape) == want["shape"], f"{name} {output}: shape {got.shape} vs {want['shape']}"
    if np.issubdtype(got.dtype, np.integer):
        assert np.array_equal(got, want_array), f"{name} {output}: {got} vs {want_array}"
    else:
        worst = float(np.max(np.abs(got - want_array)))
        assert worst <= 1e-4, f"{name} {output}: off by {worst}"


def inputs_for(module, case, meta, binary):
    tensors = []
    for spec in meta:
        value = case["inputs"][spec["name"]]
        array = np.array(value["data"], dtype=DTYPES[spec["datatype"]]).reshape(value["shape"])
        tensor = module.InferInput(spec["name"], list(array.shape), spec["datatype"])
        if module is httpclient:
            tensor.set_data_from_numpy(array, binary_data=binary)
        else:
            tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    return tensors


def main(http_addr, grpc_addr, key, cases_dir):
    headers = {"Authorization": f"Bearer {key}"}
    # gRPC metadata keys are lower-case.
    metadata = {"authorization": f"Bearer {key}"}
    http = httpclient.InferenceServerClient(http_addr)
    grpc = grpcclient.InferenceServerClient(grpc_addr)
    checked = 0
    for path in sorted(Path(cases_dir).glob("*.json")):
        name = path.stem
        cases = json.loads(path.read_text())
        meta = http.get_model_metadata(name, headers=headers)
        grpc_meta = grpc.get_model_metadata(name, headers=metadata, as_json=True)
        assert [i["name"] for i in meta["inputs"]] == [i["name"] for i in grpc_meta["inputs"]]
        for case in cases:
            for binary in (False, True):
                # A copy: tritonclient adds the binary header length to the dict it is given.
                answer = http.infer(
                    name,
                    inputs_for(httpclient, case, meta["inputs"], binary),
                    headers=dict(headers),
                )
                for output, want in case["outputs"].items():
                    check(name, output, answer.as_numpy(output), want)
            grpc_inputs = inputs_for(grpcclient, case, meta["inputs"], False)
            answer = grpc.infer(name, grpc_inputs, headers=metadata)
            for output, want in case["outputs"].items():
                check(name, output, answer.as_numpy(output), want)
            checked += 1
    print(f"{checked} cases checked over HTTP (JSON and binary) and gRPC")
    assert checked > 0, "no cases found"


if __name__ == "__main__":
    main(*sys.argv[1:5])
