"""Precision verification records: models/calibration/<pack>.precision.json.

One record per model pack (name and version), written by scripts/verify_precision.py:
for each (backend, precision) measured against the pack's f32 reference (ONNX Runtime),
the figures, the bound of each criterion and whether it passed. precision="auto"
offers a reduced precision only where its record passed every criterion.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceindex.thresholds.tables import SHIPPED_DIR, table_file_name, user_dir
from faceindex.types import PackRef

# The rule (issue 15): what a reduced precision must keep of the f32 results.
MIN_EMBEDDING_COSINE = 0.999  # every face of the test photos, to its f32 embedding
MAX_BOX_SHIFT_PX = 1.0  # every box edge of the group photos, same faces found
MAX_LFW_ACCURACY_DROP = 0.001  # cross-validated accuracy, fraction (0.1 percentage point)
MAX_FNMR_RELATIVE_RISE = 0.10  # FNMR at FMR 1e-3, relative to f32's


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
    for entry in record.get("candidates", []):
        if entry.get("backend") == backend and entry.get("precision") == precision:
            failed = [name for name, c in entry["criteria"].items() if not c["passed"]]
            where = f"{record_path(pack)} ({entry.get('date', 'undated')})"
            if failed:
                return Verdict(False, f"{backend} {precision} failed verification for pack {pack}: "
                                      f"{', '.join(failed)} ({where})")
            return Verdict(True, f"{backend} {precision} passed verification for pack {pack} ({where})")
    return Verdict(None, f"{backend} {precision} was never verified for pack {pack}")
