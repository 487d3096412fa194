"""How long the dashboard takes to show a registry of 100 models and 1,000 versions, in a real
headless Chromium: the time from asking for a page to its first frame drawn (its API calls, DOM,
style and layout), as the page itself measures it (the User Timing measure `aiaas:page`).

The registry is filled through the API as a user would: iris uploaded as a dataset, then 1,000
small ONNX networks (4 -> 3, softmax; random weights, so each is a new version) imported and
adopted on iris, so that every version carries real test metrics and a confusion matrix: one
model of 901 versions and 99 of one each, each with a champion.

Prints each page's median, min and max over ROUNDS visits, and fails when a median is over
BOUND_MS (the dashboard's target: nothing over 200 ms to render for 100 models and 1,000
versions).

Usage: render_time.py BASE_URL ADMIN_KEY IRIS_CSV
"""

import io
import json
import statistics
import sys
import tarfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from chromium import browser, no_console_errors, sign_in, wait_for

BASE, KEY, IRIS = sys.argv[1:4]
MODELS, VERSIONS = 100, 1000
BIG = "many"
ROUNDS = 5
BOUND_MS = 200


def call(method, path, body=None, content_type="application/json"):
    data = json.dumps(body).encode() if content_type == "application/json" and body is not None else body
    request = urllib.request.Request(BASE + path, data=data, method=method, headers={
        "Authorization": f"Bearer {KEY}", "Content-Type": content_type})
    try:
        with urllib.request.urlopen(request) as res:
            return json.loads(res.read() or b"null")
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{method} {path}: {e.code} {e.read().decode()}") from None


def network(seed):
    """softmax(x W^T + b) for iris's 4 features and 3 classes, with weights drawn from `seed`,
    as a model archive."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(3, 4)).astype(np.float32)
    b = rng.normal(size=3).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W", "b"], ["z"], transB=1),
         helper.make_node("Softmax", ["z"], ["probabilities"], axis=1)],
        "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    # An archive of the graph and which class each output is, as `models import` takes them.
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in (("model.onnx", model.SerializeToString()), ("labels.txt", b"0\n1\n2\n")):
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
    return archive.getvalue()


def fill():
    with open(IRIS, "rb") as f:
        call("POST", "/api/v1/datasets?name=iris", f.read(), "text/csv")
    names = [BIG] * (VERSIONS - MODELS + 1) + [f"model-{i:03}" for i in range(MODELS - 1)]

    def adopt(job):
        seed, name = job
        call("POST", f"/api/v1/models/{name}/versions?dataset=iris", network(seed), "application/x-tar")

    # The big model's versions one after another (each takes the next number), the others
    # beside them: uploads at once are limited by the server.
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        big = pool.submit(lambda: [adopt(j) for j in enumerate(names) if j[1] == BIG])
        rest = pool.submit(lambda: [adopt(j) for j in enumerate(names) if j[1] != BIG])
        big.result(), rest.result()
    for name in sorted(set(names)):
        call("PUT", f"/api/v1/models/{name}/aliases/champion", {"version": 1})
    models = call("GET", "/api/v1/models")
    assert len(models) == MODELS and sum(m["version_count"] for m in models) == VERSIONS, \
        [(m["name"], m["version_count"]) for m in models][:5]
    print(f"filled {MODELS} models and {VERSIONS} versions in {time.perf_counter() - started:.1f} s")
    # Each new version is loaded for serving in the background: time the pages once it is done.
    held = None
    while held != (held := call("GET", "/api/v1/serving")["held_bytes"]):
        time.sleep(1)


def page_time(driver, route, title):
    """Milliseconds from asking for `route` to its first frame, as the page measured it."""
    driver.execute_script("performance.clearMeasures('aiaas:page'); location.hash = arguments[0];", route)
    entries = lambda d: d.execute_script(
        "return performance.getEntriesByName('aiaas:page').map(e => [e.detail, e.duration]);")
    shown = wait_for(driver, lambda d: [e for e in entries(d) if e[0] == title], f"the page {title!r}")
    return shown[-1][1]


def measure():
    pages = [("#/", "Overview"), (f"#/models/{BIG}", BIG), (f"#/models/{BIG}/900", BIG),
             (f"#/models/{BIG}/before/500", BIG), ("#/models/model-000", "model-000")]
    driver = browser(1280, 800)
    try:
        sign_in(driver, BASE, KEY)
        rows = driver.execute_script("return document.querySelectorAll('main table')[0].rows.length;")
        assert rows == MODELS + 1, f"the overview lists {rows - 1} models"
        times = {route: [] for route, _ in pages}
        for _ in range(ROUNDS):
            for route, title in pages:
                times[route].append(page_time(driver, route, title))
        versions = driver.execute_script("return document.querySelectorAll('main table')[0].rows.length;")
        no_console_errors(driver)
    finally:
        driver.quit()
    assert versions == 2, "the last page shown is model-000 with its one version"
    print(f"time to show a page, {ROUNDS} visits each (bound {BOUND_MS} ms on the median):")
    slow = []
    for route, samples in times.items():
        median = statistics.median(samples)
        print(f"  {route:24} median {median:6.1f} ms   min {min(samples):6.1f}   max {max(samples):6.1f}")
        if median > BOUND_MS:
            slow.append(route)
    assert not slow, f"over {BOUND_MS} ms: {slow}"


if __name__ == "__main__":
    fill()
    measure()
