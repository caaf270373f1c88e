"""ONNX graphs for dlib's networks, layer for layer.

con -> Conv (an affine right after a con is folded into its weights), affine -> Mul/Add,
relu -> Relu, max_pool/avg_pool -> MaxPool/AveragePool (size 0: GlobalAveragePool),
add_prev -> Add. dlib's add_prev adds tensors of different shapes by treating what lies
outside the smaller one as zero (top-left aligned), which happens where a stride-2
convolution and a 2x2 average pool disagree by a row; we Pad the smaller input first.
fc -> MatMul (+ Add). Inputs are NCHW float32 in dlib's input space: (pixel - mean) / 256.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from faceindex.packs.dlib.networks import (
    AddPrev,
    Affine,
    Conv,
    FullyConnected,
    Layer,
    Network,
    Pool,
    Relu,
    Skip,
    Tag,
)

OPSET = 17


@dataclass
class _Value:
    name: str
    shape: tuple[int | None, int, int | None, int | None] | tuple[int | None, int]  # N, C, H, W or N, F


class _GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, prefix: str, array: np.ndarray) -> str:
        name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], prefix: str, **attrs: Any) -> str:
        out = self.name(prefix)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def _out_size(n: int | None, k: int, s: int, p: int) -> int | None:
    return None if n is None else 1 + (n + 2 * p - k) // s


def _conv(g: _GraphBuilder, x: _Value, conv: Conv, affine: Affine | None) -> _Value:
    w, b = conv.weights, conv.bias
    if affine is not None:
        w = (w * affine.gamma[:, None, None, None]).astype(np.float32)
        b = (b * affine.gamma + affine.beta).astype(np.float32)
    out_c, in_c, kh, kw = w.shape
    if x.shape[1] != in_c:
        raise ValueError(f"conv expects {in_c} channels, input has {x.shape[1]}")
    (sy, sx), (py, px) = conv.stride, conv.padding
    y = g.node(
        "Conv",
        [x.name, g.const("W", w), g.const("B", b)],
        "conv",
        kernel_shape=[kh, kw],
        strides=[sy, sx],
        pads=[py, px, py, px],
    )
    n, _, h, wd = x.shape  # type: ignore[misc]
    return _Value(y, (n, out_c, _out_size(h, kh, sy, py), _out_size(wd, kw, sx, px)))


def _affine(g: _GraphBuilder, x: _Value, a: Affine) -> _Value:
    c = x.shape[1]
    scale = g.const("gamma", a.gamma.reshape(1, c, 1, 1))
    shift = g.const("beta", a.beta.reshape(1, c, 1, 1))
    return _Value(g.node("Add", [g.node("Mul", [x.name, scale], "scale"), shift], "shift"), x.shape)


def _pool(g: _GraphBuilder, x: _Value, p: Pool) -> _Value:
    n, c, h, w = x.shape  # type: ignore[misc]
    if p.size == (0, 0):
        if p.kind != "avg":
            raise ValueError("only average pooling over the whole input is supported")
        return _Value(g.node("GlobalAveragePool", [x.name], "gap"), (n, c, 1, 1))
    (kh, kw), (sy, sx), (py, px) = p.size, p.stride, p.padding
    op = "MaxPool" if p.kind == "max" else "AveragePool"
    attrs: dict[str, Any] = dict(kernel_shape=[kh, kw], strides=[sy, sx], pads=[py, px, py, px])
    if op == "AveragePool":
        attrs["count_include_pad"] = 0  # dlib averages over the pixels inside the input only
    y = g.node(op, [x.name], p.kind + "pool", **attrs)
    return _Value(y, (n, c, _out_size(h, kh, sy, py), _out_size(w, kw, sx, px)))


def _pad_to(g: _GraphBuilder, x: _Value, shape: tuple[int | None, ...]) -> str:
    """Zero-pad channels, rows and columns at the end up to `shape` (dlib's add_prev rule)."""
    extra = [0] + [int(t) - int(s) for s, t in zip(x.shape[1:], shape[1:])]  # type: ignore[arg-type]
    if all(e == 0 for e in extra):
        return x.name
    pads = np.array([0, 0, 0, 0] + extra, dtype=np.int64)
    return g.node("Pad", [x.name, g.const("pads", pads)], "pad", mode="constant")


def _add_prev(g: _GraphBuilder, a: _Value, b: _Value) -> _Value:
    if any(d is None for d in a.shape[1:] + b.shape[1:]):
        if a.shape != b.shape:
            raise ValueError("add_prev of differently shaped tensors needs static shapes")
        return _Value(g.node("Add", [a.name, b.name], "add"), a.shape)
    shape = (a.shape[0],) + tuple(max(s, t) for s, t in zip(a.shape[1:], b.shape[1:]) if s is not None and t is not None)
    y = g.node("Add", [_pad_to(g, a, shape), _pad_to(g, b, shape)], "add")
    return _Value(y, shape)  # type: ignore[arg-type]


def _fc(g: _GraphBuilder, x: _Value, fc: FullyConnected) -> _Value:
    n = x.shape[0]
    flat = g.node("Flatten", [x.name], "flatten", axis=1)
    dims = x.shape[1:]
    if any(d is None for d in dims):
        raise ValueError("fc needs a static input shape")
    in_features = int(np.prod([int(d) for d in dims if d is not None]))
    if in_features != fc.weights.shape[0]:
        raise ValueError(f"fc expects {fc.weights.shape[0]} inputs, got {in_features}")
    y = g.node("MatMul", [flat, g.const("fcW", fc.weights)], "fc")
    if fc.bias is not None:
        y = g.node("Add", [y, g.const("fcB", fc.bias)], "fcbias")
    return _Value(y, (n, fc.weights.shape[1]))


def _body(g: _GraphBuilder, x: _Value, layers: list[Layer]) -> _Value:
    tags: dict[int, _Value] = {}
    i = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, Conv):
            following = layers[i + 1] if i + 1 < len(layers) else None
            fold = following if isinstance(following, Affine) else None
            x = _conv(g, x, layer, fold)
            i += 2 if fold is not None else 1
            continue
        if isinstance(layer, Affine):
            x = _affine(g, x, layer)
        elif isinstance(layer, Relu):
            x = _Value(g.node("Relu", [x.name], "relu"), x.shape)
        elif isinstance(layer, Pool):
            x = _pool(g, x, layer)
        elif isinstance(layer, Tag):
            tags[layer.id] = x
        elif isinstance(layer, Skip):
            x = tags[layer.id]
        elif isinstance(layer, AddPrev):
            x = _add_prev(g, x, tags[layer.tag])
        elif isinstance(layer, FullyConnected):
            x = _fc(g, x, layer)
        i += 1
    return x


def _model(g: _GraphBuilder, graph_name: str, inp: onnx.ValueInfoProto, out: _Value, out_name: str, doc: str) -> onnx.ModelProto:
    g.nodes.append(helper.make_node("Identity", [out.name], [out_name], name="output"))
    dims: list[int | str] = [d if d is not None else f"d{i}" for i, d in enumerate(out.shape)]
    dims[0] = "batch"
    output = helper.make_tensor_value_info(out_name, TensorProto.FLOAT, dims)
    graph = helper.make_graph(g.nodes, graph_name, [inp], [output], initializer=g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="faceindex")
    model.ir_version = 8  # readable by every ONNX Runtime and TensorRT we support
    model.doc_string = doc
    onnx.checker.check_model(model)
    return model


def detector_to_onnx(net: Network) -> onnx.ModelProto:
    """Input `image` [1, 3, H, W] (the tiled pyramid); output `scores` [1, windows, h, w]."""
    g = _GraphBuilder()
    inp = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "height", "width"])
    out = _body(g, _Value("image", (None, 3, None, None)), net.layers)
    return _model(g, "dlib_mmod_face_detector", inp, out, "scores",
                  "dlib mmod_human_face_detector (CC0), converted by faceindex")


def recognizer_to_onnx(net: Network) -> onnx.ModelProto:
    """Input `chips` [N, 3, 150, 150]; output `descriptors` [N, 128] (dlib's raw face descriptors)."""
    if net.input_size is None:
        raise ValueError("the recognizer has no input size")
    rows, cols = net.input_size
    g = _GraphBuilder()
    inp = helper.make_tensor_value_info("chips", TensorProto.FLOAT, ["batch", 3, rows, cols])
    out = _body(g, _Value("chips", (None, 3, rows, cols)), net.layers)
    return _model(g, "dlib_face_recognition_resnet_v1", inp, out, "descriptors",
                  "dlib_face_recognition_resnet_model_v1 (CC0), converted by faceindex")


def output_to_input_map(net: Network) -> tuple[int, int, int, int]:
    """dlib's output_tensor_to_input_tensor as (scale_y, offset_y, scale_x, offset_x): an output
    position p maps to input p*scale + offset, composing p*stride - padding + size/2 per layer."""
    if any(isinstance(layer, (Tag, Skip, AddPrev)) for layer in net.layers):
        raise ValueError("the output-to-input map is defined for a chain of layers (the detector), not a ResNet")
    sy, oy, sx, ox = 1, 0, 1, 0
    for layer in net.layers:  # input outwards; the map composes from the output inwards
        if isinstance(layer, (Conv, Pool)):
            if isinstance(layer, Conv):
                kh, kw = layer.weights.shape[2:]
            else:
                kh, kw = layer.size
            (st_y, st_x), (py, px) = layer.stride, layer.padding
            # in = out*stride - pad + k//2; with out = p*s' + o' from the outer layers
            oy, sy = oy + (-py + kh // 2) * sy, sy * st_y
            ox, sx = ox + (-px + kw // 2) * sx, sx * st_x
    return sy, oy, sx, ox
