"""Small ONNX models the Rust tests import and serve (tests/onnx/fixtures/*.onnx), made with the
`onnx` package's helper and checked into the repository, so that those tests need no Python.

Usage: python3 tests/onnx/fixtures.py   (rewrites the files; weights are fixed, not random;
needs `onnx`, and `tokenizers` for tokenizer.json)
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).parent / "fixtures"

# y = relu(x W^T + b): W 3x4, b 3.
W = np.array([[1, -2, 0.5, 0], [0, 1, 1, -1], [0.25, 0.25, 0.25, 0.25]], np.float32)
B = np.array([0.5, -1, 0], np.float32)


def save(name, nodes, inputs, outputs, initializers, check=True):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    m = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="aiaas-fixtures",
        producer_version="1",
    )
    m.ir_version = 8
    helper.set_model_props(m, {"purpose": "tests"})
    if check:
        onnx.checker.check_model(m)
    onnx.save(m, OUT / f"{name}.onnx")


def dense(name, batch):
    """relu(x W^T + b) with a batch axis of `batch` (a name for a dynamic axis, or a size)."""
    save(
        name,
        [
            helper.make_node("Gemm", ["x", "W", "b"], ["z"], transB=1),
            helper.make_node("Relu", ["z"], ["y"]),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "b")],
    )


def tokens():
    """Token ids in, the mean of their 2-wide embeddings out: an INT64 input of two dynamic axes."""
    table = np.arange(20, dtype=np.float32).reshape(10, 2) / 10
    save(
        "tokens",
        [
            helper.make_node("Gather", ["table", "ids"], ["e"]),
            helper.make_node("ReduceMean", ["e"], ["y"], axes=[1], keepdims=0),
        ],
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        [numpy_helper.from_array(table, "table")],
    )


def encoder():
    """A text encoder as Hugging Face exports one: `input_ids` and `attention_mask` in (INT64,
    batch x sequence), the masked sum of 2-wide embeddings out. Row i of the table is (i, i/10)."""
    table = np.stack([np.arange(16), np.arange(16) / 10], axis=1).astype(np.float32)
    save(
        "encoder",
        [
            helper.make_node("Gather", ["table", "input_ids"], ["e"]),
            helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["m", "last"], ["m3"]),
            helper.make_node("Mul", ["e", "m3"], ["em"]),
            helper.make_node("ReduceSum", ["em", "tokens"], ["y"], keepdims=0),
        ],
        [
            helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
            for n in ("input_ids", "attention_mask")
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(np.array([2], np.int64), "last"),
            numpy_helper.from_array(np.array([1], np.int64), "tokens"),
        ],
    )


def tokenizer():
    """A word-level tokenizer in the Hugging Face format (made with the `tokenizers` package):
    lower-cased words split on whitespace and punctuation, [CLS] ... [SEP] around them, unknown
    words [UNK]. The ids: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, then the words below from 4."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    words = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "."]
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    t = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    t.normalizer = normalizers.Lowercase()
    t.pre_tokenizer = pre_tokenizers.Whitespace()
    t.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    t.save(str(OUT / "tokenizer.json"))


def unsupported():
    """A graph with operators no runtime implements (the checker would refuse it, so no check)."""
    save(
        "unsupported",
        [
            helper.make_node("NoSuchOp", ["x"], ["a"]),
            helper.make_node("Relu", ["a"], ["b"]),
            helper.make_node("AnotherMissingOp", ["b"], ["y"]),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [],
        check=False,
    )


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    dense("dense", "batch")
    dense("fixed_batch", 1)
    tokens()
    encoder()
    tokenizer()
    unsupported()
