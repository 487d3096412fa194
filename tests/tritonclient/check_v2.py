"""The aiaas V2 endpoints through the real `tritonclient` HTTP client, as its users call it.

Usage: python3 check_v2.py HOST:PORT EXPECTED.json API_KEY [CA.pem]

With CA.pem, the server speaks https and its certificate is checked against that CA.

EXPECTED.json holds what `aiaas predict` gave for the same rows: {"rows": [[...], ...],
"labels": [...], "probabilities": [[...], ...]}. Exits non-zero with a message on any mismatch.
"""

import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient._plugin import InferenceServerClientPlugin
from tritonclient.utils import InferenceServerException


def main() -> None:
    url, expected_path, key = sys.argv[1], sys.argv[2], sys.argv[3]
    ca = sys.argv[4] if len(sys.argv) > 4 else None
    expected = json.load(open(expected_path))
    tls = {"ssl": True, "ssl_options": {"ca_certs": ca}} if ca else {}
    # Health is public; everything else needs the key.
    anonymous = httpclient.InferenceServerClient(url=url, **tls)
    assert anonymous.is_server_live(), "server not live"
    assert anonymous.is_server_ready(), "server not ready"
    try:
        anonymous.get_model_metadata("iris")
        raise AssertionError("a call without a key was answered")
    except InferenceServerException as e:
        assert "API key" in str(e), e
    client = httpclient.InferenceServerClient(url=url, **tls)
    client.register_plugin(BearerKey(key))
    assert client.is_model_ready("iris", ), "iris not ready"
    meta = client.get_model_metadata("iris", )
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}], meta
    assert [o["name"] for o in meta["outputs"]] == ["probabilities", "label"], meta

    rows = np.array(expected["rows"], dtype=np.float32)
    want_p = np.array(expected["probabilities"], dtype=np.float32)
    for batch in (1, 8):
        x = rows[:batch]
        for binary in (True, False):
            inp = httpclient.InferInput("input", list(x.shape), "FP32")
            inp.set_data_from_numpy(x, binary_data=binary)
            # All outputs (the client then asks for binary), and each output selected.
            result = client.infer("iris", [inp], request_id=f"b{batch}", )
            assert result.get_response()["id"] == f"b{batch}"
            check(result, batch, want_p, expected["labels"])
            for out_binary in (True, False):
                outs = [httpclient.InferRequestedOutput("label", binary_data=out_binary)]
                result = client.infer("iris", [inp], outputs=outs, )
                labels = [b.decode() if isinstance(b, bytes) else b
                          for b in result.as_numpy("label").tolist()]
                assert labels == expected["labels"][:batch], labels
                assert result.as_numpy("probabilities") is None

    # A wrong datatype is refused with the expected one named.
    bad = httpclient.InferInput("input", [1, 4], "FP64")
    bad.set_data_from_numpy(rows[:1].astype(np.float64), binary_data=False)
    try:
        client.infer("iris", [bad], )
        raise AssertionError("FP64 input was accepted")
    except InferenceServerException as e:
        assert "expects FP32" in str(e), e
    try:
        client.get_model_metadata("ghost", )
        raise AssertionError("unknown model answered")
    except InferenceServerException as e:
        assert "ghost" in str(e), e
    print("tritonclient: all checks passed" + (" over https" if ca else ""))


class BearerKey(InferenceServerClientPlugin):
    """Sends the API key with every request (tritonclient's way to add a header to all calls)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, request) -> None:
        # Lowercase: gRPC metadata takes no capitals; HTTP does not mind.
        request.headers["authorization"] = f"Bearer {self.key}"


def check(result, batch, want_p, want_labels) -> None:
    p = result.as_numpy("probabilities")
    assert p.shape == (batch, want_p.shape[1]), p.shape
    assert np.allclose(p, want_p[:batch], atol=1e-5), (p, want_p[:batch])
    labels = [b.decode() if isinstance(b, bytes) else b for b in result.as_numpy("label").tolist()]
    assert labels == want_labels[:batch], labels


if __name__ == "__main__":
    main()
