"""Family recognition from ONNX signatures alone (no model files needed)."""

from __future__ import annotations

import pytest

from faceindex.backends.base import TensorSpec
from faceindex.packs.onnx import UnknownModelError
from faceindex.packs.onnx.signature import (
    RETINAFACE,
    SCRFD,
    YUNET,
    DetectorSignature,
    RecognizerSignature,
    recognise,
)


def t(name: str, *shape: int | None, dtype: str = "float32") -> TensorSpec:
    return TensorSpec(name, shape, dtype)


IMAGE = (t("input.1", 1, 3, None, None),)


def test_scrfd_outputs_in_any_order() -> None:
    interleaved = tuple(
        t(f"{role}_{s}", n, w) for s, n in ((8, 12800), (16, 3200), (32, 800))
        for role, w in (("score", 1), ("bbox", 4), ("kps", 10))
    )
    sig = recognise(IMAGE, interleaved)
    assert isinstance(sig, DetectorSignature) and sig.family == SCRFD and sig.has_landmarks
    assert sig.outputs == {"scores": (0, 3, 6), "boxes": (1, 4, 7), "landmarks": (2, 5, 8)}
    assert sig.input_size is None and sig.anchors == 2


def test_scrfd_without_landmarks_and_with_five_strides() -> None:
    six = tuple(t(str(i), None, 1) for i in range(3)) + tuple(t(str(i), None, 4) for i in range(3, 6))
    sig = recognise((t("x", 1, 3, 640, 640),), six)
    assert isinstance(sig, DetectorSignature) and not sig.has_landmarks and sig.input_size == (640, 640)
    fifteen = tuple(t(str(i), None, w) for w in (1, 4, 10) for i in range(5))
    sig = recognise(IMAGE, fifteen)
    assert isinstance(sig, DetectorSignature) and sig.strides == (8, 16, 32, 64, 128) and sig.anchors == 1


def test_yunet_by_output_names() -> None:
    outputs = tuple(t(f"{p}_{s}", 1, None, w) for p, w in (("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10))
                    for s in (8, 16, 32))
    sig = recognise((t("input", 1, 3, None, None),), outputs)
    assert isinstance(sig, DetectorSignature) and sig.family == YUNET
    assert sig.outputs["cls"] == (0, 1, 2) and sig.outputs["landmarks"] == (9, 10, 11)


def test_retinaface_by_row_widths() -> None:
    outputs = (t("output0", 1, 16800, 4), t("572", 1, 16800, 2), t("571", 1, 16800, 10))
    sig = recognise((t("input0", 1, 3, 640, 640),), outputs)
    assert isinstance(sig, DetectorSignature) and sig.family == RETINAFACE
    assert sig.outputs == {"loc": (0,), "conf": (1,), "landmarks": (2,)}


def test_recognizers() -> None:
    sig = recognise((t("input.1", None, 3, 112, 112),), (t("683", 1, 512),))
    assert sig == RecognizerSignature("input.1", 112, None, 512)
    assert recognise((t("in", 1, 3, 112, 112),), (t("out", 1, 128),)) == RecognizerSignature("in", 112, 1, 128)


@pytest.mark.parametrize(
    "inputs,outputs,message",
    [
        ((t("data", 1, 3, 96, 96),), (t("fc1", 1, 3),), "side 112 or 128"),  # genderage
        ((t("data", 1, 3, 192, 192),), (t("fc1", 1, 3309),), "side 112 or 128"),  # 1k3d68 landmarks
        ((t("x", 1, 3, 112, 112),), (t("y", 1, 8),), "D in 64"),
        ((t("x", 1, 3, 112, 112, dtype="uint8"),), (t("y", 1, 512),), "float32"),
        ((t("x", 1, 1, 112, 112),), (t("y", 1, 512),), "N x 3"),
        (IMAGE, (t("loc", 1, 100, 14), t("conf", 1, 100, 2), t("iou", 1, 100, 1)), "2022"),
        (IMAGE, (t("scores", 1, 100, 2), t("boxes", 1, 100, 4)), "landmarks"),
        (IMAGE, tuple(t(str(i), None, 1) for i in range(9)), "no known family"),
        (IMAGE + IMAGE, (t("y", 1, 512),), "one input"),
    ],
)
def test_unknown_signatures_say_why(inputs, outputs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownModelError, match=message):
        recognise(inputs, outputs, what="model.onnx")
