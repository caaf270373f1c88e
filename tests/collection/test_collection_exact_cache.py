"""The compressed index caches (i8, the default, and f16) answer every search exactly as the f32
cache does: the same faces and users, in the same order, with the same similarities to the last
bit, at every threshold, max_faces, max_users and max_fpir, with ties and faces at and next to the
threshold. The cache format is versioned: an older cache is rebuilt, never read."""

from __future__ import annotations

import hashlib
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collection_helpers import DIM, SYNTHETIC, near, unit_vectors
from faceindex import Collections, FlatIndex
from faceindex.collection import Collection
from faceindex.collection.index_cache import cache_files, cache_path
from test_collection_audit import calibrated  # noqa: F401  (the synthetic pack's calibration table)

DTYPES = ("f32", "f16", "i8")


def exact(similarity: float) -> bytes:
    return struct.pack("<d", similarity)  # equal floats of different bits (0.0, -0.0) differ here


def face_answer(result: Any) -> tuple[list[tuple[str, bytes]], tuple[str, bytes] | None]:
    """The matches and the nearest face (the near miss when none reaches the threshold)."""
    near = result.nearest
    return ([(m.face.face_id, exact(m.similarity)) for m in result.face_matches],
            (near.face.face_id, exact(near.similarity)) if near is not None else None)


def user_answer(result: Any) -> list[tuple[str, bytes, str]]:
    return [(m.user.user_id, exact(m.similarity), m.face.face_id) for m in result.user_matches]


@st.composite
def collections(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "n": draw(st.integers(1, 160)),
        "spread": draw(st.sampled_from([1e-5, 0.02, 0.3, 1.0])),  # how tight the clusters are
        "ties": draw(st.booleans()),
        "users": draw(st.integers(0, 6)),
        "delete": draw(st.integers(0, 10)),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


@st.composite
def searches(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "max_faces": draw(st.integers(1, 30)),
        "max_users": draw(st.integers(1, 8)),
        # -1: every face; "at": exactly a similarity found; "next": the float beside it.
        "threshold": draw(st.sampled_from(["-1", "at", "next", "random"])),
        "pick": draw(st.integers(0, 10**6)),
    }


def build(home: Path, spec: dict[str, Any]) -> tuple[dict[str, Collection], dict[str, np.ndarray]]:
    """One collection, opened three times: with an f32, an f16 and an i8 cache. Faces are written
    through the i8 and f32 ones in turn (each cache adds what it wrote, catches up on the rest)
    and some are deleted again. Also gives each face's embedding by face id."""
    rng = np.random.default_rng(spec["seed"])
    n = spec["n"]
    centres = unit_vectors(max(1, n // 6), spec["seed"])
    vectors = centres[rng.integers(0, len(centres), n)] + spec["spread"] * rng.standard_normal((n, DIM))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    if spec["ties"] and n >= 4:
        vectors[2::5] = vectors[0]
    if n >= 3:  # faces at fixed similarities to the first one: near-threshold pairs
        vectors[1] = near(vectors[0], 0.75, seed=spec["seed"] % 1000)
        vectors[2] = near(vectors[0], 0.75, seed=spec["seed"] % 1000 + 1)
    Collections(home, cache_dtype="f32").create_collection("c", SYNTHETIC).close()
    opened = {dtype: Collections(home, cache_dtype=dtype).collection("c") for dtype in DTYPES}
    face_ids: list[str] = []
    for start in range(0, n, 40):
        writer = opened["i8" if start % 80 == 0 else "f32"]
        face_ids += [r.face_id for r in writer.index_embeddings(vectors[start:start + 40], pack=SYNTHETIC)]
    for u in range(spec["users"]):
        mine = face_ids[u::max(1, spec["users"])][:6]
        opened["f16"].create_user(f"user{u}")
        opened["f16"].associate_faces(f"user{u}", mine, user_match_threshold=-1.0)
    gone = [face_ids[i] for i in rng.permutation(n)[:min(spec["delete"], n - 1)]]
    if gone:
        opened["i8"].delete_faces(gone)
    return opened, {face_id: vectors[i] for i, face_id in enumerate(face_ids) if face_id not in gone}


def answers(c: Collection, search: dict[str, Any], probe: np.ndarray, face_id: str,
            user: str | None, threshold: float) -> list[Any]:
    out: list[Any] = [
        face_answer(c.search_faces_by_embedding(probe, pack=SYNTHETIC, max_faces=search["max_faces"],
                                                threshold=threshold)),
        face_answer(c.search_faces(face_id, max_faces=search["max_faces"], threshold=threshold)),
        user_answer(c.search_users_by_embedding(probe, pack=SYNTHETIC, max_users=search["max_users"],
                                                threshold=threshold)),
        user_answer(c.search_users(face_id=face_id, max_users=search["max_users"], threshold=threshold)),
    ]
    if user is not None:
        out.append(user_answer(c.search_users(user_id=user, max_users=search["max_users"], threshold=threshold)))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(collections(), st.lists(searches(), min_size=1, max_size=4))
def test_every_search_answers_as_the_f32_cache(spec: dict[str, Any], plans: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as home:
        opened, embedding_of = build(Path(home), spec)
        try:
            stored = list(opened["f32"].iter_faces())
            users = sorted({r.user_id for r in stored if r.user_id})
            rng = np.random.default_rng(spec["seed"] + 7)
            for search in plans:
                record = stored[search["pick"] % len(stored)]
                probe = near(unit_vectors(1, spec["seed"])[0], 0.6, seed=search["pick"])
                if search["pick"] % 2:  # a stored face's own embedding: scores of 1 and exact ties
                    probe = embedding_of[record.face_id]
                everything = opened["f32"].search_faces_by_embedding(probe, pack=SYNTHETIC, max_faces=len(stored),
                                                                     threshold=-1.0).face_matches
                found = [m.similarity for m in everything]
                threshold = -1.0
                if search["threshold"] == "random":
                    threshold = float(rng.uniform(-0.2, 1.0))
                elif search["threshold"] != "-1" and found:
                    threshold = found[search["pick"] % len(found)]
                    if search["threshold"] == "next":
                        threshold = min(1.0, max(-1.0, float(np.nextafter(threshold, 2.0 if search["pick"] % 3
                                                                          else -2.0))))
                user = users[search["pick"] % len(users)] if users else None
                expected = answers(opened["f32"], search, probe, record.face_id, user, threshold)
                for dtype in ("f16", "i8"):
                    assert answers(opened[dtype], search, probe, record.face_id, user, threshold) == expected, \
                        dtype
        finally:
            for c in opened.values():
                c.close()


@pytest.fixture
def three(tmp_path: Path) -> Iterator[tuple[dict[str, Collection], dict[str, np.ndarray]]]:
    opened, embedding_of = build(tmp_path / "home", {"n": 400, "spread": 0.4, "ties": True, "users": 5, "delete": 5,
                                                     "seed": 11})
    yield opened, embedding_of
    for c in opened.values():
        c.close()


def test_max_fpir_and_the_default_threshold_answer_as_the_f32_cache(
        calibrated: None, three: tuple[dict[str, Collection], dict[str, np.ndarray]]) -> None:  # noqa: F811
    opened, embedding_of = three
    for probe in list(embedding_of.values())[:6] + [near(unit_vectors(1, 5)[0], 0.5, seed=6)]:
        for criteria in ({"max_fpir": 0.01}, {"max_fpir": 0.3}, {"max_fmr": 0.05}, {}):
            expected = opened["f32"].search_faces_by_embedding(probe, pack=SYNTHETIC, max_faces=20, **criteria)
            expected_users = opened["f32"].search_users_by_embedding(probe, pack=SYNTHETIC, max_users=5, **criteria)
            for dtype in ("f16", "i8"):
                got = opened[dtype].search_faces_by_embedding(probe, pack=SYNTHETIC, max_faces=20, **criteria)
                assert got.threshold_choice == expected.threshold_choice
                assert face_answer(got) == face_answer(expected)
                got_users = opened[dtype].search_users_by_embedding(probe, pack=SYNTHETIC, max_users=5, **criteria)
                assert user_answer(got_users) == user_answer(expected_users)


def test_the_cache_holds_the_chosen_precision_and_reopens_from_its_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Collections(home).create_collection("c", SYNTHETIC) as c:
        c.index_embeddings(unit_vectors(300, 1), pack=SYNTHETIC)
        path = c.save_cache()
    assert FlatIndex.load(path).dtype == "i8"  # the default
    with Collections(home).collection("c") as c:
        assert c.open_report.source == "cache"
    # Another precision is another layout: that cache is rebuilt from the database, and the
    # i8 file is removed when the f16 one is written.
    with Collections(home, cache_dtype="f16").collection("c") as c:
        assert c.open_report.source == "rebuilt"
        assert [FlatIndex.load(f.path).dtype for f in cache_files(c.directory)] == ["f16"]
    with pytest.raises(ValueError, match="cache_dtype must be one of i8, f16, f32, got 'i4'"):
        Collections(home, cache_dtype="i4")  # type: ignore[arg-type]


def test_a_cache_of_the_first_format_is_rebuilt_and_removed(tmp_path: Path) -> None:
    """Format 1 caches were f32 files keyed without a format version; they must never be read
    as the cache of today (a search would trust them), only rebuilt and removed."""
    home = tmp_path / "home"
    vectors = unit_vectors(200, 2)
    with Collections(home).create_collection("c", SYNTHETIC) as c:
        c.index_embeddings(vectors, pack=SYNTHETIC)
        directory = c.directory
    state_key = _format_1_key(directory)
    (current,) = cache_files(directory)
    old = FlatIndex(DIM, "cosine", "f32")
    old.add(np.arange(1, 201, dtype=np.uint64), vectors)
    old_path = cache_path(directory, state_key, current.generation)
    old.save(old_path)
    current.path.unlink()
    with Collections(home).collection("c") as c:
        assert c.open_report.source == "rebuilt"
        assert len(c) == 200
        assert not old_path.exists()
        assert [FlatIndex.load(f.path).dtype for f in cache_files(directory)] == ["i8"]
        hit = c.search_faces_by_embedding(vectors[5], pack=SYNTHETIC, max_faces=1, threshold=0.99)
        assert len(hit.face_matches) == 1


def test_a_file_of_another_precision_under_our_name_is_refused(tmp_path: Path) -> None:
    """Never misread: an f32 file named as the i8 cache is refused by its header and rebuilt."""
    home = tmp_path / "home"
    vectors = unit_vectors(100, 3)
    with Collections(home).create_collection("c", SYNTHETIC) as c:
        c.index_embeddings(vectors, pack=SYNTHETIC)
    (current,) = cache_files(c.directory)
    wrong = FlatIndex(DIM, "cosine", "f32")
    wrong.add(np.arange(1, 101, dtype=np.uint64), vectors)
    wrong.save(current.path)
    with Collections(home).collection("c") as c:
        report = c.open_report
        assert report.source == "rebuilt" and "f32" in report.reason and "expected 128, cosine, i8" in report.reason


def _format_1_key(directory: Path) -> str:
    """The cache key format 1 used: sha256 of its layout string, the store UUID, the pack and dim."""
    import sqlite3

    conn = sqlite3.connect(directory / "collection.db")
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    finally:
        conn.close()
    text = "\0".join(("faceindex-cache-1/cosine/f32", str(meta["store_uuid"]), SYNTHETIC.name, SYNTHETIC.version,
                      str(DIM)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
