"""Verify the reduced precisions of a pack against its f32 reference by the decisions they
change (issue 30's rule), and write the record precision="auto" reads:
models/calibration/<pack>.precision.json.

    python scripts/verify_precision.py --pack dlib [--data ../shared/data] [--lfw-folds 0-6]
    python scripts/verify_precision.py --pack scrfd+mobilefacenet      # the shared data's files
    python scripts/verify_precision.py --detector D.onnx --recognizer R.onnx
    python scripts/verify_precision.py --pack NAME                     # any pack FaceEngine knows

The reference is ONNX Runtime f32; the candidates OpenVINO bf16, bf16-detector, bf16-recognizer
and int8, int8-detector, int8-recognizer (quantized on the calibration media of
faceindex.backends.calibration_media: the test clip, which no evaluation uses). A precision
this CPU cannot run as itself is not measured: bf16 without AVX-512 BF16 or AMX (OpenVINO
would compute f32). Without VNNI, int8 is computed exactly in f32 (the quantized files with
ONNX Runtime's fusions off: what int8 with exact int32 sums gives, as on a VNNI CPU; AVX2's own
int8 kernels saturate): its decisions are measured, its speed is not. Photos: every image under <data>/images (criterion 1 on the group
photos, images/dlib/faces and t1.jpg); LFW: the pairs of the chosen folds of
<data>/lfw/pairs_dev.txt, at the thresholds of the pack's shipped calibration table. LFW
embeddings are cached (--cache), so a second run measures only what changed.
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
from faceindex.cache import atomic_write, cache_dir
from faceindex.engine import FaceEngine
from faceindex.evaluation.lfw import read_pairs
from faceindex.backends.precision import BF16, INT8, INT8_BACKEND, INT8_WITHOUT_VNNI, REDUCED, why_not_native
from faceindex.evaluation.precision_check import (FLIP_FMR, FMRS, compare_photos, criteria, decision_flips,
                                                  lfw_embeddings, lfw_figures, lfw_images)
from faceindex.thresholds.precision_records import FORMAT, record_file_name
from faceindex.thresholds.tables import table_for

REPO = Path(__file__).resolve().parent.parent
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}
SHARED_FILES = {"scrfd+mobilefacenet": ("models/scrfd/det_500m.onnx", "models/mobilefacenet/mobilefacenet.onnx")}


def make_engine(args: argparse.Namespace, backend: str, precision: str) -> FaceEngine:
    if args.detector or args.recognizer:
        return FaceEngine(detector=args.detector, recognizer=args.recognizer, backend=backend, precision=precision)
    if args.pack in SHARED_FILES:
        detector, recognizer = SHARED_FILES[args.pack]
        return FaceEngine(detector=args.data / detector, recognizer=args.data / recognizer, backend=backend,
                          precision=precision)
    return FaceEngine(args.pack, backend=backend, precision=precision)


def folds(spec: str) -> set[int]:
    low, _, high = spec.partition("-")
    return set(range(int(low), int(high or low) + 1))


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpu": model, "cores": os.cpu_count(), "threads": faceindex.get_num_threads(),
            "bf16_native": not why_not_native("bf16"), "vnni": not why_not_native("int8"),
            "load_average_at_start": os.getloadavg()[0], "python": platform.python_version()}


def write(path: Path, record: dict[str, Any]) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2, default=str) + "\n"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", default="dlib", help="a pack name, or scrfd+mobilefacenet (the shared data's files)")
    parser.add_argument("--detector", type=Path, help="with --recognizer: a pack from these ONNX files")
    parser.add_argument("--recognizer", type=Path)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("FACEINDEX_TEST_DATA", REPO.parent / "shared/data")))
    parser.add_argument("--lfw-folds", default="0-6", help="folds of pairs_dev.txt, e.g. 0-6 (all) or 0-2")
    parser.add_argument("--out-dir", type=Path, default=REPO / "models" / "calibration")
    parser.add_argument("--cache", type=Path, default=None, help="where LFW embeddings are kept (default: "
                        "the faceindex cache's precision-lfw folder)")
    parser.add_argument("--candidates", default=",".join(REDUCED),
                        help=f"precisions to verify, comma-separated (default: {','.join(REDUCED)})")
    parser.add_argument("--photos-only", action="store_true",
                        help="measure criteria 1 and 3 only: LFW not measured, so the pair is recorded as not passed")
    parser.add_argument("--det-threshold", type=float, default=None,
                        help="the detection threshold faces near which are excepted (default: the pack's own)")
    parser.add_argument("--lfw-only-if-photos-pass", action="store_true",
                        help="measure a candidate on LFW (the slow part) only if it passed the photo criteria; "
                             "one that failed them is refused whatever LFW says, and its record says LFW was "
                             "not measured")
    args = parser.parse_args()
    import onnxruntime
    import openvino

    from faceindex.backends.calibration_media import locate
    from faceindex.backends.quantization import QUANTIZER

    os.environ.setdefault("FACEINDEX_TEST_DATA", str(args.data))
    cache = args.cache or cache_dir("precision-lfw")
    started = machine()
    reference = make_engine(args, "onnxruntime", "f32")
    ref = reference.pack.ref
    table = table_for(ref)
    if table is None:
        raise SystemExit(f"pack {ref} has no calibration table: the rule judges decisions at its thresholds "
                         "(make calibrate first)")
    thresholds = {fmr: table.threshold_for_fmr(fmr, at_limit=True)[0] for fmr in FMRS}
    path = args.out_dir / record_file_name(ref)
    old = json.loads(path.read_text()) if path.is_file() else {}
    record: dict[str, Any] = old if old.get("format") == FORMAT else {}
    record.update({"format": FORMAT, "rule": "issue 30: the decisions a precision changes",
                   "pack": {"name": ref.name, "version": ref.version}})
    photos = sorted(p for p in (args.data / "images").rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
    chosen = folds(args.lfw_folds)
    pairs = [p for p in read_pairs(args.data / "lfw" / "pairs_dev.txt") if p.fold in chosen]
    images = lfw_images(pairs)
    lfw_source = f"lfw/pairs_dev.txt folds {args.lfw_folds}"
    versions = f"faceindex {faceindex.__version__} onnxruntime {onnxruntime.__version__} openvino {openvino.__version__}"

    def embedded(engine: FaceEngine, precision: str, extra: str = "") -> Any:
        key = f"{ref.name}@{ref.version} {engine.pack.backend} {precision} {versions} {extra}"
        t0 = time.perf_counter()
        out = lfw_embeddings(engine, images, cache, key)
        print(f"LFW {precision}: {len(images)} images in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        return out

    reference_lfw: dict[str, Any] = {}

    def lfw_reference() -> Any:
        """f32's LFW similarities and figures: measured once, when a candidate first needs them."""
        if not reference_lfw:
            ref_lfw = embedded(reference, "f32")
            sim = ref_lfw.similarities(pairs)
            figures = lfw_figures(sim, pairs, len(images), int((~ref_lfw.has_face).sum()), thresholds)
            record["lfw_f32"] = {"source": lfw_source, "thresholds": {f"{k:.0e}": v for k, v in thresholds.items()},
                                 "threshold_source": table.source, **dataclasses.asdict(figures)}
            write(path, record)
            print(f"LFW f32: {figures}", file=sys.stderr)
            reference_lfw.update(sim=sim, figures=figures)
        return reference_lfw["sim"], reference_lfw["figures"]

    for precision in args.candidates.split(","):
        t0 = time.perf_counter()
        backend = INT8_BACKEND if precision in INT8 else "openvino"
        done = [c for c in record.get("candidates", []) if (c["backend"], c["precision"]) == (backend, precision)]
        base = {"backend": backend, "precision": precision, "machine": started,
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        if precision in BF16 and why_not_native("bf16"):
            # Not measured here; a measurement made on a CPU that has bf16 is kept.
            print(f"{precision}: not measured: {why_not_native('bf16')}", file=sys.stderr)
            if not any(c.get("measured", True) for c in done):
                record["candidates"] = [c for c in record.get("candidates", []) if c not in done] + [
                    {**base, "measured": False, "why": why_not_native("bf16")}]
                write(path, record)
            continue
        extra: dict[str, Any] = {}
        if precision in INT8:
            extra = {"quantizer": QUANTIZER, "calibration": locate().source,
                     "int8_kernels": "VNNI" if not why_not_native("int8") else
                     "computed exactly in f32 (no VNNI here, and AVX2's int8 kernels saturate): decisions "
                     "as a VNNI CPU makes them, speed not measured"}
            if why_not_native("int8"):
                os.environ[INT8_WITHOUT_VNNI] = "1"
        # int8 as auto runs it: the quantized networks on INT8_BACKEND, a mix's f32 one on ONNX Runtime.
        candidate = make_engine(args, "auto" if precision in INT8 else backend, precision)
        photo = compare_photos(reference, candidate, photos, root=args.data, det_threshold=args.det_threshold)
        print(f"photos {precision}: {photo.faces} {photo.embeddings}", file=sys.stderr)
        photo_checks = criteria(photo, None, None, None)
        photos_passed = all(c["passed"] for name, c in photo_checks.items() if name != "lfw")
        lfw_cand = flips = ref_figures = None
        if not args.photos_only and (photos_passed or not args.lfw_only_if_photos_pass):
            ref_sim, ref_figures = lfw_reference()
            cand_lfw = embedded(candidate, precision, json.dumps(extra, sort_keys=True))
            cand_sim = cand_lfw.similarities(pairs)
            lfw_cand = lfw_figures(cand_sim, pairs, len(images), int((~cand_lfw.has_face).sum()), thresholds)
            flips = decision_flips(ref_sim, cand_sim, pairs, thresholds[FLIP_FMR])
        print(f"LFW {precision}: {lfw_cand or 'not measured'} {flips or ''}", file=sys.stderr)
        checks = criteria(photo, ref_figures, lfw_cand, flips)
        entry = {
            **base, "measured": True, "openvino": openvino.__version__, "onnxruntime": onnxruntime.__version__,
            **extra, "reference": {"backend": "onnxruntime", "precision": "f32"},
            "seconds": round(time.perf_counter() - t0, 1),
            "photos": {"source": f"images/** ({len(photos)} files)", "faces": dataclasses.asdict(photo.faces),
                       "embeddings": dataclasses.asdict(photo.embeddings), "unreadable": list(photo.unreadable)},
            "lfw": {"source": lfw_source, "candidate": dataclasses.asdict(lfw_cand) if lfw_cand else None,
                    "flips": {**dataclasses.asdict(flips), "share": flips.share} if flips else None},
            "criteria": checks,
            "passed": all(c["passed"] for c in checks.values()),
        }
        record["candidates"] = [c for c in record.get("candidates", [])
                                if (c["backend"], c["precision"]) != (backend, precision)] + [entry]
        # Written after each candidate: a long run that stops keeps what it measured.
        write(path, record)
        print(f"{path.name}: {precision} {'passed' if entry['passed'] else 'FAILED'} "
              f"{ {k: c['passed'] for k, c in checks.items()} }")
    return 0


if __name__ == "__main__":
    sys.exit(main())
