"""ShardedCollection against one Collection holding the same faces: the same matches, in the
same order, at the same threshold (chosen for the whole collection's size). The shards keep the
default i8 index cache, the one Collection an f32 one: their answers are the same to the bit."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from ray_helpers import local_ray, ray

from collection_helpers import near, unit_vectors
from faceindex import FaceEngine
from faceindex.collection import Collection, Collections, QualityFilter
from faceindex.distributed import ShardedCollection, ShardUnavailableError
from faceindex.distributed.placement import shard_of
from faceindex.distributed.shard import LEDGER_NAME
from faceindex.errors import (
    CollectionExistsError,
    CollectionFileError,
    CollectionNotFoundError,
    FaceNotFoundError,
    PackMismatchError,
    UserNotFoundError,
)
from faceindex import thresholds
from faceindex.types import Face, PackInfo

SHARDS = 3
FACES = 600


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[None]:
    with local_ray(num_cpus=2):
        yield


@pytest.fixture(scope="module")
def dlib_pack() -> PackInfo:
    # A real pack with a calibration table, so max_fpir means something; the vectors are random 128-d ones.
    return FaceEngine(pack="dlib").pack


@pytest.fixture(scope="module")
def both(ray_instance: None, dlib_pack: PackInfo, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[ShardedCollection, Collection, np.ndarray]]:
    home = tmp_path_factory.mktemp("home")
    vectors = unit_vectors(FACES, seed=1)
    # Near copies of the first queries, so that thresholds matter.
    vectors[100:110] = [near(vectors[i], 0.7 + 0.02 * i, seed=50 + i) for i in range(10)]
    names = [f"img{i:04d}" for i in range(FACES)]
    single = Collections(home, cache_dtype="f32").create_collection("single", dlib_pack)  # shards: i8 (the default)
    single.index_embeddings(vectors, pack=dlib_pack, external_image_id=names, image_id=names)
    sharded = ShardedCollection.create(home, "faces", SHARDS, dlib_pack, timeout_s=30)
    sharded.index_embeddings(vectors, pack=dlib_pack, external_image_id=names, image_id=names)
    yield sharded, single, vectors
    sharded.close()
    single.close()


def _matches(result: object) -> list[tuple[str | None, float]]:
    return [(m.face.external_image_id, m.similarity) for m in result.face_matches]  # type: ignore[attr-defined]


def test_faces_are_spread_by_a_stable_hash(both: tuple[ShardedCollection, Collection, np.ndarray]) -> None:
    sharded, _, _ = both
    assert len(sharded) == FACES
    expected = np.bincount([shard_of(f"image:img{i:04d}", SHARDS) for i in range(FACES)], minlength=SHARDS)
    from faceindex.collection import Collections as Home

    for shard in range(SHARDS):
        with Home(sharded.shard_directory(shard)).collection("faces") as on_disk:
            assert len(on_disk) == expected[shard]
            assert all(shard_of(f"image:{r.image_id}", SHARDS) == shard for r in on_disk.iter_faces())
    assert expected.min() > FACES / SHARDS / 2


@pytest.mark.parametrize("k", [1, 5, 40])
def test_top_k_is_exactly_the_single_collections(both: tuple[ShardedCollection, Collection, np.ndarray],
                                                 dlib_pack: PackInfo, k: int) -> None:
    sharded, single, vectors = both
    for q in [0, 3, 7, 250]:
        query = vectors[q] + 0.01 * unit_vectors(1, seed=q)[0]
        expected = single.search_faces_by_embedding(query, pack=dlib_pack, max_faces=k, threshold=-1.0)
        got = sharded.search_faces_by_embedding(query, pack=dlib_pack, max_faces=k, threshold=-1.0)
        assert len(got.face_matches) == k
        assert _matches(got) == _matches(expected)
        assert got.partial is False and got.missing_shards == ()


def test_fpir_threshold_is_chosen_for_the_whole_collection(both: tuple[ShardedCollection, Collection, np.ndarray],
                                                           dlib_pack: PackInfo) -> None:
    sharded, single, vectors = both
    for q in range(10):
        expected = single.search_faces_by_embedding(vectors[q], pack=dlib_pack, max_faces=10, max_fpir=0.01)
        got = sharded.search_faces_by_embedding(vectors[q], pack=dlib_pack, max_faces=10, max_fpir=0.01)
        assert got.threshold_choice == expected.threshold_choice
        assert _matches(got) == _matches(expected)
        assert got.searched_faces == FACES
        # Against references of neither collection: the FPIR is 1 - (1 - FMR)^N over all N faces, and
        # the matches are the stored vectors at or above the threshold, found by brute force.
        choice = got.threshold_choice
        assert choice.gallery_size == FACES and choice.fmr is not None and choice.fpir is not None
        assert choice.fpir.value == pytest.approx(1 - (1 - choice.fmr.value) ** FACES, rel=1e-9)
        scores = vectors.astype(np.float64) @ vectors[q].astype(np.float64)
        above = sorted((i for i in range(FACES) if scores[i] >= got.threshold), key=lambda i: -scores[i])[:10]
        assert [name for name, _ in _matches(got)] == [f"img{i:04d}" for i in above]
        assert [s for _, s in _matches(got)] == pytest.approx([scores[i] for i in above], abs=1e-5)
    one_shard = thresholds.for_search(dlib_pack, FACES // SHARDS, max_fpir=0.01)
    assert got.threshold != one_shard.value  # a shard's own size would have chosen another threshold


def test_search_by_stored_face_leaves_it_out(both: tuple[ShardedCollection, Collection, np.ndarray]) -> None:
    sharded, single, _ = both
    face_id = next(r.face_id for r in sharded_faces(sharded) if r.external_image_id == "img0003")
    single_id = next(r.face_id for r in single.iter_faces(external_image_id="img0003"))
    got = sharded.search_faces(face_id, max_faces=8, threshold=-1.0)
    expected = single.search_faces(single_id, max_faces=8, threshold=-1.0)
    assert _matches(got) == _matches(expected) and "img0003" not in [e for e, _ in _matches(got)]
    with pytest.raises(FaceNotFoundError):
        sharded.search_faces("no-such-face")


def sharded_faces(sharded: ShardedCollection) -> list:  # type: ignore[type-arg]
    from faceindex.collection import Collections as Home

    found = []
    for shard in range(sharded.shards):
        with Home(sharded.shard_directory(shard)).collection(sharded.collection_id) as on_disk:
            found += list(on_disk.iter_faces())
    return found


def test_user_search_is_exact(ray_instance: None, dlib_pack: PackInfo, tmp_path: Path) -> None:
    vectors = unit_vectors(120, seed=9)
    users = [f"user{u}" for u in range(12)]
    single = Collections(tmp_path, cache_dtype="f32").create_collection("single", dlib_pack)
    with ShardedCollection.create(tmp_path, "people", SHARDS, dlib_pack) as sharded:
        for u, user in enumerate(users):
            rows = vectors[u * 10:(u + 1) * 10]
            sharded.create_user(user)
            sharded.index_embeddings(rows, pack=dlib_pack, user_id=user)
            single.create_user(user)
            ids = [r.face_id for r in single.index_embeddings(rows, pack=dlib_pack)]
            single.associate_faces(user, ids, user_match_threshold=-1.0)
        assert {shard_of(f"user:{u}", SHARDS) for u in users} == set(range(SHARDS))  # users on every shard
        for q in range(5):
            query = near(vectors[q * 13], 0.8, seed=q)
            got = sharded.search_users_by_embedding(query, pack=dlib_pack, max_users=4, threshold=-1.0)
            expected = single.search_users_by_embedding(query, pack=dlib_pack, max_users=4, threshold=-1.0)
            assert [(m.user.user_id, m.similarity) for m in got.user_matches] == \
                [(m.user.user_id, m.similarity) for m in expected.user_matches]
        got = sharded.search_users(user_id="user3", max_users=5, threshold=-1.0)
        expected = single.search_users(user_id="user3", max_users=5, threshold=-1.0)
        assert [(m.user.user_id, m.similarity) for m in got.user_matches] == \
            [(m.user.user_id, m.similarity) for m in expected.user_matches]
        with pytest.raises(UserNotFoundError):
            sharded.index_embeddings(vectors[:1], pack=dlib_pack, user_id="nobody")
        assert sharded.user_ids() == sorted(users)
        kept = sharded.delete_user("user3", delete_faces=False)
        assert len(kept.disassociated_faces) == 10 and kept.deleted_faces == []
        erased = sharded.delete_user("user5")
        assert len(erased.deleted_faces) == 10 and len(sharded) == 110
        assert sharded.user_ids() == sorted(set(users) - {"user3", "user5"})
        with pytest.raises(UserNotFoundError):
            sharded.delete_user("user3")
        faces_of_user7 = [r.face_id for r in sharded_faces(sharded) if r.user_id == "user7"]
        undone = sharded.disassociate_faces("user7", faces_of_user7[:4])
        assert sorted(undone.disassociated_faces) == sorted(faces_of_user7[:4])
        assert len([r for r in sharded_faces(sharded) if r.user_id == "user7"]) == 6
    single.close()


def test_faces_can_be_read_and_erased(ray_instance: None, dlib_pack: PackInfo, tmp_path: Path) -> None:
    with ShardedCollection.create(tmp_path, "erase", 2, dlib_pack) as sharded:
        records = sharded.index_embeddings(unit_vectors(20, seed=3), pack=dlib_pack,
                                           image_id=[f"i{i}" for i in range(20)])
        ids = [r.face_id for r in records]
        assert list(sharded.get_faces(ids)) == ids
        result = sharded.delete_faces(ids[:5] + ["missing"])
        assert result.deleted_faces == ids[:5]
        assert [u.face_id for u in result.unsuccessful_face_deletions] == ["missing"]
        assert len(sharded) == 15 and list(sharded.get_faces(ids)) == ids[5:]


def test_bad_input_is_refused_clearly(ray_instance: None, dlib_pack: PackInfo, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shards"):
        ShardedCollection.create(tmp_path, "bad", 0, dlib_pack)
    with ShardedCollection.create(tmp_path, "twice", 2, dlib_pack) as sharded:
        with pytest.raises(CollectionExistsError):
            ShardedCollection.create(tmp_path, "twice", 2, dlib_pack)
        with pytest.raises(PackMismatchError):
            sharded.index_embeddings(unit_vectors(1, seed=0), pack=("other", "1"))
        with pytest.raises(ValueError, match="shape"):
            sharded.index_embeddings(np.ones((1, 7)), pack=dlib_pack)
        with pytest.raises(ValueError, match="at most one"):
            sharded.search_faces_by_embedding(unit_vectors(1, seed=0)[0], pack=dlib_pack, threshold=0.5, max_fpir=0.1)
        sharded.timeout_s = 0.0
        with pytest.raises(ShardUnavailableError, match="did not answer within 0.0 s"):
            len(sharded)
        sharded.timeout_s = 30.0
    with pytest.raises(CollectionNotFoundError):
        ShardedCollection(tmp_path, "never-made")
    import shutil

    shutil.rmtree(tmp_path / "sharded" / "twice" / "shard-001")
    with pytest.raises(CollectionFileError, match=r"shard\(s\) \[1\]"):
        ShardedCollection(tmp_path, "twice")


@pytest.mark.parametrize("dtype", ["f32", "i8"])
def test_sharded_flat_index_is_exactly_one_flat_index(ray_instance: None, dtype: str) -> None:
    from faceindex.distributed.sharded_index import ShardedFlatIndex
    from faceindex.flat_index import FlatIndex

    vectors = unit_vectors(3000, seed=11, dim=64)
    ids = np.arange(10, 3010, dtype=np.uint64)
    single = FlatIndex(64, "cosine", dtype)  # type: ignore[arg-type]
    single.add(ids, vectors)
    sharded = ShardedFlatIndex(4, 64, "cosine", dtype)  # type: ignore[arg-type]
    try:
        sharded.add(ids, vectors)
        assert len(sharded) == 3000
        queries = unit_vectors(7, seed=12, dim=64)
        for k in (1, 10, 100):
            got_ids, got_scores = sharded.search(queries, k)
            want_ids, want_scores = single.search(queries, k)
            np.testing.assert_array_equal(got_ids, want_ids)
            np.testing.assert_array_equal(got_scores, want_scores)
        one_id, _ = sharded.search(queries[0], 5000)  # more than stored: padded as FlatIndex pads
        np.testing.assert_array_equal(one_id, single.search(queries[0], 5000)[0])
    finally:
        sharded.close()


def test_concurrent_searches_all_answer_exactly(both: tuple[ShardedCollection, Collection, np.ndarray],
                                                dlib_pack: PackInfo) -> None:
    from concurrent.futures import ThreadPoolExecutor

    sharded, single, vectors = both
    expected = [_matches(single.search_faces_by_embedding(vectors[q], pack=dlib_pack, max_faces=5, threshold=-1.0))
                for q in range(24)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda q: _matches(sharded.search_faces_by_embedding(
            vectors[q], pack=dlib_pack, max_faces=5, threshold=-1.0)), range(24)))
    assert got == expected


def test_an_ingestion_cut_between_store_and_ledger_stores_once(dlib_pack: PackInfo, tmp_path: Path) -> None:
    from faceindex.distributed.shard import Shard

    Collections(tmp_path).create_collection("one", dlib_pack).close()
    vectors = unit_vectors(2, seed=21)
    shard = Shard(str(tmp_path), "one")
    # What a crash leaves: the image noted pending, its faces committed, the ledger not yet told.
    with sqlite3.connect(tmp_path / LEDGER_NAME) as ledger:
        ledger.execute("INSERT INTO images VALUES ('stored-hash', 'pending'), ('lost-hash', 'pending')")
    shard.collection.index_embeddings(vectors, pack=dlib_pack, image_id="stored-hash")
    shard.close()

    restarted = Shard(str(tmp_path), "one")
    assert restarted.ingest_image("stored-hash", vectors, [], "a.jpg") == 0
    faces = [Face(bbox=(0, 0, 10, 10), score=0.9, landmarks=np.zeros((5, 2), np.float32), face_size=10.0)]
    assert restarted.ingest_image("lost-hash", vectors[:1], faces, "b.jpg") == 1  # pending, nothing stored: stored now
    assert restarted.ingest_image("lost-hash", vectors[:1], faces, "b.jpg") == 0
    assert sorted(restarted.ingested()) == ["lost-hash", "stored-hash"]
    assert len(restarted.collection) == 3
    restarted.close()


def _content(records: list) -> list[tuple[str | None, str | None, tuple[float, ...]]]:  # type: ignore[type-arg]
    """What a listing holds, face ids aside (a sharded and a plain collection give their faces their own ids)."""
    return sorted((r.external_image_id, r.user_id, r.face.bbox) for r in records)


def test_paged_listing_across_shards_holds_the_collections_faces(
        both: tuple[ShardedCollection, Collection, np.ndarray]) -> None:
    sharded, single, _ = both
    pages, token = [], None
    while True:
        page = sharded.list_faces(37, token)
        pages.append(page.faces)
        token = page.next_token
        if token is None:
            break
    assert [len(p) for p in pages] == [37] * (FACES // 37) + [FACES % 37]
    listed = [r for p in pages for r in p]
    ids = [r.face_id for r in listed]
    assert ids == sorted(ids) and len(set(ids)) == FACES  # one global order, no face twice or missed
    assert _content(listed) == _content(list(single.iter_faces()))
    assert list(sharded.get_faces(ids[:3]).values()) == listed[:3]
    for bad in ("f12", "g", "g'; DROP", 12):
        with pytest.raises(ValueError, match="next_token"):
            sharded.list_faces(10, bad)  # type: ignore[arg-type]
    described = sharded.describe_collection()
    assert (described.face_count, described.user_count, described.pack) == (FACES, 0, single.pack.ref)


def _audited(sharded: ShardedCollection, purpose: str) -> set[str]:
    """The face ids the shards' audit logs name as candidates of the searches made for `purpose`."""
    named: set[str] = set()
    for shard in range(sharded.shards):
        with Collections(sharded.shard_directory(shard)).collection(sharded.collection_id) as on_disk:
            named.update(f for e in on_disk.audit_log() if e.purpose == purpose for f in e.candidates)
    return named


def test_associate_moves_faces_to_the_users_shard(ray_instance: None, dlib_pack: PackInfo, tmp_path: Path) -> None:
    vectors = unit_vectors(40, seed=21)
    vectors[1:4] = [near(vectors[0], 0.9, seed=s) for s in range(3)]  # faces like the user's first
    names = [f"img{i:02d}" for i in range(40)]
    single = Collections(tmp_path).create_collection("single", dlib_pack)
    single_ids = dict(zip(names, (r.face_id for r in single.index_embeddings(vectors, pack=dlib_pack,
                                                                             external_image_id=names,
                                                                             image_id=names))))
    with ShardedCollection.create(tmp_path, "moves", SHARDS, dlib_pack) as sharded:
        records = sharded.index_embeddings(vectors, pack=dlib_pack, external_image_id=names, image_id=names)
        ids = {r.external_image_id: r.face_id for r in records}
        users = [f"user{u:02d}" for u in range(12)]
        for user in users:
            sharded.create_user(user)
            single.create_user(user)
        user = "user00"
        home = sharded._user_shard(user)
        other_user = next(u for u in users if sharded._user_shard(u) != home)
        sharded.associate_faces(other_user, ids["img20"], user_match_threshold=-1.0)
        single.associate_faces(other_user, single_ids["img20"], user_match_threshold=-1.0)
        matching = ["img01", "img02", "img03", "img10", "img11"]  # three like img00, two not
        assert {shard_of(f"image:{n}", SHARDS) for n in matching} - {home}  # faces from other shards
        by_name = {v: k for k, v in ids.items()} | {"no-such-face": "no-such-face"}
        single_names = {v: k for k, v in single_ids.items()} | {"no-such-face": "no-such-face"}
        # A search that returns the faces about to move: each shard's audit log names its candidates.
        sharded.search_faces_by_embedding(vectors[0], pack=dlib_pack, max_faces=5, threshold=0.8,
                                          purpose="before the move")
        audited_before = _audited(sharded, "before the move")
        assert {ids[n] for n in ["img00", "img01", "img02", "img03"]} <= audited_before
        # The first face joins without a match (the user has none); then a match at 0.8 is required.
        for group in (["img00"], matching):
            extra = ["img20"]  # other_user's: ASSOCIATED_TO_A_DIFFERENT_USER
            got = sharded.associate_faces(user, [ids[n] for n in group + extra] + ["no-such-face"],
                                          user_match_threshold=0.8, purpose="test", reference="r1")
            expected = single.associate_faces(user, [single_ids[n] for n in group + extra] + ["no-such-face"],
                                              user_match_threshold=0.8)
            assert [by_name[f] for f in got.associated_faces] == [single_names[f] for f in expected.associated_faces]
            assert [(by_name[u.face_id], u.reasons, u.user_id, u.similarity)
                    for u in got.unsuccessful_face_associations] == \
                [(single_names[u.face_id], u.reasons, u.user_id, u.similarity)
                 for u in expected.unsuccessful_face_associations]
            assert got.threshold_choice == expected.threshold_choice
        assert [by_name[f] for f in got.associated_faces] == ["img01", "img02", "img03"]
        assert {u.reasons for u in got.unsuccessful_face_associations} == {
            ("LOW_MATCH_CONFIDENCE",), ("ASSOCIATED_TO_A_DIFFERENT_USER",), ("FACE_NOT_FOUND",)}

        def whole(r: object) -> tuple:  # type: ignore[type-arg]
            return (r.face_id, r.image_id, r.external_image_id, r.created_at, r.face.bbox,  # type: ignore[attr-defined]
                    r.face.landmarks.tolist(), r.image_width)  # type: ignore[attr-defined]

        # Moved whole: the same ids and records, every face once, the user's all on its shard.
        assert [whole(r) for r in sharded.get_faces([r.face_id for r in records]).values()] == \
            [whole(r) for r in records]
        on_disk = sharded_faces(sharded)
        assert len(on_disk) == len(sharded) == 40 and len({r.face_id for r in on_disk}) == 40
        # A move is not an erasure: the searches that returned a moved face still name it.
        assert _audited(sharded, "before the move") == audited_before
        theirs = sharded.list_faces(100, user_id=user).faces
        assert _content(theirs) == _content(list(single.iter_faces(user_id=user)))
        with Collections(sharded.shard_directory(home)).collection("moves") as shard:
            assert {r.face_id for r in theirs} <= {r.face_id for r in shard.iter_faces()}
        for query in (vectors[0], near(vectors[10], 0.7, seed=5)):
            got_users = sharded.search_users_by_embedding(query, pack=dlib_pack, threshold=-1.0)
            expected_users = single.search_users_by_embedding(query, pack=dlib_pack, threshold=-1.0)
            assert [(m.user.user_id, m.similarity) for m in got_users.user_matches] == \
                [(m.user.user_id, m.similarity) for m in expected_users.user_matches]
        # A move cut after the copy (the face on both shards): never answered twice; the next associate finishes it.
        name = next(n for n in names[20:] if shard_of(f"image:{n}", SHARDS) != home and n != "img20")
        source = shard_of(f"image:{name}", SHARDS)
        exported = ray.get(sharded.actors[source].export_faces.remote([ids[name]]))
        assert ray.get(sharded.actors[home].import_faces.remote(exported)) == [ids[name]]
        assert ray.get(sharded.actors[home].import_faces.remote(exported)) == []  # once only
        found = sharded.search_faces_by_embedding(vectors[names.index(name)], pack=dlib_pack, max_faces=3,
                                                  threshold=-1.0)
        assert [m.face.face_id for m in found.face_matches].count(ids[name]) == 1
        assert [r.face_id for r in sharded.list_faces(100).faces].count(ids[name]) == 1
        sharded.associate_faces(user, ids[name], user_match_threshold=-1.0)
        assert [r.face_id for r in sharded_faces(sharded)].count(ids[name]) == 1
        # Users listed in pages, in id order, as one collection lists them.
        pages, token = [], None
        while True:
            page = sharded.list_users(5, token)
            pages.append([u.user_id for u in page.users])
            if (token := page.next_token) is None:
                break
        assert pages == [users[:5], users[5:10], users[10:]]
        with pytest.raises(UserNotFoundError):
            sharded.associate_faces("nobody", ids["img05"])
        # Kept: a user's face is not erased by delete_faces(keep_user_faces=True).
        kept = sharded.delete_faces([ids["img00"], ids["img39"]], keep_user_faces=True)
        assert kept.deleted_faces == [ids["img39"]]
        assert [(u.face_id, u.reasons, u.user_id) for u in kept.unsuccessful_face_deletions] == [
            (ids["img00"], ("ASSOCIATED_TO_AN_EXISTING_USER",), user)]
        assert sharded.describe_collection().user_count == 12
    single.close()


def test_ingested_images_keep_their_size(ray_instance: None, dlib_pack: PackInfo, tmp_path: Path) -> None:
    with ShardedCollection.create(tmp_path, "sizes", 2, dlib_pack) as sharded:
        face = Face(bbox=(10.0, 20.0, 74.0, 100.0), score=0.9, landmarks=np.zeros((5, 2), np.float32))
        stored = ray.get(sharded.actors[1].ingest_image.remote("hash-1", unit_vectors(1, seed=4), [face], "x.jpg",
                                                                (640, 480)))
        assert stored == 1
        (record,) = sharded.list_faces().faces
        assert (record.image_width, record.image_height, record.image_id) == (640, 480, "hash-1")


PAIR = "images/face_recognition/knn_examples/test/obama_and_biden.jpg"  # 3 faces for dlib


def _ids(result: object) -> list[tuple[str, str | None, tuple[float, ...]]]:
    return [(r.face_id, r.external_image_id, r.face.bbox) for r in result.face_records]  # type: ignore[attr-defined]


def test_a_write_sent_again_after_a_restart_is_stored_once(dlib_pack: PackInfo, tmp_path: Path,
                                                           data_file: Callable[[str], Path]) -> None:
    from faceindex.collection.faces import faces_to_index
    from faceindex.distributed.shard import Shard, write_image_id

    faces, embeddings, unindexed, size = faces_to_index(FaceEngine(pack="dlib"), str(data_file(PAIR)), None, "auto")
    found = (embeddings, dlib_pack, list(faces), unindexed, "pair", size, None)
    Collections(tmp_path).create_collection("one", dlib_pack).close()
    shard = Shard(str(tmp_path), "one")
    first = shard.store_faces("call-1", *found)
    assert len(first.face_records) == 3 and first.image_id == write_image_id("call-1")
    assert _ids(shard.store_faces("call-1", *found)) == _ids(first)
    shard.close()

    restarted = Shard(str(tmp_path), "one")  # its answers in memory are gone: the ledger and the faces answer
    again = restarted.store_faces("call-1", *found)
    assert _ids(again) == _ids(first) and again.unindexed_faces == first.unindexed_faces
    assert [r.image_width for r in again.face_records] == [size[0]] * 3
    assert len(restarted.collection) == 3
    other = restarted.store_faces("call-2", *found)
    assert len(restarted.collection) == 6 and not {f for f, _, _ in _ids(other)} & {f for f, _, _ in _ids(first)}
    with pytest.raises(ValueError, match="write id"):
        restarted.store_faces("", *found)
    restarted.close()


def test_an_index_faces_given_up_on_and_sent_again_is_stored_once(ray_instance: None, dlib_pack: PackInfo,
                                                                   tmp_path: Path,
                                                                   data_file: Callable[[str], Path]) -> None:
    sharded = ShardedCollection.create(tmp_path, "retried", 2, dlib_pack, timeout_s=120)
    image = str(data_file(PAIR))
    first = sharded.index_faces(image, "pair", write_id="call-1")
    assert len(first.face_records) == 3 and len(sharded) == 3
    assert _ids(sharded.index_faces(image, "pair", write_id="call-1")) == _ids(first)
    # A caller that stops waiting before the shard has stored the faces (the shard goes on), then sends
    # the same write again: one copy of the faces. The shard is held up for sure: this test holds the
    # write lock of every shard's ledger (the shard notes the write id there before storing, waiting
    # up to 30 s for the lock), and lets go once the caller has given up.
    ledgers = [sqlite3.connect(sharded.shard_directory(i) / LEDGER_NAME, isolation_level=None)
               for i in range(sharded.shards)]
    for ledger in ledgers:
        ledger.execute("BEGIN IMMEDIATE")
    sharded.timeout_s = 0.5
    try:
        with pytest.raises(ShardUnavailableError, match="write 'call-2'.*stored once"):
            sharded.index_faces(image, "pair", write_id="call-2")
        assert len(sharded) == 3  # the write waits on the ledger: nothing stored yet
    finally:
        for ledger in ledgers:
            ledger.execute("ROLLBACK")
            ledger.close()
    sharded.timeout_s = 120
    retried = sharded.index_faces(image, "pair", write_id="call-2")
    assert len(retried.face_records) == 3 and len(sharded) == 6
    assert _ids(sharded.index_faces(image, "pair", write_id="call-2")) == _ids(retried)
    assert len({f for f, _, _ in _ids(first) + _ids(retried)}) == 6
    sharded.close()


def test_embeddings_sent_again_after_their_shard_died_are_stored_once(dlib_pack: PackInfo, tmp_path: Path) -> None:
    from faceindex.collection.ids import new_face_ids
    from faceindex.distributed.shard import Shard

    Collections(tmp_path).create_collection("one", dlib_pack).close()
    vectors, ids = unit_vectors(4, seed=31), new_face_ids(4)
    write = (vectors, dlib_pack, None, ["a"] * 4, ["img-a"] * 4, None, ids)
    shard = Shard(str(tmp_path), "one")
    shard.create_user("ana")
    first = shard.index_embeddings(*write)
    assert [r.face_id for r in first] == ids
    shard.close()
    restarted = Shard(str(tmp_path), "one")  # the write is sent again to the restarted actor
    again = restarted.index_embeddings(*write)
    assert [(r.face_id, r.external_image_id) for r in again] == [(r.face_id, r.external_image_id) for r in first]
    assert len(restarted.collection) == 4
    # Sent again for a user: the faces become the user's (an associate cut short by the crash is finished).
    for_ana = restarted.index_embeddings(*write[:5], "ana", ids)
    assert {r.user_id for r in for_ana} == {"ana"} and len(restarted.collection) == 4
    with pytest.raises(ValueError, match="not a repeat"):
        restarted.index_embeddings(unit_vectors(2, seed=32), dlib_pack, None, ["b"] * 2, ["img-b"] * 2, None,
                                   [ids[0], new_face_ids(1)[0]])
    restarted.close()


GROUP = "images/insightface/t1.jpg"  # six people


def test_the_contract_answers_alike_on_both_kinds(both: tuple[ShardedCollection, Collection, np.ndarray],
                                                  data_file: Callable[[str], Path]) -> None:
    """What FaceCollection offers beyond the searches above, on a ShardedCollection and on one Collection
    holding the same faces: listings by external image id, searches by image (every face, the quality
    filter, the faces left unsearched) and one audit entry per search."""
    from faceindex.errors import FaceQualityError

    sharded, single, vectors = both

    def named(records: object) -> list[tuple[str | None, str]]:
        return sorted((r.external_image_id, r.image_id) for r in records)  # type: ignore[attr-defined]

    assert named(sharded.list_faces(10, external_image_id="img0007").faces) == \
        named(single.list_faces(10, external_image_id="img0007").faces) == [("img0007", "img0007")]
    assert named(sharded.iter_faces(external_image_id="img0123", page_size=1)) == [("img0123", "img0123")]
    assert len(list(sharded.iter_faces(page_size=250))) == FACES

    image = str(data_file(GROUP))
    got = sharded.search_faces_by_image(image, 3, -1.0, all_faces=True, purpose="contract", reference="r-image")
    expected = single.search_faces_by_image(image, 3, -1.0, all_faces=True, purpose="contract",
                                            reference="r-image")
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.searched_face is not None and e.searched_face is not None
        assert g.searched_face.bbox == e.searched_face.bbox
        assert _matches(g) == _matches(e)
    faces = len(got)
    assert faces >= 2
    largest = sharded.search_faces_by_image(image, 2, -1.0)
    assert largest.searched_face is not None and largest.searched_face.bbox == got[0].searched_face.bbox  # type: ignore[union-attr]
    assert [(u.face.bbox, u.reasons) for u in largest.unsearched_faces] == \
        [(r.searched_face.bbox, ("FACE_NOT_LARGEST",)) for r in got[1:]]  # type: ignore[union-attr]
    users = sharded.search_users_by_image(image, threshold=-1.0)
    assert users.user_matches == [] and len(users.unsearched_faces) == faces - 1
    with pytest.raises(FaceQualityError, match="LOW_SHARPNESS"):
        sharded.search_users_by_image(image, quality_filter=QualityFilter(min_sharpness=1e9))
    with pytest.raises(TypeError, match="purpose must be a string"):
        sharded.search_faces_by_embedding(vectors[0], pack=sharded.pack, purpose=7)  # type: ignore[arg-type]

    # One audit entry per search, as one Collection writes it: the whole collection's threshold and
    # the merged candidates, not one entry per shard.
    for collection in (sharded, single):
        collection.search_faces_by_embedding(vectors[100], pack=sharded.pack, max_faces=4, max_fpir=0.01,
                                             purpose="contract", reference="r-embedding")

    def logged(collection: object) -> list[tuple[object, ...]]:
        ids = {r.face_id: r.external_image_id for r in collection.iter_faces()}  # type: ignore[attr-defined]
        return [(e.operation, e.reference, e.threshold, e.chosen_by, e.gallery_size, e.candidate_count,
                 [ids[f] for f in e.candidates]) for e in collection.audit_log()  # type: ignore[attr-defined]
                if e.purpose == "contract"]

    assert logged(sharded) == logged(single)
    assert [e[:2] for e in logged(sharded)] == [("search_faces_by_image", "r-image"),
                                                ("search_faces_by_embedding", "r-embedding")]


def test_the_contract_stores_alike_on_both_kinds(ray_instance: None, dlib_pack: PackInfo, tmp_path: Path) -> None:
    """index_embeddings with the image's size and face ids of the caller's, and erasure from the audit log."""
    from faceindex.collection.ids import new_face_ids
    from faceindex.errors import FaceIdTakenError

    vectors, ids = unit_vectors(6, seed=41), new_face_ids(6)
    single = Collections(tmp_path).create_collection("single", dlib_pack)
    with ShardedCollection.create(tmp_path, "stored", SHARDS, dlib_pack) as sharded:
        for collection in (sharded, single):
            records = collection.index_embeddings(vectors, pack=dlib_pack, image_id="photo-1", image_size=(640, 480),
                                                  face_ids=ids, external_image_id="photo-1.jpg")
            assert [(r.face_id, r.image_width, r.image_height) for r in records] == [(f, 640, 480) for f in ids]
            with pytest.raises(FaceIdTakenError):
                collection.index_embeddings(vectors[:2], pack=dlib_pack, face_ids=ids[4:])
            assert len(collection) == 6
            with pytest.raises(ValueError, match="image_size is the size of the one image"):
                collection.index_embeddings(vectors[:2], pack=dlib_pack, image_id=["a", "b"], image_size=(10, 10))
            found = collection.search_faces_by_embedding(vectors[0], pack=dlib_pack, max_faces=6, threshold=-1.0,
                                                         purpose="erasure")
            assert {m.face.face_id for m in found.face_matches} == set(ids)
            collection.delete_faces(ids[:3])
            (entry,) = [e for e in collection.audit_log() if e.purpose == "erasure"]
            assert sorted(entry.candidates) == sorted(ids[3:]) and entry.candidate_count == 6
            # Every shard's log forgets the deleted faces (a search is logged on one shard, naming any).
            if collection is sharded:
                for shard in range(SHARDS):
                    with Collections(sharded.shard_directory(shard)).collection("stored") as on_disk:
                        assert not {f for e in on_disk.audit_log() for f in e.candidates} & set(ids[:3])
    single.close()
