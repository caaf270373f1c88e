"""Which model family an ONNX file is, read from its inputs and outputs alone.

Detectors: SCRFD (score/bbox/kps per stride), YuNet (cls/obj/bbox/kps per
stride), RetinaFace (loc/conf/landmarks over priors). Recognizers: one
N x 3 x S x S image in, one N x D embedding out (ArcFace style).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

from faceindex.backends.base import TensorSpec
from faceindex.errors import ModelFileError, UnknownModelError

SCRFD, YUNET, RETINAFACE = "scrfd", "yunet", "retinaface"
# ArcFace-style chips (insightface aligns onto these); landmark and attribute
# models (192, 96) share pack folders and are told apart by this.
RECOGNIZER_SIZES = (112, 128)
MIN_EMBEDDING, MAX_EMBEDDING = 64, 4096


@dataclass(frozen=True)
class DetectorSignature:
    family: str
    input_name: str
    input_size: tuple[int, int] | None  # (width, height) when the model fixes it
    strides: tuple[int, ...]
    anchors: int  # anchors per grid cell (SCRFD; 1 elsewhere)
    # Output indices by role, each in stride order where the role is per stride.
    outputs: dict[str, tuple[int, ...]]
    has_landmarks: bool


@dataclass(frozen=True)
class RecognizerSignature:
    input_name: str
    input_size: int  # square side, pixels
    batch: int | None  # fixed batch size, or None when the batch axis is dynamic
    embedding_size: int


Signature = DetectorSignature | RecognizerSignature


def describe(inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]) -> str:
    def one(t: TensorSpec) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in t.shape)
        return f"{t.name} [{dims}] {t.dtype}"

    return f"inputs: {'; '.join(one(t) for t in inputs)}; outputs: {'; '.join(one(t) for t in outputs)}"


def recognise(inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...], what: str = "model") -> Signature:
    """The family of a model from its signature; UnknownModelError when none fits."""

    def unknown(why: str) -> UnknownModelError:
        return UnknownModelError(
            f"{what}: {why}. Known families: SCRFD, YuNet (2023 format) and RetinaFace detectors, "
            f"ArcFace-style recognizers (N x 3 x 112 x 112 -> N x D). Signature: {describe(inputs, outputs)}"
        )

    if len(inputs) != 1:
        raise unknown(f"expected one input, found {len(inputs)}")
    image = inputs[0]
    if len(image.shape) != 4 or image.shape[1] not in (3, None) or image.dtype != "float32":
        raise unknown("the input is not a float32 N x 3 x H x W image")
    height, width = image.shape[2], image.shape[3]
    fixed = (width, height) if isinstance(width, int) and isinstance(height, int) else None

    if len(outputs) == 1:
        out = outputs[0]
        if fixed is None or width != height or width not in RECOGNIZER_SIZES:
            raise unknown(f"a recognizer takes a fixed square input of side {' or '.join(map(str, RECOGNIZER_SIZES))}")
        dims = out.shape[1] if len(out.shape) == 2 else None
        if not isinstance(dims, int) or not MIN_EMBEDDING <= dims <= MAX_EMBEDDING:
            raise unknown(f"a recognizer's output must be N x D with D in {MIN_EMBEDDING}..{MAX_EMBEDDING}")
        return RecognizerSignature(image.name, width, image.shape[0], dims)

    last = [t.shape[-1] if t.shape else None for t in outputs]
    names = [t.name for t in outputs]
    if len(outputs) == 12 and all(re.fullmatch(r"(cls|obj|bbox|kps)_\d+", n) for n in names):
        return _yunet(image.name, fixed, outputs, unknown)
    if len(outputs) in (6, 9, 10, 15):
        # Roles by row width, whatever the output order; strides are told apart by
        # row count when the outputs arrive (scrfd.py).
        levels = 3 if len(outputs) in (6, 9) else 5
        widths = {"scores": 1, "boxes": 4, "landmarks": 10}
        groups = {role: tuple(i for i, x in enumerate(last) if x == w) for role, w in widths.items()}
        groups = {role: idx for role, idx in groups.items() if idx}
        if all(len(idx) == levels for idx in groups.values()) and sum(map(len, groups.values())) == len(outputs) \
                and "scores" in groups and "boxes" in groups:
            return DetectorSignature(
                SCRFD, image.name, fixed, (8, 16, 32) if levels == 3 else (8, 16, 32, 64, 128),
                2 if levels == 3 else 1, groups, "landmarks" in groups,
            )
    if len(outputs) == 3 and sorted(x or 0 for x in last) == [2, 4, 10]:
        groups = {role: (last.index(width),) for role, width in (("loc", 4), ("conf", 2), ("landmarks", 10))}
        return DetectorSignature(RETINAFACE, image.name, fixed, (8, 16, 32), 1, groups, True)
    if len(outputs) == 3 and sorted(x or 0 for x in last) == [1, 2, 14]:
        raise unknown("this looks like YuNet's 2022 release (loc/conf/iou over priors), which faceindex "
                      "does not decode; use face_detection_yunet_2023mar.onnx or later")
    if len(outputs) == 2 and sorted(x or 0 for x in last) == [2, 4]:
        raise unknown("this looks like a boxes-and-scores detector without landmarks (e.g. UltraFace); "
                      "alignment needs five landmarks per face")
    raise unknown("no known family has this signature")


def _yunet(
    input_name: str,
    fixed: tuple[int, int] | None,
    outputs: tuple[TensorSpec, ...],
    unknown: Callable[[str], UnknownModelError],
) -> DetectorSignature:
    index = {t.name: i for i, t in enumerate(outputs)}
    strides = sorted({int(n.split("_")[1]) for n in index})
    try:
        groups = {
            role: tuple(index[f"{prefix}_{s}"] for s in strides)
            for role, prefix in (("cls", "cls"), ("obj", "obj"), ("boxes", "bbox"), ("landmarks", "kps"))
        }
    except KeyError as e:
        raise unknown(f"YuNet-style outputs, but {e.args[0]} is missing") from None
    return DetectorSignature(YUNET, input_name, fixed, tuple(strides), 1, groups, True)


def read_signature(path: Path) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Inputs and outputs of an ONNX file, read without starting an inference session."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError, OSError, ... for files that are not ONNX
        raise ModelFileError(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from e
    initializers = {t.name for t in model.graph.initializer}

    def spec(value: Any) -> TensorSpec:
        if not isinstance(value.name, str):  # protobuf hands back bytes for a name that is not UTF-8
            raise ModelFileError(f"{path}: a tensor name is not UTF-8 text ({value.name!r:.60})")
        tensor_type = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                     for d in tensor_type.shape.dim)
        try:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type).name if tensor_type.elem_type else "?"
        except KeyError:  # an element type number ONNX does not define: no family takes it
            dtype = f"onnx-type-{tensor_type.elem_type}"
        return TensorSpec(value.name, dims, dtype)

    # Old exporters list weights among the graph inputs; they are not inputs to feed.
    inputs = tuple(spec(v) for v in model.graph.input if v.name not in initializers)
    outputs = tuple(spec(v) for v in model.graph.output)
    return inputs, outputs


def normalises_in_graph(path: Path) -> bool:
    """insightface's rule for recognizers: a Sub and a Mul among the first nodes mean the
    graph normalises pixels itself (MXNet-converted models), so input stays 0..255."""
    import onnx

    nodes = onnx.load(str(path), load_external_data=False).graph.node[:8]
    has_sub = any(n.name.startswith(("Sub", "_minus")) for n in nodes)
    has_mul = any(n.name.startswith(("Mul", "_mul")) for n in nodes)
    return has_sub and has_mul
