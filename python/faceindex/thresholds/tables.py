"""Finding a pack's calibration table: the user's own first ($FACEINDEX_CALIBRATION, else the user
data folder's calibration/), then the ones shipped with faceindex (models/calibration/ in the package).
A pack has a table of cosine similarities (<pack>@<version>.json) and may have one of AS-norm scores
beside it (<pack>@<version>.as-norm.json)."""

from __future__ import annotations

import os
from pathlib import Path

from faceindex.errors import CalibrationError
from faceindex.thresholds.calibration_table import CalibrationTable
from faceindex.types import PackInfo, PackRef, ScoreKind

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "models" / "calibration"


def user_dir() -> Path:
    """Where `faceindex calibrate` writes tables by default: $FACEINDEX_CALIBRATION, else the
    user data folder's calibration/."""
    import platformdirs

    configured = os.environ.get("FACEINDEX_CALIBRATION")
    return Path(configured) if configured else Path(platformdirs.user_data_dir("faceindex", appauthor=False)) / "calibration"


def table_file_name(pack: PackRef, score: ScoreKind = "cosine") -> str:
    safe = "".join(c if c.isalnum() or c in "._-+" else "_" for c in f"{pack.name}@{pack.version}")
    return f"{safe[:200]}.json" if score == "cosine" else f"{safe[:200]}.{score}.json"


_loaded: dict[tuple[PackRef, ScoreKind], CalibrationTable | None] = {}


def table_for(pack: PackInfo | PackRef, score: ScoreKind = "cosine") -> CalibrationTable | None:
    """The calibration table of this pack (name and version) for this kind of score: the user's
    own first, then the ones shipped with faceindex. None when it was never calibrated."""
    ref = pack.ref if isinstance(pack, PackInfo) else pack
    if (ref, score) not in _loaded:
        found = None
        for folder in (user_dir(), SHIPPED_DIR):
            path = folder / table_file_name(ref, score)
            if path.is_file():
                table = CalibrationTable.load(path)
                if table.pack != ref:
                    raise CalibrationError(f"{path} calibrates {table.pack}, not {ref}")
                if table.score != score:
                    raise CalibrationError(f"{path} is a table of {table.score} scores, not {score}")
                found = table
                break
        _loaded[(ref, score)] = found
    return _loaded[(ref, score)]


def forget_loaded_tables() -> None:
    """Drop the tables read so far (after writing a new one)."""
    _loaded.clear()
