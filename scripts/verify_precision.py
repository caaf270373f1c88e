"""Verify a reduced precision of a pack against its f32 reference and write the record
that precision="auto" reads: models/calibration/<pack>.precision.json.

    python scripts/verify_precision.py --pack dlib [--data ../shared/data] [--lfw-folds 0-6]
    python scripts/verify_precision.py --pack scrfd+mobilefacenet

The reference is ONNX Runtime f32; the candidates OpenVINO bf16 (both networks) and
bf16-detector / bf16-recognizer (one network in bf16, the other f32), and int8, int8-detector,
int8-recognizer on the backend int8 runs on under backend="auto" (INT8_BACKEND), quantized
on the calibration media (faceindex.backends.calibration_media: the test clip, which is
neither in data/images nor in LFW). Photos: every image under <data>/images; LFW: the pairs of the
chosen folds of <data>/lfw/pairs_dev.txt. The figures, the date, the machine and pass or
fail per criterion go into the record (see faceindex.evaluation.precision_check).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import faceindex
from faceindex.cache import atomic_write
from faceindex.engine import FaceEngine
from faceindex.evaluation.lfw import read_pairs
from faceindex.backends.precision import INT8, INT8_BACKEND, REDUCED, why_not_native
from faceindex.evaluation.precision_check import LfwFigures, compare_photos, criteria, lfw_figures
from faceindex.thresholds.precision_records import record_file_name

REPO = Path(__file__).resolve().parent.parent
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}


def engine(pack: str, data: Path, backend: str, precision: str) -> FaceEngine:
    if pack == "dlib":
        return FaceEngine("dlib", backend=backend, precision=precision)
    if pack == "scrfd+mobilefacenet":
        return FaceEngine(detector=data / "models/scrfd/det_500m.onnx",
                          recognizer=data / "models/mobilefacenet/mobilefacenet.onnx", backend=backend,
                          precision=precision)
    raise SystemExit(f"unknown pack {pack!r}: dlib or scrfd+mobilefacenet")


def folds(spec: str) -> set[int]:
    low, _, high = spec.partition("-")
    return set(range(int(low), int(high or low) + 1))


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    cpu = faceindex.build_info()["cpu"]
    return {"cpu": model, "cores": os.cpu_count(), "threads": faceindex.get_num_threads(),
            "avx512_bf16": cpu["avx512_bf16"], "vnni": not why_not_native("int8"), "load_average_at_start": os.getloadavg()[0],
            "python": platform.python_version()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", required=True, choices=("dlib", "scrfd+mobilefacenet"))
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("FACEINDEX_TEST_DATA", REPO.parent / "shared/data")))
    parser.add_argument("--lfw-folds", default="0-6", help="folds of pairs_dev.txt, e.g. 0-6 (all) or 0-2")
    parser.add_argument("--out-dir", type=Path, default=REPO / "models" / "calibration")
    parser.add_argument("--candidates", default=",".join(REDUCED),
                        help=f"precisions to verify, comma-separated (default: {','.join(REDUCED)})")
    parser.add_argument("--lfw-only-if-photos-pass", action="store_true",
                        help="measure a candidate on LFW (the slow part) only if it passed the photo criteria; "
                             "one that failed them is refused whatever LFW says, and its record says LFW was "
                             "not measured")
    args = parser.parse_args()
    import onnxruntime
    import openvino

    from faceindex.backends.calibration_media import locate
    from faceindex.backends.quantization import QUANTIZER

    started = machine()
    reference = engine(args.pack, args.data, "onnxruntime", "f32")
    ref = reference.pack.ref
    path = args.out_dir / record_file_name(ref)
    record = json.loads(path.read_text()) if path.is_file() else {"pack": {"name": ref.name, "version": ref.version}}
    photos = sorted(p for p in (args.data / "images").rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
    chosen = folds(args.lfw_folds)
    pairs = [p for p in read_pairs(args.data / "lfw" / "pairs_dev.txt") if p.fold in chosen]
    lfw_source = f"lfw/pairs_dev.txt folds {args.lfw_folds}"
    # The f32 reference's LFW figures are the same for every candidate: measured once per pack
    # and pairs, and kept in the record at once.
    known = record.setdefault("lfw_f32", {})
    if lfw_source not in known:
        known[lfw_source] = dataclasses.asdict(lfw_figures(reference, pairs))
        atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2, default=str) + "\n"))
    lfw_ref = LfwFigures(**known[lfw_source])
    print(f"LFW f32: {lfw_ref}", file=sys.stderr)
    for precision in args.candidates.split(","):
        t0 = time.perf_counter()
        # int8 as auto runs it: the quantized networks on INT8_BACKEND, a mix's f32 one on ONNX Runtime.
        backend = INT8_BACKEND if precision in INT8 else "openvino"
        candidate = engine(args.pack, args.data, "auto" if precision in INT8 else backend, precision)
        photo = compare_photos(reference, candidate, photos)
        print(f"photos {precision}: {photo}", file=sys.stderr)
        photo_checks = criteria(photo, None, None)
        photos_passed = all(c["passed"] for name, c in photo_checks.items() if name != "lfw")
        lfw_cand = lfw_figures(candidate, pairs) if photos_passed or not args.lfw_only_if_photos_pass else None
        print(f"LFW {precision}: {lfw_cand or 'not measured: the photo criteria failed'}", file=sys.stderr)
        checks = criteria(photo, lfw_ref, lfw_cand)
        entry = {
            "backend": backend, "precision": precision, "openvino": openvino.__version__,
            "onnxruntime": onnxruntime.__version__,
            **({"quantizer": QUANTIZER, "calibration": locate().source} if precision in INT8 else {}),
            "reference": {"backend": "onnxruntime", "precision": "f32"},
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": started, "seconds": round(time.perf_counter() - t0, 1),
            "photos": {"source": f"{args.data.name}/images/** ({len(photos)} files)", **dataclasses.asdict(photo)},
            "lfw": {"source": lfw_source, "f32": dataclasses.asdict(lfw_ref),
                    "candidate": dataclasses.asdict(lfw_cand) if lfw_cand else None},
            "criteria": checks,
            "passed": all(c["passed"] for c in checks.values()),
        }
        record["candidates"] = [c for c in record.get("candidates", [])
                                if (c["backend"], c["precision"]) != (backend, precision)] + [entry]
        # Written after each candidate: a long run that stops keeps what it measured.
        atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2, default=str) + "\n"))
        print(f"{path}: {precision} {'passed' if entry['passed'] else 'FAILED'} "
              f"{ {k: c['passed'] for k, c in checks.items()} }")
    return 0


if __name__ == "__main__":
    sys.exit(main())
