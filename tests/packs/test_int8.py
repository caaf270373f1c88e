"""int8: networks quantized once on the calibration clip, cached, run and reported as int8;
`auto` taking int8 only where the record passed and the CPU has VNNI; clear errors without
calibration media; f32 untouched."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import faceindex
from faceindex import FaceEngine
from faceindex.backends import precision as precision_module
from faceindex.backends.calibration_media import ENV, TEST_CLIP
from faceindex.backends.precision import INT8_BACKEND, INT8_WITHOUT_VNNI, why_not_native
from faceindex.backends.quantization import QUANTIZER, RecordingSession, quantized, quantized_path
from faceindex.evaluation.precision_check import compare_photos
from faceindex.thresholds import precision_records as rule
from faceindex.thresholds.precision_records import FORMAT, record_file_name
from faceindex.packs.onnx import OnnxPack
from faceindex.types import PackRef

SCRFD = "models/scrfd/det_500m.onnx"
MBF = "models/mobilefacenet/mobilefacenet.onnx"
T1 = "images/insightface/t1.jpg"


def needs_vnni() -> None:
    reason = why_not_native("int8")
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def calibration(data_file: Callable[[str], Path]) -> Iterator[Path]:
    """The calibration clip, named explicitly (the tests do not depend on FACEINDEX_TEST_DATA being set)."""
    clip = data_file(TEST_CLIP)
    pytest.importorskip("av", reason="the calibration clip is a video: the video extra (PyAV) reads it")
    before = os.environ.get(ENV)
    os.environ[ENV] = str(clip)
    yield clip
    if before is None:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = before


def onnx_engine(data_file: Callable[[str], Path], backend: str, precision: str | None) -> FaceEngine:
    # The shared MobileFaceNet is listed with faceindex's measurements: it loads without a warning.
    return FaceEngine(detector=data_file(SCRFD), recognizer=data_file(MBF), backend=backend, precision=precision)


def int8_files(cache: Path) -> dict[str, tuple[int, int]]:
    """The quantized files in the cache: name -> (inode, mtime_ns), to see whether one was rewritten."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (cache / "int8").glob("*.onnx")}


@pytest.fixture(scope="module")
def f32_engines(data_file: Callable[[str], Path]) -> dict[str, FaceEngine]:
    return {"dlib": FaceEngine("dlib", backend="onnxruntime", precision="f32"),
            "scrfd+mobilefacenet": onnx_engine(data_file, "onnxruntime", "f32")}


@pytest.fixture(scope="module")
def int8_engines(calibration: Path, data_file: Callable[[str], Path], f32_engines: dict[str, FaceEngine],
                 private_cache: Path) -> dict[str, FaceEngine]:
    """Both packs at int8, quantized once for the module (a few seconds each)."""
    needs_vnni()
    return {"dlib": FaceEngine("dlib", precision="int8"),
            "scrfd+mobilefacenet": onnx_engine(data_file, "auto", "int8")}


@pytest.mark.parametrize("pack", ["dlib", "scrfd+mobilefacenet"])
def test_int8_engines_run_and_say_so(pack: str, int8_engines: dict[str, FaceEngine],
                                     f32_engines: dict[str, FaceEngine], data_file: Callable[[str], Path]) -> None:
    engine, f32 = int8_engines[pack], f32_engines[pack]
    assert (engine.pack.precision, engine.pack.backend) == ("int8", INT8_BACKEND)
    # Until a record passes, its results are kept apart from the f32 pack's; with one, the same pack.
    verified = precision_module.choose("auto", "int8", f32.pack.ref).verified
    expected = f32.pack.version if verified else f"{f32.pack.version}+int8-unverified"
    assert engine.pack.version == expected
    figures = compare_photos(f32, engine, [data_file(T1)], root=data_file("images").parent)
    # Quantized: the same six faces (each found again, IoU >= 0.5 at least), embeddings close to
    # f32's (the same people), but not f32 under another name.
    assert figures.faces.faces == 6 and figures.embeddings.faces == 6, figures
    assert figures.faces.min_iou > 0.5 and not figures.faces.extra, figures
    assert 0.95 < figures.embeddings.min_cosine and figures.embeddings.mean_cosine < 0.999999, figures


def test_the_quantized_files_are_cached_and_reused(int8_engines: dict[str, FaceEngine], private_cache: Path,
                                                   data_file: Callable[[str], Path]) -> None:
    before = int8_files(private_cache)
    # Two networks per pack, each named by its source's sha256, the calibration key and the quantizer.
    assert len(before) == 4 and all(QUANTIZER in name for name in before), before
    again = onnx_engine(data_file, "auto", "int8")
    FaceEngine("dlib", precision="int8")
    assert int8_files(private_cache) == before  # nothing quantized again, nothing rewritten
    image = again.load(data_file(T1))
    first = int8_engines["scrfd+mobilefacenet"]
    faces = first.detect(image)
    np.testing.assert_array_equal(again.embed(image, faces), first.embed(image, faces))


def test_a_changed_source_or_calibration_makes_a_new_file(tmp_path: Path, data_file: Callable[[str], Path],
                                                         private_cache: Path) -> None:
    import onnx
    import onnxruntime as ort

    source = data_file(MBF)
    changed = tmp_path / "mobilefacenet.onnx"
    model = onnx.load(str(source))
    model.doc_string = "the same network, another file"  # other bytes, other sha256
    onnx.save(model, str(changed))
    chips = np.random.default_rng(3).uniform(-1, 1, (4, 1, 3, 112, 112)).astype(np.float32)
    name = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    feeds = [{name: c} for c in chips]
    calls: list[str] = []

    def calibration(tag: str) -> Callable[[], list[dict[str, np.ndarray]]]:
        return lambda: calls.append(tag) or feeds  # type: ignore[func-returns-value]

    a, made_a = quantized(source, "key-a", calibration("a"))
    b, made_b = quantized(changed, "key-a", calibration("b"))
    c, made_c = quantized(source, "key-c", calibration("c"))
    again, made_again = quantized(source, "key-a", calibration("again"))
    assert made_a and made_b and made_c and not made_again and calls == ["a", "b", "c"]
    assert len({a, b, c}) == 3 and again == a == quantized_path(source, "key-a")
    assert a.parent == private_cache / "int8"
    assert not list(a.parent.glob("*.tmp")), "a temporary file was left behind"
    session = ort.InferenceSession(str(b), providers=["CPUExecutionProvider"])
    ops = {node.op_type for node in onnx.load(str(b)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert session.run(None, feeds[0])[0].shape[-1] == 128


def test_a_recognizers_first_and_last_three_convolutions_stay_float(tmp_path: Path, data_file: Callable[[str], Path],
                                                                  private_cache: Path) -> None:
    """int8 cost MobileFaceNet's stem and embedding head most (worst cosine 0.963 all quantized,
    0.991 with these six in float): the recognizer's copy keeps them float, the rest int8."""
    import onnx
    import onnxruntime as ort

    from faceindex.backends.quantization import FLOAT_EDGE_LAYERS, quantize

    source = data_file(MBF)
    name = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    chips = np.random.default_rng(5).uniform(-1, 1, (4, 1, 3, 112, 112)).astype(np.float32)
    target = tmp_path / "mobilefacenet-int8.onnx"
    quantize(source, target, [{name: c} for c in chips], FLOAT_EDGE_LAYERS["recognizer"])
    graph = onnx.load(str(target)).graph
    made_by = {out: node.op_type for node in graph.node for out in node.output}
    convs = [node for node in graph.node if node.op_type == "Conv"]
    quantized_weights = [made_by.get(node.input[1]) == "DequantizeLinear" for node in convs]
    assert quantized_weights[:3] == [False] * 3 and quantized_weights[-3:] == [False] * 3, quantized_weights
    assert all(quantized_weights[3:-3]) and len(convs) > 40


@pytest.fixture
def records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user calibration folder (read before the shipped one) for verification records."""
    monkeypatch.setenv("FACEINDEX_CALIBRATION", str(tmp_path))
    return tmp_path


def write_record(folder: Path, pack: PackRef, passed: dict[tuple[str, str], bool]) -> None:
    candidates = [{"backend": backend, "precision": precision, "date": "test", "passed": ok,
                   "criteria": {"embedding_cosine": {"value": 0.9612, "bound": ">= 0.99", "passed": ok}}}
                  for (backend, precision), ok in passed.items()]
    record = {"format": FORMAT, "pack": {"name": pack.name, "version": pack.version}, "candidates": candidates}
    (folder / record_file_name(pack)).write_text(json.dumps(record))


def onnx_pack(data_file: Callable[[str], Path], name: str, precision: str) -> OnnxPack:
    return OnnxPack.from_files(data_file(SCRFD), data_file(MBF), "auto", name=name, version="1",
                               precision=precision)


def test_auto_takes_int8_where_its_record_passed_and_the_cpu_has_vnni(
        calibration: Path, data_file: Callable[[str], Path], records: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    needs_vnni()
    write_record(records, PackRef("int8-passed", "1"), {(INT8_BACKEND, "int8"): True})
    passed = onnx_pack(data_file, "int8-passed", "auto")
    assert (passed.info.precision, passed.info.backend) == ("int8", INT8_BACKEND)
    assert passed.info.ref == PackRef("int8-passed", "1") and "passed verification" in passed.info.precision_reason
    # Without VNNI, the same record is not enough.
    flags = precision_module._cpu_flags() - {"avx512_vnni", "avx_vnni", "amx_int8"}
    monkeypatch.setattr(precision_module, "_cpu_flags", lambda: flags)
    no_vnni = onnx_pack(data_file, "int8-passed", "auto")
    assert no_vnni.info.precision != "int8" and "VNNI" in no_vnni.info.precision_reason
    with pytest.raises(RuntimeError, match="precision 'int8' refused: .*VNNI"):
        onnx_pack(data_file, "int8-passed", "int8")


def test_auto_refuses_a_failed_int8_record_with_its_reason(calibration: Path, data_file: Callable[[str], Path],
                                                           records: Path) -> None:
    needs_vnni()
    write_record(records, PackRef("int8-failed", "1"), {(INT8_BACKEND, "int8"): False,
                                                        (INT8_BACKEND, "int8-recognizer"): True})
    pack = onnx_pack(data_file, "int8-failed", "auto")
    assert pack.info.precision == "int8-recognizer"
    assert pack.info.backend == f"onnxruntime (detector), {INT8_BACKEND} (recognizer)"
    assert f"{INT8_BACKEND} int8 failed verification" in pack.info.precision_reason
    assert "embedding_cosine 0.9612 (needs >= 0.99)" in pack.info.precision_reason
    # The mix: the detector at f32 on ONNX Runtime, the recognizer quantized.
    assert pack.detector.session.backend == "onnxruntime" and pack.info.ref == PackRef("int8-failed", "1")
    assert "QuantizeLinear" in {n.op_type for n in _graph(pack.recognizer.session)}
    assert "QuantizeLinear" not in {n.op_type for n in _graph(pack.detector.session)}


def _graph(session: object) -> list[object]:
    import onnx

    path = session.model_path
    return list(onnx.load(str(path)).graph.node)


def test_int8_without_vnni_runs_only_when_asked_to_for_measuring(
        calibration: Path, data_file: Callable[[str], Path], private_cache: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without VNNI, int8 is refused by name and by auto; verify_precision's switch runs it
    computed exactly in f32 (its decisions as a VNNI CPU makes them, not its speed), as int8,
    kept apart from the f32 pack."""
    reason = why_not_native("int8")
    if not reason:
        pytest.skip("this CPU has VNNI: int8 runs without the switch")
    monkeypatch.delenv(INT8_WITHOUT_VNNI, raising=False)
    with pytest.raises(RuntimeError, match=f"precision 'int8-recognizer' refused: .*VNNI .*{INT8_WITHOUT_VNNI}=1"):
        onnx_engine(data_file, "auto", "int8-recognizer")
    assert onnx_engine(data_file, "auto", "auto").pack.precision == "f32"
    monkeypatch.setenv(INT8_WITHOUT_VNNI, "1")
    engine = onnx_engine(data_file, "auto", "int8-recognizer")
    f32_version = onnx_engine(data_file, "onnxruntime", "f32").pack.version
    verified = rule.verdict(PackRef(engine.pack.name, f32_version), INT8_BACKEND, "int8-recognizer").passed
    # A pair the shipped record verified shares the f32 pack's version (one collection, two
    # precisions); any other is kept apart from it.
    assert engine.pack.precision == "int8-recognizer"
    assert engine.pack.version == (f32_version if verified else f32_version + "+int8-recognizer-unverified")
    assert "computed exactly in f32" in engine.pack.precision_reason
    session = engine._pack.recognizer.session
    assert session.backend == "onnxruntime" and "QuantizeLinear" in {n.op_type for n in _graph(session)}
    image = engine.load(data_file(T1))
    faces = engine.detect(image)
    f32 = onnx_engine(data_file, "onnxruntime", "f32")
    cosine = np.einsum("ij,ij->i", f32.embed(image, faces), engine.embed(image, faces))
    # Quantized (not f32), and not saturated: OpenVINO's AVX2 int8 kernels gave t1.jpg's faces
    # cosines down to 0.901 on these files, exact int8 0.984 (issue 30).
    assert len(faces) == 6 and 0.97 < cosine.min() and cosine.max() < 0.9999, cosine
    assert onnx_engine(data_file, "auto", "auto").pack.precision == "f32"  # auto still never takes it


def test_missing_calibration_media_is_a_clear_error(data_file: Callable[[str], Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch, records: Path) -> None:
    needs_vnni()
    monkeypatch.setenv("FACEINDEX_CACHE", str(tmp_path / "empty-cache"))  # nothing quantized yet
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv("FACEINDEX_TEST_DATA", raising=False)
    with pytest.raises(faceindex.QuantizationDataError, match=f"none were found: set {ENV}"):
        onnx_engine(data_file, "auto", "int8")
    monkeypatch.setenv(ENV, str(tmp_path / "no-such-folder"))
    with pytest.raises(faceindex.QuantizationDataError, match="no-such-folder: no such file or folder"):
        onnx_engine(data_file, "auto", "int8")
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv(ENV, str(tmp_path / "empty"))
    with pytest.raises(faceindex.QuantizationDataError, match="no photos or videos there"):
        onnx_engine(data_file, "auto", "int8")
    # auto, with a passing record, falls back and says why.
    write_record(records, PackRef("no-media", "1"), {(INT8_BACKEND, "int8"): True})
    fallback = onnx_pack(data_file, "no-media", "auto")
    assert fallback.info.precision != "int8" and "no photos or videos there" in fallback.info.precision_reason


def test_a_folder_of_the_users_own_photos_calibrates(data_file: Callable[[str], Path], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    needs_vnni()
    monkeypatch.setenv("FACEINDEX_CACHE", str(tmp_path / "cache"))
    folder = data_file("images/face_recognition/knn_examples/train/biden")
    monkeypatch.setenv(ENV, str(folder))
    engine = onnx_engine(data_file, "auto", "int8-recognizer")
    assert engine.pack.precision == "int8-recognizer"
    names = [p.name for p in (tmp_path / "cache" / "int8").glob("*.onnx")]
    assert len(names) == 1 and names[0].startswith("mobilefacenet"), names
    image = engine.load(data_file(T1))
    assert engine.embed(image, engine.detect(image)).shape == (6, 128)


def test_f32_results_are_unchanged_by_an_int8_pack(int8_engines: dict[str, FaceEngine],
                                                   f32_engines: dict[str, FaceEngine],
                                                   data_file: Callable[[str], Path]) -> None:
    """The f32 pack that calibrated the int8 one handed its networks back: a new f32 engine and
    the one made before any int8 engine give the same numbers, and no recorder is left."""
    for pack, f32 in f32_engines.items():
        fresh = FaceEngine("dlib", backend="onnxruntime", precision="f32") if pack == "dlib" \
            else onnx_engine(data_file, "onnxruntime", "f32")
        assert (fresh.pack.ref, fresh.pack.precision) == (f32.pack.ref, "f32")
        image = f32.load(data_file(T1))
        faces = f32.detect(image)
        assert [f.bbox for f in fresh.detect(image)] == [f.bbox for f in faces]
        np.testing.assert_array_equal(fresh.embed(image, faces), f32.embed(image, faces))
    for engine in int8_engines.values():
        assert not any(isinstance(s, RecordingSession) for s in sessions(engine))
        assert all("int8" in Path(s.model_path).parts for s in sessions(engine))
    for engine in f32_engines.values():
        assert not any("int8" in Path(s.model_path).parts for s in sessions(engine))


def sessions(engine: FaceEngine) -> list[object]:
    """The detector's and the recognizer's sessions of an engine's pack."""
    pack = engine._pack
    if isinstance(pack, OnnxPack):
        return [pack.detector.session, pack.recognizer.session]
    return [pack._detector, pack._recognizer]
