"""The user's cohorts: faces of their own photos that scores are normalised against (AS-norm,
score_norm.py), one file per pack in the user data folder's cohorts/ (or $FACEINDEX_COHORTS).

`faceindex cohort build DIR` writes one (evaluation/cohort_build.py). A cohort file holds
embeddings of real people: biometric data. It is written readable by its owner only, is
never part of faceindex's package, and faceindex ships none: without the user's own, 1:1
compare is judged on cosines (and says so), and a collection normalises against its own faces
once it has enough of them.

The file: an .npz with `embeddings` (float32 [M, d], unit rows), `pack` and `version` (the
pack that made them) and `source` (what the faces are, in the user's words).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from faceindex.errors import CalibrationError
from faceindex.thresholds.score_norm import Cohort
from faceindex.thresholds.tables import table_file_name
from faceindex.types import PackInfo, PackRef

FILE_SUFFIX = ".cohort.npz"


def cohorts_dir() -> Path:
    """$FACEINDEX_COHORTS, else the user data folder's cohorts/."""
    import platformdirs

    configured = os.environ.get("FACEINDEX_COHORTS")
    return Path(configured) if configured else Path(platformdirs.user_data_dir("faceindex", appauthor=False)) / "cohorts"


def cohort_path(pack: PackRef) -> Path:
    return cohorts_dir() / (table_file_name(pack).removesuffix(".json") + FILE_SUFFIX)


_loaded: dict[PackRef, tuple[float, Cohort] | None] = {}


def cohort_for(pack: PackInfo | PackRef) -> Cohort | None:
    """The user's cohort for this pack (name and version), or None. Read again when the file changes."""
    ref = pack.ref if isinstance(pack, PackInfo) else pack
    path = cohort_path(ref)
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        _loaded.pop(ref, None)
        return None
    known = _loaded.get(ref)
    if known is None or known[0] != mtime:
        _loaded[ref] = (mtime, load_cohort(path, ref))
    entry = _loaded[ref]
    return entry[1] if entry is not None else None


def load_cohort(path: Path, pack: PackRef | None = None) -> Cohort:
    try:
        with np.load(path, allow_pickle=False) as data:
            embeddings = np.ascontiguousarray(data["embeddings"], dtype=np.float32)
            ref = PackRef(str(data["pack"]), str(data["version"]))
            source = str(data["source"])
    except (OSError, KeyError, ValueError) as e:
        raise CalibrationError(f"cannot read cohort file {path}: {e}") from e
    if pack is not None and ref != pack:
        raise CalibrationError(f"{path} is a cohort of pack {ref}, not {pack}")
    try:
        return Cohort(embeddings, ref, source)
    except ValueError as e:
        raise CalibrationError(f"cohort file {path} is not a cohort: {e}") from e


def save_cohort(cohort: Cohort, path: Path) -> None:
    """Write atomically, readable by the owner only (biometric data)."""
    from faceindex.cache import atomic_write

    buffer = io.BytesIO()
    np.savez(buffer, embeddings=cohort.embeddings, pack=np.array(cohort.pack.name),
             version=np.array(cohort.pack.version), source=np.array(cohort.source))

    def write(tmp: str) -> None:
        Path(tmp).write_bytes(buffer.getvalue())
        os.chmod(tmp, 0o600)

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(path), write)


def forget_loaded_cohorts() -> None:
    _loaded.clear()
