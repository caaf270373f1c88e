"""Precision verification records: models/calibration/<pack>.precision.json.

One record per model pack (name and version), written by scripts/verify_precision.py:
for each (backend, precision) measured against the pack's f32 reference (ONNX Runtime),
the figures, the bound of each criterion and whether it passed. precision="auto"
offers a reduced precision only where its record passed every criterion.

Records carry their format: 2 is issue 30's rule (decisions: the same faces, the same LFW
decisions, embeddings one collection can mix). A record of format 1 (issue 15's pixel rule:
boxes within 1 px, cosine >= 0.999) is read but never offered: its figures answer another
rule, so `auto` says the pack must be verified again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceindex.thresholds.tables import SHIPPED_DIR, table_file_name, user_dir
from faceindex.types import PackRef

FORMAT = 2
# The rule (issue 30): what a reduced precision must keep of the f32 decisions.
MIN_IOU = 0.90  # each f32 face found again with at least this overlap, nothing else found ...
NEAR_THRESHOLD = 0.05  # ... except faces scored within this of the detection threshold (counted)
MAX_SHIFT_OF_WIDTH = 0.03  # largest landmark or box-edge move, relative to the face's width
MIN_EMBEDDING_COSINE = 0.99  # every face of the test photos, to its f32 embedding
MAX_DECISION_FLIPS = 0.005  # LFW pairs whose decision at the shipped FMR 1e-4 threshold flips
# and FNMR at the shipped FMR 1e-3 and 1e-4 thresholds within the f32 pipeline's 95% interval.


@dataclass(frozen=True)
class Verdict:
    """What the record says of one (backend, precision): passed, failed, or never measured (None)."""

    passed: bool | None
    reason: str


def record_file_name(pack: PackRef) -> str:
    return table_file_name(pack).removesuffix(".json") + ".precision.json"


def record_path(pack: PackRef) -> Path | None:
    """The user's own record first (FACEINDEX_CALIBRATION), then the one shipped with faceindex."""
    for folder in (user_dir(), SHIPPED_DIR):
        path = folder / record_file_name(pack)
        if path.is_file():
            return path
    return None


def load_record(pack: PackRef) -> dict[str, Any] | None:
    path = record_path(pack)
    if path is None:
        return None
    record: dict[str, Any] = json.loads(path.read_text())
    if record.get("pack") != {"name": pack.name, "version": pack.version}:
        raise ValueError(f"{path} records pack {record.get('pack')}, not {pack}")
    return record


def verdict(pack: PackRef, backend: str, precision: str) -> Verdict:
    record = load_record(pack)
    if record is None:
        return Verdict(None, f"no precision verification record for pack {pack} (scripts/verify_precision.py)")
    found = record.get("format", 1)
    if found != FORMAT:
        return Verdict(None, f"the precision record of pack {pack} is format {found} (an older rule), not "
                             f"{FORMAT}: verify the pack again (make verify-precision)")
    for entry in record.get("candidates", []):
        if entry.get("backend") == backend and entry.get("precision") == precision:
            where = f"{record_path(pack)} ({entry.get('date', 'undated')})"
            if entry.get("measured") is False:
                return Verdict(None, f"{backend} {precision} was not measured for pack {pack}: {entry.get('why')}")
            failed = [describe(name, c) for name, c in entry["criteria"].items() if not c["passed"]]
            if failed:
                return Verdict(False, f"{backend} {precision} failed verification for pack {pack}: "
                                      f"{'; '.join(failed)} ({where})")
            return Verdict(True, f"{backend} {precision} passed verification for pack {pack} ({where})")
    return Verdict(None, f"{backend} {precision} was never verified for pack {pack}")


def describe(name: str, criterion: dict[str, Any]) -> str:
    """One failed criterion as a person reads it: its name, the figure and the bound."""
    value = criterion.get("value")
    if isinstance(value, float):
        shown = f"{value:.4g}"
    elif isinstance(value, dict):
        shown = ", ".join(f"{k} {v}" for k, v in value.items())
    else:
        shown = "not measured" if value is None else str(value)
    return f"{name} {shown} (needs {criterion.get('bound')})"
