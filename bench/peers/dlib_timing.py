"""Times dlib (whichever is installed in this interpreter) on one photo: detect+embed, and
embed per face. Run by bench/bench_dlib.py with the source-built peer's Python; prints JSON."""

import json
import statistics
import sys
import time
from pathlib import Path

import dlib
import numpy as np
from PIL import Image

MODELS = Path(__file__).resolve().parent.parent.parent / ".peers" / "models"


def main() -> None:
    rgb = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
    det = dlib.cnn_face_detection_model_v1(str(MODELS / "mmod_human_face_detector.dat"))
    sp = dlib.shape_predictor(str(MODELS / "shape_predictor_5_face_landmarks.dat"))
    rec = dlib.face_recognition_model_v1(str(MODELS / "dlib_face_recognition_resnet_model_v1.dat"))

    def end_to_end() -> int:
        faces = det(rgb, 0)
        for f in faces:
            rec.compute_face_descriptor(rgb, sp(rgb, f.rect))
        return len(faces)

    end_to_end()
    e2e = []
    for _ in range(3):
        t = time.perf_counter()
        end_to_end()
        e2e.append(time.perf_counter() - t)
    shape = sp(rgb, det(rgb, 0)[0].rect)
    emb = []
    for _ in range(10):
        t = time.perf_counter()
        rec.compute_face_descriptor(rgb, shape)
        emb.append(time.perf_counter() - t)
    print(json.dumps({"version": dlib.__version__, "end_to_end_s": statistics.median(e2e),
                      "embed_face_s": statistics.median(emb)}))


if __name__ == "__main__":
    main()
