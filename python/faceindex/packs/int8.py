"""Giving a pack int8 networks: the pack at f32 calibrates them on frames, then they are quantized once.

Calibration data is what each network sees at f32 on the calibration frames
(faceindex.backends.calibration_media): the detector's input tensors of each frame and the
recognizer's aligned chips of the faces the f32 pack finds there. Both are recorded in one
pass of the pack over the frames, only when a quantized file is not cached yet.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from faceindex.backends import open_session
from faceindex.backends.base import Session
from faceindex.backends.quantization import FLOAT_EDGE_LAYERS, RecordingSession, calibration_key, quantized
from faceindex.images import RGBImage
from faceindex.backends import calibration_media

Feeds = list[dict[str, np.ndarray]]


def int8_sessions(
    networks: dict[str, tuple[Session, Path]],
    swap: Callable[[str, Session], None],
    run_pack: Callable[[RGBImage], object],
    settings: str,
    backend: str,
) -> dict[str, Session]:
    """int8 sessions on `backend` for each role's f32 (session, model file).

    swap(role, session) puts a session into the pack in place of that role's, run_pack(frame)
    runs the pack on one frame; settings names whatever else shapes the networks' inputs
    (input size, upsampling), so other settings calibrate other files.
    """
    media = calibration_media.locate()
    key = calibration_key(media.key(), settings)
    recorded: dict[str, Feeds] = {}

    def feeds(role: str) -> Feeds:
        if not recorded:
            recorders = {r: RecordingSession(session) for r, (session, _) in networks.items()}
            for r, recorder in recorders.items():
                swap(r, recorder)
            try:
                for frame in media.frames():
                    run_pack(frame)
            finally:
                for r, (session, _) in networks.items():
                    swap(r, session)
            recorded.update({r: recorder.feeds for r, recorder in recorders.items()})
        return recorded[role]

    from faceindex.backends.onnxruntime import OnnxRuntimeSession
    from faceindex.backends.precision import int8_computed_exactly

    out: dict[str, Session] = {}
    for role, (_, path) in networks.items():
        target, _made = quantized(path, key, lambda role=role: feeds(role),  # type: ignore[misc]
                                  FLOAT_EDGE_LAYERS.get(role, 0))
        # OpenVINO runs the unquantized rest of a QDQ graph at its float hint: f32, as ONNX Runtime.
        out[role] = OnnxRuntimeSession(target, exact_int8=True) if int8_computed_exactly() \
            else open_session(target, backend, "f32")
    return out


def opening(backend: str, precision: str | None) -> tuple[str, str | None]:
    """How to open a network first: an int8 one opens at f32 on ONNX Runtime (the reference
    that calibrates it), and int8_sessions replaces it."""
    return ("onnxruntime", "f32") if precision == "int8" else (backend, precision)
