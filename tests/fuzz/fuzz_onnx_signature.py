"""Fuzz harness: an ONNX file of arbitrary bytes through what loading a pack does before any
inference session: read its signature, recognise its family, and size the detector's input.

Accepted outcomes: ModelFileError (UnknownModelError among them), or a recognised model
whose input sizes are within bounds (a detector canvas allocates 3 x W x H floats).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from faceindex.errors import ModelFileError
from faceindex.packs.onnx.detector import canvas_of
from faceindex.packs.onnx.signature import DetectorSignature, read_signature, recognise

_PATH = Path(tempfile.mkdtemp(prefix="fuzz-onnx-")) / "model.onnx"


def check(data: bytes) -> None:
    _PATH.write_bytes(data)
    try:
        signature = recognise(*read_signature(_PATH), what=os.fspath(_PATH))
        if isinstance(signature, DetectorSignature):
            width, height = canvas_of(signature, None)
            assert 0 < width <= 8192 and 0 < height <= 8192, (width, height)
    except ModelFileError:
        return


if __name__ == "__main__":
    from fuzzing import fuzz

    fuzz(check)
