"""Backends and precisions on insightface's t1.jpg (1280x886, six faces), interleaved in one run.

For the dlib pack and for SCRFD-500m + MobileFaceNet: detect, embed (per face) and end to
end (detect + align + embed), per variant: ONNX Runtime f32 (today's faceindex), OpenVINO
f32, OpenVINO bf16 (both networks), the one-network bf16 mixes, int8 (both networks, the same
quantized files on ONNX Runtime and on OpenVINO), the one-network int8 mixes (on the backend
int8 takes under "auto"), and precision="auto". Peers on the same
file, offline from the same ONNX files: insightface's SCRFD `detect` and its detect +
`get` per face. Every variant runs once per round, in turn, so a busy machine slows them
alike; the medians and their ratios go to bench/results/bench_precision.json with the
verification figures of each precision from the records (models/calibration/).
"""

from __future__ import annotations

import random
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceindex import load_image
from faceindex.backends.precision import INT8_BACKEND, why_not_int8, why_not_native
from faceindex.thresholds.precision_records import FORMAT, load_record
from faceindex.packs.onnx import OnnxPack, UnverifiedModelWarning
from conftest import bench_size
from onnx_bench_data import shared_data

pytest.importorskip("openvino", reason="the openvino extra is the subject of this benchmark")

PHOTO = "images/insightface/t1.jpg"
DET_SIZE = (640, 640)
ROUNDS = bench_size("FACEINDEX_BENCH_PRECISION_ROUNDS", full=25, quick=5)
WARMUP = 3
PAUSE_S = 0.02  # before each timed call (see interleaved)
# "auto": what precision="auto" runs (a verified mix keeps its f32 network on ONNX Runtime).
VARIANTS = [("onnxruntime", "f32"), ("openvino", "f32"), ("openvino", "bf16"), ("openvino", "bf16-detector"),
            ("openvino", "bf16-recognizer"), ("onnxruntime", "int8"), ("openvino", "int8"),
            (INT8_BACKEND, "int8-detector"), (INT8_BACKEND, "int8-recognizer"), ("auto", "auto")]


def label(backend: str, precision: str) -> str:
    return "auto" if backend == "auto" else f"{'ort' if backend == 'onnxruntime' else 'ov'}_{precision}"


def interleaved(calls: dict[str, Callable[[], Any]]) -> dict[str, float]:
    """Median seconds of each call, the calls taking turns round by round in a new random order.

    A fixed (or merely rotated) order would always run a call after the same other one, and
    a pool that the other leaves spinning (insightface's ONNX Runtime sessions spin by
    default) would always slow that one call: each round shuffles, and a short untimed pause
    before each call lets such a pool go idle.
    """
    for _ in range(WARMUP):
        for fn in calls.values():
            fn()
    samples: dict[str, list[float]] = {k: [] for k in calls}
    order = list(calls.items())
    shuffle = random.Random(ROUNDS).shuffle  # seeded: the same schedule every run
    for _ in range(ROUNDS):
        shuffle(order)
        for key, fn in order:
            time.sleep(PAUSE_S)
            t0 = time.perf_counter()
            fn()
            samples[key].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in samples.items()}


def verification_by_precision(ref: Any) -> dict[str, Any]:
    """Each precision's verification figures (models/calibration/<pack>.precision.json), beside its speed."""
    record = load_record(ref)
    if record is None:
        return {"missing": f"no verification record for {ref} (make verify-precision)"}
    if record.get("format") != FORMAT:
        return {"missing": f"the record of {ref} is format {record.get('format', 1)}, not {FORMAT} (make verify-precision)"}
    f32 = record["lfw_f32"]
    out: dict[str, Any] = {"f32 (onnxruntime)": {"pairs": f32["source"], "accuracy": f32["accuracy"],
                                                 **{f"fnmr_at_fmr_{k}": v["value"] for k, v in f32["fnmr"].items()}}}
    for c in record["candidates"]:
        key = f"{c['precision']} ({c['backend']})"
        if not c.get("measured", True):
            out[key] = {"measured": False, "why": c["why"]}
            continue
        out[key] = {name: v["value"] for name, v in c["criteria"].items()} | {
            "passed": c["passed"], "failed": [k for k, v in c["criteria"].items() if not v["passed"]],
            "machine": c["machine"]["cpu"]}
    return out


def report(record: Callable[..., None], pack: str, medians: dict[str, float], faces: int,
           ratios: list[tuple[str, str, str, str]]) -> None:
    record(f"{pack}_median_ms", **{k: round(v * 1e3, 3) for k, v in sorted(medians.items())}, faces=faces)
    out = {}
    for name, num, den, target in ratios:
        if num in medians and den in medians:
            value = medians[num] / medians[den]
            op, bound = target.split() if target else ("", "0")
            meets = None if not target else (value >= float(bound) if op == ">=" else value <= float(bound))
            out[name] = {"value": round(value, 3), "target": target, "meets_target": meets}
    record(f"{pack}_ratios", **out)


@pytest.fixture(scope="module")
def data() -> Path:
    return shared_data(PHOTO)


@pytest.fixture(scope="module")
def t1(data: Path) -> np.ndarray:
    return load_image(data / PHOTO)


def variants() -> list[tuple[str, str]]:
    """What this machine runs natively (int8: with calibration media to quantize on)."""
    return [v for v in VARIANTS if v[1] in ("f32", "auto") or not (why_not_int8(v[0]) if v[1].startswith("int8")
                                                                   else why_not_native("bf16"))]


def pack_calls(packs: dict[str, Any], image: np.ndarray, faces: Any) -> dict[str, Callable[[], Any]]:
    """Per variant: detect, embed the same faces, and both (the steps timed side by side)."""
    calls: dict[str, Callable[[], Any]] = {}
    for key, pack in packs.items():
        calls[f"{key}_detect"] = lambda p=pack: p.detect(image)
        calls[f"{key}_embed"] = lambda p=pack: p.embed(image, faces)
        calls[f"{key}_end_to_end"] = lambda p=pack: p.embed(image, p.detect(image))
    return calls


def test_dlib_pack(record: Callable[..., None], t1: np.ndarray) -> None:
    from faceindex.packs.dlib import DlibPack

    packs = {label(*v): DlibPack(backend=v[0], precision=v[1]) for v in variants()}
    faces = packs["ort_f32"].detect(t1)
    assert len(faces) == 6
    calls = pack_calls(packs, t1, faces)
    medians = interleaved(calls)
    ratios = [(f"{step}: ort_f32 / {key}", f"ort_f32_{step}", f"{key}_{step}", ">= 1.6" if step == "end_to_end"
               else "") for key in packs if key != "ort_f32" for step in ("detect", "embed", "end_to_end")]
    report(record, "dlib", medians, len(faces), ratios)
    record("dlib_verification_by_precision", **verification_by_precision(packs["ort_f32"].info.ref))


def insightface_models(models: Path) -> tuple[Any, Any]:
    model_zoo = pytest.importorskip("insightface.model_zoo")
    loaded = []
    for path in ("scrfd/det_500m.onnx", "mobilefacenet/mobilefacenet.onnx"):
        model = model_zoo.get_model(str(models / path), providers=["CPUExecutionProvider"])
        model.prepare(ctx_id=-1, input_size=DET_SIZE)
        loaded.append(model)
    return loaded[0], loaded[1]


def test_scrfd_mobilefacenet(record: Callable[..., None], data: Path, t1: np.ndarray) -> None:
    models = data / "models"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnverifiedModelWarning)
        packs = {label(*v): OnnxPack.from_files(models / "scrfd/det_500m.onnx", models / "mobilefacenet/mobilefacenet.onnx",
                                                v[0], det_size=DET_SIZE, precision=v[1]) for v in variants()}
    faces = packs["ort_f32"].detect(t1)
    assert len(faces) == 6
    calls = pack_calls(packs, t1, faces)
    detector, recognizer = insightface_models(models)
    common = pytest.importorskip("insightface.app.common")
    bgr = np.ascontiguousarray(t1[:, :, ::-1])

    def insightface_pipeline() -> list[np.ndarray]:
        boxes, kps = detector.detect(bgr, input_size=DET_SIZE)
        return [recognizer.get(bgr, common.Face(bbox=b[:4], kps=k, det_score=b[4])) for b, k in zip(boxes, kps)]

    assert len(detector.detect(bgr, input_size=DET_SIZE)[0]) == 6
    calls["insightface_detect"] = lambda: detector.detect(bgr, input_size=DET_SIZE)
    calls["insightface_end_to_end"] = insightface_pipeline
    with warnings.catch_warnings():
        # insightface's alignment calls a scikit-image API deprecated in 0.26: its warning, not ours.
        warnings.simplefilter("ignore", FutureWarning)
        medians = interleaved(calls)
    ratios = [(f"{step}: ort_f32 / {key}", f"ort_f32_{step}", f"{key}_{step}", "")
              for key in packs if key != "ort_f32" for step in ("detect", "embed", "end_to_end")]
    ratios += [(f"detect: insightface / {key}", "insightface_detect", f"{key}_detect", ">= 2") for key in packs]
    ratios += [(f"detect+align+embed: insightface / {key}", "insightface_end_to_end", f"{key}_end_to_end", ">= 3")
               for key in packs]
    report(record, "scrfd_mobilefacenet", medians, len(faces), ratios)
    record("scrfd_mobilefacenet_verification_by_precision", **verification_by_precision(packs["ort_f32"].info.ref))
