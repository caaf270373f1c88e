"""ONNX packs on t1.jpg (six faces), side by side in one run with their peers.

Per detector family: our detect (letterbox + session + decode + NMS) against the raw
onnxruntime session on the same input tensor, images/s and faces/s. Peers, run
offline from the same files: insightface's SCRFD (`model_zoo.get_model(path)`),
OpenCV's FaceDetectorYN for YuNet. No installable package runs Pytorch_Retinaface's
RetinaFace layout, so RetinaFace has no peer here. Full pipeline: our detect + align
+ embed of all six faces against insightface's detect plus `get` per face.

Before timing, each peer's answers are checked against ours (same faces, boxes and
landmarks), so that the timings compare the same work.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np
import pytest

from conftest import Ratio, bench_size
from faceindex import load_image
from faceindex.packs.onnx import OnnxPack, UnverifiedModelWarning
from faceindex.packs.onnx.kernels import letterbox
from onnx_bench_data import shared_data

FAMILIES = {
    "scrfd_500m": "scrfd/det_500m.onnx",
    "scrfd_2.5g": "scrfd/det_2.5g.onnx",
    "yunet": "yunet/face_detection_yunet_2026may.onnx",
    "retinaface": "retinaface/retinaface_mobilenet0.25.onnx",
}
RECOGNIZER = "mobilefacenet/mobilefacenet.onnx"
DET_SIZE = (640, 640)
ROUNDS = bench_size("FACEINDEX_BENCH_ONNX_ROUNDS", full=30, quick=8)  # fixed rounds: medians of enough samples
WARMUP = 3


def timed(benchmark: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return benchmark.pedantic(fn, args=args, kwargs=kwargs, rounds=ROUNDS, warmup_rounds=WARMUP)

RATIOS = [
    *(Ratio(f"{f}: our detect / raw session", f"ours_detect_{f}", f"raw_session_{f}", "<= 1.3") for f in FAMILIES),
    Ratio("scrfd_500m: insightface detect / ours", "insightface_detect_scrfd_500m", "ours_detect_scrfd_500m", ">= 2"),
    Ratio("scrfd_2.5g: insightface detect / ours", "insightface_detect_scrfd_2.5g", "ours_detect_scrfd_2.5g", ">= 2"),
    Ratio("yunet: OpenCV FaceDetectorYN / ours", "opencv_detect_yunet", "ours_detect_yunet"),
    Ratio("t1 detect+align+embed: insightface / ours", "insightface_pipeline", "ours_pipeline", ">= 2"),
]


@pytest.fixture(scope="module")
def models() -> Path:
    return shared_data("models/scrfd/det_500m.onnx") / "models"


@pytest.fixture(scope="module")
def t1() -> np.ndarray:
    return load_image(shared_data("images/insightface/t1.jpg") / "images/insightface/t1.jpg")


@pytest.fixture(scope="module")
def packs(models: Path) -> dict[str, OnnxPack]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnverifiedModelWarning)
        return {f: OnnxPack.from_files(models / p, models / RECOGNIZER, det_size=None if f == "retinaface" else
                                       DET_SIZE) for f, p in FAMILIES.items()}


def throughput(benchmark: Any, record: Callable[..., None], key: str, faces: int) -> None:
    median = benchmark.stats.stats.median
    record(key, median_ms=median * 1e3, images_per_s=1 / median, faces_per_s=faces / median, faces=faces)


@pytest.mark.parametrize("full_canvas", [False, True], ids=["same-input", "full-canvas"])
@pytest.mark.parametrize("family", FAMILIES)
def test_raw_session(benchmark: Any, family: str, full_canvas: bool, packs: dict[str, OnnxPack],
                     t1: np.ndarray) -> None:
    """The session alone on our detect's own input (a model with a dynamic input runs on the
    letterboxed image rounded up to its coarsest stride), and on the whole det_size canvas."""
    detector = packs[family].detector
    f = detector.family
    canvas = detector.canvas if full_canvas else detector.canvas_for(*t1.shape[:2])
    tensor, _, _ = letterbox(t1, canvas, f.bgr, f.mean, f.std)
    feeds = {detector.signature.input_name: tensor}
    benchmark.extra_info["key"] = f"raw_session_{'full_canvas_' if full_canvas else ''}{family}"
    timed(benchmark, detector.session.run, feeds)


@pytest.mark.parametrize("family", FAMILIES)
def test_ours_detect(benchmark: Any, record: Callable[..., None], family: str, packs: dict[str, OnnxPack],
                     t1: np.ndarray) -> None:
    benchmark.extra_info["key"] = f"ours_detect_{family}"
    faces = timed(benchmark, packs[family].detect, t1)
    assert len(faces) == 6
    throughput(benchmark, record, f"ours_detect_{family}", len(faces))


def insightface_model(path: Path) -> Any:
    model_zoo = pytest.importorskip("insightface.model_zoo")
    model = model_zoo.get_model(str(path), providers=["CPUExecutionProvider"])
    model.prepare(ctx_id=-1, input_size=DET_SIZE)
    return model


@pytest.mark.parametrize("family", ["scrfd_500m", "scrfd_2.5g"])
def test_insightface_detect(benchmark: Any, record: Callable[..., None], family: str, models: Path,
                            packs: dict[str, OnnxPack], t1: np.ndarray) -> None:
    detector = insightface_model(models / FAMILIES[family])
    bgr = np.ascontiguousarray(t1[:, :, ::-1])
    boxes, kps = detector.detect(bgr, input_size=DET_SIZE)
    ours = packs[family].detect(t1)
    assert len(boxes) == len(ours) == 6
    for face in ours:  # the same faces: resampling differs (cv2.resize), so not bit-identical
        i = int(np.argmin(np.abs(boxes[:, :4] - np.array(face.bbox)).sum(1)))
        assert np.abs(boxes[i, :4] - np.array(face.bbox)).max() < 3.0
        assert np.abs(kps[i] - face.landmarks).max() < 3.0 and abs(boxes[i, 4] - face.score) < 0.03
    benchmark.extra_info["key"] = f"insightface_detect_{family}"
    timed(benchmark, detector.detect, bgr, input_size=DET_SIZE)
    throughput(benchmark, record, f"insightface_detect_{family}", len(boxes))


def test_opencv_detect_yunet(benchmark: Any, record: Callable[..., None], models: Path,
                             packs: dict[str, OnnxPack], t1: np.ndarray) -> None:
    cv2 = pytest.importorskip("cv2")
    pack = packs["yunet"]
    # OpenCV's detector takes the image at its input size: resize as we do (to fit
    # 640x640), and let it pad to a multiple of 32 itself.
    scale = min(DET_SIZE[0] / t1.shape[1], DET_SIZE[1] / t1.shape[0])
    size = (int(t1.shape[1] * scale), int(t1.shape[0] * scale))
    detector = cv2.FaceDetectorYN.create(str(models / FAMILIES["yunet"]), "", size, pack.detector.score_threshold,
                                         pack.detector.family.nms_threshold, 5000)
    bgr = np.ascontiguousarray(t1[:, :, ::-1])

    def opencv_detect() -> Any:
        return detector.detect(cv2.resize(bgr, size, interpolation=cv2.INTER_LINEAR))[1]

    found = opencv_detect()
    assert found is not None and len(found) == len(pack.detect(t1)) == 6
    benchmark.extra_info["key"] = "opencv_detect_yunet"
    timed(benchmark, opencv_detect)
    throughput(benchmark, record, "opencv_detect_yunet", len(found))


def test_yunet_decoding_is_opencvs_exactly(models: Path, t1: np.ndarray) -> None:
    """On the same input (the image at native size, padded to 32), our YuNet decoding
    gives OpenCV's FaceDetectorYN results to the last digit."""
    cv2 = pytest.importorskip("cv2")
    h, w = t1.shape[:2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnverifiedModelWarning)
        pack = OnnxPack.from_files(models / FAMILIES["yunet"], models / RECOGNIZER,
                                   det_size=(-(-w // 32) * 32, -(-h // 32) * 32))
    detector = cv2.FaceDetectorYN.create(str(models / FAMILIES["yunet"]), "", (w, h), 0.7, 0.3, 5000)
    theirs = detector.detect(np.ascontiguousarray(t1[:, :, ::-1]))[1]
    ours = pack.detect(t1)
    assert len(ours) == len(theirs) == 6
    for face in ours:
        row = min(theirs, key=lambda r: abs(r[0] - face.bbox[0]) + abs(r[1] - face.bbox[1]))
        np.testing.assert_allclose(face.bbox, [row[0], row[1], row[0] + row[2], row[1] + row[3]], atol=1e-3)
        np.testing.assert_allclose(face.landmarks.ravel(), row[4:14], atol=1e-3)
        assert face.score == pytest.approx(float(row[14]), abs=1e-5)


def test_ours_pipeline(benchmark: Any, record: Callable[..., None], packs: dict[str, OnnxPack],
                       t1: np.ndarray) -> None:
    pack = packs["scrfd_500m"]

    def pipeline() -> np.ndarray:
        return pack.embed(t1, pack.detect(t1))

    benchmark.extra_info["key"] = "ours_pipeline"
    embeddings = timed(benchmark, pipeline)
    assert embeddings.shape == (6, 128)
    throughput(benchmark, record, "ours_pipeline", 6)


def test_insightface_pipeline(benchmark: Any, record: Callable[..., None], models: Path,
                              packs: dict[str, OnnxPack], t1: np.ndarray) -> None:
    common = pytest.importorskip("insightface.app.common")
    detector = insightface_model(models / FAMILIES["scrfd_500m"])
    recognizer = insightface_model(models / RECOGNIZER)
    bgr = np.ascontiguousarray(t1[:, :, ::-1])

    def pipeline() -> list[np.ndarray]:
        boxes, kps = detector.detect(bgr, input_size=DET_SIZE)
        return [recognizer.get(bgr, common.Face(bbox=b[:4], kps=k, det_score=b[4])) for b, k in zip(boxes, kps)]

    pack = packs["scrfd_500m"]
    ours = pack.embed(t1, pack.detect(t1))
    with warnings.catch_warnings():
        # insightface's alignment calls a scikit-image API deprecated in 0.26: its warning, not ours.
        warnings.simplefilter("ignore", FutureWarning)
        theirs = pipeline()
        assert len(theirs) == 6
        for e in theirs:  # the same six identities: each of theirs has a near-identical one of ours
            e = e / np.linalg.norm(e)
            assert float(np.max(ours @ e)) > 0.98
        benchmark.extra_info["key"] = "insightface_pipeline"
        timed(benchmark, pipeline)
    throughput(benchmark, record, "insightface_pipeline", 6)


def test_pre_and_post_processing_share(record: Callable[..., None], packs: dict[str, OnnxPack],
                                       t1: np.ndarray) -> None:
    """Where our detect time goes: letterbox, session, decode (median of 30 each)."""
    import time

    for family, pack in packs.items():
        d = pack.detector
        f = d.family
        parts: dict[str, list[float]] = {"letterbox": [], "session": [], "decode": []}
        for _ in range(30):
            t0 = time.perf_counter()
            tensor, scale, _ = letterbox(t1, d.canvas, f.bgr, f.mean, f.std)
            t1_ = time.perf_counter()
            outputs = d.session.run({d.signature.input_name: tensor})
            t2 = time.perf_counter()
            f.decode(outputs, d.signature, d.canvas, scale, d.score_threshold, f.nms_threshold)
            t3 = time.perf_counter()
            parts["letterbox"].append(t1_ - t0)
            parts["session"].append(t2 - t1_)
            parts["decode"].append(t3 - t2)
        median = {k: float(np.median(v)) for k, v in parts.items()}
        record(f"split_{family}", letterbox_ms=median["letterbox"] * 1e3, session_ms=median["session"] * 1e3,
               decode_ms=median["decode"] * 1e3,
               pre_post_fraction_of_session=(median["letterbox"] + median["decode"]) / median["session"])
