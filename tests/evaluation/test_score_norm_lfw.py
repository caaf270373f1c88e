"""AS-norm on real faces (issue 29): thresholds chosen on the AS-norm scores of one half of the LFW
identities give the requested false-match rate on the other half (each half normalised against a
cohort of the other's faces), with fewer missed matches than cosines; the shipped AS-norm table;
compare with a cohort of the user's; `faceindex cohort build`."""

from __future__ import annotations

import json
import os
import stat
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import faceindex
from faceindex import thresholds
from faceindex.evaluation.calibrate import embed_photos, labelled_photos
from faceindex.evaluation.table_builder import build_table, pair_scores
from faceindex.thresholds import cohorts
from faceindex.thresholds.score_norm import COHORT_SIZE, Cohort, Lines, normalise

PHOTOS = 2100  # every other LFW identity until this many photos: two halves of over 1,000 faces each


@pytest.fixture(scope="module")
def halves(data_file: Callable[[str], Path]) -> tuple[tuple[np.ndarray, list[str]], tuple[np.ndarray, list[str]]]:
    photos = labelled_photos(data_file("lfw/pairs_dev.txt").parent / "images")
    names = sorted({label for _, label in photos})[::2]
    chosen: list[tuple[Path, str]] = []
    for name in names:
        if len(chosen) >= PHOTOS:
            break
        chosen += [(p, label) for p, label in photos if label == name]
    vectors, labels, _missed = embed_photos(faceindex.FaceEngine(upsample=0), chosen)
    first = {name for i, name in enumerate(sorted(set(labels))) if i % 2 == 0}
    a = np.array([label in first for label in labels])
    assert a.sum() > COHORT_SIZE and (~a).sum() > COHORT_SIZE
    return ((vectors[a], [x for x, keep in zip(labels, a) if keep]),
            (vectors[~a], [x for x, keep in zip(labels, a) if not keep]))


def normalised_pairs(vectors: np.ndarray, labels: list[str], cohort: Cohort) -> tuple[np.ndarray, np.ndarray]:
    """Every impostor and genuine pair's AS-norm score against the cohort (each unordered pair once)."""
    lines = cohort.lines(vectors)
    ids = np.asarray(labels)
    cos = vectors @ vectors.T
    i, j = np.triu_indices(len(vectors), 1)
    z = normalise(cos[i, j], lines.take(i), lines.take(j))
    same = ids[i] == ids[j]
    return z[~same], z[same]


def sample_cohort(vectors: np.ndarray, seed: int) -> Cohort:
    rows = np.sort(np.random.default_rng(seed).choice(len(vectors), COHORT_SIZE, replace=False))
    return Cohort(np.ascontiguousarray(vectors[rows]), faceindex.PackRef("dlib", "half"), "LFW faces of the other half")


def test_as_norm_thresholds_hold_on_people_the_table_never_saw(halves: tuple) -> None:  # type: ignore[type-arg]
    """The table is built on half A's pairs normalised against a cohort of half B; its thresholds are
    applied to half B's pairs normalised against a cohort of half A: other people, another cohort."""
    (va, la), (vb, lb) = halves
    impostor_a, genuine_a = normalised_pairs(va, la, sample_cohort(vb, 1))
    table = build_table(impostor_a, genuine_a, faceindex.PackRef("dlib", "half A"), {}, score="as-norm")
    impostor_b, genuine_b = normalised_pairs(vb, lb, sample_cohort(va, 2))
    cosine_a, _ = pair_scores(va, la)
    cosine_table = build_table(cosine_a, np.zeros(10), faceindex.PackRef("dlib", "half A"), {})
    cosine_b, cosine_genuine_b = pair_scores(vb, lb)
    assert len(impostor_b) > 400_000
    for fmr in (1e-3, 1e-4):
        t, beyond = table.threshold_for_fmr(fmr)
        assert not beyond
        measured = np.count_nonzero(impostor_b >= t) / len(impostor_b)
        assert fmr / 2 <= measured <= fmr * 2, (fmr, measured)
        # ... and at the same rate, fewer of the other half's genuine pairs are missed than on cosines.
        t_cos, _ = cosine_table.threshold_for_fmr(fmr)
        missed = np.mean(genuine_b < t)
        missed_cos = np.mean(cosine_genuine_b < t_cos)
        assert missed < missed_cos, (fmr, missed, missed_cos)


def test_the_shipped_as_norm_table_loads_with_the_default_pack() -> None:
    pack = faceindex.FaceEngine().pack
    table = thresholds.table_for(pack, "as-norm")
    assert table is not None and table.score == "as-norm" and table.pack == pack.ref
    p = table.provenance
    assert "LFW" in p["dataset"] and table.impostor_pairs > 10_000_000 and "cohort of 1,000" in p["score_normalisation"]
    assert table.tail_trusted and "as-norm scores" in table.source
    assert thresholds.can_normalise(pack)
    # The same rate means the same on both scales: Similarity 80 is FMR 1e-6 on either table.
    z = thresholds.threshold_for_similarity(pack, 80, score="as-norm")
    assert z.score == "as-norm" and z.fmr is not None and z.fmr.low <= 1e-6 <= z.fmr.high
    assert thresholds.rekognition_similarity(pack, z.value, "as-norm") == pytest.approx(80, abs=0.5)
    json.dumps(table.to_json())


def test_compare_normalises_against_the_users_cohort_and_says_when_it_cannot(
        halves: tuple, data_file: Callable[[str], Path]) -> None:  # type: ignore[type-arg]
    (va, _), _ = halves
    engine = faceindex.FaceEngine()
    cohort = Cohort(np.ascontiguousarray(va[:COHORT_SIZE]), engine.pack.ref, "1,000 LFW faces")
    a, b = data_file("images/face_recognition/obama-480p.jpg"), data_file("images/face_recognition/obama-720p.jpg")
    plain = engine.compare(a, b)
    assert not plain.normalisation.applied and "faceindex cohort build" in plain.normalisation.cohort
    assert plain.score is None and plain.threshold_choice.score == "cosine"
    normalised = engine.compare(a, b, cohort=cohort)
    n = normalised.normalisation
    assert n.applied and n.cohort_size == COHORT_SIZE and n.top_k == 200 and n.cohort_id == cohort.digest
    assert normalised.same_person and normalised.similarity == plain.similarity
    choice = normalised.threshold_choice
    assert choice.score == "as-norm" and choice.chosen_by == "fmr" and choice.requested == 1e-4
    assert normalised.score is not None and normalised.score >= normalised.threshold
    assert normalised.fmr_at_similarity is not None and normalised.fmr_at_similarity.value < 1e-4
    lines = cohort.lines(np.stack([plain.faces[0].embedding, plain.faces[1].embedding]))  # type: ignore[union-attr]
    assert normalised.score == pytest.approx(float(normalise(plain.similarity, lines.take([0]), lines.take([1]))[0]))
    fixed = engine.compare(a, b, threshold=0.9, cohort=cohort)  # a cosine threshold: decided on the cosine
    assert not fixed.normalisation.applied and "threshold=" in fixed.normalisation.cohort
    with pytest.raises(ValueError, match="cohort is of pack"):
        engine.compare(a, b, cohort=Cohort(cohort.embeddings, faceindex.PackRef("other", "1"), "x"))


def test_cohort_build_writes_the_users_cohort_that_compare_finds(
        data_file: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`faceindex cohort build` with the small ONNX pack (fast enough for 1,000 photos here); that pack
    has no AS-norm table, so its compare says so and stays on cosines."""
    from faceindex.cli import main

    lfw = data_file("lfw/pairs_dev.txt").parent / "images"
    folder = tmp_path / "people"
    folder.mkdir()
    for photo in sorted(lfw.rglob("*.jpg"))[:1030]:
        (folder / photo.name).symlink_to(photo)
    monkeypatch.setenv("FACEINDEX_COHORTS", str(tmp_path / "cohorts"))
    cohorts.forget_loaded_cohorts()
    onnx = ["--detector", str(data_file("models/scrfd/det_500m.onnx")),
            "--recognizer", str(data_file("models/mobilefacenet/mobilefacenet.onnx"))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", faceindex.UnverifiedModelWarning)
        assert main(["cohort", "build", str(tmp_path / "nowhere"), *onnx]) == 3
        assert main(["cohort", "build", str(folder), *onnx, "--no-progress"]) == 0
        out = capsys.readouterr().out
        assert "a cohort of 1,000 faces (top 200)" in out and "from 1,030 photos" in out
        engine = faceindex.FaceEngine(detector=onnx[1], recognizer=onnx[3])
    path = cohorts.cohort_path(engine.pack.ref)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # biometric data: the owner's only
    built = cohorts.cohort_for(engine.pack)
    assert built is not None and built.size == COHORT_SIZE and "people" in built.source
    comparison = engine.compare(np.asarray(built.embeddings[0]), np.asarray(built.embeddings[1]))
    assert not comparison.normalisation.applied and "no calibration table of AS-norm scores" in \
        comparison.normalisation.cohort
    small = tmp_path / "few"
    small.mkdir()
    for photo in sorted(lfw.rglob("*.jpg"))[:3]:
        (small / photo.name).symlink_to(photo)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", faceindex.UnverifiedModelWarning)
        assert main(["cohort", "build", str(small), *onnx]) == 4
    assert "needs faces from at least 1,000 photos" in capsys.readouterr().err
    cohorts.forget_loaded_cohorts()


def test_lines_are_the_mean_and_spread_of_the_top_k(halves: tuple) -> None:  # type: ignore[type-arg]
    (va, _), _ = halves
    cohort = Cohort(np.ascontiguousarray(va[:COHORT_SIZE]), faceindex.PackRef("dlib", "x"), "x")
    probe = va[COHORT_SIZE:COHORT_SIZE + 5]
    lines = cohort.lines(probe)
    top = np.sort(probe @ cohort.embeddings.T, axis=1)[:, -200:].astype(np.float64)
    assert np.allclose(lines.slope, 0.5 / top.std(axis=1)) and np.allclose(lines.offset, 0.5 * top.mean(axis=1) /
                                                                              top.std(axis=1))
    assert isinstance(lines, Lines)
