"""Tiny ONNX models written by the tests, for what the shared models cannot show:
a detector without landmarks, exact known detections, batch axes, odd signatures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 13)]


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def constant_scrfd(
    path: Path, size: int, with_landmarks: bool, hit: tuple[int, int, int], strides: tuple[int, ...] = (8, 16, 32)
) -> Path:
    """An SCRFD-shaped detector (fixed size x size input; 2 anchors per cell with 3 strides,
    1 with 5, as insightface's exports) whose outputs are constants: one anchor scores 0.9
    at hit = (stride, row, col), first anchor of the cell, with distances (1, 1, 1, 1)
    strides and landmarks at offsets (j, j) strides; all else 0."""
    anchors = 2 if len(strides) == 3 else 1
    outputs, nodes = [], []
    roles = [("score", 1), ("bbox", 4)] + ([("kps", 10)] if with_landmarks else [])
    for role, width in roles:
        for s in strides:
            cols = size // s
            values = np.zeros((cols * cols * anchors, width), np.float32)
            if s == hit[0]:
                anchor = (hit[1] * cols + hit[2]) * anchors
                if role == "score":
                    values[anchor] = 0.9
                elif role == "bbox":
                    values[anchor] = 1.0
                else:
                    values[anchor] = np.repeat(np.arange(5, dtype=np.float32), 2)
            name = f"{role}_{s}"
            nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(values, name + "_v")))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(values.shape)))
    image = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, size, size])
    return _save(helper.make_graph(nodes, "constant_scrfd", [image], outputs), path)


def pooled_recognizer(path: Path, batch: int | str, dims: int = 64, seed: int = 0,
                      mixes_batch: bool = False) -> Path:
    """An ArcFace-shaped recognizer: N x 3 x 112 x 112 -> 16x16 average pool -> reshape to
    (batch, -1) -> linear -> N x dims. batch: a fixed batch size (baked into the reshape, as
    exporters do), or a name for a dynamic batch axis. mixes_batch adds the mean over the
    batch axis to every embedding: harmless at batch 1, wrong for any rewrite to batch n."""
    weights = np.random.default_rng(seed).normal(size=(3 * 7 * 7, dims)).astype(np.float32)
    flat_shape = np.array([batch if isinstance(batch, int) else 0, -1], dtype=np.int64)
    nodes = [
        helper.make_node("AveragePool", ["input"], ["pooled"], kernel_shape=[16, 16], strides=[16, 16]),
        helper.make_node("Reshape", ["pooled", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["projected" if mixes_batch else "embedding"]),
    ]
    if mixes_batch:
        nodes += [
            helper.make_node("ReduceMean", ["projected"], ["batch_mean"], axes=[0], keepdims=1),
            helper.make_node("Add", ["projected", "batch_mean"], ["embedding"]),
        ]
    graph = helper.make_graph(
        nodes, "pooled_recognizer",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [batch, dims])],
        initializer=[numpy_helper.from_array(weights, "w"), numpy_helper.from_array(flat_shape, "flat_shape")],
    )
    return _save(graph, path)


def two_input_model(path: Path) -> Path:
    """A model no family matches: two inputs, their sum out."""
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 3, 8, 8])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 3, 8, 8])
    out = helper.make_tensor_value_info("sum", TensorProto.FLOAT, [1, 3, 8, 8])
    return _save(helper.make_graph([helper.make_node("Add", ["a", "b"], ["sum"])], "two", [a, b], [out]), path)
