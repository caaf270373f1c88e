"""Giving a fixed-batch recognizer a dynamic batch axis, so all faces of an image run in one call.

Many exported recognizers declare batch 1 and bake it into a Reshape (e.g.
`[1, -1]` before the embedding). For graphs made only of operations that
treat each sample alone, the rewrite is: batch axis of inputs and outputs made
symbolic, Reshape shapes that start with the fixed batch made to start with 0
("copy this axis"). The caller then checks the rewritten model against the
original on real inputs and keeps it only if they agree.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from faceindex.cache import atomic_write, cache_dir

# Operations that never mix samples of a batch (with the checks below for the few that could).
PER_SAMPLE_OPS = frozenset({
    "Conv", "ConvTranspose", "BatchNormalization", "InstanceNormalization", "Relu", "PRelu", "LeakyRelu", "Clip",
    "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Add", "Sub", "Mul", "Div", "Sqrt", "Pow",
    "Exp", "Log", "Neg", "Abs", "Identity", "Dropout", "MaxPool", "AveragePool", "GlobalAveragePool",
    "GlobalMaxPool", "Constant", "Gemm", "MatMul", "Reshape", "Flatten", "Concat", "Transpose", "Softmax",
    "ReduceMean", "ReduceL2", "ReduceSum", "LpNormalization", "Squeeze", "Unsqueeze", "Cast",
})

BATCH = "batch"


def dynamic_batch_copy(model_path: Path) -> Path | None:
    """A cached copy of the model with a dynamic batch axis, or None when its graph is not one we can rewrite."""
    import onnx
    from onnx import numpy_helper

    data = model_path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:24]
    target = cache_dir("onnx") / f"{model_path.stem}-dynamic-batch-{digest}.onnx"
    if target.exists():
        return target
    model = onnx.load_from_string(data)
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    ends = list(inputs) + list(graph.output)
    fixed = {end.type.tensor_type.shape.dim[0].dim_value for end in ends if end.type.tensor_type.shape.dim}
    if len(fixed) != 1 or not all(end.type.tensor_type.shape.dim for end in ends):
        return None
    batch = fixed.pop()
    if batch <= 0:
        return None  # already dynamic

    constants = {name: numpy_helper.to_array(t) for name, t in initializers.items()}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)

    for node in list(graph.node):
        if node.op_type not in PER_SAMPLE_OPS:
            return None
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type in ("Concat", "Softmax", "Flatten") and attrs.get("axis", 1) == 0:
            return None
        if node.op_type == "Transpose" and list(attrs.get("perm", [0]))[:1] != [0]:
            return None
        if node.op_type in ("ReduceMean", "ReduceL2", "ReduceSum", "Squeeze", "Unsqueeze"):
            axes = attrs.get("axes")
            if axes is None and len(node.input) > 1:  # opset 13+: axes come as an input
                axes = constants.get(node.input[1])
                if axes is None:
                    return None
            if axes is not None and 0 in [int(a) for a in np.asarray(axes).ravel()]:
                return None
        if node.op_type == "Gemm" and attrs.get("transA", 0):
            return None
        if node.op_type == "Reshape":
            shape = constants.get(node.input[1])
            if shape is None or shape.ndim != 1 or len(shape) == 0:
                return None  # computed at run time: cannot tell what it does to the batch axis
            if shape[0] == batch:
                rewritten = shape.copy()
                rewritten[0] = 0  # copy the batch axis from the input
                name = f"{node.input[1]}__dynamic_batch"
                graph.initializer.append(numpy_helper.from_array(rewritten.astype(np.int64), name))
                node.input[1] = name
            elif shape[0] not in (0, -1):
                return None
    # Constant nodes whose only reader was a rewritten Reshape are now dead.
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    dead = [n for n in graph.node if n.op_type == "Constant" and not set(n.output) & used]
    for node in dead:
        graph.node.remove(node)
    for end in ends:
        end.type.tensor_type.shape.dim[0].dim_param = BATCH
    del graph.value_info[:]  # shapes inferred for the fixed batch no longer hold
    atomic_write(target, lambda tmp: onnx.save(model, tmp))
    return target
