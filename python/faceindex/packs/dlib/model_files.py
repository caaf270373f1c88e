"""Where dlib's model files are: the `face_recognition_models` package, found without
importing it (its __init__ imports pkg_resources, which recent setuptools lacks), and
checked against the sha256 sums they were converted and validated with."""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from faceindex.errors import ModelFileError, ModelHashError

PACKAGE = "face_recognition_models"

DETECTOR = "mmod_human_face_detector.dat"
SHAPE_PREDICTOR = "shape_predictor_5_face_landmarks.dat"
RECOGNIZER = "dlib_face_recognition_resnet_model_v1.dat"

# face_recognition_models 0.3.0 (the same files as dlib-models on GitHub).
SHA256 = {
    DETECTOR: "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
    SHAPE_PREDICTOR: "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    RECOGNIZER: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
}


@dataclass(frozen=True)
class ModelFile:
    path: Path
    sha256: str

    def read(self) -> bytes:
        return self.path.read_bytes()


@dataclass(frozen=True)
class DlibModelFiles:
    detector: ModelFile
    shape_predictor: ModelFile
    recognizer: ModelFile


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def models_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"the {PACKAGE} package is not installed (pip install {PACKAGE})")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def locate(directory: Path | None = None, verify: bool = True) -> DlibModelFiles:
    """The three model files; with verify, each must have its known sha256."""
    directory = models_dir() if directory is None else Path(directory)
    files = {}
    for name in (DETECTOR, SHAPE_PREDICTOR, RECOGNIZER):
        path = directory / name
        if not path.is_file():
            raise ModelFileError(f"model file not found: {path}")
        digest = sha256_of(path)
        if verify and digest != SHA256[name]:
            raise ModelHashError(f"{path} has sha256 {digest}, expected {SHA256[name]}: not the model faceindex knows")
        files[name] = ModelFile(path, digest)
    return DlibModelFiles(files[DETECTOR], files[SHAPE_PREDICTOR], files[RECOGNIZER])
