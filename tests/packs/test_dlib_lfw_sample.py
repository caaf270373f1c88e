"""LFW sample (98 pairs of pairs_dev, 14 per fold): our pipeline and dlib's give the same
similarities and so the same verification accuracy. The full evaluation is in make bench."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np
import pytest

from faceindex.evaluation import cross_validated_accuracy
from faceindex.evaluation.lfw import LfwPair, read_pairs

pytest.importorskip("dlib", reason="dlib-bin (the test extra) is the reference")

from dlib_peer import DlibPeer, lfw_images, our_lfw_embedding, pair_similarities, peer_lfw_embedding  # noqa: E402

PER_FOLD = 14  # 7 same-person and 7 different-person pairs from each of the 7 folds


def sample(pairs: list[LfwPair]) -> list[LfwPair]:
    out = []
    for fold in sorted({p.fold for p in pairs}):
        same = [p for p in pairs if p.fold == fold and p.same][: PER_FOLD // 2]
        diff = [p for p in pairs if p.fold == fold and not p.same][: PER_FOLD // 2]
        out += same + diff
    return out


def test_lfw_sample_matches_dlib(data_file: Callable[[str], Path], dlib_pack: Any) -> None:
    pairs = sample(read_pairs(data_file("lfw/pairs_dev.txt")))
    assert len(pairs) == 98
    peer = DlibPeer()
    images = lfw_images(pairs)
    ours = {p: our_lfw_embedding(dlib_pack, p) for p in images}
    theirs = {p: peer_lfw_embedding(peer, p) for p in images}
    assert [p for p in images if (ours[p] is None) != (theirs[p] is None)] == []
    s_ours, s_theirs = pair_similarities(pairs, ours), pair_similarities(pairs, theirs)
    np.testing.assert_allclose(s_ours, s_theirs, atol=2e-4)
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    acc_ours = cross_validated_accuracy(s_ours, same, folds).accuracy
    acc_theirs = cross_validated_accuracy(s_theirs, same, folds).accuracy
    assert abs(acc_ours - acc_theirs) <= 0.002
    assert acc_ours >= 0.95  # dlib's model is a 99% LFW model; a broken pipeline falls far below
