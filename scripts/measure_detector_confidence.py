"""Measure what each detector's raw score means and write models/detector_confidence.json.

Every detector faceindex knows is run on dlib's hand-labelled photos (images/dlib/faces/
training.xml and testing.xml of the test data) down to a low threshold; each detection is
matched to the labelled faces (faceindex.evaluation.detection) and the share that were faces
is fitted as a non-decreasing function of the raw score. Packs map their scores through it
(faceindex.packs.confidence): Face.score and Rekognition's Confidence.

    .venv/bin/python scripts/measure_detector_confidence.py [--data ../shared/data]

Then `make install` (the file is installed beside the package).
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from faceindex.evaluation.detection import LabelledImage, confidence_curve, detections_at, read_imglab
from faceindex.images import load_image
from faceindex.packs.onnx.known_models import file_sha256

OUT = Path(__file__).resolve().parent.parent / "models" / "detector_confidence.json"
# Low enough that every detector shows its false detections: the curve's lower end.
LOW_MMOD = -1.0
LOW_ONNX = 0.05
ONNX_DETECTORS = ("yunet/face_detection_yunet_2026may.onnx", "scrfd/det_500m.onnx", "scrfd/det_2.5g.onnx",
                  "scrfd/scrfd_500m_bnkps.onnx", "scrfd/scrfd_2.5g_bnkps.onnx",
                  "retinaface/retinaface_mobilenet0.25.onnx")

Detect = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def dlib_detectors() -> dict[str, tuple[Detect, str]]:
    from faceindex.packs.dlib import DlibPack

    cascade = DlibPack(backend="onnxruntime", det_threshold=LOW_MMOD)
    mmod = DlibPack(backend="onnxruntime", detector="mmod", mirror=False, det_threshold=LOW_MMOD, upsample=1)
    assert cascade._cascade is not None

    def run_cascade(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = cascade._cascade
        assert c is not None
        found = c.confirm(rgb, c.propose(rgb), LOW_MMOD)
        return found.boxes.astype(np.float64) + [0, 0, 1, 1], found.scores

    def run_mmod(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes, scores = mmod.detect_boxes(rgb, 1)
        return boxes.astype(np.float64) + [0, 0, 1, 1], scores

    return {
        "dlib:cascade": (run_cascade, "the default detector (YuNet proposes, dlib's CNN confirms): the CNN's "
                                      "score in the tile"),
        "dlib:mmod": (run_mmod, "dlib's CNN alone (mmod_human_face_detector), its score, at upsample 1"),
    }


def onnx_detector(path: Path) -> Detect:
    from faceindex.packs.onnx.detector import OnnxDetector
    from faceindex.backends import open_session
    from faceindex.packs.onnx.signature import DetectorSignature, recognise

    session = open_session(path, "onnxruntime")
    signature = recognise(session.inputs, session.outputs, what=str(path))
    assert isinstance(signature, DetectorSignature)
    detector = OnnxDetector(session, signature, None, LOW_ONNX)

    def run(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = detector.detect(rgb)
        return rows[:, :4].astype(np.float64), rows[:, 4].astype(np.float64)

    return run


def measure(detect: Detect, images: list[LabelledImage]) -> dict[str, Any]:
    detected = [detect(load_image(image.path)) for image in images]
    scores, is_face, _widths, _found = detections_at(images, detected)
    knots, shares = confidence_curve(scores, is_face)
    return {"scores": [round(v, 5) for v in knots], "precision": [round(v, 4) for v in shares],
            "detections": int(len(scores)), "faces": int(is_face.sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parent.parent.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    faces = args.data / "images" / "dlib" / "faces"
    images = read_imglab(faces / "training.xml") + read_imglab(faces / "testing.xml")
    labelled = sum(len(i.boxes) for i in images)
    where = (f"dlib's hand-labelled faces (images/dlib/faces training.xml + testing.xml: {len(images)} photos, "
             f"{labelled} faces)")
    out: dict[str, Any] = {}
    for key, (detect, what) in dlib_detectors().items():
        out[key] = {**measure(detect, images), "source": f"{what}; {where}"}
        print(key, out[key])
    for relative in ONNX_DETECTORS:
        path = args.data / "models" / relative
        if not path.is_file():
            print(f"skipped (not in the test data): {relative}")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            detect = onnx_detector(path)
        key = file_sha256(path)
        out[key] = {**measure(detect, images), "file": path.name,
                    "source": f"{path.name} at its family's input size, its raw score; {where}"}
        print(path.name, out[key])
    document = json.loads(args.out.read_text()) if args.out.is_file() else {"format": 1}
    document["detectors"] = out
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
