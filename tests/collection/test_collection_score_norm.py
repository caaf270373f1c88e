"""AS-norm in collections (issue 29): the cohort a collection forms and keeps, every face's line,
searches ranked and judged by normalised scores exactly as scoring every face would, users and
associations on the same scores, erasure of cohort faces, and results that say what they did."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from collection_helpers import DIM, SYNTHETIC, unit_vectors
from faceindex import Collection, Collections, FlatIndex
from faceindex import thresholds
from faceindex.collection import score_norm, score_norm_store, store
from faceindex.evaluation.calibrate import tail_check
from faceindex.evaluation.table_builder import build_table
from faceindex.thresholds import cohorts
from faceindex.thresholds.score_norm import COHORT_SIZE, Cohort, Lines, normalise


def population(n: int, seed: int, identities: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Faces of people in crowds of different density (so faces' cohort statistics differ widely):
    unit vectors and each one's identity."""
    rng = np.random.default_rng(seed)
    identities = identities or max(1, n // 3)
    crowds = unit_vectors(8, seed + 1)
    crowd_of = rng.integers(0, 8, identities)
    pull = rng.uniform(0.0, 2.5, identities)  # how strongly a person resembles their crowd
    people = crowds[crowd_of] * pull[:, None] + rng.standard_normal((identities, DIM)) / np.sqrt(DIM) * 1.5
    who = rng.integers(0, identities, n)
    faces = people[who] + rng.standard_normal((n, DIM)) / np.sqrt(DIM) * rng.uniform(0.3, 1.2, (n, 1))
    return (faces / np.linalg.norm(faces, axis=1, keepdims=True)).astype(np.float32), who


@pytest.fixture
def calibrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Cosine and AS-norm tables for the synthetic pack, and no cohort of the user's."""
    folder = tmp_path / "calibration"
    monkeypatch.setenv("FACEINDEX_CALIBRATION", str(folder))
    monkeypatch.setenv("FACEINDEX_COHORTS", str(tmp_path / "cohorts"))
    rng = np.random.default_rng(5)
    for score, impostor, genuine in (("cosine", rng.normal(0.1, 0.15, 300_000), rng.normal(0.8, 0.05, 2000)),
                                     ("as-norm", rng.normal(-2.0, 1.2, 300_000), rng.normal(4.0, 1.0, 2000))):
        table = build_table(impostor, genuine, SYNTHETIC.ref, {"dataset": f"synthetic {score}",
                                                               "tail_check": tail_check(impostor)})
        table = type(table)(**{**table.__dict__, "score": score})
        table.save(folder / thresholds.table_file_name(SYNTHETIC.ref, score))
    thresholds.forget_loaded_tables()
    cohorts.forget_loaded_cohorts()
    yield
    thresholds.forget_loaded_tables()
    cohorts.forget_loaded_cohorts()


@pytest.fixture
def collection(tmp_path: Path, calibrated: None) -> Iterator[Collection]:
    with Collections(tmp_path / "home").create_collection("c", SYNTHETIC) as c:
        yield c


def every_score(collection: Collection, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row ids, cosines and z of every stored face against each query, scored one by one (the reference)."""
    state = collection._open()
    queries = state.unit_vectors(queries, "queries")  # as the collection takes them
    conn = state.conn()
    with store.read_transaction(conn):
        ids, vectors = zip(*store.embeddings_after(conn, 0, DIM))
        rows = np.concatenate(ids).astype(np.int64)
        stored = np.concatenate(vectors)
        lines = score_norm_store.lines_of(conn, rows.tolist())
        cohort = score_norm.read_cohort(conn, state.pack)
    assert cohort is not None and len(lines) == len(rows)
    mine = Lines.of([lines[int(r)][0] for r in rows], [lines[int(r)][1] for r in rows])
    each = [cohort.lines(q[None, :]) for q in queries]  # one at a time, as the collection searches them
    probe = Lines(np.concatenate([p.slope for p in each]), np.concatenate([p.offset for p in each]))
    index = FlatIndex(DIM)  # every cosine, as the collection's kernels compute them
    index.add(rows.astype(np.uint64), stored)
    cosine = np.zeros((len(queries), len(rows)), dtype=np.float32)
    for q in range(len(queries)):  # one at a time, as the collection searches them
        found, scores = index.search(queries[q], len(rows))
        cosine[q, np.searchsorted(rows, found)] = scores
    z = normalise(cosine, Lines(probe.slope[:, None], probe.offset[:, None]), Lines(mine.slope[None], mine.offset[None]))
    return rows, cosine, z


def test_a_collection_forms_its_own_cohort_at_1000_faces_and_then_ranks_by_as_norm(collection: Collection) -> None:
    faces, _ = population(COHORT_SIZE + 500, seed=1)
    collection.index_embeddings(faces[:COHORT_SIZE - 1], pack=SYNTHETIC)
    before = collection.search_faces_by_embedding(faces[0], pack=SYNTHETIC, max_fmr=1e-2)
    assert not before.normalisation.applied and "no cohort yet" in before.normalisation.cohort
    assert before.threshold_choice.score == "cosine" and all(m.score is None for m in before.face_matches)
    collection.index_embeddings(faces[COHORT_SIZE - 1:], pack=SYNTHETIC)
    after = collection.search_faces_by_embedding(faces[0], pack=SYNTHETIC, max_fmr=1e-2, max_faces=20)
    n = after.normalisation
    assert n.applied and n.cohort_size == COHORT_SIZE and n.top_k == 200 and n.cohort_id is not None
    assert "random sample of 1,000 of this collection's faces" in n.cohort
    assert after.threshold_choice.score == "as-norm" and "as-norm scores" in after.threshold_choice.calibration
    assert after.face_matches and all(m.score is not None and m.score >= after.threshold for m in after.face_matches)
    state = collection._open()
    conn = state.conn()
    with store.read_transaction(conn):
        assert score_norm_store.cohort_size(conn) == COHORT_SIZE
        assert len(score_norm_store.lines_of(conn, store.all_face_ids(conn).tolist())) == len(faces)
    # A cosine threshold given: cosines, and the result says why.
    fixed = collection.search_faces_by_embedding(faces[0], pack=SYNTHETIC, threshold=0.5)
    assert not fixed.normalisation.applied and "threshold=" in fixed.normalisation.cohort
    assert fixed.threshold_choice.score == "cosine"


@pytest.mark.parametrize("max_fmr, max_faces", [(1e-4, 10), (1e-2, 10), (0.3, 200)])
def test_normalised_search_is_exactly_what_scoring_every_face_gives(collection: Collection, max_fmr: float,
                                                                     max_faces: int) -> None:
    faces, _ = population(6000, seed=2)
    for start in range(0, len(faces), 1500):
        collection.index_embeddings(faces[start:start + 1500], pack=SYNTHETIC)
    queries, _ = population(40, seed=3)
    rows, cosine, z = every_score(collection, queries)
    face_id_of = {r: f.face_id for r, f in zip(rows.tolist(), collection.iter_faces())}
    for q, query in enumerate(queries):
        result = collection.search_faces_by_embedding(query, pack=SYNTHETIC, max_fmr=max_fmr, max_faces=max_faces)
        passing = np.flatnonzero(z[q] >= result.threshold)
        expected = passing[np.lexsort((rows[passing], -z[q][passing]))][:max_faces]
        assert [m.face.face_id for m in result.face_matches] == [face_id_of[int(rows[j])] for j in expected]
        assert [m.score for m in result.face_matches] == pytest.approx(z[q][expected].tolist(), abs=1e-9)
        assert [m.similarity for m in result.face_matches] == pytest.approx(cosine[q][expected].tolist(), abs=1e-6)


def test_an_i8_cache_answers_normalised_searches_as_an_f32_cache(tmp_path: Path, calibrated: None) -> None:
    """The compressed scan serves a normalised search's one call (the cosines above a floor) exactly:
    the same faces, z and similarities to the bit as from an f32 cache, near misses included."""
    home = tmp_path / "home"
    faces, _ = population(3000, seed=7)
    with Collections(home, cache_dtype="f32").create_collection("c", SYNTHETIC) as c:
        c.index_embeddings(faces, pack=SYNTHETIC)
        c.create_user("u")
        c.associate_faces("u", [f.face_id for f in c.iter_faces()][:5], user_match_threshold=-1.0)
    queries, _ = population(30, seed=8)
    queries = np.concatenate([queries, faces[:5]])  # stored faces too: cosines of 1
    answers = {}
    for dtype in ("f32", "i8"):
        with Collections(home, cache_dtype=dtype).collection("c") as c:
            got: list[object] = []
            for query in queries:
                for asked in ({"max_fmr": 1e-4}, {"max_fmr": 0.3, "max_faces": 50}):
                    found = c.search_faces_by_embedding(query, pack=SYNTHETIC, **asked)
                    assert found.normalisation.applied
                    near = found.nearest
                    got.append(([(m.face.face_id, m.similarity, m.score) for m in found.face_matches],
                                None if near is None else (near.face.face_id, near.similarity, near.score)))
                users = c.search_users_by_embedding(query, pack=SYNTHETIC, max_fmr=0.3)
                got.append([(m.user.user_id, m.face.face_id, m.similarity, m.score) for m in users.user_matches])
            answers[dtype] = got
    assert answers["i8"] == answers["f32"]
    faces_answers = [a for a in answers["i8"] if isinstance(a, tuple)]
    assert any(not matches and near is not None for matches, near in faces_answers), "a near miss compared"
    assert any(matches for matches, _ in faces_answers), "matches compared"


def test_the_bound_on_unseen_faces_holds_and_deepening_finds_lonely_faces(collection: Collection) -> None:
    """A face that resembles nobody (low cohort mean and spread) reaches a high z at a modest cosine:
    the loneliest are scored on every search, the others are bounded by the envelope, and a face far
    below the first candidates' cosines is still found."""
    faces, _ = population(3000, seed=4)
    collection.index_embeddings(faces, pack=SYNTHETIC)
    view_owner = collection._open()
    conn = view_owner.conn()
    with store.read_transaction(conn):
        view = view_owner.score_norm.view(conn)
    assert view is not None
    lonely = view.outliers.ids().astype(np.int64)
    assert 0 < len(lonely) <= 0.02 * len(faces)  # a few, not a crowd
    queries, _ = population(30, seed=5)
    rows, cosine, z = every_score(collection, queries)
    probe = view.cohort.lines(queries)
    others = ~np.isin(rows, lonely)
    for q in range(len(queries)):
        order = np.argsort(-cosine[q])
        for k in (1, 10, 64, 500):
            r = cosine[q][order[k - 1]]
            unseen = order[k:][others[order[k:]]]
            bound = view.unseen_bound(probe.take([q]), np.array([r]))[0]
            assert np.all(z[q][unseen] <= bound), (q, k)
    # Many matches asked for, at a loose rate: the first candidates cannot settle it, the search deepens.
    result = collection.search_faces_by_embedding(queries[0], pack=SYNTHETIC, max_fmr=0.5, max_faces=300)
    passing = np.flatnonzero(z[0] >= result.threshold)
    expected = passing[np.lexsort((rows[passing], -z[0][passing]))][:300]
    assert [m.score for m in result.face_matches] == pytest.approx(z[0][expected].tolist(), abs=1e-9)
    assert max(np.flatnonzero(np.isin(np.argsort(-cosine[0]), expected))) >= score_norm.FIRST_K


def test_user_search_and_association_use_the_same_scores(collection: Collection) -> None:
    faces, who = population(COHORT_SIZE + 600, seed=6, identities=300)
    records = collection.index_embeddings(faces, pack=SYNTHETIC)
    rows, cosine, z = every_score(collection, faces[:1])
    # users: people 0..49, each with all of their faces
    for person in range(50):
        collection.create_user(f"u{person}")
        mine = [r.face_id for r, w in zip(records, who) if w == person]
        if mine:
            result = collection.associate_faces(f"u{person}", mine[:1])
            assert result.associated_faces == mine[:1]
            if len(mine) > 1:
                more = collection.associate_faces(f"u{person}", mine[1:])
                assert more.normalisation.applied and more.threshold_choice.score == "as-norm"
                for failure in more.unsuccessful_face_associations:
                    assert failure.score is not None and failure.score < more.threshold
    users = collection.search_users_by_embedding(faces[0], pack=SYNTHETIC, max_fmr=1e-2, max_users=5)
    assert users.normalisation.applied
    face_user = {f.face_id: f.user_id for f in collection.iter_faces()}
    id_of_row = {r: f.face_id for r, f in zip(rows.tolist(), collection.iter_faces())}
    best: dict[str, float] = {}
    for j, row in enumerate(rows.tolist()):
        user = face_user[id_of_row[row]]
        if user is not None and z[0][j] >= users.threshold:
            best[user] = max(best.get(user, -np.inf), float(z[0][j]))
    expected = sorted(best.items(), key=lambda item: -item[1])[:5]
    assert [(m.user.user_id, m.score) for m in users.user_matches] == [(u, pytest.approx(s, abs=1e-9))
                                                                       for u, s in expected]


def test_an_erased_cohort_face_leaves_the_cohort_and_is_replaced(collection: Collection) -> None:
    faces, _ = population(COHORT_SIZE + 100, seed=7)
    records = collection.index_embeddings(faces, pack=SYNTHETIC)
    state = collection._open()
    conn = state.conn()
    with store.read_transaction(conn):
        members = score_norm_store.cohort_face_ids(conn)
    gone = [r.face_id for r in records if r.face_id in members][:3]
    before = collection.search_faces_by_embedding(faces[5], pack=SYNTHETIC, max_fmr=1e-2)
    collection.delete_faces(gone)
    with store.read_transaction(conn):  # replaced in the erasing transaction by other faces
        assert score_norm_store.cohort_size(conn) == COHORT_SIZE
        assert not set(gone) & score_norm_store.cohort_face_ids(conn)
    blob = faces[[r.face_id for r in records].index(gone[0])].tobytes()
    assert blob not in (collection.directory / "collection.db").read_bytes()
    after = collection.search_faces_by_embedding(faces[5], pack=SYNTHETIC, max_fmr=1e-2)
    assert after.normalisation.cohort_size == COHORT_SIZE and after.normalisation.applied
    assert after.normalisation.cohort_id != before.normalisation.cohort_id


def test_a_small_collection_uses_the_users_cohort_and_reopens_with_it(tmp_path: Path, calibrated: None) -> None:
    people, _ = population(COHORT_SIZE, seed=9)
    cohorts.save_cohort(Cohort(people, SYNTHETIC.ref, "1,000 faces from the photos in staff"),
                        cohorts.cohort_path(SYNTHETIC.ref))
    faces, _ = population(50, seed=10)
    home = Collections(tmp_path / "home2")
    with home.create_collection("small", SYNTHETIC) as small:
        small.index_embeddings(faces, pack=SYNTHETIC)
        first = small.search_faces_by_embedding(faces[0], pack=SYNTHETIC, max_fmr=1e-2)
    assert first.normalisation.applied and first.normalisation.cohort_size == COHORT_SIZE
    assert first.normalisation.top_k == 200 and "staff" in first.normalisation.cohort
    assert any(m.similarity == pytest.approx(1.0, abs=1e-6) for m in first.face_matches)  # the face itself
    with home.collection("small") as again:
        second = again.search_faces_by_embedding(faces[0], pack=SYNTHETIC, max_fmr=1e-2)
    assert second == first


def test_a_collection_opened_from_schema_3_is_migrated(tmp_path: Path, calibrated: None) -> None:
    home = Collections(tmp_path / "home3")
    with home.create_collection("old", SYNTHETIC) as old:
        old.index_embeddings(unit_vectors(10, 1), pack=SYNTHETIC)
        path = old.directory / "collection.db"
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE score_lines")
    conn.execute("DROP TABLE score_cohort")
    conn.execute("DELETE FROM meta WHERE key LIKE 'score_%'")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    with home.collection("old") as migrated:
        assert len(migrated) == 10
        migrated.index_embeddings(unit_vectors(5, 2), pack=SYNTHETIC)
        result = migrated.search_faces_by_embedding(unit_vectors(1, 1)[0], pack=SYNTHETIC, max_fmr=1e-2)
        assert not result.normalisation.applied
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
    conn.close()
