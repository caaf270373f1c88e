"""Users: faces grouped under your ids, matched through all of their faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceindex import Collection, Collections, FaceNotFoundError, UserExistsError, UserNotFoundError
from collection_helpers import SYNTHETIC, near, unit_vectors


@pytest.fixture
def collection(tmp_path: Path) -> Collection:
    c = Collections(tmp_path).create_collection("c", SYNTHETIC)
    yield c
    c.close()


def people(collection: Collection, n_people: int, faces_each: int, seed: int) -> dict[str, list[str]]:
    """n_people users, each with faces_each faces near a per-person centre."""
    centres = unit_vectors(n_people, seed)
    owned = {}
    for p, centre in enumerate(centres):
        user = f"person-{p}"
        collection.create_user(user)
        vectors = np.array([near(centre, 0.85, seed=seed * 1000 + p * 10 + i) for i in range(faces_each)])
        records = collection.index_embeddings(vectors, pack=SYNTHETIC, external_image_id=user)
        result = collection.associate_faces(user, [r.face_id for r in records], user_match_threshold=0.5)
        assert result.unsuccessful_face_associations == []
        owned[user] = [r.face_id for r in records]
    return owned


def test_create_list_and_delete_users(collection: Collection) -> None:
    for name in ["carol", "alice", "bob"]:
        collection.create_user(name)
    with pytest.raises(UserExistsError, match="'alice' already exists"):
        collection.create_user("alice")
    with pytest.raises(ValueError, match="user id must be"):
        collection.create_user("has space")
    page = collection.list_users(max_results=2)
    assert [u.user_id for u in page.users] == ["alice", "bob"]
    rest = collection.list_users(next_token=page.next_token)
    assert [u.user_id for u in rest.users] == ["carol"] and rest.next_token is None
    assert collection.delete_user("bob").user_id == "bob"
    assert [u.user_id for u in collection.list_users().users] == ["alice", "carol"]
    with pytest.raises(UserNotFoundError, match="'bob' is not in collection 'c'"):
        collection.delete_user("bob")


def test_associate_and_disassociate_report_every_face(collection: Collection) -> None:
    centre = unit_vectors(1, 1)[0]
    mine = collection.index_embeddings(np.array([near(centre, 0.9, seed=s) for s in (2, 3)]), pack=SYNTHETIC)
    stranger = collection.index_embeddings(unit_vectors(1, 4), pack=SYNTHETIC)[0]
    other = collection.index_embeddings(np.array([near(centre, 0.9, seed=5)]), pack=SYNTHETIC)[0]
    collection.create_user("me")
    collection.create_user("you")
    first = collection.associate_faces("me", [mine[0].face_id])
    assert first.associated_faces == [mine[0].face_id] and first.threshold == SYNTHETIC.default_threshold
    assert collection.associate_faces("you", other.face_id).associated_faces == [other.face_id]
    result = collection.associate_faces(
        "me", [mine[1].face_id, stranger.face_id, other.face_id, "ghost", mine[0].face_id])
    assert result.associated_faces == [mine[1].face_id, mine[0].face_id]
    reasons = {u.face_id: u for u in result.unsuccessful_face_associations}
    assert reasons[stranger.face_id].reasons == ("LOW_MATCH_CONFIDENCE",)
    assert reasons[stranger.face_id].similarity is not None and reasons[stranger.face_id].similarity < 0.6
    assert reasons[other.face_id].reasons == ("ASSOCIATED_TO_A_DIFFERENT_USER",)
    assert reasons[other.face_id].user_id == "you"
    assert reasons["ghost"].reasons == ("FACE_NOT_FOUND",)
    assert {r.face_id for r in collection.list_faces(user_id="me").faces} == {mine[0].face_id, mine[1].face_id}
    assert collection.list_users().users[0].face_count == 2
    # A low threshold lets the stranger in.
    assert collection.associate_faces("me", stranger.face_id, user_match_threshold=-1).associated_faces == [
        stranger.face_id]
    gone = collection.disassociate_faces("me", [stranger.face_id, other.face_id, "ghost"])
    assert gone.user_id == "me" and gone.disassociated_faces == [stranger.face_id]
    assert {u.face_id: (u.reasons, u.user_id) for u in gone.unsuccessful_face_disassociations} == {
        other.face_id: (("ASSOCIATED_TO_A_DIFFERENT_USER",), "you"), "ghost": (("FACE_NOT_FOUND",), None)}
    assert collection.get_faces(stranger.face_id)[stranger.face_id].user_id is None
    with pytest.raises(UserNotFoundError):
        collection.associate_faces("nobody", [mine[0].face_id])


def test_search_users_matches_through_all_of_a_users_faces(collection: Collection) -> None:
    owned = people(collection, n_people=30, faces_each=4, seed=10)
    collection.index_embeddings(unit_vectors(300, 11), pack=SYNTHETIC)  # faces of nobody
    # A probe close to one face of person-7 only: the user is found through that face.
    target = collection.get_faces(owned["person-7"][2])[owned["person-7"][2]]
    probe_vector = np.frombuffer(  # the stored vector of that face
        collection._state.conn().execute("SELECT embedding FROM faces WHERE face_id = ?",
                                         (target.face_id,)).fetchone()[0], dtype=np.float32)
    result = collection.search_users_by_embedding(probe_vector, pack=SYNTHETIC)
    assert result.best is not None
    assert result.best.user.user_id == "person-7" and result.best.face.face_id == target.face_id
    assert result.best.similarity == pytest.approx(1.0, abs=1e-5)
    assert result.best.user.face_count == 4
    by_face = collection.search_users(face_id=owned["person-3"][0])
    assert by_face.best is not None and by_face.best.user.user_id == "person-3"  # through its other faces
    assert by_face.searched_face_id == owned["person-3"][0]
    by_user = collection.search_users(user_id="person-3", threshold=-1, max_users=5)
    assert by_user.searched_user_id == "person-3"
    assert "person-3" not in [m.user.user_id for m in by_user.user_matches]
    assert len(by_user.user_matches) == 5
    similarities = [m.similarity for m in by_user.user_matches]
    assert similarities == sorted(similarities, reverse=True)
    with pytest.raises(ValueError, match="exactly one of"):
        collection.search_users()
    with pytest.raises(UserNotFoundError):
        collection.search_users(user_id="nobody")


def test_user_ranking_is_exact_even_past_the_first_candidates(collection: Collection) -> None:
    """Many unowned faces closer to the probe than any user's face: the search must deepen."""
    probe = unit_vectors(1, 20)[0]
    collection.index_embeddings(np.array([near(probe, 0.9, seed=100 + i) for i in range(500)]), pack=SYNTHETIC)
    expected = {}
    for u, similarity in enumerate([0.5, 0.7, 0.3, 0.6]):
        user = f"u{u}"
        collection.create_user(user)
        records = collection.index_embeddings(
            np.array([near(probe, similarity, seed=200 + u), near(probe, similarity - 0.2, seed=300 + u)]),
            pack=SYNTHETIC)
        collection.associate_faces(user, [r.face_id for r in records], user_match_threshold=-1)
        expected[user] = similarity
    result = collection.search_users_by_embedding(probe, pack=SYNTHETIC, threshold=0.0, max_users=3)
    assert [m.user.user_id for m in result.user_matches] == ["u1", "u3", "u0"]
    assert [m.similarity for m in result.user_matches] == pytest.approx([0.7, 0.6, 0.5], abs=1e-5)
    at_threshold = collection.search_users_by_embedding(probe, pack=SYNTHETIC, threshold=0.55)
    assert [m.user.user_id for m in at_threshold.user_matches] == ["u1", "u3"]


def test_delete_user_keeps_or_erases_the_faces(collection: Collection) -> None:
    owned = people(collection, n_people=2, faces_each=3, seed=30)
    kept = collection.delete_user("person-0", delete_faces=False)
    assert sorted(kept.disassociated_faces) == sorted(owned["person-0"]) and kept.deleted_faces == []
    assert all(r.user_id is None for r in collection.get_faces(owned["person-0"]).values())
    erased = collection.delete_user("person-1")
    assert sorted(erased.deleted_faces) == sorted(owned["person-1"]) and erased.disassociated_faces == []
    assert collection.get_faces(owned["person-1"]) == {}
    assert len(collection) == 3


def test_a_user_whose_best_face_scores_exactly_the_threshold_is_a_match(collection: Collection) -> None:
    probe = unit_vectors(1, 40)[0]
    collection.create_user("edge")
    records = collection.index_embeddings(np.array([near(probe, 0.65, seed=41), near(probe, 0.2, seed=42)]),
                                          pack=SYNTHETIC)
    collection.associate_faces("edge", [r.face_id for r in records], user_match_threshold=-1)
    collection.index_embeddings(unit_vectors(50, 43), pack=SYNTHETIC)
    (score,) = [m.similarity for m in collection.search_users_by_embedding(probe, pack=SYNTHETIC,
                                                                           threshold=-1, max_users=1).user_matches]
    assert score == pytest.approx(0.65, abs=1e-6)
    at = collection.search_users_by_embedding(probe, pack=SYNTHETIC, threshold=score)
    assert [(m.user.user_id, m.face.face_id, m.similarity) for m in at.user_matches] == [
        ("edge", records[0].face_id, score)]
    above = collection.search_users_by_embedding(probe, pack=SYNTHETIC, threshold=float(np.nextafter(score, 2.0)))
    assert above.user_matches == []


def test_user_ranking_is_exact_when_a_weaker_face_is_found_first_and_the_better_one_lies_deeper(
        collection: Collection) -> None:
    """A search by user searches with each of its faces. User "a" is first seen through a weak face
    near one query face, while its better face, near the other query face, lies below that query's
    first candidates (many faces of nobody score higher there): the search must go deeper before it
    ranks "a" below "b", whose only face scores between a's two."""
    q1, q2 = unit_vectors(2, 50)
    collection.create_user("q")
    queries = collection.index_embeddings(np.array([q1, q2]), pack=SYNTHETIC)
    collection.associate_faces("q", [r.face_id for r in queries], user_match_threshold=-1)
    collection.index_embeddings(np.array([near(q2, 0.9, seed=600 + i) for i in range(300)]), pack=SYNTHETIC)
    faces = {"a": [near(q1, 0.5, seed=51), near(q2, 0.8, seed=52)], "b": [near(q1, 0.6, seed=53)]}
    for user, vectors in faces.items():
        collection.create_user(user)
        records = collection.index_embeddings(np.array(vectors), pack=SYNTHETIC)
        collection.associate_faces(user, [r.face_id for r in records], user_match_threshold=-1)
    result = collection.search_users(user_id="q", threshold=0.0, max_users=2)
    assert [m.user.user_id for m in result.user_matches] == ["a", "b"]
    assert [m.similarity for m in result.user_matches] == pytest.approx([0.8, 0.6], abs=1e-5)


def test_list_users_pages_exactly(collection: Collection) -> None:
    names = ["u1", "u2", "u3", "u4", "u5"]
    for name in names:
        collection.create_user(name)
    seen, token = [], None
    for expected in (["u1", "u2", "u3"], ["u4", "u5"]):
        page = collection.list_users(max_results=3, next_token=token)
        assert [u.user_id for u in page.users] == expected
        seen += page.users
        token = page.next_token
    assert token is None and [u.user_id for u in seen] == names
    whole = collection.list_users(max_results=5)  # exactly the page size: no further page
    assert [u.user_id for u in whole.users] == names and whole.next_token is None
    with pytest.raises(ValueError, match="max_results must be an int from 1 to 100000"):
        collection.list_users(max_results=0)
    assert collection.list_users(max_results=100_000).next_token is None


def test_a_user_alone_in_the_collection_or_without_faces(collection: Collection) -> None:
    probe = unit_vectors(1, 60)[0]
    collection.create_user("solo")
    (record,) = collection.index_embeddings(near(probe, 0.9, seed=61)[None], pack=SYNTHETIC)
    collection.associate_faces("solo", [record.face_id])
    found = collection.search_users_by_embedding(probe, pack=SYNTHETIC)
    assert [(m.user.user_id, m.face.face_id) for m in found.user_matches] == [("solo", record.face_id)]
    collection.create_user("empty")
    assert collection.search_users(user_id="empty").user_matches == []  # no faces to search with
    with pytest.raises(FaceNotFoundError, match="face 'ghost' is not in collection 'c'"):
        collection.search_users(face_id="ghost")


def test_a_user_at_the_threshold_behind_many_equal_faces_is_found(collection: Collection) -> None:
    """300 faces of nobody, all one vector, fill the first candidates; the user's face is that vector
    too, indexed last. With the threshold exactly their score the search must still look past them."""
    probe = unit_vectors(1, 62)[0]
    same = near(probe, 0.8, seed=63)
    collection.index_embeddings(np.repeat(same[None], 300, axis=0), pack=SYNTHETIC)
    collection.create_user("last")
    (record,) = collection.index_embeddings(same[None], pack=SYNTHETIC)
    collection.associate_faces("last", [record.face_id])
    (score,) = {m.similarity for m in collection.search_faces_by_embedding(probe, pack=SYNTHETIC, threshold=-1,
                                                                           max_faces=5).face_matches}
    found = collection.search_users_by_embedding(probe, pack=SYNTHETIC, threshold=score)
    assert [(m.user.user_id, m.similarity) for m in found.user_matches] == [("last", score)]


def test_similarities_stay_within_minus_1_and_1(collection: Collection) -> None:
    """float32 dot products of unit vectors land a hair outside [-1, 1]; results report them inside:
    a face searched with itself is at most 1, with its opposite at least -1 (and a match at -1)."""
    vectors = unit_vectors(100, 64)
    collection.create_user("all")
    records = collection.index_embeddings(vectors, pack=SYNTHETIC)
    collection.associate_faces("all", [r.face_id for r in records], user_match_threshold=-1)
    for v in vectors:
        (best,) = collection.search_faces_by_embedding(v, pack=SYNTHETIC, threshold=-1.0, max_faces=1).face_matches
        assert 1.0 - 1e-6 <= best.similarity <= 1.0
        worst = collection.search_faces_by_embedding(-v, pack=SYNTHETIC, threshold=-1.0, max_faces=100).face_matches
        assert len(worst) == 100 and -1.0 <= worst[-1].similarity <= -1.0 + 1e-6  # at -1: still a match at -1
        (user,) = collection.search_users_by_embedding(v, pack=SYNTHETIC, threshold=-1.0).user_matches
        assert 1.0 - 1e-6 <= user.similarity <= 1.0


def test_a_user_at_similarity_minus_1_matches_a_threshold_of_minus_1(collection: Collection) -> None:
    """Each of 40 users holds one face; searched with a face's opposite, that user scores -1 (a float32 dot
    product can land a hair below it) and still matches a threshold of -1, as every other user does."""
    vectors = unit_vectors(40, 65)
    records = collection.index_embeddings(vectors, pack=SYNTHETIC)
    for i, record in enumerate(records):
        collection.create_user(f"u{i}")
        collection.associate_faces(f"u{i}", [record.face_id])
    for i, v in enumerate(vectors):
        found = collection.search_users_by_embedding(-v, pack=SYNTHETIC, threshold=-1.0, max_users=40).user_matches
        assert len(found) == 40 and found[-1].user.user_id == f"u{i}"
        assert -1.0 <= found[-1].similarity <= -1.0 + 1e-6


def test_users_like_a_face_are_held_to_the_threshold_and_a_bad_embedding_is_named(collection: Collection) -> None:
    probe = unit_vectors(1, 66)[0]
    (searched,) = collection.index_embeddings(probe[None], pack=SYNTHETIC)
    (close, far) = collection.index_embeddings(np.stack([near(probe, 0.8, seed=67), near(probe, 0.1, seed=68)]),
                                               pack=SYNTHETIC)
    for user, record in (("close", close), ("far", far)):
        collection.create_user(user)
        collection.associate_faces(user, [record.face_id])
    collection.index_embeddings(unit_vectors(100, 69), pack=SYNTHETIC)  # more faces than the first depth searched
    found = collection.search_users(face_id=searched.face_id, threshold=0.5).user_matches
    assert [(m.user.user_id, m.face.face_id) for m in found] == [("close", close.face_id)]
    collection.create_user("empty")
    assert collection.search_users(user_id="empty", threshold=-1.0).user_matches == []  # no faces to search with
    assert found[0].similarity == pytest.approx(0.8, abs=1e-6)
    with pytest.raises(ValueError, match="^embedding row 0 is all zeros$"):
        collection.search_users_by_embedding(np.zeros_like(probe), pack=SYNTHETIC)


def test_a_face_exactly_at_the_user_match_threshold_joins_and_a_face_already_owned_does_not_stop_the_rest(
        collection: Collection) -> None:
    centre = unit_vectors(1, 70)[0]
    first, second, third = collection.index_embeddings(
        np.stack([centre, near(centre, 0.7, seed=71), near(centre, 0.6, seed=72)]), pack=SYNTHETIC)
    collection.create_user("me")
    collection.associate_faces("me", [first.face_id])
    (refused,) = collection.associate_faces("me", [second.face_id], user_match_threshold=0.99
                                            ).unsuccessful_face_associations
    assert refused.reasons == ("LOW_MATCH_CONFIDENCE",) and refused.similarity == pytest.approx(0.7, abs=1e-6)
    # Its similarity to the user's face, exactly, as the threshold: a match.
    at = collection.associate_faces("me", [first.face_id, second.face_id, third.face_id],
                                    user_match_threshold=refused.similarity)
    assert at.associated_faces == [first.face_id, second.face_id]
    assert [(u.face_id, u.reasons) for u in at.unsuccessful_face_associations] == [
        (third.face_id, ("LOW_MATCH_CONFIDENCE",))]
    with pytest.raises(ValueError, match="^embedding row 0 is all zeros$"):
        collection.search_faces_by_embedding(np.zeros_like(centre), pack=SYNTHETIC)
