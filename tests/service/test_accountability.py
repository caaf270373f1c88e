"""Rekognition's 0-100 thresholds against faceindex's calibration (service/accountability.py), over
the whole scale: what the boto3 tests cannot sweep. A match reaching the threshold chosen for S
has a Similarity of at least S, for a calibrated pack and for one never calibrated."""

from __future__ import annotations

import pytest

from faceindex import FaceEngine
from faceindex import rekognition_shapes as shapes
from faceindex import thresholds
from faceindex.service import accountability
from faceindex.types import PackInfo
from collection_helpers import SYNTHETIC

SCALE = [0.0, 10.0, 40.0, 50.0, 75.0, 80.0, 90.0, 95.0, 99.0, 100.0]


@pytest.fixture(scope="module")
def dlib_pack() -> PackInfo:
    return FaceEngine(pack="dlib").pack


@pytest.mark.parametrize("similarity", SCALE)
def test_a_match_at_the_threshold_reaches_the_similarity_asked(dlib_pack: PackInfo, similarity: float) -> None:
    wanted = accountability.requested(dlib_pack, similarity)
    choice = accountability.comparison_choice(dlib_pack, wanted)
    if wanted.max_fmr is not None:  # chosen by the rate S stands for
        assert wanted.max_fmr == pytest.approx(thresholds.fmr_of_similarity(similarity))
        assert choice.chosen_by == "fmr" and choice.requested == wanted.max_fmr
    else:  # beyond what the table resolves: its limit, said to be fixed there
        assert choice.chosen_by == "fixed" and choice.value == wanted.threshold
    at_threshold = shapes.similarity(dlib_pack, choice.value)
    if similarity < 100:
        assert at_threshold >= similarity - 1e-9
    else:  # no finite score reaches 100: it asks for the highest cosine there is (identical faces)
        assert choice.value == 1.0 and 99 < at_threshold < 100
    # Stricter asks never give a lower threshold.
    if similarity < 100:
        stricter = accountability.comparison_choice(dlib_pack, accountability.requested(dlib_pack, similarity + 1))
        assert stricter.value >= choice.value


def test_defaults_are_rekognitions(dlib_pack: PackInfo) -> None:
    assert accountability.requested(dlib_pack, None).similarity == 80.0
    associate = accountability.requested(dlib_pack, None, default=accountability.DEFAULT_USER_MATCH_THRESHOLD)
    assert associate.similarity == 75.0
    assert associate.max_fmr == pytest.approx(thresholds.fmr_of_similarity(75.0))


def test_headers_say_what_the_choice_was(dlib_pack: PackInfo) -> None:
    wanted = accountability.requested(dlib_pack, 40.0)
    choice = thresholds.for_search(dlib_pack, 1000, max_fmr=wanted.max_fmr)
    headers = accountability.headers(dlib_pack, choice, wanted)
    assert headers["X-Faceindex-Threshold"] == f"{choice.value:.6f}"
    assert headers["X-Faceindex-Threshold-Chosen-By"] == "fmr" and headers["X-Faceindex-Threshold-Score"] == "cosine"
    assert float(headers["X-Faceindex-Estimated-FMR"]) <= 1e-3
    low, high = (float(v) for v in headers["X-Faceindex-Estimated-FMR-Interval"].split())
    assert low <= float(headers["X-Faceindex-Estimated-FMR"]) <= high
    assert headers["X-Faceindex-Gallery-Size"] == "1000"
    # Against the definitions, not the code: Similarity 40 is FMR 1e-3 (80 d / 6 = 40 at d = 3), and a
    # search of 1000 faces at the FMR estimated has FPIR 1 - (1 - FMR)^1000.
    assert wanted.max_fmr == pytest.approx(1e-3)
    fmr = float(headers["X-Faceindex-Estimated-FMR"])
    assert float(headers["X-Faceindex-Estimated-FPIR"]) == pytest.approx(1 - (1 - fmr) ** 1000, rel=1e-4)
    assert headers["X-Faceindex-Pack"] == f"dlib {dlib_pack.version}"
    assert all(v.isascii() and v.isprintable() for v in headers.values())


def test_a_pack_never_calibrated_compares_cosine_x_100() -> None:
    wanted = accountability.requested(SYNTHETIC, 70.0)
    assert (wanted.max_fmr, wanted.threshold) == (None, 0.7)
    choice = accountability.comparison_choice(SYNTHETIC, wanted)
    assert choice.chosen_by == "fixed" and choice.value == 0.7
    assert shapes.similarity(SYNTHETIC, 0.7) == pytest.approx(70.0)
    assert shapes.similarity(SYNTHETIC, -0.3) == 0.0
    headers = accountability.headers(SYNTHETIC, choice, wanted)
    assert headers["X-Faceindex-Similarity-Scale"] == "cosine-x100"
    assert "X-Faceindex-Estimated-FMR" not in headers  # no table: no rate is claimed
    assert "no calibration table" in headers["X-Faceindex-Calibration"]
