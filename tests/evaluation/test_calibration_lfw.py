"""Calibration on real faces: thresholds chosen on one half of LFW identities give the
requested false-match rate on the other half, and the shipped tables load with their packs."""

from __future__ import annotations

import io
import json
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import faceindex
from faceindex import thresholds
from faceindex.thresholds import tables
from faceindex.evaluation.calibrate import embed_photos, labelled_photos
from faceindex.evaluation.table_builder import build_table, pair_scores

IDENTITIES = 700  # of about 4,000: ~1,000 photos, ~500,000 pairs, under a minute with the dlib pack


@pytest.fixture(scope="module")
def halves(data_file: Callable[[str], Path]) -> tuple[tuple[np.ndarray, list[str]], tuple[np.ndarray, list[str]]]:
    photos = labelled_photos(data_file("lfw/pairs_dev.txt").parent / "images")
    names = sorted({label for _, label in photos})[:: max(1, len({label for _, label in photos}) // IDENTITIES)]
    chosen = [(p, label) for p, label in photos if label in set(names)]
    vectors, labels, _missed = embed_photos(faceindex.FaceEngine(upsample=0), chosen)
    first = {name for i, name in enumerate(sorted(set(labels))) if i % 2 == 0}
    a = np.array([label in first for label in labels])
    return (vectors[a], [x for x, keep in zip(labels, a) if keep]), (vectors[~a], [x for x, keep in zip(labels, a)
                                                                                   if not keep])


def test_a_threshold_chosen_on_half_the_pairs_gives_the_requested_fmr_on_the_rest(halves: tuple) -> None:  # type: ignore[type-arg]
    (va, la), (vb, lb) = halves
    vectors, labels = np.concatenate([va, vb]), la + lb
    impostor, genuine = pair_scores(vectors, labels)
    held_out = np.random.default_rng(3).random(len(impostor)) < 0.5
    assert held_out.sum() > 200_000
    table = build_table(impostor[~held_out], genuine, faceindex.PackRef("dlib", "half"), {})
    for fmr in (1e-2, 1e-3, 1e-4):
        t, beyond = table.threshold_for_fmr(fmr)
        assert not beyond
        n = int(held_out.sum())
        measured = np.count_nonzero(impostor[held_out] >= t) / n
        # Two independent binomial estimates of one rate (the threshold's half and this one)
        # differ by less than 2.58 sqrt(2 p (1 - p) / n) 99 times in 100.
        assert abs(measured - fmr) <= 2.58 * np.sqrt(2 * fmr * (1 - fmr) / n), (fmr, measured, n)
        estimate = table.fmr_at(t)
        assert estimate.low <= fmr <= estimate.high


def test_identity_disjoint_halves_differ_more_than_the_binomial_interval_says(halves: tuple) -> None:  # type: ignore[type-arg]
    """Pairs share photos and people, so rates measured on other people vary more than the
    binomial interval of independent pairs: docs/thresholds.md says so. Within a third, here."""
    (va, la), (vb, lb) = halves
    table = build_table(*pair_scores(va, la), faceindex.PackRef("dlib", "half A"), {})
    impostor_b, _ = pair_scores(vb, lb)
    for fmr in (1e-2, 1e-3):
        t, _ = table.threshold_for_fmr(fmr)
        measured = np.count_nonzero(impostor_b >= t) / len(impostor_b)
        assert fmr / 1.35 <= measured <= fmr * 1.35, (fmr, measured)


def test_shipped_tables_load_with_their_packs(data_file: Callable[[str], Path]) -> None:
    shipped = sorted(tables.SHIPPED_DIR.glob("*.json"))
    assert len(shipped) >= 2, f"make calibrate writes the tables into models/calibration: {shipped}"
    engine = faceindex.FaceEngine()
    table = thresholds.table_for(engine.pack)
    assert table is not None and table.pack == engine.pack.ref
    p = table.provenance
    assert p["images"] > 5000 and "LFW" in p["dataset"] and table.impostor_pairs > 10_000_000
    # dlib's tail, fitted on a tenth of the pairs, does not promise fewer false matches than all of them
    # counted: it is used beyond the resolution. MobileFaceNet's impostor tail is heavier than exponential:
    # its check fails, and rates beyond the resolution are refused (defaults take the table's limit).
    assert table.tail_trusted and table.threshold_for_fmr(1e-7)[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", faceindex.UnverifiedModelWarning)  # the shared MobileFaceNet is unverified
        onnx = faceindex.FaceEngine(detector=data_file("models/scrfd/det_500m.onnx"),
                                    recognizer=data_file("models/mobilefacenet/mobilefacenet.onnx"))
    heavy = thresholds.table_for(onnx.pack)
    assert heavy is not None and not heavy.tail_trusted
    with pytest.raises(faceindex.CalibrationError, match="will not extrapolate"):
        heavy.threshold_for_fmr(1e-7)
    limit = thresholds.for_search(onnx.pack, 10_000_000)
    assert limit.value == heavy.limit_threshold and limit.beyond_table
    assert thresholds.threshold_for_similarity(onnx.pack, 99).beyond_table
    comparison = engine.compare(data_file("images/face_recognition/obama-480p.jpg"),
                                data_file("images/face_recognition/obama-720p.jpg"))
    choice = comparison.threshold_choice
    assert comparison.same_person and choice.chosen_by == "fmr" and choice.requested == 1e-4
    assert choice.fmr is not None and choice.fmr.low <= 1e-4 <= choice.fmr.high * 1.5
    assert comparison.fmr_at_similarity is not None and comparison.fmr_at_similarity.value < 1e-4
    json.dumps(table.to_json())


def test_faceindex_calibrate_builds_a_table_from_a_users_folder(data_file: Callable[[str], Path], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The user's own table (from their folder of people) takes precedence over the shipped one."""
    from faceindex.cli import main

    lfw = data_file("lfw/pairs_dev.txt").parent / "images"
    people = tmp_path / "people"
    for person in sorted(p for p in lfw.iterdir() if p.is_dir())[::20][:170]:
        (people / person.name).mkdir(parents=True)
        for photo in sorted(person.iterdir())[:2]:
            (people / person.name / photo.name).symlink_to(photo)
    monkeypatch.setenv("FACEINDEX_CALIBRATION", str(tmp_path / "tables"))
    thresholds.forget_loaded_tables()
    try:
        out = io.StringIO()
        assert main(["calibrate", "--pack", "dlib", "--images", str(people), "--dataset", "my people",
                     "--no-progress"], stdout=out) == 0
        table = thresholds.table_for(faceindex.FaceEngine().pack)
        assert table is not None and table.provenance["dataset"] == "my people"
        wrote, resolved, *points = out.getvalue().splitlines()
        # Then the AS-norm table (issue 29): its own block, or one line saying why there is none.
        points, as_norm = points[:4], points[4:]
        as_norm_file = tmp_path / "tables" / thresholds.table_file_name(table.pack, "as-norm")
        assert (as_norm and as_norm[0].startswith(f"wrote {as_norm_file}: ")) or \
            (len(as_norm) == 1 and as_norm[0].startswith("no table of AS-norm scores: ")), as_norm
        written = tmp_path / "tables" / thresholds.table_file_name(table.pack)
        assert wrote == f"wrote {written}: calibration of dlib 1.1 on my people ({table.provenance['images']} " \
                        f"images, {table.impostor_pairs:,} impostor and {table.genuine_pairs:,} genuine pairs, " \
                        f"{table.provenance['date']})"
        assert resolved == f"rates resolved down to FMR {3 / table.impostor_pairs:.2g}"
        assert [p.split(":")[0] for p in points] == ["  FMR 0.001", "  FMR 0.0001", "  FMR 1e-05", "  FMR 1e-06"]
        for point in points:  # each rate: its threshold and FNMR there, or why there is none
            assert re.fullmatch(r"  FMR [\d.e-]+: (threshold 0\.\d{4}, FNMR .*|not resolved by [\d,]+ impostor pairs, "
                                r"and the fitted tail is not trusted that far)", point), point
        assert table.impostor_pairs > 10_000 and table.provenance["images"] >= 170
        assert main(["calibrate", "--pack", "dlib", "--images", str(tmp_path / "nowhere")]) == 4
    finally:
        thresholds.forget_loaded_tables()
