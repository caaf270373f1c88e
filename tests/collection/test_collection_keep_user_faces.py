"""delete_faces(keep_user_faces=True): Rekognition's rule that a user's face is not deleted, decided
in the deletion's own transaction (the endpoint's DeleteFaces)."""

from __future__ import annotations

from pathlib import Path

from faceindex import Collections
from collection_helpers import SYNTHETIC, unit_vectors


def test_a_users_face_is_kept_and_said_why(tmp_path: Path) -> None:
    with Collections(tmp_path).create_collection("c", SYNTHETIC) as c:
        owned, free, other = (r.face_id for r in c.index_embeddings(unit_vectors(3, 5), pack=SYNTHETIC))
        c.create_user("ann")
        c.associate_faces("ann", owned)
        unknown = "00000000-0000-4000-8000-000000000000"
        result = c.delete_faces([owned, free, unknown], keep_user_faces=True)
        assert result.deleted_faces == [free]
        assert [(u.face_id, u.reasons, u.user_id) for u in result.unsuccessful_face_deletions] == [
            (owned, ("ASSOCIATED_TO_AN_EXISTING_USER",), "ann"), (unknown, ("FACE_NOT_FOUND",), None)]
        assert sorted(f.face_id for f in c.iter_faces()) == sorted([owned, other])
        # Without the rule (the library's default), a user's face is erased like any other.
        assert c.delete_faces(owned).deleted_faces == [owned]
        assert c.list_users().users[0].face_count == 0
