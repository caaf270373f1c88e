"""The audit log of a collection: every search and compare through it, with the
threshold it was judged against, how that was chosen, the error rates estimated there,
the pack, and the candidates returned (face ids only: no image, no embedding).

Rows are written in the collection's database, durably (they survive SIGKILL as faces
do). Deleting a face removes its id from every row's candidates; the count stays.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from faceindex.collection import store
from faceindex.collection.state import CollectionState
from faceindex.types import PackRef, ThresholdChoice

_MAX_NOTE = 1000  # characters of purpose / reference kept


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    operation: str  # search_faces_by_image, search_faces, search_users, associate_faces, ...
    purpose: str | None  # the caller's reason, as given
    reference: str | None  # the caller's case or request id, as given
    threshold: float
    chosen_by: str
    requested: float | None  # the max_fmr / max_fpir asked for
    fmr: float | None  # estimated per comparison at the threshold (None: uncalibrated pack)
    fmr_interval: tuple[float, float] | None
    fpir: float | None
    beyond_table: bool
    gallery_size: int | None
    pack: PackRef
    candidate_count: int  # candidates returned, deleted ones included
    candidates: list[str]  # their face ids, best first, less those deleted since


def note(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    return value[:_MAX_NOTE]


def record(state: CollectionState, operation: str, choice: ThresholdChoice, candidates: Sequence[str],
           purpose: str | None, reference: str | None) -> None:
    """Append one row, committed before the search's result is returned."""
    fmr, fpir = choice.fmr, choice.fpir
    conn = state.conn()
    with store.write_transaction(conn):
        # Stamped inside the writer's slot, so times follow the rows' order; whole microseconds,
        # so a time read back as a datetime selects its own row.
        now = round(time.time(), 6)
        cursor = conn.execute(
            "INSERT INTO audit (at, operation, purpose, reference, threshold, chosen_by, requested, fmr, fmr_low, "
            "fmr_high, fpir, beyond_table, gallery_size, pack, pack_version, candidate_count) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (now, operation, purpose, reference, choice.value, choice.chosen_by, choice.requested,
             fmr.value if fmr else None, fmr.low if fmr else None, fmr.high if fmr else None,
             fpir.value if fpir else None, int(choice.beyond_table), choice.gallery_size, state.pack.name,
             state.pack.version, len(candidates)),
        )
        conn.executemany("INSERT INTO audit_candidates (audit_id, rank, face_id) VALUES (?, ?, ?)",
                         [(cursor.lastrowid, rank, face_id) for rank, face_id in enumerate(candidates)])


def forget_faces(conn: sqlite3.Connection, face_ids: Sequence[str]) -> None:
    """Within the deleting transaction: the deleted faces leave every row's candidates."""
    conn.executemany("DELETE FROM audit_candidates WHERE face_id = ?", [(f,) for f in face_ids])


def entries(state: CollectionState, since: float | None = None, limit: int | None = None) -> list[AuditEntry]:
    """The log, oldest first, from `since` (seconds since the epoch) on."""
    conn = state.conn()
    with store.read_transaction(conn):
        rows = conn.execute(
            "SELECT id, at, operation, purpose, reference, threshold, chosen_by, requested, fmr, fmr_low, fmr_high, "
            "fpir, beyond_table, gallery_size, pack, pack_version, candidate_count FROM audit WHERE at >= ? "
            "ORDER BY id LIMIT ?", (since or 0.0, -1 if limit is None else int(limit))).fetchall()
        candidates: dict[int, list[str]] = {}
        if rows:
            for audit_id, face_id in conn.execute(
                    "SELECT audit_id, face_id FROM audit_candidates WHERE audit_id BETWEEN ? AND ? "
                    "ORDER BY audit_id, rank", (rows[0][0], rows[-1][0])):
                candidates.setdefault(audit_id, []).append(face_id)
    return [AuditEntry(
        at=datetime.fromtimestamp(r[1], tz=timezone.utc), operation=r[2], purpose=r[3], reference=r[4],
        threshold=r[5], chosen_by=r[6], requested=r[7], fmr=r[8],
        fmr_interval=None if r[9] is None else (r[9], r[10]), fpir=r[11], beyond_table=bool(r[12]),
        gallery_size=r[13], pack=PackRef(r[14], r[15]), candidate_count=r[16], candidates=candidates.get(r[0], []),
    ) for r in rows]
