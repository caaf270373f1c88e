"""Converting dlib's .dat models once, into the user cache directory.

Each converted file is named by its source's sha256 and CONVERSION_VERSION, written to a
temporary file and renamed into place, so concurrent first uses never see half a file.
FACEINDEX_CACHE overrides the cache directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from faceindex.cache import atomic_write
from faceindex.cache import cache_dir as shared_cache_dir
from faceindex.packs.dlib.model_files import DlibModelFiles, ModelFile
from faceindex.packs.dlib.networks import read_detector, read_recognizer
from faceindex.packs.dlib.onnx_writer import detector_to_onnx, output_to_input_map, recognizer_to_onnx
from faceindex.packs.dlib.shape_predictor import ShapePredictorArrays, read_shape_predictor

# Bump whenever the converted files would change; it is part of the pack version.
CONVERSION_VERSION = 1


def cache_dir() -> Path:
    return shared_cache_dir("dlib")


@dataclass(frozen=True)
class ConvertedPack:
    detector_onnx: Path
    detector_meta: dict[str, Any]
    recognizer_onnx: Path
    recognizer_meta: dict[str, Any]
    shape_predictor: ShapePredictorArrays


def _stem(model: ModelFile) -> str:
    return f"{model.path.stem}-{model.sha256[:16]}-c{CONVERSION_VERSION}"


def _convert_detector(model: ModelFile, onnx_path: Path, meta_path: Path) -> None:
    net = read_detector(model.read(), model.path.name)
    assert net.mmod is not None and net.pyramid_padding is not None
    meta = {
        "means": list(net.input_means),
        "pyramid_padding": list(net.pyramid_padding),
        "windows": [[w.width, w.height] for w in net.mmod.windows],
        "nms_iou": net.mmod.nms_iou,
        "nms_covered": net.mmod.nms_covered,
        "mapping": list(output_to_input_map(net)),
        "source_sha256": model.sha256,
    }
    atomic_write(onnx_path, lambda p: onnx.save(detector_to_onnx(net), p))
    atomic_write(meta_path, lambda p: _write_json(p, meta))


def _convert_recognizer(model: ModelFile, onnx_path: Path, meta_path: Path) -> None:
    net = read_recognizer(model.read(), model.path.name)
    meta = {"means": list(net.input_means), "input_size": list(net.input_size or ()), "source_sha256": model.sha256}
    atomic_write(onnx_path, lambda p: onnx.save(recognizer_to_onnx(net), p))
    atomic_write(meta_path, lambda p: _write_json(p, meta))


def convert(files: DlibModelFiles, directory: Path | None = None) -> ConvertedPack:
    """The converted pack, converting what the cache does not hold yet."""
    directory = cache_dir() if directory is None else directory
    det = directory / (_stem(files.detector) + ".onnx")
    det_meta = det.with_suffix(".json")
    if not (det.is_file() and det_meta.is_file()):
        _convert_detector(files.detector, det, det_meta)
    rec = directory / (_stem(files.recognizer) + ".onnx")
    rec_meta = rec.with_suffix(".json")
    if not (rec.is_file() and rec_meta.is_file()):
        _convert_recognizer(files.recognizer, rec, rec_meta)
    sp_path = directory / (_stem(files.shape_predictor) + ".npz")
    if not sp_path.is_file():
        arrays = read_shape_predictor(files.shape_predictor.read(), files.shape_predictor.path.name)
        atomic_write(sp_path, lambda p: _save_npz(arrays, p))
    return ConvertedPack(
        detector_onnx=det,
        detector_meta=json.loads(det_meta.read_text()),
        recognizer_onnx=rec,
        recognizer_meta=json.loads(rec_meta.read_text()),
        shape_predictor=ShapePredictorArrays.load(str(sp_path)),
    )


def _save_npz(arrays: ShapePredictorArrays, path: str) -> None:
    with open(path, "wb") as f:  # a file object: np.savez would append ".npz" to a name
        arrays.save(f)  # type: ignore[arg-type]


def _write_json(path: str, value: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(value, indent=1))
