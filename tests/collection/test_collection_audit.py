"""Decisions in collections: thresholds by error rate for the collection's size, the fields
every result carries, and the audit log (concurrency, erasure, reopening)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from collection_helpers import DIM, SYNTHETIC, near, unit_vectors
from faceindex import CalibrationError, Collection, Collections
from faceindex.cli import main
from faceindex import thresholds
from faceindex.evaluation.calibrate import tail_check
from faceindex.evaluation.table_builder import build_table


@pytest.fixture
def calibrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A calibration table for the synthetic pack: random 128-d unit vectors as impostors."""
    folder = tmp_path / "calibration"
    monkeypatch.setenv("FACEINDEX_CALIBRATION", str(folder))
    rng = np.random.default_rng(5)
    impostor = rng.normal(0, 1 / np.sqrt(DIM), 300_000)  # cosines of random 128-d directions
    genuine = rng.normal(0.8, 0.05, 2000)
    build_table(impostor, genuine, SYNTHETIC.ref, {"dataset": "random directions",
                                                   "tail_check": tail_check(impostor)}).save(
        folder / thresholds.table_file_name(SYNTHETIC.ref))
    thresholds.forget_loaded_tables()
    yield
    thresholds.forget_loaded_tables()


@pytest.fixture
def collection(tmp_path: Path) -> Iterator[Collection]:
    with Collections(tmp_path / "home").create_collection("c", SYNTHETIC) as c:
        yield c


def test_search_thresholds_follow_the_collection_size(calibrated: None, collection: Collection) -> None:
    centre = unit_vectors(1, 0)[0]
    collection.index_embeddings(near(centre, 0.9, seed=1), pack=SYNTHETIC)
    small = collection.search_faces_by_embedding(centre, pack=SYNTHETIC, max_fpir=0.01)
    collection.index_embeddings(unit_vectors(20_000, 2), pack=SYNTHETIC)
    large = collection.search_faces_by_embedding(centre, pack=SYNTHETIC, max_fpir=0.01)
    assert small.threshold_choice.gallery_size == 1 and large.threshold_choice.gallery_size == 20_001
    assert large.threshold > small.threshold
    for result in (small, large):
        choice = result.threshold_choice
        assert choice.chosen_by == "fpir" and choice.requested == 0.01 and result.threshold == choice.value
        assert choice.fmr is not None and choice.fpir is not None and "random directions" in choice.calibration
        assert all(m.similarity >= result.threshold for m in result.face_matches)
    default = collection.search_faces_by_embedding(centre, pack=SYNTHETIC)
    assert default.threshold_choice.chosen_by in ("fpir", "fmr")
    assert default.threshold >= thresholds.for_search(SYNTHETIC, 20_001, max_fpir=0.01).value - 1e-12
    by_fmr = collection.search_faces_by_embedding(centre, pack=SYNTHETIC, max_fmr=1e-3)
    assert by_fmr.threshold_choice.chosen_by == "fmr" and by_fmr.threshold < large.threshold


def test_an_uncalibrated_collection_says_so(collection: Collection) -> None:
    collection.index_embeddings(unit_vectors(5, 3), pack=SYNTHETIC)
    result = collection.search_faces_by_embedding(unit_vectors(1, 4)[0], pack=SYNTHETIC)
    assert result.threshold == SYNTHETIC.default_threshold
    assert result.threshold_choice.chosen_by == "uncalibrated default" and result.threshold_choice.fmr is None
    with pytest.raises(CalibrationError, match="no calibration table"):
        collection.search_faces_by_embedding(unit_vectors(1, 4)[0], pack=SYNTHETIC, max_fpir=0.01)
    with pytest.raises(ValueError, match="at most one"):
        collection.search_faces_by_embedding(unit_vectors(1, 4)[0], pack=SYNTHETIC, threshold=0.5, max_fmr=1e-3)


def test_the_audit_log_records_every_search_and_forgets_erased_faces(calibrated: None, collection: Collection
                                                                     ) -> None:
    centre = unit_vectors(1, 10)[0]
    ann = [r.face_id for r in collection.index_embeddings(
        np.array([near(centre, 0.95, seed=i) for i in range(3)]), pack=SYNTHETIC)]
    collection.index_embeddings(unit_vectors(200, 11), pack=SYNTHETIC)
    found = collection.search_faces_by_embedding(centre, pack=SYNTHETIC, purpose="door 3", reference="case-17")
    assert {m.face.face_id for m in found.face_matches} == set(ann)
    collection.search_faces(ann[0], threshold=0.5)
    log = collection.audit_log()
    assert [e.operation for e in log] == ["search_faces_by_embedding", "search_faces"]
    first = log[0]
    assert first.purpose == "door 3" and first.reference == "case-17" and first.candidate_count == 3
    assert set(first.candidates) == set(ann) and first.threshold == found.threshold
    assert first.chosen_by == found.threshold_choice.chosen_by and first.fmr is not None
    assert first.gallery_size == 203 and first.pack == SYNTHETIC.ref
    assert log[1].chosen_by == "fixed" and log[1].threshold == 0.5
    collection.delete_faces(ann[1])
    after = collection.audit_log()
    assert ann[1] not in after[0].candidates and after[0].candidate_count == 3 and len(after[0].candidates) == 2
    # No embedding or image bytes are in the log: the database holds the candidates' ids only.
    with pytest.raises(TypeError):
        collection.search_faces_by_embedding(centre, pack=SYNTHETIC, purpose=17)  # type: ignore[arg-type]


def test_the_audit_log_under_concurrent_searches_and_reopening(tmp_path: Path) -> None:
    home = Collections(tmp_path / "home")
    with home.create_collection("c", SYNTHETIC) as c:
        c.index_embeddings(unit_vectors(500, 20), pack=SYNTHETIC)
        queries = unit_vectors(40, 21)
        errors: list[BaseException] = []

        def searcher(part: np.ndarray) -> None:
            try:
                for q in part:
                    c.search_faces_by_embedding(q, pack=SYNTHETIC, threshold=0.2)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=searcher, args=(queries[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors
    with home.collection("c") as again:
        log = again.audit_log()
        assert len(log) == 40 and all(e.operation == "search_faces_by_embedding" for e in log)
        assert [e.at for e in log] == sorted(e.at for e in log)
        assert len(again.audit_log(since=log[20].at)) >= 20


def test_the_audit_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    with Collections(home).create_collection("c", SYNTHETIC) as c:
        c.index_embeddings(unit_vectors(10, 30), pack=SYNTHETIC)
        c.search_faces_by_embedding(unit_vectors(1, 31)[0], pack=SYNTHETIC, purpose="test")
    assert main(["audit", "c", "--home", str(home), "--json"]) == 0
    out = capsys.readouterr().out
    assert '"purpose": "test"' in out and '"operation": "search_faces_by_embedding"' in out
    assert main(["audit", "c", "--home", str(home), "--since", "2999-01-01"]) == 0
    assert "(no entries)" in capsys.readouterr().out
    assert main(["audit", "c", "--home", str(home), "--since", "yesterday"]) == 2


CHILD = r"""
import sys
import numpy as np
from faceindex import Collections
home, = sys.argv[1:]
with Collections(home).collection("c") as c:
    rng = np.random.default_rng(0)
    for i in range(100_000):
        c.search_faces_by_embedding(rng.standard_normal(128), pack=("synthetic", "1"), threshold=0.3,
                                    reference=f"search-{i}")
        print(i, flush=True)  # acknowledged: search_faces_by_embedding returned
"""


def test_audit_rows_survive_sigkill(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    home = tmp_path / "home"
    with Collections(home).create_collection("c", SYNTHETIC) as c:
        c.index_embeddings(unit_vectors(300, 40), pack=SYNTHETIC)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(home)], stdout=subprocess.PIPE, text=True)
    acknowledged = -1
    try:
        assert child.stdout is not None
        for line in child.stdout:  # bounded: the child stops after 100,000 searches
            acknowledged = int(line)
            if acknowledged >= 30:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        if child.stdout is not None:
            child.stdout.close()
    assert acknowledged >= 30
    with Collections(home).collection("c") as again:
        log = again.audit_log()
        references = {e.reference for e in log}
        assert {f"search-{i}" for i in range(acknowledged + 1)} <= references
        assert again._state.conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_every_search_and_association_is_logged_with_its_purpose_and_its_result_says_how_it_chose(
        tmp_path: Path) -> None:
    """Each kind of search, and associating faces with a user (a 1:1 decision against the user's
    faces), writes its own operation, the caller's purpose and reference, and its candidates; every
    result carries the threshold it was judged against, how it was chosen and the pack."""
    from collection_helpers import ScriptedEngine, face, scene_image

    centre = unit_vectors(1, 30)[0]
    twin = near(centre, 0.9, seed=31)
    engine = ScriptedEngine({1: [(face(0, 0, 100), centre), (face(200, 0, 50), unit_vectors(1, 32)[0])]})
    with Collections(tmp_path / "home").create_collection("c", engine=engine) as c:
        ann, other = c.index_embeddings(np.array([twin, near(centre, 0.8, seed=33)]), pack=SYNTHETIC)
        c.index_embeddings(unit_vectors(30, 34), pack=SYNTHETIC)
        c.create_user("ann")
        note = {"purpose": "door 3", "reference": "case-17"}
        assert c.associate_faces("ann", [ann.face_id], **note).associated_faces == [ann.face_id]  # no faces yet
        joined = c.associate_faces("ann", [other.face_id], user_match_threshold=0.5, **note)
        assert joined.associated_faces == [other.face_id] and joined.threshold == 0.5
        assert joined.threshold_choice.chosen_by == "fixed" and joined.pack == SYNTHETIC.ref and joined.user_id == "ann"
        with pytest.raises(CalibrationError, match="no calibration table"):  # a rate needs a table
            c.associate_faces("ann", [other.face_id], max_fmr=1e-3)
        results = [
            c.search_faces_by_image(scene_image(1), **note),
            c.search_faces(ann.face_id, **note),
            c.search_faces_by_embedding(centre, pack=SYNTHETIC, **note),
            c.search_users_by_image(scene_image(1), **note),
            c.search_users(face_id=ann.face_id, **note),
            c.search_users_by_embedding(centre, pack=SYNTHETIC, **note),
        ]
        for r in results:
            assert r.pack == SYNTHETIC.ref and r.threshold == r.threshold_choice.value == SYNTHETIC.default_threshold
            assert r.threshold_choice.chosen_by == "uncalibrated default" and r.threshold_choice.gallery_size == 32
        by_image, by_face, by_embedding, users_by_image, users_by_face, users_by_embedding = results
        assert [m.face.face_id for m in by_image.face_matches] == [ann.face_id, other.face_id]
        assert by_image.nearest is not None and by_image.nearest.face.face_id == ann.face_id
        assert by_face.nearest is not None and by_face.nearest.face.face_id == other.face_id  # itself left out
        assert by_embedding.nearest is not None and by_embedding.nearest.similarity == pytest.approx(0.9, abs=1e-5)
        assert [u.reasons for u in by_image.unsearched_faces] == [("FACE_NOT_LARGEST",)]
        assert [m.user.user_id for m in users_by_image.user_matches] == ["ann"]
        assert users_by_image.searched_face is not None and users_by_image.searched_face.bbox == (0, 0, 100, 100)
        assert [u.reasons for u in users_by_image.unsearched_faces] == [("FACE_NOT_LARGEST",)]
        # By Ann's own face: her other face finds her (the face searched with is left out).
        assert [(m.user.user_id, m.face.face_id) for m in users_by_face.user_matches] == [("ann", other.face_id)]
        assert users_by_face.searched_face_id == ann.face_id
        assert [m.face.face_id for m in users_by_embedding.user_matches] == [ann.face_id]
        log = c.audit_log()
    assert [e.operation for e in log] == [
        "associate_faces", "search_faces_by_image", "search_faces", "search_faces_by_embedding",
        "search_users_by_image", "search_users", "search_users_by_embedding"]  # the first association compared nothing
    assert all((e.purpose, e.reference) == ("door 3", "case-17") for e in log)
    assert log[0].candidates == [other.face_id] and log[0].chosen_by == "fixed" and log[0].threshold == 0.5
    assert set(log[1].candidates) == {ann.face_id, other.face_id} and log[1].gallery_size == 32
    assert log[5].candidates == [other.face_id]


def test_search_arguments_are_checked_before_any_work(collection: Collection) -> None:
    collection.index_embeddings(unit_vectors(3, 40), pack=SYNTHETIC)
    query = unit_vectors(1, 41)[0]
    with pytest.raises(ValueError, match="max_users must be an int from 1 to 4096"):
        collection.search_users_by_embedding(query, pack=SYNTHETIC, max_users=0)
    with pytest.raises(ValueError, match="embedding"):
        collection.search_users_by_embedding(np.zeros(DIM), pack=SYNTHETIC)
    with pytest.raises(ValueError, match="embedding"):
        collection.search_faces_by_embedding(np.zeros(DIM), pack=SYNTHETIC)
    with pytest.raises(TypeError, match="face_id must be a non-empty string"):
        collection.search_faces("")
    with pytest.raises(ValueError, match="max_results must be an int from 1 to 100000"):
        collection.list_users(max_results=100_001)
    assert collection.audit_log() == []


def test_notes_that_are_not_text_are_refused_by_name(collection: Collection) -> None:
    (record,) = collection.index_embeddings(unit_vectors(1, 42), pack=SYNTHETIC)
    collection.create_user("ann")
    query = unit_vectors(1, 43)[0]
    for name in ("purpose", "reference"):
        bad = {name: 17}
        with pytest.raises(TypeError, match=f"^{name} must be a string, got int$"):
            collection.associate_faces("ann", [record.face_id], **bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=f"^{name} must be a string, got int$"):
            collection.search_faces_by_embedding(query, pack=SYNTHETIC, **bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=f"^{name} must be a string, got int$"):
            collection.search_users_by_embedding(query, pack=SYNTHETIC, **bad)  # type: ignore[arg-type]
    assert collection.audit_log() == [] and collection.get_faces(record.face_id)[record.face_id].user_id is None
