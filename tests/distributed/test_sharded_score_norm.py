"""AS-norm over shards (issue 29): one cohort for the whole sharded collection, the same on every
shard, and the same answers as one Collection holding the same faces with that cohort."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ray_helpers import local_ray

from faceindex import FaceEngine
from faceindex.collection import Collection, Collections, score_norm, score_norm_store, store
from faceindex.distributed import ShardedCollection
from faceindex.thresholds.score_norm import COHORT_SIZE
from faceindex.types import PackInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "collection"))
from test_collection_score_norm import population  # noqa: E402

SHARDS = 3
FACES = 1600


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ShardedCollection, Collection, np.ndarray,
                                                                         np.ndarray, PackInfo]]:
    pack = FaceEngine(pack="dlib").pack  # the shipped cosine and AS-norm tables; the vectors are synthetic
    home = tmp_path_factory.mktemp("home")
    faces, who = population(FACES, seed=21, identities=500)
    names = [f"img{i:04d}" for i in range(FACES)]
    with local_ray(num_cpus=2):
        sharded = ShardedCollection.create(home, "faces", SHARDS, pack, timeout_s=60)
        single = Collections(home).create_collection("single", pack)
        for c in (sharded, single):
            c.index_embeddings(faces, pack=pack, external_image_id=names, image_id=names)
        yield sharded, single, faces, who, pack
        sharded.close()
        single.close()


def _cohort_of(sharded: ShardedCollection, shard: int) -> tuple[list[str | None], np.ndarray]:
    with Collections(sharded.shard_directory(shard)).collection("faces") as on_disk:
        conn = on_disk._open().conn()
        with store.read_transaction(conn):
            return score_norm_store.cohort(conn, on_disk.pack.embedding_size)


def test_one_cohort_for_the_whole_collection_and_the_same_answers_as_one_collection(both: tuple) -> None:  # type: ignore[type-arg]
    sharded, single, faces, who, pack = both
    first = sharded.search_faces_by_embedding(faces[0], pack=pack, max_fmr=1e-3)  # forms the cohort
    assert first.normalisation.applied and first.normalisation.cohort_size == COHORT_SIZE
    assert "sharded collection" in first.normalisation.cohort and first.threshold_choice.score == "as-norm"
    cohorts = [_cohort_of(sharded, shard) for shard in range(SHARDS)]
    assert all(ids == cohorts[0][0] and np.array_equal(v, cohorts[0][1]) for ids, v in cohorts)
    # Drawn from every shard, not one.
    records = {r.face_id: r for r in sharded.list_faces(FACES).faces}
    from faceindex.distributed.placement import placement_key, shard_of

    homes = {shard_of(placement_key(None, records[f].image_id), SHARDS) for f in cohorts[0][0] if f is not None}
    assert homes == set(range(SHARDS))
    # One Collection holding the same faces (the same images, its own face ids), given the same cohort,
    # answers the same.
    single_id = {f.external_image_id: f.face_id for f in single.iter_faces()}
    same_faces = [single_id[records[f].external_image_id] for f in cohorts[0][0] if f is not None]
    state = single._open()
    digest = score_norm.set_given_cohort(state.score_norm, state.conn(), same_faces, cohorts[0][1],
                                         "the sharded one's")
    assert digest == first.normalisation.cohort_id
    # Scores agree to 1e-6, not to the bit: a face's line comes from a matrix product whose rounding
    # depends on the batch it was computed in (a shard's faces, or all of them), a few 1e-9 in z.
    for q in (0, 5, 17, 400, 1200):
        for kwargs in ({"max_fmr": 1e-3}, {"max_fpir": 0.01}, {"max_fmr": 0.2}):
            mine = sharded.search_faces_by_embedding(faces[q], pack=pack, max_faces=15, **kwargs)
            theirs = single.search_faces_by_embedding(faces[q], pack=pack, max_faces=15, **kwargs)
            assert mine.threshold == theirs.threshold and mine.threshold_choice.score == "as-norm"
            assert [(m.face.external_image_id, m.score) for m in mine.face_matches] == \
                [(m.face.external_image_id, pytest.approx(m.score, abs=1e-6)) for m in theirs.face_matches]
    # Users: each person's faces (placed on the user's shard when associated there).
    by_image = {"sharded": {r.external_image_id: r.face_id for r in records.values()}, "single": single_id}
    for person in range(20):
        user = f"person{person}"
        for c in (sharded, single):
            c.create_user(user)
        images = [f"img{i:04d}" for i in np.flatnonzero(who == person)]
        ids = {c: [by_image[c][image] for image in images] for c in ("sharded", "single")}
        sharded.associate_faces(user, ids["sharded"][:1])
        single.associate_faces(user, ids["single"][:1])
        if len(images) > 1:
            a = sharded.associate_faces(user, ids["sharded"][1:])
            b = single.associate_faces(user, ids["single"][1:])
            assert a.normalisation.applied and b.normalisation.applied
            assert sorted(images[ids["sharded"].index(f)] for f in a.associated_faces) == \
                sorted(images[ids["single"].index(f)] for f in b.associated_faces)
    for q in (0, 3, 9):
        mine = sharded.search_users_by_embedding(faces[q], pack=pack, max_users=5, max_fmr=1e-2)
        theirs = single.search_users_by_embedding(faces[q], pack=pack, max_users=5, max_fmr=1e-2)
        assert mine.normalisation.applied
        assert [(m.user.user_id, m.score) for m in mine.user_matches] == \
            [(m.user.user_id, pytest.approx(m.score, abs=1e-6)) for m in theirs.user_matches]


def test_an_erased_cohort_face_leaves_every_shards_cohort_and_is_replaced(both: tuple) -> None:  # type: ignore[type-arg]
    sharded, _, faces, _, pack = both
    sharded.search_faces_by_embedding(faces[0], pack=pack)
    members = [f for f in _cohort_of(sharded, 0)[0] if f is not None][:2]
    sharded.delete_faces(members)
    for shard in range(SHARDS):
        ids, _ = _cohort_of(sharded, shard)
        assert len(ids) == COHORT_SIZE - 2 and not set(members) & set(ids)
    after = sharded.search_faces_by_embedding(faces[1], pack=pack)
    assert after.normalisation.cohort_size == COHORT_SIZE
    cohorts = [_cohort_of(sharded, shard)[0] for shard in range(SHARDS)]
    assert all(c == cohorts[0] for c in cohorts) and not set(members) & set(cohorts[0])
