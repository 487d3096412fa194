"""The aiaas V2 gRPC service through the real `tritonclient.grpc` client, as its users call it,
with every answer compared to the same request over REST (`tritonclient.http`).

Usage: python3 check_grpc.py GRPC_HOST:PORT HTTP_HOST:PORT EXPECTED.json API_KEY [CA.pem]

With CA.pem, both ports speak TLS and the server's certificate is checked against that CA.

EXPECTED.json is check_v2.py's (what `aiaas predict` gave for the same rows). Exits non-zero
with a message on any mismatch.
"""

import json
import queue
import ssl
import sys
import urllib.request

import grpc
import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from check_v2 import BearerKey, check


def refused(call, code: str, words: str = "") -> None:
    """`call` fails with gRPC status `code` and a message holding `words`."""
    try:
        call()
    except InferenceServerException as e:
        assert e.status() == f"StatusCode.{code}", (e.status(), str(e))
        assert words in e.message(), e.message()
        return
    raise AssertionError(f"answered; expected {code}")


def create_key(http_url: str, admin: str, body: dict, ca: str | None) -> str:
    scheme = "https" if ca else "http"
    request = urllib.request.Request(
        f"{scheme}://{http_url}/api/v1/keys",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
    )
    context = ssl.create_default_context(cafile=ca) if ca else None
    return json.load(urllib.request.urlopen(request, context=context))["key"]


def main() -> None:
    url, http_url, expected_path, key = sys.argv[1:5]
    ca = sys.argv[5] if len(sys.argv) > 5 else None
    expected = json.load(open(expected_path))
    root = open(ca, "rb").read() if ca else None
    tls = {"ssl": True, "root_certificates": ca} if ca else {}
    http_tls = {"ssl": True, "ssl_options": {"ca_certs": ca}} if ca else {}
    channel = grpc.secure_channel(url, grpc.ssl_channel_credentials(root)) if ca else grpc.insecure_channel(url)
    anonymous = grpcclient.InferenceServerClient(url=url, **tls)
    assert anonymous.is_server_live(), "server not live"
    assert anonymous.is_server_ready(), "server not ready"
    refused(lambda: anonymous.get_model_metadata("iris"), "UNAUTHENTICATED", "API key")

    client = grpcclient.InferenceServerClient(url=url, **tls)
    client.register_plugin(BearerKey(key))
    rest = httpclient.InferenceServerClient(url=http_url, **http_tls)
    rest.register_plugin(BearerKey(key))
    assert client.is_model_ready("iris"), "iris not ready"
    assert client.is_model_ready("iris", "1"), "iris 1 not ready"
    assert not client.is_model_ready("ghost"), "a model that does not exist is ready"
    meta = client.get_model_metadata("iris")
    rest_meta = rest.get_model_metadata("iris")
    tensors = lambda ts: [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in ts]
    assert tensors(meta.inputs) == rest_meta["inputs"], meta
    assert tensors(meta.outputs) == rest_meta["outputs"], meta
    assert list(meta.versions) == rest_meta["versions"] == ["1"], meta
    server = client.get_server_metadata(as_json=True)
    assert server["name"] == "aiaas", server

    rows = np.array(expected["rows"], dtype=np.float32)
    want_p = np.array(expected["probabilities"], dtype=np.float32)
    for batch in (1, 8):
        x = rows[:batch]
        inp = grpcclient.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        rest_inp = httpclient.InferInput("input", list(x.shape), "FP32")
        rest_inp.set_data_from_numpy(x)
        rest_result = rest.infer("iris", [rest_inp])
        result = client.infer("iris", [inp], request_id=f"g{batch}")
        assert result.get_response().id == f"g{batch}"
        check(result, batch, want_p, expected["labels"])
        for name in ("probabilities", "label"):
            assert np.array_equal(result.as_numpy(name), rest_result.as_numpy(name)), name
        # Each output selected alone.
        for name in ("probabilities", "label"):
            result = client.infer("iris", [inp], outputs=[grpcclient.InferRequestedOutput(name)])
            assert [o.name for o in result.get_response().outputs] == [name]
            assert np.array_equal(result.as_numpy(name), rest_result.as_numpy(name)), name
        # Typed contents (not how tritonclient sends; how the protocol also allows): typed
        # answers, the same values.
        typed = service_pb2.ModelInferRequest(model_name="iris")
        tensor = typed.inputs.add(name="input", datatype="FP32", shape=list(x.shape))
        tensor.contents.fp32_contents.extend(x.flatten().tolist())
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        answer = stub.ModelInfer(typed, metadata=[("authorization", f"Bearer {key}")])
        assert len(answer.raw_output_contents) == 0
        p = np.array(answer.outputs[0].contents.fp32_contents, dtype=np.float32)
        assert np.array_equal(p, rest_result.as_numpy("probabilities").flatten())
        labels = [b.decode() for b in answer.outputs[1].contents.bytes_contents]
        assert labels == expected["labels"][:batch], labels

    # Many requests over one stream.
    answers = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    for batch in (1, 8, 3):
        inp = grpcclient.InferInput("input", [batch, 4], "FP32")
        inp.set_data_from_numpy(rows[:batch])
        client.async_stream_infer("iris", [inp], request_id=f"s{batch}")
    for batch in (1, 8, 3):
        result, error = answers.get(timeout=30)
        assert error is None, error
        assert result.get_response().id == f"s{batch}"
        check(result, batch, want_p, expected["labels"])
    client.stop_stream()

    # Each error with its code.
    bad = grpcclient.InferInput("input", [1, 4], "FP64")
    bad.set_data_from_numpy(rows[:1].astype(np.float64))
    refused(lambda: client.infer("iris", [bad]), "INVALID_ARGUMENT", "expects FP32")
    short = grpcclient.InferInput("input", [1, 3], "FP32")
    short.set_data_from_numpy(rows[:1, :3])
    refused(lambda: client.infer("iris", [short]), "INVALID_ARGUMENT", "[-1, 4]")
    one = grpcclient.InferInput("input", [1, 4], "FP32")
    one.set_data_from_numpy(rows[:1])
    refused(lambda: client.infer("ghost", [one]), "NOT_FOUND", "ghost")
    refused(lambda: client.infer("iris", [one], model_version="9"), "NOT_FOUND")
    refused(lambda: client.get_model_metadata("ghost"), "NOT_FOUND", "ghost")
    refused(lambda: client.infer("iris", [one], timeout=0), "DEADLINE_EXCEEDED")
    viewer = grpcclient.InferenceServerClient(url=url, **tls)
    viewer_key = create_key(http_url, key, {"name": "v", "role": "viewer"}, ca)
    viewer.register_plugin(BearerKey(viewer_key))
    refused(lambda: viewer.infer("iris", [one]), "PERMISSION_DENIED", "viewer")
    slow = grpcclient.InferenceServerClient(url=url, **tls)
    slow_key = create_key(http_url, key, {"name": "s", "role": "predictor", "rate_limit": 0.01}, ca)
    slow.register_plugin(BearerKey(slow_key))
    slow.infer("iris", [one])
    refused(lambda: slow.infer("iris", [one]), "RESOURCE_EXHAUSTED", "rate")

    # The repository extension.
    index = client.get_model_repository_index(as_json=True)
    assert index["models"] == [{"name": "iris", "version": "1", "state": "READY"}], index
    client.unload_model("iris")
    assert client.get_model_repository_index(as_json=True)["models"][0]["state"] == "UNAVAILABLE"
    client.load_model("iris")
    assert client.is_model_ready("iris")
    refused(lambda: client.load_model("ghost"), "NOT_FOUND", "ghost")
    print("tritonclient.grpc: all checks passed" + (" over TLS" if ca else ""))


if __name__ == "__main__":
    main()
