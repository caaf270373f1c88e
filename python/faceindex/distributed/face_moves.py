"""Moving stored faces between the shards of a sharded collection, keeping each face whole:
its face id, embedding, detection, image (and the image's size), external id and creation time.

AssociateFaces makes a face the user's, and a user's faces live on the user's shard (so that
user search merges exactly); a face indexed elsewhere is moved there first. The move copies the
face to the target in one durable transaction, then erases it from the source: a crash between
the two leaves the face on both shards (never on none), and the move run again finds it on the
target already and only finishes the erasure. Searches merge by face id meanwhile, so the copy
is never answered twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from faceindex.collection import Collection, score_norm, score_norm_store, store
from faceindex.collection.results import FaceRecord
from faceindex.types import FloatArray


@dataclass(frozen=True)
class MovedFace:
    record: FaceRecord
    embedding: FloatArray  # the stored unit vector
    line: tuple[float, float] | None = None  # its AS-norm cohort statistics (mean, spread), kept as they were


def export_faces(collection: Collection, face_ids: Sequence[str]) -> list[MovedFace]:
    """The stored faces among face_ids that belong to no user (a user's face stays with its user)."""
    state = collection._open()
    conn = state.conn()
    with store.read_transaction(conn):
        found = store.faces_by_face_ids(conn, list(face_ids))
        free = [(row, record) for row, record in found.values() if record.user_id is None]
        if not free:
            return []
        vectors = store.embeddings_of(conn, [row for row, _ in free], state.pack.embedding_size)
        lines = score_norm_store.lines_of(conn, [row for row, _ in free])
    return [MovedFace(record, vectors[i].copy(), lines.get(row)) for i, (row, record) in enumerate(free)]


def import_faces(collection: Collection, faces: Sequence[MovedFace]) -> list[str]:
    """Store these faces as they were (same ids) in one durable transaction; those already here
    (a move run again) are left as they are. Returns the face ids stored by this call."""
    state = collection._open()
    conn = state.conn()
    with store.write_transaction(conn):
        present = store.faces_by_face_ids(conn, [f.record.face_id for f in faces])
        new = [f for f in faces if f.record.face_id not in present]
        if not new:
            return []
        before = store.generations(conn).generation
        row_ids = []
        for moved in new:
            r, face = moved.record, moved.record.face
            row = store.NewFace(r.face_id, r.image_id, r.external_image_id, face.bbox, face.score,
                                np.asarray(face.landmarks, dtype=np.float32).tobytes(), face.face_size,
                                face.sharpness, face.brightness, face.pose,
                                np.asarray(moved.embedding, dtype=np.float32).tobytes())
            row_ids.append(store.insert_faces(conn, [row], r.created_at.timestamp()))
            if r.image_width is not None and r.image_height is not None and not store.has_image_size(conn, r.image_id):
                store.insert_image(conn, r.image_id, r.image_width, r.image_height)
        # issue 29: their AS-norm lines as the source had them (the cohort is the same on every shard), else
        # computed against this shard's cohort
        rows = np.concatenate(row_ids)
        carried = np.array([f.line is not None for f in new])
        if carried.any():
            kept = [f.line for f in new if f.line is not None]
            score_norm_store.insert_lines(conn, rows[carried], [m for m, _ in kept], [d for _, d in kept])
        if (~carried).any():
            score_norm.on_insert(state.score_norm, conn, rows[~carried],
                                 np.stack([np.asarray(f.embedding, dtype=np.float32)
                                           for f, c in zip(new, carried) if not c]))
        after = store.bump_generation(conn)
    state.cache.apply_added(before, after, np.concatenate(row_ids),
                            np.stack([np.asarray(f.embedding, dtype=np.float32) for f in new]))
    return [f.record.face_id for f in new]


def drop_moved_faces(collection: Collection, face_ids: Sequence[str]) -> list[str]:
    """Erase faces from the shard they were moved from (a user's face is kept, should one have been
    associated meanwhile); the audit entries here that returned them keep naming them, since the
    faces live on. Returns the face ids erased."""
    from faceindex.collection.faces import delete_faces

    return delete_faces(collection._open(), face_ids, keep_user_faces=True, forget_in_audit=False).deleted_faces
