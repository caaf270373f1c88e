"""Storing, listing and erasing a collection's faces."""

from __future__ import annotations

import sqlite3
import time
import uuid
from datetime import datetime, timezone
from typing import Any
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import numpy.typing as npt

from faceindex.collection import audit, store, validation
from faceindex.collection.ids import new_face_ids, page_token, read_page_token, write_image_id
from faceindex.collection.quality_filter import QualityFilterSpec, resolve_quality_filter, select_faces
from faceindex.collection.results import (
    DeleteFacesResult,
    FaceRecord,
    FacesPage,
    IndexFacesResult,
    UnindexedFace,
    UnsuccessfulFaceDeletion,
)
from faceindex.collection.state import CollectionState, PackIdentity
from faceindex.detections import Detections
from faceindex.engine import FaceEngine
from faceindex.errors import ErasureIncompleteError, FaceIdTakenError
from faceindex.types import Face, FloatArray


def index_faces(state: CollectionState, image: Any, external_image_id: str | None, max_faces: int | None,
                quality_filter: QualityFilterSpec, write_id: str | None = None) -> IndexFacesResult:
    """write_id: the caller's name for this write. Its faces are filed under an image id derived
    from it, so a repeat (a client that gave up waiting and sent the write again) finds them and
    answers them instead of storing them twice."""
    external_image_id = validation.external_image_id(external_image_id)
    image_id = str(uuid.uuid4()) if write_id is None else write_image_id(write_id)
    faces, embeddings, unindexed, image_size = faces_to_index(state.engine, image, max_faces, quality_filter)
    records = insert(state, state.unit_vectors(embeddings, "engine embeddings"), faces, [image_id] * len(faces),
                     [external_image_id] * len(faces), image_size=image_size, once=write_id is not None)
    return IndexFacesResult(face_records=records, unindexed_faces=unindexed, image_id=image_id, pack=state.pack.ref)


def faces_to_index(engine: FaceEngine, image: Any, max_faces: int | None, quality_filter: QualityFilterSpec
                   ) -> tuple[Detections, FloatArray, list[UnindexedFace], tuple[int, int]]:
    """What index_faces stores of an image: the faces that pass the quality filter (largest
    first) and their embeddings, those left out with their reasons, and the image's
    (width, height). Distributed ingestion runs this on its workers and stores the result
    on a shard."""
    bounds = resolve_quality_filter(quality_filter)
    found = engine.find(image)
    kept, dropped = select_faces(found.detections, max_faces, bounds)
    faces = found.detections.take(kept)
    if len(faces):
        faces = faces.with_embeddings(engine.embed(found.rgb, faces))
    embeddings = faces.embeddings if faces.embeddings is not None else np.zeros((0, engine.pack.embedding_size),
                                                                                np.float32)
    height, width = found.rgb.shape[:2]
    return (faces, embeddings, [UnindexedFace(reasons, found.detections[i]) for i, reasons in dropped],
            (int(width), int(height)))


def index_embeddings(state: CollectionState, embeddings: npt.ArrayLike, pack: PackIdentity,
                     faces: Sequence[Face] | None, external_image_id: None | str | Sequence[str | None],
                     image_id: None | str | Sequence[str], image_size: tuple[int, int] | None = None,
                     face_ids: Sequence[str] | None = None) -> list[FaceRecord]:
    state.check_pack(pack)
    vectors = state.unit_vectors(embeddings, "embeddings")
    n = len(vectors)
    detections = None
    if faces is not None:
        faces = list(faces)
        if len(faces) != n:
            raise ValueError(f"{len(faces)} faces for {n} embeddings")
        detections = Detections.from_faces(faces)
    externals = [validation.external_image_id(e) for e in validation.per_face(external_image_id, n, "external_image_id")]
    image_ids = validation.per_face(image_id if image_id is not None else str(uuid.uuid4()), n, "image_id")
    for value in image_ids:
        if not isinstance(value, str) or not value:
            raise ValueError(f"image ids must be non-empty strings, got {value!r}")
    if image_size is not None:
        image_size = validation.image_size(image_size)
        if len(set(image_ids)) > 1:
            raise ValueError("image_size is the size of the one image all the faces came from; these faces have "
                             f"{len(set(image_ids))} image ids")
    if face_ids is not None:
        face_ids = _given_face_ids(face_ids, n)
    return insert(state, vectors, detections, image_ids, externals, image_size,  # type: ignore[arg-type]
                  face_ids=face_ids)


def _given_face_ids(face_ids: Sequence[str], n: int) -> list[str]:
    ids = [face_ids] if isinstance(face_ids, str) else list(face_ids)
    if len(ids) != n:
        raise ValueError(f"{len(ids)} face ids for {n} embeddings")
    for value in ids:
        try:
            uuid.UUID(value)
        except (TypeError, ValueError, AttributeError):
            raise ValueError(f"face ids are UUIDs, got {value!r}") from None
    if len(set(ids)) != n:
        raise ValueError("the face ids given are not distinct")
    return ids


_NO_LANDMARKS = np.zeros((5, 2), dtype=np.float32).tobytes()


def insert(state: CollectionState, vectors: FloatArray, faces: Detections | None, image_ids: Sequence[str],
           externals: Sequence[str | None], image_size: tuple[int, int] | None = None,
           face_ids: Sequence[str] | None = None, once: bool = False) -> list[FaceRecord]:
    """Store unit vectors with their detections (None: no box, confidence 0) in one durable transaction.
    image_size: (width, height) of the one image every face came from, when known; face_ids: the
    ids to store them under (default: new ones). once: the image id names one write; when faces
    of it are stored already (an earlier try of the write), they are answered and nothing is stored."""
    if len(vectors) == 0:
        return []
    given = face_ids is not None
    face_ids = list(face_ids) if face_ids is not None else new_face_ids(len(vectors))
    if faces is None:
        rows = [store.NewFace(face_ids[i], image_ids[i], externals[i], (0.0, 0.0, 0.0, 0.0), 0.0, _NO_LANDMARKS,
                              0.0, 0.0, 0.0, None, vector.tobytes()) for i, vector in enumerate(vectors)]
    else:
        quality = faces.quality if faces.quality is not None else np.zeros((len(faces), 3))
        rows = []
        for i, vector in enumerate(vectors):
            pose = None
            if faces.poses is not None and not np.isnan(faces.poses[i]).all():
                pose = (float(faces.poses[i, 0]), float(faces.poses[i, 1]), float(faces.poses[i, 2]))
            x1, y1, x2, y2 = (float(v) for v in faces.boxes[i])
            rows.append(store.NewFace(
                face_ids[i], image_ids[i], externals[i], (x1, y1, x2, y2), float(faces.scores[i]),
                faces.landmarks[i].tobytes(), float(quality[i, 0]), float(quality[i, 1]), float(quality[i, 2]),
                pose, vector.tobytes(),
            ))
    conn = state.conn()
    now = time.time()
    try:
        with store.write_transaction(conn):
            if once:
                earlier = store.faces_of_image(conn, image_ids[0])
                if earlier:
                    return earlier
            before = store.generations(conn).generation
            row_ids = store.insert_faces(conn, rows, now)
            if image_size is not None:
                store.insert_image(conn, image_ids[0], *image_size)
            after = store.bump_generation(conn)
    except sqlite3.IntegrityError as e:
        if given and "face_id" in str(e):
            raise FaceIdTakenError("a face id given is already stored in this collection (nothing was stored)") from e
        raise
    state.cache.apply_added(before, after, row_ids, vectors)
    return [_record_of(row, now, image_size) for row in rows]


def _record_of(row: store.NewFace, created_at: float, image_size: tuple[int, int] | None) -> FaceRecord:
    face = Face(bbox=row.bbox, score=row.confidence,
                landmarks=np.frombuffer(row.landmarks, dtype=np.float32).reshape(5, 2).copy(),
                face_size=row.face_size, sharpness=row.sharpness, brightness=row.brightness, pose=row.pose)
    return FaceRecord(face_id=row.face_id, external_image_id=row.external_image_id, image_id=row.image_id,
                      face=face, user_id=None, created_at=datetime.fromtimestamp(created_at, tz=timezone.utc),
                      image_width=None if image_size is None else image_size[0],
                      image_height=None if image_size is None else image_size[1])


def list_faces(state: CollectionState, max_results: int, next_token: str | None, user_id: str | None,
               external_image_id: str | None) -> FacesPage:
    max_results = validation.count(max_results, "max_results", high=100_000)
    after = read_page_token(next_token, "f")
    conn = state.conn()
    with store.read_transaction(conn):
        rows = store.faces_page(conn, int(after or 0), max_results + 1, user_id, external_image_id)
    more = len(rows) > max_results
    rows = rows[:max_results]
    return FacesPage([record for _, record in rows], page_token("f", rows[-1][0]) if more else None)


def get_faces(state: CollectionState, face_ids: str | Sequence[str]) -> dict[str, FaceRecord]:
    ids = validation.face_ids(face_ids)
    conn = state.conn()
    with store.read_transaction(conn):
        return {face_id: record for face_id, (_, record) in store.faces_by_face_ids(conn, ids).items()}


def delete_faces(state: CollectionState, face_ids: str | Sequence[str], keep_user_faces: bool = False,
                 forget_in_audit: bool = True) -> DeleteFacesResult:
    """Erase faces. forget_in_audit=False only for a face that lives on elsewhere (moved to another
    shard): the searches that returned it keep naming it."""
    ids = validation.face_ids(face_ids)
    conn = state.conn()
    with store.write_transaction(conn):
        found = store.faces_by_face_ids(conn, ids)
        kept = {f: found.pop(f)[1].user_id for f in ids if keep_user_faces and f in found
                and found[f][1].user_id is not None}
        rows = [found[f][0] for f in ids if f in found]
        before = store.generations(conn).generation
        if rows:
            store.delete_rows(conn, rows)
            if forget_in_audit:
                audit.forget_faces(conn, [f for f in ids if f in found])
            after = store.bump_generation(conn, erased=True)
    if rows:
        finish_erasure(state, before, after, rows)
    return DeleteFacesResult(
        deleted_faces=[f for f in ids if f in found],
        unsuccessful_face_deletions=[
            UnsuccessfulFaceDeletion(f, ("ASSOCIATED_TO_AN_EXISTING_USER",), user_id=kept[f]) if f in kept
            else UnsuccessfulFaceDeletion(f, ("FACE_NOT_FOUND",)) for f in ids if f not in found],
    )


def finish_erasure(state: CollectionState, before: int, after: int, row_ids: Sequence[int]) -> None:
    """After a committed deletion: wipe the old page versions from the WAL, rewrite the cache."""
    conn = state.conn()
    state.cache.apply_removed(before, after, np.asarray(row_ids, dtype=np.uint64))
    state.cache.save(conn)
    deadline = time.monotonic() + state.busy_timeout_s
    while not store.checkpoint_truncate(conn):
        if time.monotonic() > deadline:
            raise ErasureIncompleteError(
                f"{len(row_ids)} faces were deleted from {state.collection_id!r}, but readers kept the "
                "write-ahead log busy: their old bytes are wiped by the next deletion or open"
            )
        time.sleep(0.05)


def every_face(list_faces: Callable[..., FacesPage], user_id: str | None, external_image_id: str | None,
               page_size: int) -> Iterator[FaceRecord]:
    """Every stored face (of a user, of an image), page after page of a collection's list_faces."""
    token: str | None = None
    while True:
        page = list_faces(page_size, token, user_id=user_id, external_image_id=external_image_id)
        yield from page.faces
        if page.next_token is None:
            return
        token = page.next_token
