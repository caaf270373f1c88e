"""Searching, listing and deleting faces: ranking, thresholds, paging, reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceindex import Collection, Collections, FaceNotFoundError
from collection_helpers import SYNTHETIC, face, near, unit_vectors


@pytest.fixture
def collection(tmp_path: Path) -> Collection:
    c = Collections(tmp_path).create_collection("c", SYNTHETIC)
    yield c
    c.close()


def test_matches_come_best_first_with_exact_similarities_and_the_threshold(collection: Collection) -> None:
    probe = unit_vectors(1, 0)[0]
    similarities = [0.95, 0.61, 0.8, 0.59, 0.7]
    gallery = np.array([near(probe, s, seed=i + 1) for i, s in enumerate(similarities)])
    noise = unit_vectors(500, 99)
    records = collection.index_embeddings(gallery, pack=SYNTHETIC, external_image_id=[f"g{i}" for i in range(5)])
    collection.index_embeddings(noise, pack=SYNTHETIC)
    result = collection.search_faces_by_embedding(probe, pack=SYNTHETIC)
    assert result.threshold == SYNTHETIC.default_threshold == 0.6
    assert (result.pack.name, result.pack.version) == ("synthetic", "1")
    assert [m.face.external_image_id for m in result.face_matches] == ["g0", "g2", "g4", "g1"]
    assert [m.similarity for m in result.face_matches] == pytest.approx([0.95, 0.8, 0.7, 0.61], abs=1e-5)
    assert result.face_matches[0].face == records[0]
    lower = collection.search_faces_by_embedding(probe, pack=SYNTHETIC, threshold=0.5, max_faces=10)
    assert [m.face.external_image_id for m in lower.face_matches] == ["g0", "g2", "g4", "g1", "g3"]
    assert lower.threshold == 0.5
    two = collection.search_faces_by_embedding(probe, pack=SYNTHETIC, threshold=0.0, max_faces=2)
    assert [m.face.external_image_id for m in two.face_matches] == ["g0", "g2"]


def test_search_faces_leaves_out_the_face_searched_with(collection: Collection) -> None:
    anchor = unit_vectors(1, 1)[0]
    same = near(anchor, 0.9, seed=2)
    records = collection.index_embeddings(np.array([anchor, same]), pack=SYNTHETIC)
    collection.index_embeddings(unit_vectors(100, 3), pack=SYNTHETIC)
    result = collection.search_faces(records[0].face_id)
    assert result.searched_face_id == records[0].face_id
    assert [m.face.face_id for m in result.face_matches] == [records[1].face_id]
    assert result.face_matches[0].similarity == pytest.approx(0.9, abs=1e-5)


def test_an_empty_collection_finds_nothing(collection: Collection) -> None:
    assert collection.search_faces_by_embedding(unit_vectors(1, 4)[0], pack=SYNTHETIC).face_matches == []
    assert collection.list_faces().faces == []
    assert list(collection) == []


def test_unknown_face_ids_and_bad_arguments_are_clear_errors(collection: Collection) -> None:
    collection.index_embeddings(unit_vectors(3, 5), pack=SYNTHETIC)
    with pytest.raises(FaceNotFoundError, match="face 'no-such-face' is not in collection 'c'"):
        collection.search_faces("no-such-face")
    with pytest.raises(TypeError, match="face_id"):
        collection.search_faces(None)  # type: ignore[arg-type]
    query = unit_vectors(1, 6)[0]
    for bad in (0, 4097, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_faces must be an int from 1 to 4096"):
            collection.search_faces_by_embedding(query, pack=SYNTHETIC, max_faces=bad)  # type: ignore[arg-type]
    for bad_threshold in (1.5, float("nan"), -2):
        with pytest.raises(ValueError, match="threshold is a cosine similarity"):
            collection.search_faces_by_embedding(query, pack=SYNTHETIC, threshold=bad_threshold)
    with pytest.raises(ValueError, match="not one this listing returned"):
        collection.list_faces(next_token="garbage")
    with pytest.raises(TypeError, match="face ids must be non-empty strings"):
        collection.delete_faces([1, 2])  # type: ignore[list-item]


def test_list_faces_pages_through_everything_in_index_order(collection: Collection) -> None:
    records = collection.index_embeddings(unit_vectors(25, 7), pack=SYNTHETIC,
                                          external_image_id=[f"img{i % 3}" for i in range(25)])
    seen, token, pages = [], None, 0
    while True:
        page = collection.list_faces(max_results=10, next_token=token)
        seen += page.faces
        pages += 1
        token = page.next_token
        if token is None:
            break
    assert pages == 3
    assert [r.face_id for r in seen] == [r.face_id for r in records]
    assert [r.face_id for r in collection] == [r.face_id for r in records]
    assert len(collection) == 25
    img1 = collection.list_faces(external_image_id="img1").faces
    assert [r.face_id for r in img1] == [r.face_id for r in records[1::3]]
    assert collection.list_faces(max_results=25).next_token is None


def test_face_records_keep_the_detection_metadata(collection: Collection) -> None:
    detected = face(10, 20, 64, score=0.93, sharpness=55.0, brightness=0.42, pose=(12.0, -5.0, 3.0))
    (record,) = collection.index_embeddings(unit_vectors(1, 8), pack=SYNTHETIC, faces=[detected],
                                            external_image_id="photo.jpg", image_id="image-1")
    (stored,) = collection.list_faces().faces
    assert stored == record
    assert stored.face.bbox == (10.0, 20.0, 74.0, 84.0)
    assert stored.face.score == pytest.approx(0.93)
    np.testing.assert_allclose(stored.face.landmarks, detected.landmarks)
    assert stored.face.face_size == 64 and stored.face.sharpness == pytest.approx(55.0)
    assert stored.face.pose == pytest.approx((12.0, -5.0, 3.0))
    assert (stored.external_image_id, stored.image_id, stored.user_id) == ("photo.jpg", "image-1", None)
    assert collection.get_faces([record.face_id, "nope"]) == {record.face_id: record}


def test_delete_faces_reports_deleted_and_not_found(collection: Collection) -> None:
    records = collection.index_embeddings(unit_vectors(4, 9), pack=SYNTHETIC)
    result = collection.delete_faces([records[1].face_id, "missing", records[3].face_id, records[1].face_id])
    assert result.deleted_faces == [records[1].face_id, records[3].face_id]
    assert [(u.face_id, u.reasons) for u in result.unsuccessful_face_deletions] == [("missing", ("FACE_NOT_FOUND",))]
    assert [r.face_id for r in collection] == [records[0].face_id, records[2].face_id]
    hit = collection.search_faces_by_embedding(unit_vectors(4, 9)[1], pack=SYNTHETIC, threshold=-1).best
    assert hit is not None and hit.face.face_id not in result.deleted_faces
    again = collection.delete_faces(records[1].face_id)
    assert again.deleted_faces == [] and again.unsuccessful_face_deletions[0].reasons == ("FACE_NOT_FOUND",)


def test_face_ids_are_unique_time_ordered_uuids(collection: Collection) -> None:
    import uuid

    records = collection.index_embeddings(unit_vectors(2000, 10), pack=SYNTHETIC)
    ids = [r.face_id for r in records]
    assert len(set(ids)) == 2000
    assert all(uuid.UUID(i).version == 7 for i in ids)
    # Millisecond timestamps first: ids sort by creation time across calls.
    later = collection.index_embeddings(unit_vectors(1, 11), pack=SYNTHETIC)[0].face_id
    assert later[:13] >= max(ids)[:13]


def test_a_face_exactly_at_the_threshold_is_a_match(collection: Collection) -> None:
    """Matches are the faces scoring at or above the threshold: one scoring exactly the threshold
    is returned, and a hair above it is a near miss (the nearest face, not a match)."""
    probe = unit_vectors(1, 12)[0]
    (record,) = collection.index_embeddings(np.array([near(probe, 0.7, seed=13)]), pack=SYNTHETIC)
    collection.index_embeddings(unit_vectors(50, 14), pack=SYNTHETIC)
    (score,) = [m.similarity for m in collection.search_faces_by_embedding(probe, pack=SYNTHETIC, threshold=-1,
                                                                            max_faces=1).face_matches]
    assert score == pytest.approx(0.7, abs=1e-6)
    at = collection.search_faces_by_embedding(probe, pack=SYNTHETIC, threshold=score)
    assert [m.face.face_id for m in at.face_matches] == [record.face_id] and at.face_matches[0].similarity == score
    above = collection.search_faces_by_embedding(probe, pack=SYNTHETIC, threshold=float(np.nextafter(score, 2.0)))
    assert above.face_matches == [] and above.nearest is not None and above.nearest.face.face_id == record.face_id


def test_an_engine_giving_a_zero_embedding_is_named_not_searched(tmp_path: Path) -> None:
    from collection_helpers import DIM, ScriptedEngine, scene_image

    engine = ScriptedEngine({1: [(face(0, 0, 100), np.zeros(DIM, np.float32))]})
    with Collections(tmp_path).create_collection("c", engine=engine) as c:
        c.index_embeddings(unit_vectors(1, 1), pack=SYNTHETIC)
        with pytest.raises(ValueError, match="^engine embeddings row 0 is all zeros$"):
            c.search_faces_by_image(scene_image(1))
        with pytest.raises(ValueError, match="^engine embeddings row 0 is all zeros$"):
            c.search_users_by_image(scene_image(1))


def test_a_face_searched_alone_has_no_match_and_no_nearest_face(tmp_path: Path) -> None:
    """The face searched with is left out: in a collection of that face only, nothing is near it."""
    with Collections(tmp_path).create_collection("c", SYNTHETIC) as c:
        (only,) = c.index_embeddings(unit_vectors(1, 80), pack=SYNTHETIC)
        result = c.search_faces(only.face_id, threshold=-1.0)
        assert result.face_matches == [] and result.nearest is None
        (other,) = c.index_embeddings(unit_vectors(1, 81), pack=SYNTHETIC)
        near_miss = c.search_faces(only.face_id, threshold=1.0)
        assert near_miss.face_matches == [] and near_miss.nearest is not None
        assert near_miss.nearest.face.face_id == other.face_id
