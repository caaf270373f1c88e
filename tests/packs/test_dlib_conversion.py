"""Conversion to ONNX: cached by sha256, written atomically, and runnable by ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from faceindex.packs.dlib import conversion, model_files
from faceindex.packs.dlib.networks import read_recognizer
from faceindex.packs.dlib.onnx_writer import output_to_input_map


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, conversion.ConvertedPack]:
    directory = tmp_path_factory.mktemp("dlib-cache")
    return directory, conversion.convert(model_files.locate(), directory)


def test_conversion_writes_named_files_and_no_temporaries(converted: tuple[Path, conversion.ConvertedPack]) -> None:
    directory, pack = converted
    names = sorted(p.name for p in directory.iterdir())
    assert not [n for n in names if n.endswith(".tmp")]
    assert len(names) == 5  # two ONNX models, their metadata, the shape predictor arrays
    sha = model_files.SHA256[model_files.RECOGNIZER][:16]
    assert pack.recognizer_onnx.name == f"dlib_face_recognition_resnet_model_v1-{sha}-c{conversion.CONVERSION_VERSION}.onnx"
    onnx.checker.check_model(str(pack.detector_onnx))
    onnx.checker.check_model(str(pack.recognizer_onnx))


def test_second_use_reads_the_cache(converted: tuple[Path, conversion.ConvertedPack], monkeypatch: pytest.MonkeyPatch) -> None:
    directory, pack = converted
    before = {p.name: p.stat().st_mtime_ns for p in directory.iterdir()}

    def no_conversion(*args: object) -> None:
        raise AssertionError("converted again although cached")

    monkeypatch.setattr(conversion, "_convert_detector", no_conversion)
    monkeypatch.setattr(conversion, "_convert_recognizer", no_conversion)
    again = conversion.convert(model_files.locate(), directory)
    assert again.detector_meta == pack.detector_meta
    assert {p.name: p.stat().st_mtime_ns for p in directory.iterdir()} == before


def test_cache_location_follows_faceindex_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEINDEX_CACHE", str(tmp_path))
    assert conversion.cache_dir() == tmp_path / "dlib"


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    def fail(path: str) -> None:
        Path(path).write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        conversion.atomic_write(tmp_path / "x.onnx", fail)
    assert list(tmp_path.iterdir()) == []


def test_detector_metadata_is_dlibs(converted: tuple[Path, conversion.ConvertedPack]) -> None:
    meta = converted[1].detector_meta
    assert meta["windows"] == [[80, 80]]
    assert meta["mapping"] == [8, 14, 8, 14]  # three stride-2 5x5 convolutions
    assert meta["nms_iou"] == pytest.approx(0.3383, abs=1e-4) and meta["nms_covered"] == 1.0


def test_recognizer_runs_batched_and_matches_numpy_reference(converted: tuple[Path, conversion.ConvertedPack]) -> None:
    """The ONNX graph against a direct numpy evaluation of the parsed layers' first block."""
    from faceindex.backends.onnxruntime import OnnxRuntimeSession

    session = OnnxRuntimeSession(converted[1].recognizer_onnx, threads=1)
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.3, size=(3, 3, 150, 150)).astype(np.float32)
    out = session.run({"chips": x})[0]
    single = session.run({"chips": x[1:2]})[0]
    assert out.shape == (3, 128) and np.all(np.isfinite(out))
    np.testing.assert_allclose(out[1], single[0], rtol=1e-4, atol=1e-5)
    assert not np.allclose(out[0], out[2])


def test_output_map_is_only_defined_for_chains() -> None:
    net = read_recognizer(model_files.locate().recognizer.read())
    with pytest.raises(ValueError, match="chain"):
        output_to_input_map(net)
